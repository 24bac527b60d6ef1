/**
 * The dashboard console's reads (detail pages, search, held alerts, charts), in portable SQL over
 * a SqlReader with the conventions of store/read.ts: `?` placeholders, quoted aliases, numbers
 * normalised here. Time buckets use integer division of epoch ms, which both engines compute alike.
 */
import type { StoredEvent } from '../events/types.js';
import type { SqlParam, SqlReader } from './sql.js';

/** A transition with the reconciler's explanation (as store/read.ts TimelineTransition). */
export interface ConsoleTransition {
  atMs: number;
  field: string;
  fromValue: string;
  toValue: string;
  status: string;
  /** JSON text. */
  explanation: string;
  findingId: string | null;
}

/** An alert as stored (as store/read.ts AlertRecord). */
export interface ConsoleAlert {
  id: string;
  type: string;
  dedupeKey: string;
  deviceId: string | null;
  userId: string | null;
  /** JSON text. */
  data: string;
  createdAtMs: number;
  fannedOutAtMs: number | null;
}

/** A finding in a list beside another record. */
export interface ConsoleFindingRef {
  id: string;
  kind: string;
  field: string | null;
  observedAtMs: number;
  state: string;
}

/** What an id names: any of these may match the same text. */
export type IdKind = 'device' | 'user' | 'action' | 'delivery' | 'finding' | 'alert';

/** A command of the gateway's log with its device. */
export interface ConsoleCommand {
  id: string;
  deviceId: string;
  deviceType: string;
  command: string;
  /** JSON text. */
  body: string;
  requestedAtMs: number;
  outcome: string;
  actionId: string | null;
  override: boolean;
  /** JSON text of what the guards did. */
  notes: string;
  error: string | null;
}

export interface MinuteBucket {
  /** Start of the minute (epoch ms). */
  atMs: number;
  count: number;
  /** Longest time from receipt to applied among the minute's applied deliveries (ms); null when none applied. */
  maxApplyLagMs: number | null;
}

export interface DayBucket {
  /** Start of the UTC day (epoch ms). */
  atMs: number;
  count: number;
}

