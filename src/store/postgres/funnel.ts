/**
 * The funnel on Postgres: a unit of work that lets the synchronous decision code (ingest/apply.ts,
 * ingest/deliveries.ts) run unchanged against rows loaded up front, in three steps per batch.
 *
 * 1. Discovery: the batch runs against a `KeyRecorder`, which answers "nothing stored" and
 *    records every key the code reads or writes. Which keys a batch touches depends only on its
 *    events (an action's id, a snapshot's device, time and hash), not on what is stored, so this
 *    finds all of them.
 * 2. `lockAndLoad`: transaction-scoped advisory locks on those keys (one fixed order: no
 *    deadlock between replicas), then the rows, in one statement.
 * 3. The real pass runs against a `UnitOfWork` over the loaded rows; writes are buffered (later
 *    reads see earlier writes), savepoints are undo marks, and `flushUnitOfWork` writes everything
 *    back as one statement of multi-row writes. Round trips per batch stay constant.
 *
 * The merges the SQLite SQL does on conflict (db/ingest-repo.ts) are done here in memory on the
 * locked rows, with the same rules; the flush keeps the same conflict clauses as a second guard.
 */
import type pg from 'pg';
import { alertId, type NewAlert } from '../../alerts/types.js';
import type { ActionOrigin, ActionRecord } from '../../domain/actions.js';
import type { SnapshotKey } from '../../domain/devices.js';
import { alertEvent } from '../../events/facts.js';
import type { NewEvent } from '../../events/types.js';
import type {
  DeliveryHead,
  DeliveryRepo,
  DeliveryStatus,
  DeviceUpsert,
  IngestSettings,
  ObservationInsert,
  StoredActionVersion,
  StoredDeliveryHead,
  StoredDevice,
  SystemEventInsert,
  ControlStatusInsert,
} from '../funnel.js';
import { cleanText, hasNul, refuseNul } from '../text.js';
import { actionLockKey, deviceLockKey, lockKeys } from './context.js';
import { appendEventsPostgres } from './events.js';

/** A delivery loaded for applying or replaying: what findDelivery and deliveryBody answer. */
export interface LoadedDelivery {
  id: string;
  head: DeliveryHead;
  receivedAt: number;
  body: Buffer;
}

/** Every key a batch reads or writes, found by the discovery pass. */
export interface FunnelKeys {
  actions: Set<string>;
  devices: Set<string>;
  /** Observation keys (device, device time, hash) by their `observationKey`. */
  observations: Map<string, [string, number, string]>;
  systemEvents: Set<string>;
  controlStatuses: Set<string>;
}

/** A bug in this module (a key read that discovery did not find): the whole batch must roll back. */
export class UnitOfWorkBug extends Error {
  override name = 'UnitOfWorkBug';
}

const observationKey = (deviceId: string, atMs: number, hash: string) => JSON.stringify([deviceId, atMs, hash]);

function notInUnitOfWork(name: string): never {
  throw new UnitOfWorkBug(`${name} is not part of applying deliveries on Postgres`);
}

/** Reads of the deliveries being applied, shared by both passes. */
function deliveryReads(deliveries: Map<string, LoadedDelivery>) {
  return {
    findDelivery: (id: string): DeliveryHead | undefined => deliveries.get(id)?.head,
    deliveryBody: (id: string) => {
      const d = deliveries.get(id);
      return d && { body: d.body, receivedAt: d.receivedAt };
    },
    findDeliveryByBody: (_sha: string): StoredDeliveryHead | undefined => notInUnitOfWork('findDeliveryByBody'),
    insertDelivery: (): boolean => notInUnitOfWork('insertDelivery'),
  };
}

/** Discovery: answers "nothing stored", records every key asked, keeps no writes. */
export class KeyRecorder implements DeliveryRepo {
  readonly keys: FunnelKeys = { actions: new Set(), devices: new Set(), observations: new Map(), systemEvents: new Set(), controlStatuses: new Set() };
  private readonly reads;

  constructor(
    readonly settings: IngestSettings,
    deliveries: Map<string, LoadedDelivery>,
  ) {
    this.reads = deliveryReads(deliveries);
  }

  // Keys with a NUL cannot be locked or looked up; the real pass refuses them (NulCharacterError).
  private action(id: string): void {
    if (!hasNul(id)) this.keys.actions.add(id);
  }
  private device(id: string): void {
    if (!hasNul(id)) this.keys.devices.add(id);
  }

