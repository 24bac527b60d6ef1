/**
 * The read port: every read of the admin API, the dashboard, the gateway's guards, /metrics,
 * `status` and the sync jobs, as one async interface over plain rows, and its one
 * implementation in portable SQL over a SqlReader (store/sql.ts), so SQLite and Postgres answer
 * the same rows from the same text.
 *
 * Portable means: `?` placeholders; identifiers aliased in double quotes (Postgres folds bare
 * aliases to lower case); JSON columns read with `CAST(x AS TEXT)` (Postgres `json` keeps the text
 * as written; SQLite stores text) and decoded here, so one damaged row shows as unreadable instead
 * of failing its page; booleans normalised (SQLite answers 0/1, Postgres true/false); no rowid,
 * pragmas, `::` casts or date functions (an action's creation time is parsed in JS, as the
 * reconciler parses it). Keyset paging orders by the key columns with `id` last. Text keys compare
 * bytewise on SQLite and by the database's collation on Postgres: paging is correct either way,
 * and the orders agree under the C collation.
 *
 * Numbers only one engine has (migration journal, SQLite's file and WAL sizes) come from the
 * adapter's EngineReads, not from shared SQL.
 */
import { decodeStored } from '../api/safe-json.js';
import type { ActionRecord as DomainActionRecord } from '../domain/actions.js';
import { DELETED_SCHEDULE_STATE, type ControlStatus } from '../domain/control.js';

/** A schedule or a vehicle's smart charging that enode-sync holds statuses of. */
export interface KnownControl {
  source: 'schedule' | 'smart_charging';
  /** The schedule's id, or the vehicle's for smart charging. */
  id: string;
  userId: string;
  deviceId: string;
}
import type { BudgetAction, BudgetCommand } from '../domain/guards.js';
import type { FindingColumns } from '../domain/findings.js';
import { parseTimeMs } from '../domain/time.js';
import type { SqlParam, SqlReader } from './sql.js';
import { consoleReads, type ConsoleReads } from './console-read.js';
import { eventReads, type EventReads } from './events-read.js';
import { subscriptionReads, type SubscriptionReads } from './subscriptions-read.js';

export type { EventFilter } from './events-read.js';

// ── rows ──

/**
 * A vendor action as stored: the domain's record (JSON columns decoded; text that does not parse:
 * api/safe-json UNREADABLE_JSON) plus what we keep about following it.
 */
export interface ActionRecord extends DomainActionRecord {
  firstSeenAt: number;
  lastNewsAt: number;
  pollAttempts: number;
  lastPolledAt: number | null;
  upstream: 'not_found' | 'stale' | null;
}

/** A device's current state, JSON columns decoded. */
export interface DeviceRecord {
  id: string;
  type: string;
  userId: string;
  vendor: string | null;
  lastSeen: string | null;
  isReachable: boolean | null;
  /** The latest snapshot as Enode sent it. */
  snapshot: Record<string, unknown>;
  /** The fields enode-sync watches for interference (charging, max current, …). */
  controlled: Record<string, unknown>;
  snapshotAtMs: number;
  snapshotRank: number;
  snapshotEventAtMs: number;
  snapshotHash: string;
  firstSeenAt: number;
  updatedAt: number;
  deletedAtMs: number | null;
}

export type DeliveryStatus = 'pending' | 'applied' | 'failed' | 'quarantined';

/** A webhook delivery without its headers and body (lists). */
export interface DeliverySummary {
  id: string;
  receivedAt: number;
  status: DeliveryStatus;
  error: string | null;
  eventCount: number;
  appliedAt: number | null;
  attempts: number;
  bodySha256: string;
}

/** A webhook delivery with its headers and raw body. */
export interface DeliveryRecord extends DeliverySummary {
  headers: Record<string, string>;
  body: Buffer;
  bodyId: number | null;
}

/** The poller's view of a PENDING action. */
export interface PendingActionRecord {
  id: string;
  targetId: string;
  targetType: string;
  createdAt: string;
  lastNewsAt: number;
  lastPolledAt: number | null;
  pollAttempts: number;
  upstream: 'not_found' | 'stale' | null;
}

export interface HeartbeatRecord {
  receivedAt: number;
  /** Enode's count of events queued for us, from that heartbeat. */
  pendingEvents: number | null;
}

/** `GET /api/v1/actions` and the dashboard's list; the time bounds are on `updatedAtMs`. */
export interface ActionFilter {
  state?: string | undefined;
  targetId?: string | undefined;
  targetType?: string | undefined;
  userId?: string | undefined;
  sinceMs?: number | undefined;
  untilMs?: number | undefined;
  after?: [number, string] | undefined;
  limit: number;
}

/** Deliveries by status, by a device or user one of their events was about, and by time received. */
export interface DeliveryFilter {
  status?: string | undefined;
  /** An Enode event name the delivery carried (`user:vehicle:updated`, `system:heartbeat`): its recorded device and system events. */
  eventType?: string | undefined;
  deviceId?: string | undefined;
  userId?: string | undefined;
  sinceMs?: number | undefined;
  untilMs?: number | undefined;
  after?: [number, string] | undefined;
  limit: number;
}

/** Alert deliveries by status, alert type, device, user and time last updated. */
export interface AlertDeliveryFilter {
  status?: AlertDeliveryStatus | undefined;
  type?: string | undefined;
  deviceId?: string | undefined;
  userId?: string | undefined;
  sinceMs?: number | undefined;
  untilMs?: number | undefined;
  after?: [number, string, string] | undefined;
  limit: number;
}

