import type Database from 'better-sqlite3';
import { enqueueAlert } from '../store/sqlite/outbox.js';
import { appendEvent } from '../store/sqlite/events.js';
import type { NewEvent } from '../events/types.js';
import { refuseNul } from '../store/text.js';
import type { NewAlert } from '../alerts/types.js';
import type { Config } from '../config.js';
import type { ActionOrigin, ActionRecord } from '../domain/actions.js';
import type { SnapshotKey } from '../domain/devices.js';
import { DEFAULT_CLOCK_SKEW_TOLERANCE_MS } from '../domain/time.js';
import type {
  ControlStatusInsert,
  DeliveryHead,
  DeliveryRepo,
  DeliveryStatus,
  DeviceUpsert,
  IngestSettings,
  NewDelivery,
  ObservationInsert,
  StoredActionVersion,
  StoredDeliveryHead,
  StoredDevice,
  SystemEventInsert,
} from '../store/funnel.js';

export type { DeliveryHead, DeviceUpsert, IngestSettings, NewDelivery, ObservationInsert, StoredDeliveryHead, SystemEventInsert } from '../store/funnel.js';

/** The write side's settings from the configuration. */
export function ingestSettings(config: Pick<Config, 'clockSkewToleranceSeconds'> & { enode?: { webhookId?: string | undefined } }): IngestSettings {
  return { clockSkewToleranceMs: config.clockSkewToleranceSeconds * 1000, webhookId: config.enode?.webhookId ?? null };
}

/** How long a transaction whose BEGIN meets SQLITE_BUSY is retried, and the pause between tries. */
export const BUSY_BEGIN_RETRY_MS = 2_000;
const BUSY_BEGIN_PAUSE_MS = 5;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs `begin(fn)`, beginning again when the BEGIN itself fails with SQLITE_BUSY (for up to
 * BUSY_BEGIN_RETRY_MS). The busy timeout covers waiting for another writer, but not every case:
 * while the checkpointer's truncating checkpoint resets the WAL, BEGIN can answer SQLITE_BUSY at
 * once, and a delivery must not be answered 503 for that. Only a BEGIN is retried: once `fn` has
 * started, an error is the caller's (nothing of `fn` ran twice).
 */
export function retryBusyBegin<T>(begin: (body: () => T) => T, fn: () => T, nowMs: () => number = Date.now): T {
  const deadline = nowMs() + BUSY_BEGIN_RETRY_MS;
  for (;;) {
    let started = false;
    try {
      return begin(() => {
        started = true;
        return fn();
      });
    } catch (err) {
      if (started || (err as { code?: unknown } | null)?.code !== 'SQLITE_BUSY' || nowMs() >= deadline) throw err;
      // A synchronous pause: the writer thread has nothing else to do until it can write.
      Atomics.wait(pause, 0, 0, BUSY_BEGIN_PAUSE_MS);
    }
  }
}

/**
 * The write side of the funnel: prepared statements with portable SQL (`ON CONFLICT`, no
 * SQLite-only syntax), built once per connection. Everything here runs inside the caller's
 * transaction; nothing commits on its own.
 */
