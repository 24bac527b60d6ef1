import { and, eq, gte } from 'drizzle-orm';
import type { FindingColumns } from '../reconcile/findings.js';
import type { Db } from './open.js';
import { actions, type ActionRow } from './schema.js';

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
 * Reads for `GET /api/v1/interference` and the device timeline, on the main thread's connection.
 * Portable SQL; every query is bounded by an index (device and time, or time).
 */
export function createInterferenceReadRepo(db: Db) {
  const sqlite = db.$client;
  const s = {
    finding: sqlite.prepare(`SELECT ${FINDING_COLUMNS} FROM findings WHERE id = ?`),
    observations: sqlite.prepare(
      `SELECT id, observed_at_ms AS atMs, received_at AS receivedAtMs, source, event, stale, controlled, context FROM observations
       WHERE device_id = ? AND observed_at_ms >= ? AND observed_at_ms <= ? ORDER BY observed_at_ms, id LIMIT ?`,
    ),
    transitions: sqlite.prepare(
      `SELECT at_ms AS atMs, field, from_value AS fromValue, to_value AS toValue, status, explanation, finding_id AS findingId
       FROM transitions WHERE device_id = ? AND at_ms >= ? AND at_ms <= ? ORDER BY at_ms, field`,
    ),
    commands: sqlite.prepare(
      `SELECT id, command, body, requested_at_ms AS requestedAtMs, outcome, action_id AS actionId, override, notes, error
       FROM commands WHERE device_id = ? AND requested_at_ms >= ? AND requested_at_ms <= ? ORDER BY requested_at_ms, id LIMIT ?`,
    ),
    findingsOfDevice: sqlite.prepare(
      `SELECT ${FINDING_COLUMNS} FROM findings WHERE device_id = ? AND observed_at_ms >= ? AND observed_at_ms <= ? ORDER BY observed_at_ms, id LIMIT ?`,
    ),
    countFindings: sqlite.prepare(`SELECT kind, COUNT(*) AS n FROM findings GROUP BY kind`),
  };

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

    /** The pieces of a device's timeline within [fromMs, untilMs] of device time, each capped at `limit` rows. */
    timeline(deviceId: string, fromMs: number, untilMs: number, limit: number) {
      return {
        observations: s.observations.all(deviceId, fromMs, untilMs, limit) as TimelineObservation[],
        transitions: s.transitions.all(deviceId, fromMs, untilMs) as TimelineTransition[],
        // An action's life ends at its last update; its place on the timeline is its creation (filtered by the caller).
        actions: db.select().from(actions).where(and(eq(actions.targetId, deviceId), gte(actions.updatedAtMs, fromMs))).all() as ActionRow[],
        commands: s.commands.all(deviceId, fromMs, untilMs, limit) as TimelineCommand[],
        findings: s.findingsOfDevice.all(deviceId, fromMs, untilMs, limit) as FindingRowOut[],
      };
    },
  };
}

export type InterferenceReadRepo = ReturnType<typeof createInterferenceReadRepo>;
