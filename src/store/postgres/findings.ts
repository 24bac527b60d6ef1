/**
 * An operator's acknowledgement or resolution of a finding on Postgres (store/port.ts
 * setFindingState; as store/sqlite/findings.ts): the row is locked, so two replicas deciding at
 * once write one change and one event.
 */
import type { FindingColumns } from '../../domain/findings.js';
import { changesFindingState, FINDING_STATE_COLUMNS, findingStateEvent, type FindingStateChange, type FindingStateOutcome } from '../finding-state.js';
import { cleanText } from '../text.js';
import { withTransaction, type PgContext } from './context.js';
import { appendEventsPostgres } from './events.js';

export async function setFindingStatePostgres(ctx: Pick<PgContext, 'pool' | 'retries'>, change: FindingStateChange): Promise<FindingStateOutcome> {
  return withTransaction(ctx, async (client) => {
    const { rows } = await client.query<FindingColumns & { state: string }>(`SELECT ${FINDING_STATE_COLUMNS} FROM findings WHERE id = $1 FOR UPDATE`, [change.id]);
    const row = rows[0];
    if (!row) return { found: false, changed: false };
    if (!changesFindingState(row.state, change.state)) return { found: true, changed: false };
    const f = { ...row, observedAtMs: Number(row.observedAtMs), detectedAtMs: Number(row.detectedAtMs) };
    await client.query('UPDATE findings SET state = $1, state_note = $2, state_changed_at_ms = $3 WHERE id = $4', [change.state, cleanText(change.note), change.nowMs, change.id]);
    await appendEventsPostgres(client, [findingStateEvent(f, row.state, change)]);
    return { found: true, changed: true };
  });
}