export function createIngestRepo(sqlite: Database.Database, settings: IngestSettings = { clockSkewToleranceMs: DEFAULT_CLOCK_SKEW_TOLERANCE_MS }) {
  const s = {
    insertBody: sqlite.prepare(`INSERT INTO delivery_bodies (body) VALUES (?)`),
    // The body lives in delivery_bodies (schema.ts): the row itself stays small.
    insertDelivery: sqlite.prepare(
      `INSERT INTO deliveries (id, received_at, headers, body, body_sha256, status, error, event_count, applied_at, attempts, body_id)
       VALUES (@id, @receivedAt, @headers, X'', @bodySha256, @status, @error, @eventCount, @appliedAt, 1, @bodyId)
       ON CONFLICT (id) DO NOTHING`,
    ),
    deleteBody: sqlite.prepare(`DELETE FROM delivery_bodies WHERE id = ?`),
    finishDelivery: sqlite.prepare(
      `UPDATE deliveries SET status = @status, error = @error, applied_at = @appliedAt, event_count = @eventCount WHERE id = @id`,
    ),
    countAttempt: sqlite.prepare(`UPDATE deliveries SET attempts = attempts + 1 WHERE id = ?`),
    findDelivery: sqlite.prepare(
      `SELECT status, error, event_count AS eventCount, body_sha256 AS bodySha256 FROM deliveries WHERE id = ?`,
    ),
    // Oldest first: deliveries stored twice before bodies were deduplicated resolve to the first.
    findDeliveryByBody: sqlite.prepare(
      `SELECT id, status, error, event_count AS eventCount, body_sha256 AS bodySha256 FROM deliveries
       WHERE body_sha256 = ? ORDER BY received_at, id LIMIT 1`,
    ),
    deliveryBody: sqlite.prepare(
      `SELECT coalesce(b.body, d.body) AS body, d.received_at AS receivedAt
       FROM deliveries d LEFT JOIN delivery_bodies b ON b.id = d.body_id WHERE d.id = ?`,
    ),
    pendingDeliveries: sqlite.prepare(`SELECT id FROM deliveries WHERE status = 'pending' ORDER BY status, received_at LIMIT ?`).pluck(),
    countPendingDeliveries: sqlite.prepare(`SELECT count(*) FROM deliveries WHERE status = 'pending'`).pluck(),
    getActionVersion: sqlite.prepare(
      `SELECT state, updated_at_ms AS updatedAtMs, raw_hash AS rawHash, origin, first_seen_at AS firstSeenAt, last_news_at AS lastNewsAt
       FROM actions WHERE id = ?`,
    ),
    setActionOrigin: sqlite.prepare(`UPDATE actions SET origin = ?, last_news_at = ? WHERE id = ?`),
    recordActionPoll: sqlite.prepare(
      `UPDATE actions SET last_polled_at = @polledAt, poll_attempts = poll_attempts + 1, upstream = COALESCE(@upstream, upstream) WHERE id = @id`,
    ),
    upsertAction: sqlite.prepare(
      `INSERT INTO actions (id, user_id, target_id, target_type, kind, target, state, failure_reason, created_at, updated_at,
         updated_at_ms, completed_at, origin, raw, raw_hash, first_seen_at, last_news_at)
       VALUES (@id, @userId, @targetId, @targetType, @kind, @target, @state, @failureReason, @createdAt, @updatedAt,
         @updatedAtMs, @completedAt, @origin, @raw, @rawHash, @firstSeenAt, @lastNewsAt)
       ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, target_id = excluded.target_id,
         target_type = excluded.target_type, kind = excluded.kind, target = excluded.target, state = excluded.state,
         failure_reason = excluded.failure_reason, created_at = excluded.created_at, updated_at = excluded.updated_at,
         updated_at_ms = excluded.updated_at_ms, completed_at = excluded.completed_at, origin = excluded.origin,
         raw = excluded.raw, raw_hash = excluded.raw_hash, last_news_at = excluded.last_news_at, poll_attempts = 0`,
    ),
    markForReconcile: sqlite.prepare(
      `INSERT INTO reconcile_queue (device_id, due_at_ms, from_ms) VALUES (@deviceId, @dueAtMs, @fromMs)
       ON CONFLICT (device_id) DO UPDATE SET
         due_at_ms = CASE WHEN excluded.due_at_ms < reconcile_queue.due_at_ms THEN excluded.due_at_ms ELSE reconcile_queue.due_at_ms END,
         from_ms = CASE WHEN excluded.from_ms < reconcile_queue.from_ms THEN excluded.from_ms ELSE reconcile_queue.from_ms END`,
    ),
    getDevice: sqlite.prepare(
      `SELECT id, type, user_id AS userId, vendor, last_seen AS lastSeen, is_reachable AS isReachable, snapshot, controlled,
         snapshot_at_ms AS atMs, snapshot_rank AS rank, snapshot_event_at_ms AS eventAtMs, snapshot_hash AS hash, deleted_at_ms AS deletedAtMs
       FROM devices WHERE id = ?`,
    ),
    insertDevice: sqlite.prepare(
      `INSERT INTO devices (id, type, user_id, vendor, last_seen, is_reachable, snapshot, controlled, snapshot_at_ms,
         snapshot_rank, snapshot_event_at_ms, snapshot_hash, first_seen_at, updated_at, deleted_at_ms)
       VALUES (@id, @type, @userId, @vendor, @lastSeen, @isReachable, @snapshot, @controlled, @atMs, @rank, @eventAtMs, @hash,
         @now, @now, NULL)`,
    ),
    // Type and user are left alone: a device keeps both, and unchanged indexed columns cost index writes.
    updateDevice: sqlite.prepare(
      `UPDATE devices SET vendor = @vendor, last_seen = @lastSeen, is_reachable = @isReachable, snapshot = @snapshot,
         controlled = @controlled, snapshot_at_ms = @atMs, snapshot_rank = @rank, snapshot_event_at_ms = @eventAtMs, snapshot_hash = @hash,
         updated_at = @now
       WHERE id = @id`,
    ),
    markDeviceDeleted: sqlite.prepare(
      `UPDATE devices SET deleted_at_ms = @deletedAtMs, updated_at = @now
       WHERE id = @id AND (deleted_at_ms IS NULL OR deleted_at_ms < @deletedAtMs)`,
    ),
    insertObservation: sqlite.prepare(
      `INSERT INTO observations (device_id, device_type, user_id, event, source, delivery_id, event_index, observed_at_ms,
         event_created_at, received_at, updated_fields, snapshot, controlled, context, stale, hash)
       VALUES (@deviceId, @deviceType, @userId, @event, @source, @deliveryId, @eventIndex, @observedAtMs, @eventCreatedAt,
         @receivedAt, @updatedFields, @snapshot, @controlled, @context, @stale, @hash)
       ON CONFLICT (device_id, observed_at_ms, hash) DO NOTHING`,
    ),
    insertSystemEvent: sqlite.prepare(
      `INSERT INTO system_events (event, user_id, vendor, created_at, pending_events, payload, delivery_id, received_at, hash)
       VALUES (@event, @userId, @vendor, @createdAt, @pendingEvents, @payload, @deliveryId, @receivedAt, @hash)
       ON CONFLICT (hash) DO NOTHING`,
    ),
    insertControlStatus: sqlite.prepare(
      `INSERT INTO control_statuses (device_id, user_id, source, subject_id, state, at_ms, received_at, status, delivery_id, hash)
       VALUES (@deviceId, @userId, @source, @subjectId, @state, @atMs, @receivedAt, @status, @deliveryId, @hash)
       ON CONFLICT (hash) DO NOTHING`,
    ),
  };

  return {
    // Written out so that the published declarations can name the type.
    sqlite: sqlite as Database.Database,
    settings,

    /**
     * Runs `fn` in a transaction (a savepoint when already inside one). `BEGIN IMMEDIATE`: the
     * write lock is taken first, under the busy timeout. A deferred `BEGIN` would read first and
     * then upgrade to a write, and SQLite answers such an upgrade SQLITE_BUSY at once (no busy
     * wait, to avoid deadlocks) whenever the checkpointer holds the lock for a truncating checkpoint.
     */
    transaction<T>(fn: () => T): T {
      if (sqlite.inTransaction) return sqlite.transaction(fn)();
      return retryBusyBegin((body) => sqlite.transaction(body).immediate(), fn);
    },

    /**
     * Runs `fn` in a transaction whose commit does not wait for fsync (`synchronous=NORMAL`):
     * for state derived from what is stored, which a crash may roll back but never corrupt (WAL)
     * and which is then derived again; and for stores whose acknowledgement waits for a WAL sync
     * of its own (store/sqlite/ingestor.ts with db/wal-sync.ts). The next sync covers it too.
     */
    derivedTransaction<T>(fn: () => T): T {
      if (sqlite.inTransaction || !sqlite.open) return sqlite.transaction(fn).immediate();
      sqlite.pragma('synchronous = NORMAL');
      try {
        return retryBusyBegin((body) => sqlite.transaction(body).immediate(), fn);
      } finally {
        // Back to FULL before anything else commits: stores must never commit without fsync.
        if (sqlite.open) sqlite.pragma('synchronous = FULL');
      }
    },

    /** What a redelivery needs to know of the stored delivery with this id, if any. */
    findDelivery(id: string): DeliveryHead | undefined {
      return s.findDelivery.get(id) as DeliveryHead | undefined;
    },

    /** The first stored delivery with exactly these bytes (by SHA-256), whatever its id. */
    findDeliveryByBody(bodySha256: string): StoredDeliveryHead | undefined {
      return s.findDeliveryByBody.get(bodySha256) as StoredDeliveryHead | undefined;
    },

    /** The raw body and receive time of a stored delivery (to apply or replay it). */
    deliveryBody(id: string): { body: Buffer; receivedAt: number } | undefined {
      return s.deliveryBody.get(id) as { body: Buffer; receivedAt: number } | undefined;
    },

    /** Ids of the oldest `limit` stored deliveries not applied yet (by the status index, not a sort). */
    pendingDeliveryIds(limit: number): string[] {
      return s.pendingDeliveries.all(limit) as string[];
    },

    /** How many stored deliveries are not applied yet. */
    countPendingDeliveries(): number {
      return s.countPendingDeliveries.get() as number;
    },

    /** Inserts a delivery; false when one with that id is already stored (a redelivery). */
    insertDelivery(d: NewDelivery): boolean {
      const bodyId = s.insertBody.run(d.body).lastInsertRowid;
      const inserted =
        s.insertDelivery.run({
          id: d.id,
          receivedAt: d.receivedAt,
          headers: JSON.stringify(d.headers),
          bodySha256: d.bodySha256,
          status: d.status,
          error: d.error,
          eventCount: d.eventCount,
          appliedAt: d.appliedAt,
          bodyId,
        }).changes > 0;
      if (!inserted) s.deleteBody.run(bodyId);
      return inserted;
    },

    finishDelivery(id: string, status: DeliveryStatus, error: string | null, appliedAt: number | null, eventCount: number): void {
      s.finishDelivery.run({ id, status, error, appliedAt, eventCount });
    },

    countAttempt(id: string): void {
      s.countAttempt.run(id);
    },

    /** The stored version of an action, with when it was first seen and when we last had news of it. */
    getActionVersion(id: string): StoredActionVersion | undefined {
      refuseNul('action id', id);
      return s.getActionVersion.get(id) as StoredActionVersion | undefined;
    },

    setActionOrigin(id: string, origin: ActionOrigin, lastNewsAt: number): void {
      refuseNul('action id', id);
      s.setActionOrigin.run(origin, lastNewsAt, id);
    },

    /** Counts a poll of an action (its backoff), flagging it when Enode no longer knows it or it is stale. */
    recordActionPoll(id: string, polledAt: number, upstream: 'not_found' | 'stale' | null): void {
      s.recordActionPoll.run({ id, polledAt, upstream });
    },

    upsertAction(a: ActionRecord, firstSeenAt: number, lastNewsAt: number, rawText?: string): void {
      refuseNul('action id', a.id);
      refuseNul('action', a.userId, a.targetId, a.targetType, a.kind, a.state, a.createdAt, a.updatedAt, a.completedAt, a.rawHash);
      s.upsertAction.run({
        id: a.id,
        userId: a.userId,
        targetId: a.targetId,
        targetType: a.targetType,
        kind: a.kind,
        target: a.target === null ? null : JSON.stringify(a.target),
        state: a.state,
        failureReason: a.failureReason === null ? null : JSON.stringify(a.failureReason),
        createdAt: a.createdAt,
        updatedAt: a.updatedAt,
        updatedAtMs: a.updatedAtMs,
        completedAt: a.completedAt,
        origin: a.origin,
        raw: rawText ?? JSON.stringify(a.raw),
        rawHash: a.rawHash,
        firstSeenAt,
        lastNewsAt,
      });
    },

    getDevice(id: string): StoredDevice | undefined {
      refuseNul('device id', id);
      const r = s.getDevice.get(id) as (Omit<StoredDevice, 'key' | 'isReachable'> & SnapshotKey & { isReachable: number | null }) | undefined;
      if (!r) return undefined;
      // Field by field (a rest pattern copies slowly): read for every snapshot applied.
      return {
        id: r.id,
        type: r.type,
        userId: r.userId,
        vendor: r.vendor,
        lastSeen: r.lastSeen,
        isReachable: r.isReachable === null ? null : r.isReachable === 1,
        snapshot: r.snapshot,
        controlled: r.controlled,
        key: { atMs: r.atMs, rank: r.rank, eventAtMs: r.eventAtMs, hash: r.hash },
        deletedAtMs: r.deletedAtMs,
      };
    },

    /** Writes the device's current snapshot; `exists` says whether its row is there already. */
    writeDevice(d: DeviceUpsert, exists: boolean): void {
      refuseNul('device id', d.id);
      refuseNul('device', d.type, d.userId, d.vendor, d.lastSeen, d.key.hash);
      (exists ? s.updateDevice : s.insertDevice).run({
        id: d.id,
        type: d.type,
        userId: d.userId,
        vendor: d.vendor,
        lastSeen: d.lastSeen,
        isReachable: d.isReachable === null ? null : d.isReachable ? 1 : 0,
        snapshot: d.snapshot,
        controlled: d.controlled,
        atMs: d.key.atMs,
        rank: d.key.rank,
        eventAtMs: d.key.eventAtMs,
        hash: d.key.hash,
        now: d.now,
      });
    },

    markDeviceDeleted(id: string, deletedAtMs: number, now: number): void {
      refuseNul('device id', id);
      s.markDeviceDeleted.run({ id, deletedAtMs, now });
    },

    /**
     * Queues the device for the reconciler: due at `dueAtMs` (wall clock), and its history may
     * have changed from device time `fromMs` on. Merges with an entry already queued (earliest wins).
     */
    markForReconcile(deviceId: string, fromMs: number, dueAtMs: number): void {
      refuseNul('device id', deviceId);
      s.markForReconcile.run({ deviceId, fromMs, dueAtMs });
    },

    /** Inserts an observation; false when the same event was already observed. */
    insertObservation(o: ObservationInsert): boolean {
      refuseNul('observation', o.deviceId, o.deviceType, o.userId, o.event, o.deliveryId, o.eventCreatedAt, o.hash);
      return s.insertObservation.run({ ...o, stale: o.stale ? 1 : 0 }).changes > 0;
    },

    /** Inserts a system event; false when the same event was already recorded. */
    insertSystemEvent(e: SystemEventInsert): boolean {
      refuseNul('system event', e.event, e.userId, e.vendor, e.createdAt, e.deliveryId, e.hash);
      return s.insertSystemEvent.run(e).changes > 0;
    },

    /** Inserts a schedule or smart charging status; false when the same status was already recorded. */
    insertControlStatus(c: ControlStatusInsert): boolean {
      refuseNul('control status', c.deviceId, c.userId, c.subjectId, c.state, c.deliveryId, c.hash);
      return s.insertControlStatus.run(c).changes > 0;
    },

    enqueueAlert(alert: NewAlert): boolean {
      refuseNul('alert', alert.type, alert.dedupeKey, alert.deviceId, alert.userId);
      return enqueueAlert(sqlite, alert);
    },

    appendEvent(e: NewEvent): void {
      appendEvent(sqlite, e);
    },
  } satisfies DeliveryRepo & Record<string, unknown>;
}

export type IngestRepo = ReturnType<typeof createIngestRepo>;
