/**
 * The funnel's storage port: what applying Enode-shaped events (ingest/apply.ts) and storing
 * deliveries (ingest/deliveries.ts, store/sqlite/ingestor.ts) read and write. The interface is
 * synchronous on purpose: the decisions run as plain code inside one transaction of the engine.
 *
 * - SQLite (db/ingest-repo.ts): prepared statements on the writer thread's connection.
 * - Postgres (store/postgres/): a unit of work — the rows a batch needs are locked and loaded in a
 *   few statements, this code runs against them in memory, and the writes go back as multi-row
 *   statements at commit (round trips decide Postgres speed).
 *
 * Times are epoch milliseconds. JSON travels as text the caller built.
 */
import type { NewAlert } from '../alerts/types.js';
import type { ActionOrigin, ActionRecord, ActionVersion } from '../domain/actions.js';
import type { SnapshotKey } from '../domain/devices.js';
import type { NewEvent } from '../events/types.js';

export type DeliveryStatus = 'pending' | 'applied' | 'failed' | 'quarantined';

/** A delivery as first written, before its events are applied. */
export interface NewDelivery {
  id: string;
  receivedAt: number;
  headers: Record<string, string>;
  body: Buffer;
  bodySha256: string;
  status: DeliveryStatus;
  error: string | null;
  eventCount: number;
  appliedAt: number | null;
}

/** The stored delivery as far as deduplication needs it. */
export interface DeliveryHead {
  status: DeliveryStatus;
  error: string | null;
  eventCount: number;
  bodySha256: string;
}

/** A stored delivery found by its body: the head and the id it is stored under. */
export interface StoredDeliveryHead extends DeliveryHead {
  id: string;
}

export interface DeviceUpsert {
  id: string;
  type: string;
  userId: string;
  vendor: string | null;
  lastSeen: string | null;
  isReachable: boolean | null;
  snapshot: string;
  controlled: string;
  key: SnapshotKey;
  now: number;
}

export interface ObservationInsert {
  deviceId: string;
  deviceType: string;
  userId: string;
  event: string;
  source: 'webhook' | 'poll' | 'gateway';
  deliveryId: string | null;
  eventIndex: number | null;
  observedAtMs: number;
  eventCreatedAt: string | null;
  receivedAt: number;
  updatedFields: string | null;
  /** Null when the snapshot is in the delivery's raw body. */
  snapshot: string | null;
  controlled: string;
  context: string;
  stale: boolean;
  hash: string;
}

export interface SystemEventInsert {
  event: string;
  userId: string | null;
  vendor: string | null;
  createdAt: string | null;
  pendingEvents: number | null;
  payload: string;
  deliveryId: string | null;
  receivedAt: number;
  hash: string;
}

/** A status of a schedule or of smart charging (domain/control.ts), for the device it controls. */
export interface ControlStatusInsert {
  deviceId: string;
  userId: string;
  source: 'schedule' | 'smart_charging';
  subjectId: string;
  state: string;
  atMs: number;
  receivedAt: number;
  /** JSON text of the ControlStatus. */
  status: string;
  deliveryId: string | null;
  hash: string;
}

/** A device's stored row as the event log needs it (JSON columns as their stored text). */
export interface StoredDevice extends Omit<DeviceUpsert, 'now'> {
  deletedAtMs: number | null;
}

/** Settings of the write side that the merge rules need. */
export interface IngestSettings {
  /** config.clockSkewToleranceSeconds in ms: payload times further ahead of their receipt never win a merge. */
  clockSkewToleranceMs: number;
  /** ENODE_WEBHOOK_ID: with the version, it keys the `webhook.version_mismatch` alert (absent or null: the version alone). */
  webhookId?: string | null;
}

/** The stored version of an action, with when it was first seen and when we last had news of it. */
export type StoredActionVersion = ActionVersion & { firstSeenAt: number; lastNewsAt: number };

/** What the funnel (ingest/apply.ts) needs: reads and writes of the projections, in the caller's transaction. */
export interface FunnelRepo {
  readonly settings: IngestSettings;
  /** Runs `fn` in a transaction, or in a savepoint when already inside one: a throw undoes what `fn` wrote. */
  transaction<T>(fn: () => T): T;
  getActionVersion(id: string): StoredActionVersion | undefined;
  setActionOrigin(id: string, origin: ActionOrigin, lastNewsAt: number): void;
  upsertAction(a: ActionRecord, firstSeenAt: number, lastNewsAt: number, rawText?: string): void;
  /** The device's stored row: its snapshot key decides whether a snapshot is newer, and it is the event's `from`. */
  getDevice(id: string): StoredDevice | undefined;
  /** Writes the device's current snapshot; `exists` says whether its row is there already. */
  writeDevice(d: DeviceUpsert, exists: boolean): void;
  markDeviceDeleted(id: string, deletedAtMs: number, now: number): void;
  /**
   * Queues the device for the reconciler: due at `dueAtMs` (wall clock), and its history may
   * have changed from device time `fromMs` on. Merges with an entry already queued (earliest wins).
   */
  markForReconcile(deviceId: string, fromMs: number, dueAtMs: number): void;
  /** Inserts an observation; false when the same event was already observed. */
  insertObservation(o: ObservationInsert): boolean;
  /** Inserts a system event; false when the same event was already recorded. */
  insertSystemEvent(e: SystemEventInsert): boolean;
  /** Inserts a schedule or smart charging status; false when the same status was already recorded. */
  insertControlStatus(c: ControlStatusInsert): boolean;
  /** Writes an alert in the caller's transaction; false when its fact (dedupe key) already has one. */
  enqueueAlert(alert: NewAlert): boolean;
  /**
   * Appends an event to the log in the caller's transaction; a fact already in the log (same
   * `factKey`) is not written again. Alerts need no call: `enqueueAlert` logs each alert it writes.
   */
  appendEvent(e: NewEvent): void;
}

/** What storing and applying deliveries needs besides the funnel. */
export interface DeliveryRepo extends FunnelRepo {
  /** Like `transaction`, for state derived from what is stored (may be rolled back by a crash, never corrupted). */
  derivedTransaction<T>(fn: () => T): T;
  findDelivery(id: string): DeliveryHead | undefined;
  /** The first stored delivery with exactly these bytes (by SHA-256), whatever its id. */
  findDeliveryByBody(bodySha256: string): StoredDeliveryHead | undefined;
  /** The raw body and receive time of a stored delivery (to apply or replay it). */
  deliveryBody(id: string): { body: Buffer; receivedAt: number } | undefined;
  /** Inserts a delivery; false when one with that id is already stored (a redelivery). */
  insertDelivery(d: NewDelivery): boolean;
  finishDelivery(id: string, status: DeliveryStatus, error: string | null, appliedAt: number | null, eventCount: number): void;
  countAttempt(id: string): void;
}