export interface ConsoleReads {
  /** The gateway commands that created or cancelled this action, oldest first. */
  commandsForAction(actionId: string): Promise<ConsoleCommand[]>;
  /** Findings that name this action (overridden or conflicted), newest first (at most 50). */
  findingsForAction(actionId: string): Promise<ConsoleFindingRef[]>;
  /** The action's events of the log (`action.updated`, one per state reached), oldest first; retention may have pruned them. */
  actionEvents(actionId: string): Promise<StoredEvent[]>;
  /** A device's transitions within [fromMs, untilMs] of device time with their explanations, oldest first. */
  transitionsAround(deviceId: string, fromMs: number, untilMs: number, limit: number): Promise<ConsoleTransition[]>;
  /** Which kinds of record this exact id names (none: empty). */
  findId(id: string): Promise<IdKind[]>;
  /** Alerts no sink has taken yet (none configured, or not fanned out), newest first; keyset `[createdAtMs, id]`; `limit + 1` rows. */
  listHeldAlerts(f: { after?: [number, string] | undefined; limit: number }): Promise<ConsoleAlert[]>;
  heldAlertCount(): Promise<number>;
  /** Deliveries received per minute since `sinceMs`, with the slowest apply of each minute. Minutes without any are absent. */
  deliveriesPerMinute(sinceMs: number): Promise<MinuteBucket[]>;
  /** Findings detected per UTC day since `sinceMs`. Days without any are absent. */
  findingsPerDay(sinceMs: number): Promise<DayBucket[]>;
  /** Devices by commands counting against the daily budget since `sinceMs` (as budgetedCommandTimes counts), most first. */
  budgetedCommandsPerDevice(sinceMs: number, limit: number): Promise<Array<{ deviceId: string; count: number }>>;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const bool = (v: unknown): boolean => v === true || v === 1 || v === '1' || v === 't';

const ACTION_STATES_LOGGED = ['PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED'];
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

const HELD_ALERT_COLUMNS = `a.id, a.type, a.dedupe_key AS "dedupeKey", a.device_id AS "deviceId", a.user_id AS "userId", a.data,
  a.created_at_ms AS "createdAtMs"`;

const COMMAND_COLUMNS = `id, device_id AS "deviceId", device_type AS "deviceType", command, body, requested_at_ms AS "requestedAtMs", outcome,
  action_id AS "actionId", override, notes, error`;

export function consoleReads(reader: SqlReader): ConsoleReads {
  const count = async (sql: string, params: SqlParam[] = []) => num((await reader.get<{ n: unknown }>(sql, params))?.n ?? 0);
  return {
    async commandsForAction(actionId) {
      const rows = await reader.all<ConsoleCommand>(`SELECT ${COMMAND_COLUMNS} FROM commands WHERE action_id = ? ORDER BY requested_at_ms, id LIMIT 50`, [actionId]);
      return rows.map((r) => ({ ...r, requestedAtMs: num(r.requestedAtMs), override: bool(r.override) }));
    },

    async findingsForAction(actionId) {
      const rows = await reader.all<ConsoleFindingRef>(
        `SELECT id, kind, field, observed_at_ms AS "observedAtMs", state FROM findings WHERE action_id = ? ORDER BY observed_at_ms DESC, id DESC LIMIT 50`,
        [actionId],
      );
      return rows.map((r) => ({ ...r, observedAtMs: num(r.observedAtMs) }));
    },

    async actionEvents(actionId) {
      // One event per state reached, named by its fact key (events/facts.ts actionUpdatedEvent): exact keys use the unique index.
      const keys = ACTION_STATES_LOGGED.map((s) => `action:${actionId}:${s}`);
      const rows = await reader.all<StoredEvent>(
        `SELECT position, type, occurred_at AS "occurredAtMs", recorded_at AS "recordedAtMs", device_id AS "deviceId", user_id AS "userId", data
         FROM events WHERE fact_key IN (${keys.map(() => '?').join(', ')}) ORDER BY position`,
        keys,
      );
      return rows.map((r) => ({ ...r, position: num(r.position), occurredAtMs: num(r.occurredAtMs), recordedAtMs: num(r.recordedAtMs) }));
    },

    transitionsAround: (deviceId, fromMs, untilMs, limit) =>
      reader.all<ConsoleTransition>(
        `SELECT at_ms AS "atMs", field, from_value AS "fromValue", to_value AS "toValue", status, explanation, finding_id AS "findingId"
         FROM transitions WHERE device_id = ? AND at_ms >= ? AND at_ms <= ? ORDER BY at_ms, field LIMIT ?`,
        [deviceId, fromMs, untilMs, limit],
      ),

    async findId(id) {
      const probes: Array<[IdKind, string]> = [
        ['device', 'SELECT id FROM devices WHERE id = ?'],
        ['user', 'SELECT user_id FROM devices WHERE user_id = ? LIMIT 1'],
        ['action', 'SELECT id FROM actions WHERE id = ?'],
        ['delivery', 'SELECT id FROM deliveries WHERE id = ?'],
        ['finding', 'SELECT id FROM findings WHERE id = ?'],
        ['alert', 'SELECT id FROM alerts WHERE id = ?'],
      ];
      const found = await Promise.all(probes.map(async ([kind, sql]) => ((await reader.get(sql, [id])) !== undefined ? kind : undefined)));
      return found.filter((k): k is IdKind => k !== undefined);
    },

    async listHeldAlerts(f) {
      const conditions = ['a.fanned_out_at_ms IS NULL'];
      const params: SqlParam[] = [];
      if (f.after) (conditions.push('(a.created_at_ms < ? OR (a.created_at_ms = ? AND a.id < ?))'), params.push(f.after[0], f.after[0], f.after[1]));
      const rows = await reader.all<ConsoleAlert>(`SELECT ${HELD_ALERT_COLUMNS} FROM alerts a WHERE ${conditions.join(' AND ')} ORDER BY a.created_at_ms DESC, a.id DESC LIMIT ?`, [
        ...params,
        f.limit + 1,
      ]);
      return rows.map((r) => ({ ...r, createdAtMs: num(r.createdAtMs), fannedOutAtMs: null }));
    },

    heldAlertCount: () => count('SELECT COUNT(*) AS n FROM alerts WHERE fanned_out_at_ms IS NULL'),

    async deliveriesPerMinute(sinceMs) {
      const rows = await reader.all<{ m: unknown; n: unknown; lag: unknown }>(
        `SELECT received_at / ${MINUTE_MS} AS m, COUNT(*) AS n, MAX(applied_at - received_at) AS lag
         FROM deliveries WHERE received_at >= ? GROUP BY received_at / ${MINUTE_MS} ORDER BY m`,
        [sinceMs],
      );
      return rows.map((r) => ({ atMs: Math.floor(num(r.m)) * MINUTE_MS, count: num(r.n), maxApplyLagMs: r.lag === null || r.lag === undefined ? null : Math.max(0, num(r.lag)) }));
    },

    async findingsPerDay(sinceMs) {
      const rows = await reader.all<{ d: unknown; n: unknown }>(
        `SELECT detected_at_ms / ${DAY_MS} AS d, COUNT(*) AS n FROM findings WHERE detected_at_ms >= ? GROUP BY detected_at_ms / ${DAY_MS} ORDER BY d`,
        [sinceMs],
      );
      return rows.map((r) => ({ atMs: Math.floor(num(r.d)) * DAY_MS, count: num(r.n) }));
    },

    async budgetedCommandsPerDevice(sinceMs, limit) {
      // What the gateway's budget counts: its own commands, and the actions other callers of the
      // client created (schedules, smart charging, …; by Enode's createdAt, bounded by the last update).
      const rows = await reader.all<{ deviceId: string; n: unknown }>(
        `SELECT device_id AS "deviceId", SUM(n) AS n FROM (
           SELECT device_id, COUNT(*) AS n FROM commands
            WHERE requested_at_ms > ? AND outcome IN ('sending', 'sent', 'unknown') AND command <> 'cancel' GROUP BY device_id
           UNION ALL
           SELECT target_id AS device_id, COUNT(*) AS n FROM actions
            WHERE updated_at_ms > ? AND created_at > ? AND origin <> 'gateway' GROUP BY target_id
         ) counted
         GROUP BY device_id ORDER BY SUM(n) DESC, device_id LIMIT ?`,
        [sinceMs, sinceMs, new Date(sinceMs).toISOString().replace(/\.\d{3}Z$/, 'Z'), limit],
      );
      return rows.map((r) => ({ deviceId: r.deviceId, count: num(r.n) }));
    },
  };
}