  transaction<T>(fn: () => T): T {
    return fn();
  }
  derivedTransaction<T>(fn: () => T): T {
    return fn();
  }
  findDelivery(id: string) {
    return this.reads.findDelivery(id);
  }
  findDeliveryByBody(sha: string) {
    return this.reads.findDeliveryByBody(sha);
  }
  deliveryBody(id: string) {
    return this.reads.deliveryBody(id);
  }
  insertDelivery(): boolean {
    return this.reads.insertDelivery();
  }
  finishDelivery(): void {}
  countAttempt(): void {}
  getActionVersion(id: string): StoredActionVersion | undefined {
    this.action(id);
    return undefined;
  }
  setActionOrigin(id: string): void {
    this.action(id);
  }
  upsertAction(a: ActionRecord): void {
    this.action(a.id);
  }
  getDevice(id: string): StoredDevice | undefined {
    this.device(id);
    return undefined;
  }
  appendEvent(): void {}
  writeDevice(d: DeviceUpsert): void {
    this.device(d.id);
  }
  markDeviceDeleted(id: string): void {
    this.device(id);
  }
  markForReconcile(deviceId: string): void {
    this.device(deviceId);
  }
  insertObservation(o: ObservationInsert): boolean {
    if (!hasNul(o.deviceId) && !hasNul(o.hash)) {
      this.keys.observations.set(observationKey(o.deviceId, o.observedAtMs, o.hash), [o.deviceId, o.observedAtMs, o.hash]);
    }
    return true;
  }
  insertSystemEvent(e: SystemEventInsert): boolean {
    if (!hasNul(e.hash)) this.keys.systemEvents.add(e.hash);
    return true;
  }
  insertControlStatus(c: ControlStatusInsert): boolean {
    if (!hasNul(c.hash)) this.keys.controlStatuses.add(c.hash);
    return true;
  }
  enqueueAlert(): boolean {
    return true;
  }
}

/** The rows a batch's keys name, as they are stored (null: no row). */
export interface LoadedRows {
  actions: Map<string, StoredActionVersion | null>;
  devices: Map<string, { key: SnapshotKey; deletedAtMs: number | null; fields: DeviceFields } | null>;
  observations: Set<string>;
  systemEvents: Set<string>;
  controlStatuses: Set<string>;
  /** Devices locked by this transaction (their observations and reconcile queue entries are written only for them). */
  lockedDevices: Set<string>;
  /** System event hashes locked by this transaction. */
  lockedSystemEvents: Set<string>;
  /** Control status hashes locked by this transaction. */
  lockedControlStatuses: Set<string>;
}

const LOAD_SQL = `SELECT
  (SELECT coalesce(json_agg(json_build_array(id, state, updated_at_ms, raw_hash, origin, first_seen_at, last_news_at)), '[]')
     FROM actions WHERE id = ANY($1::text[])) AS actions,
  (SELECT coalesce(json_agg(json_build_array(id, snapshot_at_ms, snapshot_rank, snapshot_event_at_ms, snapshot_hash, deleted_at_ms,
       type, user_id, vendor, last_seen, is_reachable, snapshot::text, controlled::text)), '[]')
     FROM devices WHERE id = ANY($2::text[])) AS devices,
  (SELECT coalesce(json_agg(json_build_array(o.device_id, o.observed_at_ms, o.hash)), '[]')
     FROM observations o JOIN unnest($3::text[], $4::int8[], $5::text[]) AS k(d, t, h)
       ON o.device_id = k.d AND o.observed_at_ms = k.t AND o.hash = k.h) AS observations,
  (SELECT coalesce(json_agg(hash), '[]') FROM system_events WHERE hash = ANY($6::text[])) AS system_events,
  (SELECT coalesce(json_agg(hash), '[]') FROM control_statuses WHERE hash = ANY($7::text[])) AS control_statuses`;

type Row = unknown[];

/**
 * Locks the batch's keys (devices, actions, system events; observations are covered by their
 * device's lock) and loads their rows in one statement. The locks come first, in a statement of
 * their own: a statement sees the data as of its start, so a read in the same statement as a lock
 * wait could miss what the lock's previous holder committed.
 */
export async function lockAndLoad(client: pg.PoolClient, keys: FunnelKeys): Promise<LoadedRows> {
  await lockKeys(client, [
    ...[...keys.devices].map(deviceLockKey),
    ...[...keys.actions].map(actionLockKey),
    ...[...keys.systemEvents].map((h) => `sysevent:${h}`),
    ...[...keys.controlStatuses].map((h) => `control:${h}`),
  ]);
  const obs = [...keys.observations.values()];
  const loaded: LoadedRows = {
    actions: new Map([...keys.actions].map((id) => [id, null])),
    devices: new Map([...keys.devices].map((id) => [id, null])),
    observations: new Set(),
    systemEvents: new Set(),
    controlStatuses: new Set(),
    lockedDevices: new Set(keys.devices),
    lockedSystemEvents: new Set(keys.systemEvents),
    lockedControlStatuses: new Set(keys.controlStatuses),
  };
  if (keys.actions.size + keys.devices.size + obs.length + keys.systemEvents.size + keys.controlStatuses.size === 0) return loaded;
  const { rows } = await client.query<{ actions: Row[]; devices: Row[]; observations: Row[]; system_events: string[]; control_statuses: string[] }>(LOAD_SQL, [
    [...keys.actions],
    [...keys.devices],
    obs.map((o) => o[0]),
    obs.map((o) => o[1]),
    obs.map((o) => o[2]),
    [...keys.systemEvents],
    [...keys.controlStatuses],
  ]);
  const r = rows[0]!;
  for (const [id, state, updatedAtMs, rawHash, origin, firstSeenAt, lastNewsAt] of r.actions) {
    loaded.actions.set(id as string, { state, updatedAtMs, rawHash, origin, firstSeenAt, lastNewsAt } as StoredActionVersion);
  }
  for (const [id, atMs, rank, eventAtMs, hash, deletedAtMs, type, userId, vendor, lastSeen, isReachable, snapshot, controlled] of r.devices) {
    const fields = { type, userId, vendor, lastSeen, isReachable, snapshot, controlled } as DeviceFields;
    loaded.devices.set(id as string, { key: { atMs, rank, eventAtMs, hash } as SnapshotKey, deletedAtMs: deletedAtMs as number | null, fields });
  }
  for (const [d, t, h] of r.observations) loaded.observations.add(observationKey(d as string, t as number, h as string));
  for (const h of r.system_events) loaded.systemEvents.add(h);
  for (const h of r.control_statuses) loaded.controlStatuses.add(h);
  return loaded;
}

