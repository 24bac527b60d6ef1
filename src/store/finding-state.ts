/**
 * What an operator makes of a finding (acknowledged, resolved, with a note), the rule for moving
 * between those states, and the event each move writes to the log. Pure: both adapters store what
 * this decides, with the event, in one transaction.
 */
import { decodeStored } from '../api/safe-json.js';
import type { FindingColumns } from '../domain/findings.js';
import type { NewEvent } from '../events/types.js';

export const FINDING_STATES = ['open', 'acknowledged', 'resolved'] as const;
export type FindingState = (typeof FINDING_STATES)[number];
/** The states an operator can put a finding in (it starts `open`). */
export type OperatorFindingState = Exclude<FindingState, 'open'>;

/** Longest operator note kept (characters). */
export const FINDING_NOTE_MAX = 2000;

/** One operator decision about a finding. */
export interface FindingStateChange {
  id: string;
  state: OperatorFindingState;
  note: string | null;
  nowMs: number;
}

/** What became of a change: `found` false for an unknown finding, `changed` false when the finding already was there. */
export interface FindingStateOutcome {
  found: boolean;
  changed: boolean;
}

/**
 * Whether `target` moves a finding in state `current`: open → acknowledged → resolved, or open →
 * resolved directly. Acknowledging again, acknowledging a resolved finding or resolving it again
 * change nothing (a retried request adds no second event), so each state is reached at most once.
 */
export function changesFindingState(current: string, target: OperatorFindingState): boolean {
  if (current === target) return false;
  return !(current === 'resolved' && target === 'acknowledged');
}

/** The log's event of a finding moving from `previousState` as `change` says (one per finding and state: see changesFindingState). */
export function findingStateEvent(f: FindingColumns, previousState: string, change: FindingStateChange): NewEvent {
  return {
    type: change.state === 'acknowledged' ? 'interference.acknowledged' : 'interference.resolved',
    factKey: `finding:${f.id}:${change.state}`,
    occurredAtMs: change.nowMs,
    recordedAtMs: change.nowMs,
    deviceId: f.deviceId,
    userId: f.userId,
    data: {
      finding: {
        id: f.id,
        deviceId: f.deviceId,
        deviceType: f.deviceType,
        userId: f.userId,
        kind: f.kind,
        field: f.field,
        from: decodeStored(f.fromValue),
        to: decodeStored(f.toValue),
        observedAt: new Date(f.observedAtMs).toISOString(),
        detectedAt: new Date(f.detectedAtMs).toISOString(),
        actionId: f.actionId,
      },
      state: change.state,
      previousState,
      note: change.note,
    },
  };
}

/** The columns both adapters read to decide and to build the event (portable SQL). */
export const FINDING_STATE_COLUMNS = `id, device_id AS "deviceId", device_type AS "deviceType", user_id AS "userId", kind, field,
  from_value AS "fromValue", to_value AS "toValue", observed_at_ms AS "observedAtMs", detected_at_ms AS "detectedAtMs",
  action_id AS "actionId", state`;
