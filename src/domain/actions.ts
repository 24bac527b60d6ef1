import { isAheadOfReceipt, parseTimeMs } from './time.js';

/** Action states Enode documents; others may appear (enums are not versioned) and are kept as text. */
export const TERMINAL_STATES = new Set(['CONFIRMED', 'FAILED', 'CANCELLED']);

export type ActionOrigin = 'gateway' | 'enode';

/** An action as we keep it: Enode's fields, normalised, plus where we learned of it. */
export interface ActionRecord {
  id: string;
  userId: string;
  targetId: string;
  targetType: string;
  kind: string | null;
  /** `target` (HVAC) or `targetState` (max current, battery) as Enode sent it. */
  target: Record<string, unknown> | null;
  /** PENDING, then one terminal state (CONFIRMED, FAILED, CANCELLED); others are kept as text. */
  state: string;
  failureReason: { type: string; detail?: string } | null;
  createdAt: string;
  updatedAt: string;
  updatedAtMs: number;
  completedAt: string | null;
  origin: ActionOrigin;
  raw: Record<string, unknown>;
  /** Hash of the raw object: the last tie-breaker, so that merge order never matters. */
  rawHash: string;
}

/** Enode's vendor action object, as far as this project relies on it. */
export interface EnodeActionInput {
  id: string;
  userId: string;
  targetId: string;
  targetType: string;
  state: string;
  createdAt: string;
  updatedAt: string;
  completedAt?: string | null | undefined;
  kind?: string | null | undefined;
  target?: Record<string, unknown> | null | undefined;
  targetState?: Record<string, unknown> | null | undefined;
  failureReason?: { type: string; detail?: string | undefined } | null | undefined;
  [key: string]: unknown;
}

export class InvalidActionError extends Error {}

/** Normalises an Enode action object into an ActionRecord. Throws on unusable timestamps. */
export function toActionRecord(input: EnodeActionInput, origin: ActionOrigin, rawHash: string): ActionRecord {
  const updatedAtMs = parseTimeMs(input.updatedAt);
  if (updatedAtMs === undefined) throw new InvalidActionError(`action ${input.id}: updatedAt "${input.updatedAt}" is not a date`);
  const failure = input.failureReason
    ? { type: input.failureReason.type, ...(input.failureReason.detail !== undefined ? { detail: input.failureReason.detail } : {}) }
    : null;
  return {
    id: input.id,
    userId: input.userId,
    targetId: input.targetId,
    targetType: input.targetType,
    kind: input.kind ?? null,
    target: input.target ?? input.targetState ?? null,
    state: input.state,
    failureReason: failure,
    createdAt: input.createdAt,
    updatedAt: input.updatedAt,
    updatedAtMs,
    completedAt: input.completedAt ?? null,
    origin,
    raw: input,
    rawHash,
  };
}

export function isTerminal(state: string): boolean {
  return TERMINAL_STATES.has(state);
}

/** What ordering and merging need of a stored action version (no JSON to parse). */
export type ActionVersion = Pick<ActionRecord, 'state' | 'updatedAtMs' | 'rawHash' | 'origin'> & {
  /** `updatedAt` lies further ahead of when we received the version than the tolerated skew (absent: false). */
  futureDated?: boolean | undefined;
};

/**
 * Whether an action version's `updatedAt` is ahead of its receipt by more than `toleranceMs`.
 * For a stored version, `receivedAtMs` is its `lastNewsAt`: the latest receipt of news about it.
 */
export function isFutureDatedVersion(v: { updatedAtMs: number }, receivedAtMs: number, toleranceMs: number): boolean {
  return isAheadOfReceipt(v.updatedAtMs, receivedAtMs, toleranceMs);
}

/**
 * Total order on versions of one action: a version with a credible `updatedAt` beats a
 * future-dated one (recorded, but it never wins a merge), then terminal beats non-terminal (a
 * resolved action never goes back to PENDING), then the newer `updatedAt`, then a fixed
 * tie-break. Taking the maximum under a total order is what makes the projection independent of
 * delivery order and duplication.
 */
export function compareActionVersions(a: ActionVersion, b: ActionVersion): number {
  const ca = a.futureDated ? 0 : 1;
  const cb = b.futureDated ? 0 : 1;
  if (ca !== cb) return ca - cb;
  const ta = isTerminal(a.state) ? 1 : 0;
  const tb = isTerminal(b.state) ? 1 : 0;
  if (ta !== tb) return ta - tb;
  if (a.updatedAtMs !== b.updatedAtMs) return a.updatedAtMs - b.updatedAtMs;
  if (a.rawHash !== b.rawHash) return a.rawHash < b.rawHash ? -1 : 1;
  return 0;
}

/** What merging an incoming version into the stored one requires writing. */
export type ActionMerge =
  | { write: 'none' } // duplicate, stale or regressing input: the stored version stays
  | { write: 'version'; origin: ActionOrigin } // the incoming version replaces the stored one
  | { write: 'origin'; origin: ActionOrigin }; // the stored version stays, but becomes ours

/**
 * Merges a newly seen version of an action into the stored one (the maximum under
 * compareActionVersions wins). Origin is sticky: once the gateway created an action it stays
 * ours, whoever reports on it later.
 */
export function mergeAction(stored: ActionVersion | undefined, incoming: ActionVersion): ActionMerge {
  if (!stored) return { write: 'version', origin: incoming.origin };
  const origin: ActionOrigin = stored.origin === 'gateway' || incoming.origin === 'gateway' ? 'gateway' : 'enode';
  if (compareActionVersions(incoming, stored) > 0) return { write: 'version', origin };
  if (origin !== stored.origin) return { write: 'origin', origin };
  return { write: 'none' };
}