/** Undo log: savepoints are marks in it; a throw undoes the writes after its mark. */
class Journal {
  private undo: Array<() => void> = [];
  set<K, V>(map: Map<K, V>, key: K, value: V): void {
    const had = map.has(key);
    const prev = map.get(key);
    this.undo.push(had ? () => map.set(key, prev as V) : () => map.delete(key));
    map.set(key, value);
  }
  add<T>(set: Set<T>, value: T): void {
    if (set.has(value)) return;
    this.undo.push(() => set.delete(value));
    set.add(value);
  }
  push<T>(list: T[], value: T): void {
    const length = list.length;
    this.undo.push(() => {
      list.length = length;
    });
    list.push(value);
  }
  mark(): number {
    return this.undo.length;
  }
  rollback(mark: number): void {
    while (this.undo.length > mark) this.undo.pop()!();
  }
}

/** An action row as it will be written (an upsert), or only its origin changed. */
interface ActionState {
  version: StoredActionVersion;
  upsert?: { record: ActionRecord; rawText: string };
  originChanged?: boolean;
}

/** A device row as loaded, and what the batch changed in it. */
/** What a device row shows besides its snapshot key and deletion (the event log's `from`). */
type DeviceFields = Omit<StoredDevice, 'id' | 'key' | 'deletedAtMs'>;

interface DeviceState {
  key: SnapshotKey;
  deletedAtMs: number | null;
  fields: DeviceFields;
  /** Stored before this batch (UPDATE) or new (INSERT with type, user and first-seen time). */
  inserted?: { type: string; userId: string; firstSeenAt: number };
  snapshot?: DeviceUpsert;
  updatedAt?: number;
}

export interface DeliveryFinish {
  status: DeliveryStatus;
  error: string | null;
  appliedAt: number | null;
  eventCount: number;
}

/** The real pass: the loaded rows, the buffered writes, savepoints as undo marks. */
export class UnitOfWork implements DeliveryRepo {
  private readonly journal = new Journal();
  private readonly reads;
  /** The first UnitOfWorkBug met: rethrown by flushUnitOfWork even when a savepoint caught it. */
  bug: UnitOfWorkBug | undefined;

  readonly actions = new Map<string, ActionState | null>();
  readonly devices = new Map<string, DeviceState | null>();
  readonly dirtyActions = new Set<string>();
  readonly dirtyDevices = new Set<string>();
  readonly observations: Set<string>;
  readonly newObservations: ObservationInsert[] = [];
  readonly systemEvents: Set<string>;
  readonly newSystemEvents: SystemEventInsert[] = [];
  readonly controlStatuses: Set<string>;
  readonly newControlStatuses: ControlStatusInsert[] = [];
  readonly reconcile = new Map<string, { fromMs: number; dueAtMs: number }>();
  readonly alerts = new Map<string, NewAlert>();
  /** Events to append at the end of the flush, in the order the funnel wrote them. */
  readonly events: NewEvent[] = [];
  readonly finished = new Map<string, DeliveryFinish>();
  readonly attempts = new Map<string, number>();

  constructor(
    readonly settings: IngestSettings,
    private readonly deliveries: Map<string, LoadedDelivery>,
    private readonly loaded: LoadedRows,
  ) {
    this.reads = deliveryReads(deliveries);
    for (const [id, v] of loaded.actions) this.actions.set(id, v && { version: v });
    for (const [id, d] of loaded.devices) this.devices.set(id, d && { ...d });
    this.observations = new Set(loaded.observations);
    this.systemEvents = new Set(loaded.systemEvents);
    this.controlStatuses = new Set(loaded.controlStatuses);
  }

  private missing(what: string): never {
    this.bug ??= new UnitOfWorkBug(`${what} was not loaded by the discovery pass`);
    throw this.bug;
  }

