import type { FindingColumns } from '../../domain/findings.js';
import { changesFindingState, FINDING_STATE_COLUMNS, findingStateEvent, type FindingStateChange, type FindingStateOutcome } from '../finding-state.js';
import type { ProcedureContext } from './context.js';
import { appendEvent } from './events.js';

/** Writer procedure `findingState`: an operator's acknowledgement or resolution of a finding and its event, in one transaction. */
export function findingStateProcedure(ctx: ProcedureContext, change: FindingStateChange): FindingStateOutcome {
  return ctx.repo.transaction(() => {
    const sqlite = ctx.repo.sqlite;
    const row = sqlite.prepare(`SELECT ${FINDING_STATE_COLUMNS} FROM findings WHERE id = ?`).get(change.id) as (FindingColumns & { state: string }) | undefined;
    if (!row) return { found: false, changed: false };
    if (!changesFindingState(row.state, change.state)) return { found: true, changed: false };
    sqlite.prepare('UPDATE findings SET state = ?, state_note = ?, state_changed_at_ms = ? WHERE id = ?').run(change.state, change.note, change.nowMs, change.id);
    appendEvent(sqlite, findingStateEvent(row, row.state, change));
    return { found: true, changed: true };
  });
}
