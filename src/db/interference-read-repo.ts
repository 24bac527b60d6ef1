import type { FindingColumns } from '../domain/findings.js';
import type { Db } from './open.js';
import type { ActionRow } from './schema.js';

export interface FindingFilter {
  deviceId?: string | undefined;
  userId?: string | undefined;
  kind?: string | undefined;
  /** Only findings observed at or after this time (epoch ms). */
  sinceMs?: number | undefined;
  /** Keyset cursor: [observedAtMs, id] of the last row shown (newest first). */
  after?: [number, string] | undefined;
  limit: number;
}

export interface FindingRowOut extends FindingColumns {
  evidence: string;
}

export interface TimelineObservation {
  id: number;
  atMs: number;
  receivedAtMs: number;
  source: string;
  event: string;
  stale: number;
  controlled: string;
  context: string;
}

export interface TimelineTransition {
  atMs: number;
  field: string;
  fromValue: string;
  toValue: string;
  status: string;
  explanation: string;
  findingId: string | null;
}

/** An action as the timeline reads it: JSON columns still text (parsed defensively by the presenter), `raw` left out. */
export interface TimelineAction extends Pick<ActionRow, 'id' | 'userId' | 'targetId' | 'targetType' | 'kind' | 'state' | 'createdAt' | 'updatedAt' | 'updatedAtMs' | 'completedAt' | 'origin'> {
  target: string | null;
  failureReason: string | null;
  /** Its place on the timeline: creation time (epoch ms), or its last update when `created_at` is not a time. */
  atMs: number;
}

/**
 * Where a timeline page starts: after the entry with this key `[device time ms, type rank, id]`
 * (ranks: command 0, action 1, observation 2, finding 3), within [fromMs, untilMs].
 */
export interface TimelineRange {
  fromMs: number;
  untilMs: number;
  after?: [number, number, string] | undefined;
  /** Rows read per source at most. */
  limit: number;
}

/** The pieces of one timeline page, each source in timeline order and bounded by `limit`. */
export interface TimelineParts {
  observations: TimelineObservation[];
  transitions: TimelineTransition[];
  actions: TimelineAction[];
  commands: TimelineCommand[];
  findings: FindingRowOut[];
}

export interface TimelineCommand {
  id: string;
  command: string;
  body: string;
  requestedAtMs: number;
  outcome: string;
  actionId: string | null;
  override: number;
  notes: string;
  error: string | null;
}

const FINDING_COLUMNS = `id, device_id AS deviceId, device_type AS deviceType, user_id AS userId, kind, field,
  from_value AS fromValue, to_value AS toValue, observed_at_ms AS observedAtMs, detected_at_ms AS detectedAtMs,
  action_id AS actionId, evidence`;

/**
 * Keyset condition of one timeline source after a cursor, on top of an indexed `at >= @ms`:
 * `@tie` 1 takes every row at the cursor's instant (source ranked after the cursor's), 0 none
 * (ranked before), 2 those with a greater id (same source).
 */
const after = (at: string, id: string) => `${at} >= @ms AND ${at} >= @fromMs AND ${at} <= @untilMs AND (${at} > @ms OR @tie = 1 OR (@tie = 2 AND ${id} > @id))`;

/** An action's creation time in epoch ms, computed by SQLite so that order and cursor agree; its last update when unparseable. */
const ACTION_AT_MS = `COALESCE(CAST(ROUND((julianday(created_at) - 2440587.5) * 86400000.0) AS INTEGER), updated_at_ms)`;

/** Transitions read per page at most: a few controlled fields per observation. */
const TRANSITIONS_PER_OBSERVATION = 8;

/**
 * Reads for `GET /api/v1/interference` and the device timeline, on the main thread's connection.
 * Every query is bounded by an index (device and time, or time) and by a LIMIT; the aggregate
 * counts return one row per kind. Portable SQL except the action's creation time (`julianday`).
 */