  private need<V>(map: Map<string, V>, key: string, what: string): V {
    refuseNul(what, key);
    if (!map.has(key)) this.missing(`${what} ${key}`);
    return map.get(key) as V;
  }

  transaction<T>(fn: () => T): T {
    const mark = this.journal.mark();
    try {
      return fn();
    } catch (err) {
      this.journal.rollback(mark);
      throw err;
    }
  }
  derivedTransaction<T>(fn: () => T): T {
    return this.transaction(fn);
  }
  findDelivery(id: string) {
    return this.reads.findDelivery(id);
  }
  findDeliveryByBody(sha: string) {
    return this.reads.findDeliveryByBody(sha);
  }
  deliveryBody(id: string) {
    return this.reads.deliveryBody(id);
  }
  insertDelivery(): boolean {
    return this.reads.insertDelivery();
  }

  finishDelivery(id: string, status: DeliveryStatus, error: string | null, appliedAt: number | null, eventCount: number): void {
    const d = this.deliveries.get(id) ?? this.missing(`delivery ${id}`);
    this.journal.set(this.finished, id, { status, error: cleanText(error), appliedAt, eventCount });
    this.journal.set(this.deliveries, id, { ...d, head: { ...d.head, status, error, eventCount } });
  }

  countAttempt(id: string): void {
    if (!this.deliveries.has(id)) this.missing(`delivery ${id}`);
    this.journal.set(this.attempts, id, (this.attempts.get(id) ?? 0) + 1);
  }

  getActionVersion(id: string): StoredActionVersion | undefined {
    return this.need(this.actions, id, 'action id')?.version;
  }

  setActionOrigin(id: string, origin: ActionOrigin, lastNewsAt: number): void {
    const cur = this.need(this.actions, id, 'action id');
    if (!cur) return;
    const version = { ...cur.version, origin, lastNewsAt };
    const upsert = cur.upsert && { ...cur.upsert, record: { ...cur.upsert.record, origin } };
    this.journal.set(this.actions, id, { version, ...(upsert ? { upsert } : { originChanged: true }) });
    this.journal.add(this.dirtyActions, id);
  }

  upsertAction(a: ActionRecord, firstSeenAt: number, lastNewsAt: number, rawText?: string): void {
    const cur = this.need(this.actions, a.id, 'action id');
    refuseNul('action', a.userId, a.targetId, a.targetType, a.kind, a.state, a.createdAt, a.updatedAt, a.completedAt, a.rawHash);
    // As ON CONFLICT DO UPDATE: a stored row keeps its first-seen time.
    const version: StoredActionVersion = {
      state: a.state,
      updatedAtMs: a.updatedAtMs,
      rawHash: a.rawHash,
      origin: a.origin,
      firstSeenAt: cur ? cur.version.firstSeenAt : firstSeenAt,
      lastNewsAt,
    };
    this.journal.set(this.actions, a.id, { version, upsert: { record: a, rawText: rawText ?? JSON.stringify(a.raw) } });
    this.journal.add(this.dirtyActions, a.id);
  }

  getDevice(id: string): StoredDevice | undefined {
    const cur = this.need(this.devices, id, 'device id');
    return cur ? { id, ...cur.fields, key: cur.key, deletedAtMs: cur.deletedAtMs } : undefined;
  }

  appendEvent(e: NewEvent): void {
    this.journal.push(this.events, e);
  }

  writeDevice(d: DeviceUpsert, exists: boolean): void {
    const cur = this.need(this.devices, d.id, 'device id');
    refuseNul('device', d.type, d.userId, d.vendor, d.lastSeen, d.key.hash);
    if (!exists && cur) throw new Error(`device ${d.id} is stored already (duplicate key)`);
    if (exists && !cur) return;
    // As the SQLite UPDATE: a stored row keeps its type and user.
    const fields: DeviceFields = {
      type: cur?.fields.type ?? d.type,
      userId: cur?.fields.userId ?? d.userId,
      vendor: d.vendor,
      lastSeen: d.lastSeen,
      isReachable: d.isReachable,
      snapshot: d.snapshot,
      controlled: d.controlled,
    };
    const next: DeviceState = cur
      ? { ...cur, key: d.key, fields, snapshot: d, updatedAt: d.now }
      : { key: d.key, deletedAtMs: null, fields, inserted: { type: d.type, userId: d.userId, firstSeenAt: d.now }, snapshot: d, updatedAt: d.now };
    this.journal.set(this.devices, d.id, next);
    this.journal.add(this.dirtyDevices, d.id);
  }

  markDeviceDeleted(id: string, deletedAtMs: number, now: number): void {
    const cur = this.need(this.devices, id, 'device id');
    // Deletion is a max over delete times, as the SQLite UPDATE's WHERE clause.
    if (!cur || (cur.deletedAtMs !== null && cur.deletedAtMs >= deletedAtMs)) return;
    this.journal.set(this.devices, id, { ...cur, deletedAtMs, updatedAt: now });
    this.journal.add(this.dirtyDevices, id);
  }