export interface FindingFilter {
  deviceId?: string | undefined;
  userId?: string | undefined;
  kind?: string | undefined;
  /** Only findings in this operator state (`open`, `acknowledged`, `resolved`). */
  state?: string | undefined;
  /** Only findings observed at or after this time (epoch ms). */
  sinceMs?: number | undefined;
  /** Only findings observed at or before this time (epoch ms). */
  untilMs?: number | undefined;
  /** Keyset cursor: [observedAtMs, id] of the last row shown (newest first). */
  after?: [number, string] | undefined;
  limit: number;
}

export interface FindingRecord extends FindingColumns {
  /** Before/after observations and the action involved, as JSON text. */
  evidence: string;
  /** `open`, `acknowledged` or `resolved` (store/finding-state.ts). */
  state: string;
  stateNote: string | null;
  stateChangedAtMs: number | null;
}

export interface TimelineObservation {
  id: number;
  atMs: number;
  receivedAtMs: number;
  source: string;
  event: string;
  stale: boolean;
  /** JSON text (parsed defensively by the timeline). */
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
export interface TimelineAction
  extends Pick<ActionRecord, 'id' | 'userId' | 'targetId' | 'targetType' | 'kind' | 'state' | 'createdAt' | 'updatedAt' | 'updatedAtMs' | 'completedAt' | 'origin'> {
  target: string | null;
  failureReason: string | null;
  /** Its place on the timeline: creation time (epoch ms), or its last update when `created_at` is not a time. */
  atMs: number;
}

export interface TimelineCommand {
  id: string;
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
/** A schedule or smart charging status of the device (ControlStatus JSON text), keyed by its hash. */
export interface TimelineControl {
  id: string;
  atMs: number;
  status: string;
}

export interface TimelineParts {
  /** Schedule and smart charging statuses (absent: none read). */
  controls?: TimelineControl[];
  observations: TimelineObservation[];
  transitions: TimelineTransition[];
  actions: TimelineAction[];
  commands: TimelineCommand[];
  findings: FindingRecord[];
}

export type AlertDeliveryStatus = 'pending' | 'delivered' | 'dead';

export interface AlertRecord {
  id: string;
  type: string;
  dedupeKey: string;
  deviceId: string | null;
  userId: string | null;
  /** The payload's `data`, as stored (JSON text). */
  data: string;
  createdAtMs: number;
  fannedOutAtMs: number | null;
}

/** One alert to one sink. */
export interface AlertDeliveryRecord {
  alertId: string;
  sink: string;
  status: AlertDeliveryStatus;
  attempts: number;
  nextAttemptAtMs: number;
  lastStatus: number | null;
  lastError: string | null;
  updatedAtMs: number;
  deliveredAtMs: number | null;
}

export type AlertDeliveryWithAlert = AlertDeliveryRecord & { alert: AlertRecord };

/** Counts per value of a column (status, state, type, kind). */
export type Counts = Record<string, number>;

/** What /metrics reads from storage on a scrape. */
export interface MetricGauges {
  deliveriesByStatus: Counts;
  actionsByState: Counts;
  devicesByType: Counts;
  findingsByKind: Counts;
  alertDeliveriesByStatus: Counts;
  /** Alerts not yet fanned out to sinks. */
  alertsUnrouted: number;
  lastWebhookMs: number | null;
  lastHeartbeatMs: number | null;
  /** First seen time of the oldest PENDING action the poller still follows. */
  oldestPendingActionMs: number | null;
  /** Devices due for the reconciler at `nowMs`. */
  reconcileDue: number;
}

/** What `enode-sync status` reports from storage. */
export interface StatusNumbers {
  devices: Counts;
  actions: Counts;
  deliveries: Counts;
  findings: Counts;
  alerts: Counts;
  lastWebhookMs: number | null;
  lastHeartbeatMs: number | null;
}

/** Engine-specific storage figures (SQLite: the file, its WAL, its pages). */
export interface StorageInfo {
  engine: 'sqlite' | 'postgres';
  databaseBytes: number | null;
  walBytes: number | null;
  pageSize: number | null;
  pageCount: number | null;
  freePages: number | null;
}

/** What each adapter answers its own way, beside the shared SQL. */
export interface EngineReads {
  /** Migrations shipped versus applied in this database. */
  migrations(): Promise<{ applied: number; expected: number }>;
  /** Engine-specific storage figures, where the engine has them. */
  storageInfo?(): Promise<StorageInfo>;
}

export interface ReadStore extends EngineReads, EventReads, SubscriptionReads, ConsoleReads {
  readonly engine: 'sqlite' | 'postgres';
  getAction(id: string): Promise<ActionRecord | undefined>;
  /** Most recently updated first; keyset `[updatedAtMs, id]`; `limit + 1` rows (the extra says "more"). */
  listActions(f: ActionFilter): Promise<ActionRecord[]>;
  /** Every PENDING action with what the poller needs; bounded by the fleet, as each device has at most one. */
  pendingActions(): Promise<PendingActionRecord[]>;
  /** A device's PENDING actions (any origin), for the gateway's guards. */
  pendingActionsFor(deviceId: string): Promise<ActionRecord[]>;
  /**
   * Request times of the device's commands that count against the daily budget since `sinceMs`
   * (exclusive), oldest first: those that reached or may have reached Enode (`sending`, `sent`,
   * `unknown`), cancels excepted — a cancel stops Enode's retries, it sends the device nothing.
   */
  budgetedCommandTimes(deviceId: string, sinceMs: number): Promise<number[]>;
  /**
   * What the daily budget counts (domain/guards.ts budgetedSends) since `sinceMs` (exclusive):
   * the commands budgetedCommandTimes counts, with the action each named, oldest first; and the
   * device's actions of another origin than `gateway` created since then (by Enode's `createdAt`,
   * its `updatedAt` when unreadable), oldest first.
   */
  budgetSources(deviceId: string, sinceMs: number): Promise<{ commands: BudgetCommand[]; actions: BudgetAction[] }>;
  /** The newest heartbeat received. */
  lastHeartbeat(): Promise<HeartbeatRecord | undefined>;
  /** When the newest delivery arrived (any status); null before the first. */
  lastWebhookMs(): Promise<number | null>;
  getDevice(id: string): Promise<DeviceRecord | undefined>;
  /**
   * The device's newest schedule and smart charging statuses (domain/control.ts), newest first by
   * time of effect: the gateway's view of what controls the device now.
   */
  controlStatuses(deviceId: string, limit: number): Promise<ControlStatus[]>;
  /**
   * Every schedule and every vehicle's smart charging a status was stored for, with its user and
   * device, except schedules whose newest status says Enode deleted them (the resync reads each
   * one's status again).
   */
  knownControls(): Promise<KnownControl[]>;
  /** By id; keyset: the last id shown; `limit + 1` rows. */
  listDevices(f: { type?: string | undefined; userId?: string | undefined; after?: string | undefined; limit: number }): Promise<DeviceRecord[]>;
  /** One delivery with its body (from `delivery_bodies`, or the row itself for deliveries stored before it existed). */
  getDelivery(id: string): Promise<DeliveryRecord | undefined>;
  /** Newest first; keyset `[receivedAt, id]`; `limit + 1` rows. */
  listDeliveries(f: DeliveryFilter): Promise<DeliverySummary[]>;
  getFinding(id: string): Promise<FindingRecord | undefined>;
  /** Newest change first (device time); keyset `[observedAtMs, id]`; `limit + 1` rows. */
  listFindings(f: FindingFilter): Promise<FindingRecord[]>;
  /** Findings per kind; with `state`, only those in that state (the dashboard counts the open ones). */
  countFindingsByKind(state?: 'open' | 'acknowledged' | 'resolved'): Promise<Counts>;
  /**
   * The pieces of a device's timeline within [fromMs, untilMs] of device time, after
   * `range.after`: each source keyset-paged in timeline order and capped at `limit` rows, so the
   * first `limit` entries of their merge are exactly the next page. Transitions are those of the
   * observations read.
   */
  timelinePage(deviceId: string, range: TimelineRange): Promise<TimelineParts>;
  /** Per-sink deliveries with their alert, most recently updated first; keyset `[updatedAtMs, alertId, sink]`; `limit + 1` rows. */
  listAlertDeliveries(f: AlertDeliveryFilter): Promise<AlertDeliveryWithAlert[]>;
  /** One alert and its deliveries (by sink); undefined when unknown. */
  getAlert(id: string): Promise<{ alert: AlertRecord; deliveries: AlertDeliveryRecord[] } | undefined>;
  alertDeliveryCounts(): Promise<Counts>;
  /** True when the dashboard session `id` was logged out and would not have expired by `nowMs`. */
  isUiSessionRevoked(id: string, nowMs: number): Promise<boolean>;
  metricGauges(nowMs: number): Promise<MetricGauges>;
  statusNumbers(): Promise<StatusNumbers>;
}

// ── SQL ──

const ACTION_COLUMNS = `id, user_id AS "userId", target_id AS "targetId", target_type AS "targetType", kind, CAST(target AS TEXT) AS target, state,
  CAST(failure_reason AS TEXT) AS "failureReason", created_at AS "createdAt", updated_at AS "updatedAt", updated_at_ms AS "updatedAtMs",
  completed_at AS "completedAt", origin, CAST(raw AS TEXT) AS raw, raw_hash AS "rawHash", first_seen_at AS "firstSeenAt",
  last_news_at AS "lastNewsAt", poll_attempts AS "pollAttempts", last_polled_at AS "lastPolledAt", upstream`;

const TIMELINE_ACTION_COLUMNS = `id, user_id AS "userId", target_id AS "targetId", target_type AS "targetType", kind, CAST(target AS TEXT) AS target, state,
  CAST(failure_reason AS TEXT) AS "failureReason", created_at AS "createdAt", updated_at AS "updatedAt", updated_at_ms AS "updatedAtMs",
  completed_at AS "completedAt", origin`;

const DEVICE_COLUMNS = `id, type, user_id AS "userId", vendor, last_seen AS "lastSeen", is_reachable AS "isReachable",
  CAST(snapshot AS TEXT) AS snapshot, CAST(controlled AS TEXT) AS controlled, snapshot_at_ms AS "snapshotAtMs", snapshot_rank AS "snapshotRank",
  snapshot_event_at_ms AS "snapshotEventAtMs", snapshot_hash AS "snapshotHash", first_seen_at AS "firstSeenAt", updated_at AS "updatedAt",
  deleted_at_ms AS "deletedAtMs"`;

const DELIVERY_SUMMARY_COLUMNS = `d.id, d.received_at AS "receivedAt", d.status, d.error, d.event_count AS "eventCount", d.applied_at AS "appliedAt",
  d.attempts, d.body_sha256 AS "bodySha256"`;

const FINDING_COLUMNS = `id, device_id AS "deviceId", device_type AS "deviceType", user_id AS "userId", kind, field,
  from_value AS "fromValue", to_value AS "toValue", observed_at_ms AS "observedAtMs", detected_at_ms AS "detectedAtMs",
  action_id AS "actionId", evidence, state, state_note AS "stateNote", state_changed_at_ms AS "stateChangedAtMs"`;

const ALERT_DELIVERY_COLUMNS = `d.alert_id AS "alertId", d.sink, d.status, d.attempts, d.next_attempt_at_ms AS "nextAttemptAtMs",
  d.last_status AS "lastStatus", d.last_error AS "lastError", d.updated_at_ms AS "updatedAtMs", d.delivered_at_ms AS "deliveredAtMs"`;

const ALERT_COLUMNS = `a.id, a.type, a.dedupe_key AS "dedupeKey", a.device_id AS "deviceId", a.user_id AS "userId", a.data,
  a.created_at_ms AS "createdAtMs", a.fanned_out_at_ms AS "fannedOutAtMs"`;

/** Transitions read per page at most: a few controlled fields per observation. */
const TRANSITIONS_PER_OBSERVATION = 8;

// ── normalising what the engines answer differently ──

/** SQLite answers 0/1, Postgres true/false. */
function bool(v: unknown): boolean {
  return v === true || v === 1 || v === '1' || v === 't';
}

function boolOrNull(v: unknown): boolean | null {
  return v === null || v === undefined ? null : bool(v);
}

/** A number column that may come back as a numeric string (a driver without the int8 parser). */
function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

type Raw<T, K extends keyof T> = Omit<T, K> & { [P in K]: unknown };

function toAction(r: Raw<ActionRecord, 'target' | 'failureReason' | 'raw'>): ActionRecord {
  return {
    ...r,
    target: decodeStored(r.target as string | null) as ActionRecord['target'],
    failureReason: decodeStored(r.failureReason as string | null) as ActionRecord['failureReason'],
    raw: decodeStored(r.raw as string | null) as ActionRecord['raw'],
  };
}

function toDevice(r: Raw<DeviceRecord, 'snapshot' | 'controlled' | 'isReachable'>): DeviceRecord {
  return {
    ...r,
    isReachable: boolOrNull(r.isReachable),
    snapshot: decodeStored(r.snapshot as string | null) as DeviceRecord['snapshot'],
    controlled: decodeStored(r.controlled as string | null) as DeviceRecord['controlled'],
  };
}

function toDelivery(r: Raw<DeliveryRecord, 'headers' | 'body'>): DeliveryRecord {
  const headers = decodeStored(r.headers as string | null);
  const body = r.body;
  return {
    ...r,
    headers: headers !== null && typeof headers === 'object' && !Array.isArray(headers) ? (headers as Record<string, string>) : {},
    body: Buffer.isBuffer(body) ? body : body instanceof Uint8Array ? Buffer.from(body) : Buffer.from(String(body ?? ''), 'utf8'),
  };
}

function toCounts(rows: Array<{ k: unknown; n: unknown }>): Counts {
  const out: Counts = {};
  for (const r of rows) out[String(r.k)] = num(r.n);
  return out;
}

/** `WHERE a AND b …` (empty without conditions). */
function where(conditions: string[]): string {
  return conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
}

/**
 * The keyset condition of one timeline source after a cursor: rows at or after `ms` within the
 * window; at the cursor's own instant, every row when the source ranks after the cursor's (tie
 * 1), none when before (0), those with a greater id when it is the cursor's source (2).
 */
function timelineAfter(at: string, id: string, w: { ms: number; untilMs: number; tie: 0 | 1 | 2; id: SqlParam }): { sql: string; params: SqlParam[] } {
  const base = `${at} >= ? AND ${at} <= ?`;
  if (w.tie === 1) return { sql: base, params: [w.ms, w.untilMs] };
  if (w.tie === 0) return { sql: `${base} AND ${at} > ?`, params: [w.ms, w.untilMs, w.ms] };
  return { sql: `${base} AND (${at} > ? OR ${id} > ?)`, params: [w.ms, w.untilMs, w.ms, w.id] };
}

/** Orders timeline rows by time, then id (bytewise, as the cursor compares). */
function byTimeThenId(a: { atMs: number; id: string }, b: { atMs: number; id: string }): number {
  return a.atMs - b.atMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

// ── the implementation, one group of reads at a time ──

type ActionRow = Raw<ActionRecord, 'target' | 'failureReason' | 'raw'>;

function actionReads(reader: SqlReader): Pick<ReadStore, 'getAction' | 'listActions' | 'pendingActions' | 'pendingActionsFor' | 'budgetedCommandTimes' | 'budgetSources'> {
  return {
    async getAction(id) {
      const row = await reader.get<ActionRow>(`SELECT ${ACTION_COLUMNS} FROM actions WHERE id = ?`, [id]);
      return row && toAction(row);
    },

    async listActions(f) {
      const conditions: string[] = [];
      const params: SqlParam[] = [];
      if (f.state) (conditions.push('state = ?'), params.push(f.state));
      if (f.targetId) (conditions.push('target_id = ?'), params.push(f.targetId));
      if (f.targetType) (conditions.push('target_type = ?'), params.push(f.targetType));
      if (f.userId) (conditions.push('user_id = ?'), params.push(f.userId));
      if (f.sinceMs !== undefined) (conditions.push('updated_at_ms >= ?'), params.push(f.sinceMs));
      if (f.untilMs !== undefined) (conditions.push('updated_at_ms <= ?'), params.push(f.untilMs));
      if (f.after) (conditions.push('(updated_at_ms < ? OR (updated_at_ms = ? AND id < ?))'), params.push(f.after[0], f.after[0], f.after[1]));
      const rows = await reader.all<ActionRow>(`SELECT ${ACTION_COLUMNS} FROM actions ${where(conditions)} ORDER BY updated_at_ms DESC, id DESC LIMIT ?`, [
        ...params,
        f.limit + 1,
      ]);
      return rows.map(toAction);
    },

    pendingActions: () =>
      reader.all<PendingActionRecord>(
        `SELECT id, target_id AS "targetId", target_type AS "targetType", created_at AS "createdAt", last_news_at AS "lastNewsAt",
           last_polled_at AS "lastPolledAt", poll_attempts AS "pollAttempts", upstream
         FROM actions WHERE state = 'PENDING' ORDER BY id`,
      ),

    async pendingActionsFor(deviceId) {
      const rows = await reader.all<ActionRow>(`SELECT ${ACTION_COLUMNS} FROM actions WHERE target_id = ? AND state = 'PENDING' ORDER BY id`, [deviceId]);
      return rows.map(toAction);
    },

    async budgetedCommandTimes(deviceId, sinceMs) {
      const rows = await reader.all<{ at: unknown }>(
        `SELECT requested_at_ms AS "at" FROM commands
         WHERE device_id = ? AND requested_at_ms > ? AND outcome IN ('sending', 'sent', 'unknown') AND command <> 'cancel'
         ORDER BY requested_at_ms`,
        [deviceId, sinceMs],
      );
      return rows.map((r) => num(r.at));
    },

    async budgetSources(deviceId, sinceMs) {
      const [commands, actions] = await Promise.all([
        reader.all<{ at: unknown; actionId: string | null }>(
          `SELECT requested_at_ms AS "at", action_id AS "actionId" FROM commands
           WHERE device_id = ? AND requested_at_ms > ? AND outcome IN ('sending', 'sent', 'unknown') AND command <> 'cancel'
           ORDER BY requested_at_ms, id`,
          [deviceId, sinceMs],
        ),
        // Enode updates an action at or after creating it: updated_at_ms bounds the rows read (actions_target_idx).
        reader.all<{ id: string; createdAt: string; updatedAtMs: unknown; origin: 'gateway' | 'enode' }>(
          `SELECT id, created_at AS "createdAt", updated_at_ms AS "updatedAtMs", origin FROM actions
           WHERE target_id = ? AND updated_at_ms > ? AND origin <> 'gateway'`,
          [deviceId, sinceMs],
        ),
      ]);
      return {
        commands: commands.map((c) => ({ atMs: num(c.at), actionId: c.actionId ?? null })),
        actions: actions
          .map((a) => ({ id: a.id, createdAtMs: parseTimeMs(a.createdAt) ?? num(a.updatedAtMs), origin: a.origin }))
          .filter((a) => a.createdAtMs > sinceMs)
          .sort((a, b) => a.createdAtMs - b.createdAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
      };
    },
  };
}

type DeviceRow = Raw<DeviceRecord, 'snapshot' | 'controlled' | 'isReachable'>;

function deviceReads(reader: SqlReader): Pick<ReadStore, 'getDevice' | 'listDevices' | 'controlStatuses' | 'knownControls'> {
  return {
    async knownControls() {
      const rows = await reader.all<KnownControl & { state: string }>(
        `SELECT c.source, c.subject_id AS "id", c.user_id AS "userId", c.device_id AS "deviceId", c.state
           FROM control_statuses c
           JOIN (SELECT source, subject_id, device_id, max(at_ms) AS m FROM control_statuses GROUP BY source, subject_id, device_id) l
             ON c.source = l.source AND c.subject_id = l.subject_id AND c.device_id = l.device_id AND c.at_ms = l.m
          ORDER BY c.source, c.subject_id, c.device_id`,
      );
      const seen = new Map<string, KnownControl & { deleted: boolean }>();
      for (const r of rows) {
        const key = `${r.source}\n${r.id}\n${r.deviceId}`;
        const held = seen.get(key);
        // Statuses of one instant: deleted if any of them says so.
        seen.set(key, { source: r.source, id: r.id, userId: r.userId, deviceId: r.deviceId, deleted: (held?.deleted ?? false) || r.state === DELETED_SCHEDULE_STATE });
      }
      return [...seen.values()].filter((c) => !c.deleted).map(({ deleted: _d, ...c }) => c);
    },

    async controlStatuses(deviceId, limit) {
      const rows = await reader.all<{ status: string }>(
        `SELECT status FROM control_statuses WHERE device_id = ? ORDER BY at_ms DESC, hash DESC LIMIT ?`,
        [deviceId, limit],
      );
      return rows.map((r) => JSON.parse(r.status) as ControlStatus);
    },

    async getDevice(id) {
      const row = await reader.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`, [id]);
      return row && toDevice(row);
    },

    async listDevices(f) {
      const conditions: string[] = [];
      const params: SqlParam[] = [];
      if (f.type) (conditions.push('type = ?'), params.push(f.type));
      if (f.userId) (conditions.push('user_id = ?'), params.push(f.userId));
      if (f.after !== undefined) (conditions.push('id > ?'), params.push(f.after));
      const rows = await reader.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices ${where(conditions)} ORDER BY id LIMIT ?`, [...params, f.limit + 1]);
      return rows.map(toDevice);
    },
  };
}

function deliveryReads(reader: SqlReader): Pick<ReadStore, 'getDelivery' | 'listDeliveries' | 'lastHeartbeat'> {
  return {
    async getDelivery(id) {
      const row = await reader.get<Raw<DeliveryRecord, 'headers' | 'body'>>(
        `SELECT ${DELIVERY_SUMMARY_COLUMNS}, CAST(d.headers AS TEXT) AS headers, COALESCE(b.body, d.body) AS body, d.body_id AS "bodyId"
         FROM deliveries d LEFT JOIN delivery_bodies b ON b.id = d.body_id WHERE d.id = ?`,
        [id],
      );
      return row && toDelivery(row);
    },

    listDeliveries(f) {
      const conditions: string[] = [];
      const params: SqlParam[] = [];
      if (f.status) (conditions.push('d.status = ?'), params.push(f.status));
      // A delivery is about the devices and users its applied events were observed for.
      if (f.deviceId) (conditions.push('d.id IN (SELECT o.delivery_id FROM observations o WHERE o.device_id = ? AND o.delivery_id IS NOT NULL)'), params.push(f.deviceId));
      if (f.userId) (conditions.push('d.id IN (SELECT o.delivery_id FROM observations o WHERE o.user_id = ? AND o.delivery_id IS NOT NULL)'), params.push(f.userId));
      // Device events are recorded as observations, the others (heartbeats, credentials) as system events;
      // vendor-action events are merged into their action and keep no link to the delivery.
      if (f.eventType)
        (conditions.push(
          `d.id IN (SELECT o.delivery_id FROM observations o WHERE o.event = ? AND o.delivery_id IS NOT NULL
             UNION SELECT s.delivery_id FROM system_events s WHERE s.event = ? AND s.delivery_id IS NOT NULL)`,
        ),
        params.push(f.eventType, f.eventType));
      if (f.sinceMs !== undefined) (conditions.push('d.received_at >= ?'), params.push(f.sinceMs));
      if (f.untilMs !== undefined) (conditions.push('d.received_at <= ?'), params.push(f.untilMs));
      if (f.after) (conditions.push('(d.received_at < ? OR (d.received_at = ? AND d.id < ?))'), params.push(f.after[0], f.after[0], f.after[1]));
      return reader.all<DeliverySummary>(`SELECT ${DELIVERY_SUMMARY_COLUMNS} FROM deliveries d ${where(conditions)} ORDER BY d.received_at DESC, d.id DESC LIMIT ?`, [
        ...params,
        f.limit + 1,
      ]);
    },

    lastHeartbeat: () =>
      reader.get<HeartbeatRecord>(
        `SELECT received_at AS "receivedAt", pending_events AS "pendingEvents" FROM system_events
         WHERE event = 'system:heartbeat' ORDER BY received_at DESC LIMIT 1`,
      ),
  };
}

function findingReads(reader: SqlReader): Pick<ReadStore, 'getFinding' | 'listFindings'> {
  return {
    getFinding: (id) => reader.get<FindingRecord>(`SELECT ${FINDING_COLUMNS} FROM findings WHERE id = ?`, [id]),

    listFindings(f) {
      const conditions: string[] = [];
      const params: SqlParam[] = [];
      if (f.deviceId) (conditions.push('device_id = ?'), params.push(f.deviceId));
      if (f.userId) (conditions.push('user_id = ?'), params.push(f.userId));
      if (f.kind) (conditions.push('kind = ?'), params.push(f.kind));
      if (f.state) (conditions.push('state = ?'), params.push(f.state));
      if (f.sinceMs !== undefined) (conditions.push('observed_at_ms >= ?'), params.push(f.sinceMs));
      if (f.untilMs !== undefined) (conditions.push('observed_at_ms <= ?'), params.push(f.untilMs));
      if (f.after) (conditions.push('(observed_at_ms < ? OR (observed_at_ms = ? AND id < ?))'), params.push(f.after[0], f.after[0], f.after[1]));
      return reader.all<FindingRecord>(`SELECT ${FINDING_COLUMNS} FROM findings ${where(conditions)} ORDER BY observed_at_ms DESC, id DESC LIMIT ?`, [
        ...params,
        f.limit + 1,
      ]);
    },
  };
}

/** Where one timeline source resumes: its rows from `ms` to `untilMs`, and how the cursor's own instant is cut (see timelineAfter). */
interface SourceWindow {
  ms: number;
  untilMs: number;
  tie: 0 | 1 | 2;
  id: string;
}

/**
 * A device's actions placed at their creation time, in timeline order after the cursor. The
 * index on (target_id, updated_at_ms) narrows the read (an action is updated at or after its
 * creation); the creation time is parsed here as the reconciler parses it (domain/time.ts), so
 * order and cursor agree on both engines without a date function in SQL.
 */
async function timelineActions(reader: SqlReader, deviceId: string, w: SourceWindow, limit: number): Promise<TimelineAction[]> {
  const rows = await reader.all<Omit<TimelineAction, 'atMs'>>(`SELECT ${TIMELINE_ACTION_COLUMNS} FROM actions WHERE target_id = ? AND updated_at_ms >= ?`, [deviceId, w.ms]);
  const placed = rows.map((r) => ({ ...r, atMs: parseTimeMs(r.createdAt) ?? num(r.updatedAtMs) }));
  const after = (a: TimelineAction) => a.atMs >= w.ms && a.atMs <= w.untilMs && (w.tie === 1 || a.atMs > w.ms || (w.tie === 2 && a.id > w.id));
  return placed.filter(after).sort(byTimeThenId).slice(0, limit);
}

function timelineReads(reader: SqlReader): Pick<ReadStore, 'timelinePage'> {
  return {
    async timelinePage(deviceId, range) {
      const { fromMs, untilMs, after: cursor, limit } = range;
      const ms = cursor ? Math.max(cursor[0], fromMs) : fromMs;
      // Before the window, the cursor's instant is not read at all: every row in the window comes after it.
      const cursorRank = cursor && cursor[0] >= fromMs ? cursor[1] : undefined;
      const cursorId = cursor?.[2] ?? '';
      const window = (rank: number): SourceWindow => ({ ms, untilMs, tie: cursorRank === undefined || rank > cursorRank ? 1 : rank < cursorRank ? 0 : 2, id: cursorId });
      // Observations are keyed by their numeric row id (zero-padded in the cursor).
      const obs = timelineAfter('observed_at_ms', 'id', { ...window(2), id: /^\d{1,16}$/.test(cursorId) ? Number(cursorId) : 0 });
      const cmd = timelineAfter('requested_at_ms', 'id', window(0));
      const fnd = timelineAfter('observed_at_ms', 'id', window(3));
      const ctl = timelineAfter('at_ms', 'hash', window(4));
      const [observationRows, actions, commandRows, findings, controls] = await Promise.all([
        reader.all<Raw<TimelineObservation, 'stale'>>(
          `SELECT id, observed_at_ms AS "atMs", received_at AS "receivedAtMs", source, event, stale, CAST(controlled AS TEXT) AS controlled,
             CAST(context AS TEXT) AS context
           FROM observations WHERE device_id = ? AND ${obs.sql} ORDER BY observed_at_ms, id LIMIT ?`,
          [deviceId, ...obs.params, limit],
        ),
        timelineActions(reader, deviceId, window(1), limit),
        reader.all<Raw<TimelineCommand, 'override'>>(
          `SELECT id, command, body, requested_at_ms AS "requestedAtMs", outcome, action_id AS "actionId", override, notes, error
           FROM commands WHERE device_id = ? AND ${cmd.sql} ORDER BY requested_at_ms, id LIMIT ?`,
          [deviceId, ...cmd.params, limit],
        ),
        reader.all<FindingRecord>(`SELECT ${FINDING_COLUMNS} FROM findings WHERE device_id = ? AND ${fnd.sql} ORDER BY observed_at_ms, id LIMIT ?`, [deviceId, ...fnd.params, limit]),
        reader.all<{ id: string; atMs: unknown; status: string }>(
          `SELECT hash AS "id", at_ms AS "atMs", status FROM control_statuses WHERE device_id = ? AND ${ctl.sql} ORDER BY at_ms, hash LIMIT ?`,
          [deviceId, ...ctl.params, limit],
        ),
      ]);
      const observations = observationRows.map((o) => ({ ...o, id: num(o.id), stale: bool(o.stale) }));
      return {
        observations,
        transitions: await transitionsOf(reader, deviceId, observations),
        actions,
        commands: commandRows.map((c) => ({ ...c, override: bool(c.override) })),
        findings,
        controls: controls.map((c) => ({ ...c, atMs: num(c.atMs) })),
      };
    },
  };
}

/** The transitions at the instants of the observations read (a few controlled fields each). */
async function transitionsOf(reader: SqlReader, deviceId: string, observations: TimelineObservation[]): Promise<TimelineTransition[]> {
  const first = observations[0];
  const last = observations[observations.length - 1];
  if (!first || !last) return [];
  return reader.all<TimelineTransition>(
    `SELECT at_ms AS "atMs", field, from_value AS "fromValue", to_value AS "toValue", status, explanation, finding_id AS "findingId"
     FROM transitions WHERE device_id = ? AND at_ms >= ? AND at_ms <= ? ORDER BY at_ms, field LIMIT ?`,
    [deviceId, first.atMs, last.atMs, observations.length * TRANSITIONS_PER_OBSERVATION],
  );
}

type AlertDeliveryJoinRow = AlertDeliveryRecord & Record<`a_${keyof AlertRecord}`, unknown>;

function toAlertDeliveryWithAlert(r: AlertDeliveryJoinRow): AlertDeliveryWithAlert {
  const { a_id, a_type, a_dedupeKey, a_deviceId, a_userId, a_data, a_createdAtMs, a_fannedOutAtMs, ...delivery } = r;
  return {
    ...delivery,
    alert: {
      id: a_id as string,
      type: a_type as string,
      dedupeKey: a_dedupeKey as string,
      deviceId: a_deviceId as string | null,
      userId: a_userId as string | null,
      data: a_data as string,
      createdAtMs: num(a_createdAtMs),
      fannedOutAtMs: numOrNull(a_fannedOutAtMs),
    },
  };
}

function alertReads(reader: SqlReader): Pick<ReadStore, 'listAlertDeliveries' | 'getAlert' | 'isUiSessionRevoked'> {
  return {
    async listAlertDeliveries(f) {
      const conditions: string[] = [];
      const params: SqlParam[] = [];
      if (f.status) (conditions.push('d.status = ?'), params.push(f.status));
      if (f.type) (conditions.push('a.type = ?'), params.push(f.type));
      if (f.deviceId) (conditions.push('a.device_id = ?'), params.push(f.deviceId));
      if (f.userId) (conditions.push('a.user_id = ?'), params.push(f.userId));
      if (f.sinceMs !== undefined) (conditions.push('d.updated_at_ms >= ?'), params.push(f.sinceMs));
      if (f.untilMs !== undefined) (conditions.push('d.updated_at_ms <= ?'), params.push(f.untilMs));
      if (f.after) {
        const [ms, id, sink] = f.after;
        conditions.push('(d.updated_at_ms < ? OR (d.updated_at_ms = ? AND (d.alert_id < ? OR (d.alert_id = ? AND d.sink < ?))))');
        params.push(ms, ms, id, id, sink);
      }
      const rows = await reader.all<AlertDeliveryJoinRow>(
        `SELECT ${ALERT_DELIVERY_COLUMNS}, a.id AS "a_id", a.type AS "a_type", a.dedupe_key AS "a_dedupeKey", a.device_id AS "a_deviceId",
           a.user_id AS "a_userId", a.data AS "a_data", a.created_at_ms AS "a_createdAtMs", a.fanned_out_at_ms AS "a_fannedOutAtMs"
         FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id ${where(conditions)}
         ORDER BY d.updated_at_ms DESC, d.alert_id DESC, d.sink DESC LIMIT ?`,
        [...params, f.limit + 1],
      );
      return rows.map(toAlertDeliveryWithAlert);
    },

    async getAlert(id) {
      const alert = await reader.get<AlertRecord>(`SELECT ${ALERT_COLUMNS} FROM alerts a WHERE a.id = ?`, [id]);
      if (!alert) return undefined;
      const deliveries = await reader.all<AlertDeliveryRecord>(`SELECT ${ALERT_DELIVERY_COLUMNS} FROM alert_deliveries d WHERE d.alert_id = ? ORDER BY d.sink`, [id]);
      return { alert, deliveries };
    },

    async isUiSessionRevoked(id, nowMs) {
      return (await reader.get(`SELECT id FROM ui_session_revocations WHERE id = ? AND expires_at_ms > ?`, [id, nowMs])) !== undefined;
    },
  };
}

/** Counts and latest times: the overview, /metrics and `status`, each an indexed aggregate. */
function countReads(
  reader: SqlReader,
): Pick<ReadStore, 'lastWebhookMs' | 'countFindingsByKind' | 'alertDeliveryCounts' | 'metricGauges' | 'statusNumbers'> {
  const grouped = async (column: string, table: string): Promise<Counts> =>
    toCounts(await reader.all<{ k: unknown; n: unknown }>(`SELECT ${column} AS k, COUNT(*) AS n FROM ${table} GROUP BY ${column}`));
  const scalar = async (sql: string, params: SqlParam[] = []): Promise<number | null> => numOrNull((await reader.get<{ v: unknown }>(sql, params))?.v);
  const lastWebhookMs = () => scalar(`SELECT MAX(received_at) AS v FROM deliveries`);
  const lastHeartbeatMs = () => scalar(`SELECT MAX(received_at) AS v FROM system_events WHERE event = 'system:heartbeat'`);
  const countFindingsByKind = async (state?: 'open' | 'acknowledged' | 'resolved'): Promise<Counts> =>
    state === undefined
      ? grouped('kind', 'findings')
      : toCounts(await reader.all<{ k: unknown; n: unknown }>(`SELECT kind AS k, COUNT(*) AS n FROM findings WHERE state = ? GROUP BY kind`, [state]));
  const alertDeliveryCounts = () => grouped('status', 'alert_deliveries');
  const common = () =>
    Promise.all([grouped('status', 'deliveries'), grouped('state', 'actions'), grouped('type', 'devices'), countFindingsByKind(), alertDeliveryCounts(), lastWebhookMs(), lastHeartbeatMs()]);

  return {
    lastWebhookMs,
    countFindingsByKind,
    alertDeliveryCounts,

    async metricGauges(nowMs) {
      const [[deliveries, actions, devices, findings, alerts, webhook, heartbeat], unrouted, oldestPending, due] = await Promise.all([
        common(),
        scalar(`SELECT COUNT(*) AS v FROM alerts WHERE fanned_out_at_ms IS NULL`),
        scalar(`SELECT MIN(first_seen_at) AS v FROM actions WHERE state = 'PENDING' AND upstream IS NULL`),
        scalar(`SELECT COUNT(*) AS v FROM reconcile_queue WHERE due_at_ms <= ?`, [nowMs]),
      ]);
      return {
        deliveriesByStatus: deliveries,
        actionsByState: actions,
        devicesByType: devices,
        findingsByKind: findings,
        alertDeliveriesByStatus: alerts,
        alertsUnrouted: unrouted ?? 0,
        lastWebhookMs: webhook,
        lastHeartbeatMs: heartbeat,
        oldestPendingActionMs: oldestPending,
        reconcileDue: due ?? 0,
      };
    },

    async statusNumbers() {
      const [deliveries, actions, devices, findings, alerts, webhook, heartbeat] = await common();
      return { devices, actions, deliveries, findings, alerts, lastWebhookMs: webhook, lastHeartbeatMs: heartbeat };
    },
  };
}

/** The read port in portable SQL over `reader`, with the adapter's engine-specific reads. */
export function createReadStore(reader: SqlReader, engineReads: EngineReads): ReadStore {
  const storageInfo = engineReads.storageInfo?.bind(engineReads);
  return {
    engine: reader.engine,
    migrations: () => engineReads.migrations(),
    ...(storageInfo ? { storageInfo } : {}),
    ...actionReads(reader),
    ...deviceReads(reader),
    ...deliveryReads(reader),
    ...findingReads(reader),
    ...timelineReads(reader),
    ...alertReads(reader),
    ...countReads(reader),
    ...eventReads(reader),
    ...subscriptionReads(reader),
    ...consoleReads(reader),
  };
}