export function createInterferenceReadRepo(db: Db) {
  const sqlite = db.$client;
  const s = {
    finding: sqlite.prepare(`SELECT ${FINDING_COLUMNS} FROM findings WHERE id = ?`),
    observations: sqlite.prepare(
      `SELECT id, observed_at_ms AS atMs, received_at AS receivedAtMs, source, event, stale, controlled, context FROM observations
       WHERE device_id = @deviceId AND ${after('observed_at_ms', 'id')} ORDER BY observed_at_ms, id LIMIT @limit`,
    ),
    transitions: sqlite.prepare(
      `SELECT at_ms AS atMs, field, from_value AS fromValue, to_value AS toValue, status, explanation, finding_id AS findingId
       FROM transitions WHERE device_id = ? AND at_ms >= ? AND at_ms <= ? ORDER BY at_ms, field LIMIT ?`,
    ),
    // The index on (target_id, updated_at_ms) narrows the scan (an action is updated at or after its creation).
    actions: sqlite.prepare(
      `SELECT * FROM (
         SELECT id, user_id AS userId, target_id AS targetId, target_type AS targetType, kind, target, state, failure_reason AS failureReason,
           created_at AS createdAt, updated_at AS updatedAt, updated_at_ms AS updatedAtMs, completed_at AS completedAt, origin, ${ACTION_AT_MS} AS atMs
         FROM actions WHERE target_id = @deviceId AND updated_at_ms >= @ms)
       WHERE ${after('atMs', 'id')} ORDER BY atMs, id LIMIT @limit`,
    ),
    commands: sqlite.prepare(
      `SELECT id, command, body, requested_at_ms AS requestedAtMs, outcome, action_id AS actionId, override, notes, error
       FROM commands WHERE device_id = @deviceId AND ${after('requested_at_ms', 'id')} ORDER BY requested_at_ms, id LIMIT @limit`,
    ),
    findingsOfDevice: sqlite.prepare(
      `SELECT ${FINDING_COLUMNS} FROM findings WHERE device_id = @deviceId AND ${after('observed_at_ms', 'id')} ORDER BY observed_at_ms, id LIMIT @limit`,
    ),
    countFindings: sqlite.prepare(`SELECT kind, COUNT(*) AS n FROM findings GROUP BY kind`),
  };

  /** See `timelinePage` below. */
  function timelinePage(deviceId: string, range: TimelineRange): TimelineParts {
    const { fromMs, untilMs, after: cursor, limit } = range;
    const ms = cursor ? Math.max(cursor[0], fromMs) : fromMs;
    // Before the window, the cursor's instant is not read at all: every row in the window comes after it.
    const cursorRank = cursor && cursor[0] >= fromMs ? cursor[1] : undefined;
    const params = (rank: number, id: string | number) => ({
      deviceId,
      fromMs,
      untilMs,
      ms,
      tie: cursorRank === undefined || rank > cursorRank ? 1 : rank < cursorRank ? 0 : 2,
      id,
      limit,
    });
    const cursorId = cursor?.[2] ?? '';
    const observations = s.observations.all(params(2, /^\d{1,16}$/.test(cursorId) ? Number(cursorId) : 0)) as TimelineObservation[];
    const first = observations[0];
    const last = observations[observations.length - 1];
    const transitions = first && last ? (s.transitions.all(deviceId, first.atMs, last.atMs, observations.length * TRANSITIONS_PER_OBSERVATION) as TimelineTransition[]) : [];
    return {
      observations,
      transitions,
      actions: s.actions.all(params(1, cursorId)) as TimelineAction[],
      commands: s.commands.all(params(0, cursorId)) as TimelineCommand[],
      findings: s.findingsOfDevice.all(params(3, cursorId)) as FindingRowOut[],
    };
  }

  return {
    getFinding(id: string): FindingRowOut | undefined {
      return s.finding.get(id) as FindingRowOut | undefined;
    },

    /** Findings newest first (by device time of the change), keyset-paged. */
    listFindings(f: FindingFilter): FindingRowOut[] {
      const where: string[] = [];
      const params: Array<string | number> = [];
      if (f.deviceId) (where.push('device_id = ?'), params.push(f.deviceId));
      if (f.userId) (where.push('user_id = ?'), params.push(f.userId));
      if (f.kind) (where.push('kind = ?'), params.push(f.kind));
      if (f.sinceMs !== undefined) (where.push('observed_at_ms >= ?'), params.push(f.sinceMs));
      if (f.after) {
        where.push('(observed_at_ms < ? OR (observed_at_ms = ? AND id < ?))');
        params.push(f.after[0], f.after[0], f.after[1]);
      }
      const sql = `SELECT ${FINDING_COLUMNS} FROM findings ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY observed_at_ms DESC, id DESC LIMIT ?`;
      return sqlite.prepare(sql).all(...params, f.limit + 1) as FindingRowOut[];
    },

    /** Findings per kind (dashboard and status). */
    countFindingsByKind(): Record<string, number> {
      const out: Record<string, number> = {};
      for (const r of s.countFindings.all() as Array<{ kind: string; n: number }>) out[r.kind] = r.n;
      return out;
    },

    /**
     * The pieces of a device's timeline within [fromMs, untilMs] of device time, after `range.after`:
     * each source keyset-paged in timeline order and capped at `limit` rows, so the first `limit`
     * entries of their merge are exactly the next page. Transitions are those of the observations read.
     */
    timelinePage,

    /** The first `limit` rows per source of a device's timeline within [fromMs, untilMs] (see `timelinePage`). */
    timeline(deviceId: string, fromMs: number, untilMs: number, limit: number): TimelineParts {
      return timelinePage(deviceId, { fromMs, untilMs, limit });
    },
  };
}

export type InterferenceReadRepo = ReturnType<typeof createInterferenceReadRepo>;