  markForReconcile(deviceId: string, fromMs: number, dueAtMs: number): void {
    refuseNul('device id', deviceId);
    if (!this.loaded.lockedDevices.has(deviceId)) this.missing(`device ${deviceId} (reconcile queue)`);
    const cur = this.reconcile.get(deviceId);
    // The earliest due time and the earliest history change win, as the SQLite upsert.
    const next = cur ? { fromMs: Math.min(cur.fromMs, fromMs), dueAtMs: Math.min(cur.dueAtMs, dueAtMs) } : { fromMs, dueAtMs };
    this.journal.set(this.reconcile, deviceId, next);
  }

  insertObservation(o: ObservationInsert): boolean {
    refuseNul('observation', o.deviceId, o.deviceType, o.userId, o.event, o.deliveryId, o.eventCreatedAt, o.hash);
    const key = observationKey(o.deviceId, o.observedAtMs, o.hash);
    if (!this.loaded.lockedDevices.has(o.deviceId)) this.missing(`observation ${key}`);
    if (this.observations.has(key)) return false;
    this.journal.add(this.observations, key);
    this.journal.push(this.newObservations, o);
    return true;
  }

  insertSystemEvent(e: SystemEventInsert): boolean {
    refuseNul('system event', e.event, e.userId, e.vendor, e.createdAt, e.deliveryId, e.hash);
    if (!this.loaded.lockedSystemEvents.has(e.hash)) this.missing(`system event ${e.hash}`);
    if (this.systemEvents.has(e.hash)) return false;
    this.journal.add(this.systemEvents, e.hash);
    this.journal.push(this.newSystemEvents, e);
    return true;
  }

  insertControlStatus(c: ControlStatusInsert): boolean {
    refuseNul('control status', c.deviceId, c.userId, c.subjectId, c.state, c.deliveryId, c.hash);
    if (!this.loaded.lockedControlStatuses.has(c.hash)) this.missing(`control status ${c.hash}`);
    if (this.controlStatuses.has(c.hash)) return false;
    this.journal.add(this.controlStatuses, c.hash);
    this.journal.push(this.newControlStatuses, c);
    return true;
  }

  /**
   * Buffers an alert; false when this batch already raised its fact. One stored by an earlier
   * transaction is kept as it is by the flush (ON CONFLICT DO NOTHING): the first alert of a fact
   * wins, as on SQLite. Nothing in the funnel reads this result.
   */
  enqueueAlert(alert: NewAlert): boolean {
    refuseNul('alert', alert.type, alert.dedupeKey, alert.deviceId, alert.userId);
    if (this.alerts.has(alert.dedupeKey)) return false;
    this.journal.set(this.alerts, alert.dedupeKey, alert);
    // Its event too: one of an alert stored by an earlier transaction is skipped with it (same fact key).
    this.journal.push(this.events, alertEvent(alert));
    return true;
  }
}

/** Builds one statement of data-modifying CTEs, numbering parameters as they are added. */
class StatementBuilder {
  readonly params: unknown[] = [];
  private readonly parts: string[] = [];
  p(value: unknown, type: string): string {
    this.params.push(value);
    return `$${this.params.length}::${type}`;
  }
  add(sql: string): void {
    this.parts.push(sql);
  }
  get empty(): boolean {
    return this.parts.length === 0;
  }
  sql(): string {
    return `WITH ${this.parts.map((s, i) => `w${i} AS (${s})`).join(',\n')} SELECT 1`;
  }
}

const col = <T, V>(rows: T[], f: (r: T) => V): V[] => rows.map(f);

function flushActions(b: StatementBuilder, uow: UnitOfWork): void {
  const states = [...uow.dirtyActions].map((id) => [id, uow.actions.get(id)!] as const);
  const upserts = states.filter(([, s]) => s.upsert).map(([, s]) => ({ ...s.upsert!, v: s.version }));
  const origins = states.filter(([, s]) => !s.upsert && s.originChanged).map(([id, s]) => ({ id, v: s.version }));
  if (upserts.length > 0) {
    const r = upserts.map((u) => u.record);
    b.add(`INSERT INTO actions (id, user_id, target_id, target_type, kind, target, state, failure_reason, created_at, updated_at,
         updated_at_ms, completed_at, origin, raw, raw_hash, first_seen_at, last_news_at)
       SELECT id, user_id, target_id, target_type, kind, target::json, state, failure_reason::json, created_at, updated_at,
         updated_at_ms, completed_at, origin, raw::json, raw_hash, first_seen_at, last_news_at
       FROM unnest(${b.p(col(r, (a) => a.id), 'text[]')}, ${b.p(col(r, (a) => a.userId), 'text[]')}, ${b.p(col(r, (a) => a.targetId), 'text[]')},
         ${b.p(col(r, (a) => a.targetType), 'text[]')}, ${b.p(col(r, (a) => a.kind), 'text[]')},
         ${b.p(col(r, (a) => (a.target === null ? null : JSON.stringify(a.target))), 'text[]')}, ${b.p(col(r, (a) => a.state), 'text[]')},
         ${b.p(col(r, (a) => (a.failureReason === null ? null : JSON.stringify(a.failureReason))), 'text[]')},
         ${b.p(col(r, (a) => a.createdAt), 'text[]')}, ${b.p(col(r, (a) => a.updatedAt), 'text[]')}, ${b.p(col(r, (a) => a.updatedAtMs), 'int8[]')},
         ${b.p(col(r, (a) => a.completedAt), 'text[]')}, ${b.p(col(r, (a) => a.origin), 'text[]')}, ${b.p(col(upserts, (u) => u.rawText), 'text[]')},
         ${b.p(col(r, (a) => a.rawHash), 'text[]')}, ${b.p(col(upserts, (u) => u.v.firstSeenAt), 'int8[]')}, ${b.p(col(upserts, (u) => u.v.lastNewsAt), 'int8[]')})
         AS u(id, user_id, target_id, target_type, kind, target, state, failure_reason, created_at, updated_at, updated_at_ms, completed_at,
           origin, raw, raw_hash, first_seen_at, last_news_at)
       ORDER BY id
       ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, target_id = excluded.target_id,
         target_type = excluded.target_type, kind = excluded.kind, target = excluded.target, state = excluded.state,
         failure_reason = excluded.failure_reason, created_at = excluded.created_at, updated_at = excluded.updated_at,
         updated_at_ms = excluded.updated_at_ms, completed_at = excluded.completed_at, origin = excluded.origin,
         raw = excluded.raw, raw_hash = excluded.raw_hash, last_news_at = excluded.last_news_at, poll_attempts = 0`);
  }
  if (origins.length > 0) {
    b.add(`UPDATE actions a SET origin = u.origin, last_news_at = u.last_news_at
       FROM unnest(${b.p(col(origins, (o) => o.id), 'text[]')}, ${b.p(col(origins, (o) => o.v.origin), 'text[]')},
         ${b.p(col(origins, (o) => o.v.lastNewsAt), 'int8[]')}) AS u(id, origin, last_news_at)
       WHERE a.id = u.id`);
  }
}

function flushDevices(b: StatementBuilder, uow: UnitOfWork): void {
  const states = [...uow.dirtyDevices].map((id) => ({ id, s: uow.devices.get(id)! }));
  const inserts = states.filter((d) => d.s.inserted);
  const updates = states.filter((d) => !d.s.inserted);
  const snap = <V>(rows: typeof states, f: (d: DeviceUpsert) => V) => rows.map((d) => (d.s.snapshot ? f(d.s.snapshot) : null));
  const common = (rows: typeof states) =>
    `${b.p(col(rows, (d) => d.id), 'text[]')}, ${b.p(snap(rows, (d) => d.vendor), 'text[]')}, ${b.p(snap(rows, (d) => d.lastSeen), 'text[]')},
     ${b.p(snap(rows, (d) => d.isReachable), 'boolean[]')}, ${b.p(snap(rows, (d) => d.snapshot), 'text[]')}, ${b.p(snap(rows, (d) => d.controlled), 'text[]')},
     ${b.p(col(rows, (d) => d.s.key.atMs), 'int8[]')}, ${b.p(col(rows, (d) => d.s.key.rank), 'int4[]')}, ${b.p(col(rows, (d) => d.s.key.eventAtMs), 'int8[]')},
     ${b.p(col(rows, (d) => d.s.key.hash), 'text[]')}, ${b.p(col(rows, (d) => d.s.updatedAt!), 'int8[]')}, ${b.p(col(rows, (d) => d.s.deletedAtMs), 'int8[]')}`;
  const names = `id, vendor, last_seen, is_reachable, snapshot, controlled, at_ms, rank, event_at_ms, hash, updated_at, deleted_at_ms`;
  if (inserts.length > 0) {
    b.add(`INSERT INTO devices (id, type, user_id, vendor, last_seen, is_reachable, snapshot, controlled, snapshot_at_ms,
         snapshot_rank, snapshot_event_at_ms, snapshot_hash, first_seen_at, updated_at, deleted_at_ms)
       SELECT u.id, x.type, x.user_id, u.vendor, u.last_seen, u.is_reachable, u.snapshot::json, u.controlled::json, u.at_ms, u.rank,
         u.event_at_ms, u.hash, x.first_seen_at, u.updated_at, u.deleted_at_ms
       FROM unnest(${common(inserts)}) WITH ORDINALITY AS u(${names}, n)
       JOIN unnest(${b.p(col(inserts, (d) => d.s.inserted!.type), 'text[]')}, ${b.p(col(inserts, (d) => d.s.inserted!.userId), 'text[]')},
         ${b.p(col(inserts, (d) => d.s.inserted!.firstSeenAt), 'int8[]')}) WITH ORDINALITY AS x(type, user_id, first_seen_at, n) USING (n)
       ORDER BY u.id`);
  }
  if (updates.length > 0) {
    // Type and user stay as stored (as on SQLite); a row only marked deleted keeps its snapshot.
    b.add(`UPDATE devices d SET
         vendor = CASE WHEN u.snapshot IS NULL THEN d.vendor ELSE u.vendor END,
         last_seen = CASE WHEN u.snapshot IS NULL THEN d.last_seen ELSE u.last_seen END,
         is_reachable = CASE WHEN u.snapshot IS NULL THEN d.is_reachable ELSE u.is_reachable END,
         snapshot = coalesce(u.snapshot::json, d.snapshot), controlled = coalesce(u.controlled::json, d.controlled),
         snapshot_at_ms = u.at_ms, snapshot_rank = u.rank, snapshot_event_at_ms = u.event_at_ms, snapshot_hash = u.hash,
         updated_at = u.updated_at, deleted_at_ms = u.deleted_at_ms
       FROM unnest(${common(updates)}) AS u(${names})
       WHERE d.id = u.id`);
  }
}

function flushObservations(b: StatementBuilder, uow: UnitOfWork): void {
  const o = uow.newObservations;
  if (o.length === 0) return;
  b.add(`INSERT INTO observations (device_id, device_type, user_id, event, source, delivery_id, event_index, observed_at_ms,
         event_created_at, received_at, updated_fields, snapshot, controlled, context, stale, hash)
       SELECT device_id, device_type, user_id, event, source, delivery_id, event_index, observed_at_ms, event_created_at, received_at,
         updated_fields::json, snapshot::json, controlled::json, context::json, stale, hash
       FROM unnest(${b.p(col(o, (x) => x.deviceId), 'text[]')}, ${b.p(col(o, (x) => x.deviceType), 'text[]')}, ${b.p(col(o, (x) => x.userId), 'text[]')},
         ${b.p(col(o, (x) => x.event), 'text[]')}, ${b.p(col(o, (x) => x.source), 'text[]')}, ${b.p(col(o, (x) => x.deliveryId), 'text[]')},
         ${b.p(col(o, (x) => x.eventIndex), 'int4[]')}, ${b.p(col(o, (x) => x.observedAtMs), 'int8[]')}, ${b.p(col(o, (x) => x.eventCreatedAt), 'text[]')},
         ${b.p(col(o, (x) => x.receivedAt), 'int8[]')}, ${b.p(col(o, (x) => x.updatedFields), 'text[]')}, ${b.p(col(o, (x) => x.snapshot), 'text[]')},
         ${b.p(col(o, (x) => x.controlled), 'text[]')}, ${b.p(col(o, (x) => x.context), 'text[]')}, ${b.p(col(o, (x) => x.stale), 'boolean[]')},
         ${b.p(col(o, (x) => x.hash), 'text[]')}) WITH ORDINALITY
         AS u(device_id, device_type, user_id, event, source, delivery_id, event_index, observed_at_ms, event_created_at, received_at,
           updated_fields, snapshot, controlled, context, stale, hash, n)
       ORDER BY n
       ON CONFLICT (device_id, observed_at_ms, hash) DO NOTHING`);
}

function flushSystemEvents(b: StatementBuilder, uow: UnitOfWork): void {
  const e = uow.newSystemEvents;
  if (e.length === 0) return;
  b.add(`INSERT INTO system_events (event, user_id, vendor, created_at, pending_events, payload, delivery_id, received_at, hash)
       SELECT event, user_id, vendor, created_at, pending_events, payload::json, delivery_id, received_at, hash
       FROM unnest(${b.p(col(e, (x) => x.event), 'text[]')}, ${b.p(col(e, (x) => x.userId), 'text[]')}, ${b.p(col(e, (x) => x.vendor), 'text[]')},
         ${b.p(col(e, (x) => x.createdAt), 'text[]')}, ${b.p(col(e, (x) => x.pendingEvents), 'int4[]')}, ${b.p(col(e, (x) => x.payload), 'text[]')},
         ${b.p(col(e, (x) => x.deliveryId), 'text[]')}, ${b.p(col(e, (x) => x.receivedAt), 'int8[]')}, ${b.p(col(e, (x) => x.hash), 'text[]')}) WITH ORDINALITY
         AS u(event, user_id, vendor, created_at, pending_events, payload, delivery_id, received_at, hash, n)
       ORDER BY n
       ON CONFLICT (hash) DO NOTHING`);
}

function flushControlStatuses(b: StatementBuilder, uow: UnitOfWork): void {
  const c = uow.newControlStatuses;
  if (c.length === 0) return;
  b.add(`INSERT INTO control_statuses (device_id, user_id, source, subject_id, state, at_ms, received_at, status, delivery_id, hash)
       SELECT device_id, user_id, source, subject_id, state, at_ms, received_at, status, delivery_id, hash
       FROM unnest(${b.p(col(c, (x) => x.deviceId), 'text[]')}, ${b.p(col(c, (x) => x.userId), 'text[]')}, ${b.p(col(c, (x) => x.source), 'text[]')},
         ${b.p(col(c, (x) => x.subjectId), 'text[]')}, ${b.p(col(c, (x) => x.state), 'text[]')}, ${b.p(col(c, (x) => x.atMs), 'int8[]')},
         ${b.p(col(c, (x) => x.receivedAt), 'int8[]')}, ${b.p(col(c, (x) => x.status), 'text[]')}, ${b.p(col(c, (x) => x.deliveryId), 'text[]')},
         ${b.p(col(c, (x) => x.hash), 'text[]')}) WITH ORDINALITY
         AS u(device_id, user_id, source, subject_id, state, at_ms, received_at, status, delivery_id, hash, n)
       ORDER BY n
       ON CONFLICT (hash) DO NOTHING`);
}

function flushReconcileQueue(b: StatementBuilder, uow: UnitOfWork): void {
  const q = [...uow.reconcile].sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0));
  if (q.length === 0) return;
  b.add(`INSERT INTO reconcile_queue (device_id, due_at_ms, from_ms)
       SELECT * FROM unnest(${b.p(col(q, ([id]) => id), 'text[]')}, ${b.p(col(q, ([, v]) => v.dueAtMs), 'int8[]')}, ${b.p(col(q, ([, v]) => v.fromMs), 'int8[]')})
       ON CONFLICT (device_id) DO UPDATE SET
         due_at_ms = LEAST(reconcile_queue.due_at_ms, excluded.due_at_ms),
         from_ms = LEAST(reconcile_queue.from_ms, excluded.from_ms)`);
}

function flushAlerts(b: StatementBuilder, uow: UnitOfWork): void {
  // Sorted by fact: two replicas inserting overlapping alerts wait on each other in one order.
  const a = [...uow.alerts.values()].sort((x, y) => (x.dedupeKey < y.dedupeKey ? -1 : x.dedupeKey > y.dedupeKey ? 1 : 0));
  if (a.length === 0) return;
  b.add(`INSERT INTO alerts (id, type, dedupe_key, device_id, user_id, data, created_at_ms)
       SELECT * FROM unnest(${b.p(col(a, (x) => alertId(x.dedupeKey)), 'text[]')}, ${b.p(col(a, (x) => x.type), 'text[]')},
         ${b.p(col(a, (x) => x.dedupeKey), 'text[]')}, ${b.p(col(a, (x) => x.deviceId), 'text[]')}, ${b.p(col(a, (x) => x.userId), 'text[]')},
         ${b.p(col(a, (x) => JSON.stringify(x.data)), 'text[]')}, ${b.p(col(a, (x) => x.createdAtMs), 'int8[]')})
       ON CONFLICT DO NOTHING`);
}

function flushDeliveries(b: StatementBuilder, uow: UnitOfWork): void {
  const ids = [...new Set([...uow.finished.keys(), ...uow.attempts.keys()])];
  if (ids.length === 0) return;
  const f = ids.map((id) => uow.finished.get(id));
  b.add(`UPDATE deliveries d SET
         status = coalesce(u.status, d.status),
         error = CASE WHEN u.status IS NULL THEN d.error ELSE u.error END,
         applied_at = CASE WHEN u.status IS NULL THEN d.applied_at ELSE u.applied_at END,
         event_count = coalesce(u.event_count, d.event_count),
         attempts = d.attempts + u.attempts
       FROM unnest(${b.p(ids, 'text[]')}, ${b.p(col(f, (x) => x?.status ?? null), 'text[]')}, ${b.p(col(f, (x) => x?.error ?? null), 'text[]')},
         ${b.p(col(f, (x) => x?.appliedAt ?? null), 'int8[]')}, ${b.p(col(f, (x) => x?.eventCount ?? null), 'int4[]')},
         ${b.p(col(ids, (id) => uow.attempts.get(id) ?? 0), 'int4[]')}) AS u(id, status, error, applied_at, event_count, attempts)
       WHERE d.id = u.id`);
}

/** Writes everything the batch buffered, as one statement; rethrows a bug met on the way (the transaction rolls back). */
export async function flushUnitOfWork(client: pg.PoolClient, uow: UnitOfWork): Promise<number> {
  if (uow.bug) throw uow.bug;
  const b = new StatementBuilder();
  flushActions(b, uow);
  flushDevices(b, uow);
  flushObservations(b, uow);
  flushSystemEvents(b, uow);
  flushControlStatuses(b, uow);
  flushReconcileQueue(b, uow);
  flushAlerts(b, uow);
  flushDeliveries(b, uow);
  if (!b.empty) await client.query(b.sql(), b.params);
  // Last, after every write and lock of the batch: positions are taken in commit order (events.ts).
  await appendEventsPostgres(client, uow.events);
  return b.empty && uow.events.length === 0 ? 0 : 1;
}
