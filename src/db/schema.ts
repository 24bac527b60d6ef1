
import { blob, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/**
 * Raw webhook deliveries, kept byte for byte and committed before the 200 goes out (`pending`);
 * applying their events is the next step (`applied`, or `failed` with the error).
 * Times are epoch milliseconds; JSON columns hold text so the SQL stays portable.
 */
export const deliveries = sqliteTable(
  'deliveries',
  {
    id: text('id').primaryKey(),
    receivedAt: integer('received_at').notNull(),
    headers: text('headers', { mode: 'json' }).$type<Record<string, string>>().notNull(),
    body: blob('body', { mode: 'buffer' }).notNull(),
    bodySha256: text('body_sha256').notNull(),
    status: text('status', { enum: ['pending', 'applied', 'failed', 'quarantined'] }).notNull(),
    error: text('error'),
    eventCount: integer('event_count').notNull().default(0),
    appliedAt: integer('applied_at'),
    attempts: integer('attempts').notNull().default(1),
    /**
     * The body's row in `delivery_bodies` (since migration 0005); `body` is then empty. Kept
     * apart so that marking a delivery applied rewrites a small row, not its 12 KB body: the
     * record changes size (`applied_at` NULL → a number) and SQLite rewrote the whole of it,
     * 13 KB of WAL per applied delivery (issue 19). Older rows keep their body in `body`.
     */
    bodyId: integer('body_id'),
  },
  (t) => [
    index('deliveries_status_received_idx').on(t.status, t.receivedAt),
    index('deliveries_received_idx').on(t.receivedAt),
    // An identical body is a duplicate whatever its delivery id (a captured body replayed under new ids).
    index('deliveries_body_sha256_idx').on(t.bodySha256),
  ],
);

/** Vendor actions of this Enode client, merged from webhooks, polls and the gateway. */
export const actions = sqliteTable(
  'actions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull(),
    targetId: text('target_id').notNull(),
    targetType: text('target_type').notNull(),
    kind: text('kind'),
    target: text('target', { mode: 'json' }).$type<Record<string, unknown>>(),
    state: text('state').notNull(),
    failureReason: text('failure_reason', { mode: 'json' }).$type<{ type: string; detail?: string }>(),
    createdAt: text('created_at').notNull(),
    updatedAt: text('updated_at').notNull(),
    updatedAtMs: integer('updated_at_ms').notNull(),
    completedAt: text('completed_at'),
    origin: text('origin', { enum: ['gateway', 'enode'] }).notNull(),
    raw: text('raw', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    rawHash: text('raw_hash').notNull(),
    firstSeenAt: integer('first_seen_at').notNull(),
    /** When we last learned something new about it (webhook, poll or gateway). */
    lastNewsAt: integer('last_news_at').notNull(),
    /** Polls since the last news, and when the last one was: the poller's backoff. */
    pollAttempts: integer('poll_attempts').notNull().default(0),
    lastPolledAt: integer('last_polled_at'),
    /** Set by the poller: `not_found` (Enode answers 404) or `stale` (PENDING far past Enode's horizon). */
    upstream: text('upstream', { enum: ['not_found', 'stale'] }),
  },
  (t) => [
    index('actions_state_idx').on(t.state, t.id),
    index('actions_target_idx').on(t.targetId, t.updatedAtMs),
    // GET /api/v1/actions lists newest first: without it every page sorts the whole table.
    index('actions_updated_idx').on(t.updatedAtMs, t.id),
  ],
);

/** Current state of each device: the newest snapshot by the device's own timestamps. */
export const devices = sqliteTable(
  'devices',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    userId: text('user_id').notNull(),
    vendor: text('vendor'),
    lastSeen: text('last_seen'),
    isReachable: integer('is_reachable', { mode: 'boolean' }),
    snapshot: text('snapshot', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    controlled: text('controlled', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    /** Order key of the current snapshot (domain/devices.ts SnapshotKey). */
    snapshotAtMs: integer('snapshot_at_ms').notNull(),
    snapshotRank: integer('snapshot_rank').notNull(),
    snapshotEventAtMs: integer('snapshot_event_at_ms').notNull(),
    snapshotHash: text('snapshot_hash').notNull(),
    firstSeenAt: integer('first_seen_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
    deletedAtMs: integer('deleted_at_ms'),
  },
  (t) => [index('devices_type_idx').on(t.type, t.id), index('devices_user_idx').on(t.userId, t.id)],
);

/**
 * Every device snapshot as observed (webhook or poll), including stale ones. A webhook's snapshot
 * is not copied here: it stays in the raw delivery (`delivery_id`, `event_index`), which halves
 * what ingest writes; polls and the gateway have no delivery, so theirs is stored inline.
 */
export const observations = sqliteTable(
  'observations',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    deviceId: text('device_id').notNull(),
    deviceType: text('device_type').notNull(),
    userId: text('user_id').notNull(),
    event: text('event').notNull(),
    source: text('source', { enum: ['webhook', 'poll', 'gateway'] }).notNull(),
    deliveryId: text('delivery_id'),
    eventIndex: integer('event_index'),
    observedAtMs: integer('observed_at_ms').notNull(),
    eventCreatedAt: text('event_created_at'),
    receivedAt: integer('received_at').notNull(),
    updatedFields: text('updated_fields', { mode: 'json' }).$type<string[]>(),
    snapshot: text('snapshot', { mode: 'json' }).$type<Record<string, unknown>>(),
    controlled: text('controlled', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    /** The snapshot fields that explain changes (plugged in, battery level, limits, reachability). */
    context: text('context', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    /** True when a newer snapshot was already current: kept for the record, state not moved. */
    stale: integer('stale', { mode: 'boolean' }).notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    // One index serves the timeline (by device, in device time) and deduplication (same event ⇒
    // same device, time and hash); a separate index on the random hash cost a page write per insert.
    uniqueIndex('observations_device_time_hash_idx').on(t.deviceId, t.observedAtMs, t.hash),
    index('observations_received_idx').on(t.receivedAt),
  ],
);

/**
 * Raw delivery bodies, written once and never updated; `deliveries.body_id` points here. Rows
 * are appended (an integer key) and go with their delivery (a trigger on `deliveries`).
 */
export const deliveryBodies = sqliteTable('delivery_bodies', {
  id: integer('id').primaryKey(),
  body: blob('body', { mode: 'buffer' }).notNull(),
});

/** Events that are not device or action state: heartbeats, tests, credentials, unknown types. */
export const systemEvents = sqliteTable(
  'system_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    event: text('event').notNull(),
    userId: text('user_id'),
    vendor: text('vendor'),
    createdAt: text('created_at'),
    pendingEvents: integer('pending_events'),
    payload: text('payload', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
    deliveryId: text('delivery_id'),
    receivedAt: integer('received_at').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    uniqueIndex('system_events_hash_idx').on(t.hash),
    index('system_events_event_idx').on(t.event, t.receivedAt),
    // Retention deletes by age.
    index('system_events_received_idx').on(t.receivedAt),
  ],
);

/**
 * Statuses of Enode's other levels of control (domain/control.ts): each `user:schedule:execution-updated`
 * and `user:vehicle:smart-charging-status-updated` (or the same object read through the API), kept
 * once (by `hash`) for the device it controls. The reconciler reads a device's statuses by device
 * time of effect (`at_ms`) to tell the retailer's own automation from interference; the gateway
 * reads the newest to refuse a basic command the schedule or plan would fight. `status` holds the
 * normalised ControlStatus as JSON text; the payload as Enode sent it stays in its delivery.
 */
export const controlStatuses = sqliteTable(
  'control_statuses',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    deviceId: text('device_id').notNull(),
    userId: text('user_id').notNull(),
    /** `schedule` or `smart_charging`. */
    source: text('source').notNull(),
    /** The schedule id, or the vehicle for smart charging. */
    subjectId: text('subject_id').notNull(),
    state: text('state').notNull(),
    atMs: integer('at_ms').notNull(),
    receivedAt: integer('received_at').notNull(),
    status: text('status').notNull(),
    deliveryId: text('delivery_id'),
    hash: text('hash').notNull(),
  },
  (t) => [
    uniqueIndex('control_statuses_hash_idx').on(t.hash),
    index('control_statuses_device_idx').on(t.deviceId, t.atMs),
    // Retention deletes by age.
    index('control_statuses_received_idx').on(t.receivedAt),
  ],
);

/**
 * Interference findings (DESIGN.md "Interference"): one row per episode. `key` is the episode's
 * deterministic identity (device, field, device time of the change; or the conflicted action);
 * `id` never changes, even when a late snapshot moves the episode's key earlier.
 * `from_value`/`to_value` hold JSON text of the field's values.
 */
export const findings = sqliteTable(
  'findings',
  {
    id: text('id').primaryKey(),
    key: text('key').notNull(),
    deviceId: text('device_id').notNull(),
    deviceType: text('device_type').notNull(),
    userId: text('user_id').notNull(),
    kind: text('kind', { enum: ['ACTION_OVERRIDDEN', 'UNEXPECTED_CHANGE', 'ACTION_CONFLICT'] }).notNull(),
    field: text('field'),
    fromValue: text('from_value').notNull(),
    toValue: text('to_value').notNull(),
    observedAtMs: integer('observed_at_ms').notNull(),
    detectedAtMs: integer('detected_at_ms').notNull(),
    actionId: text('action_id'),
    /** Before/after observations and the action involved, as JSON. */
    evidence: text('evidence').notNull(),
    /** What an operator made of it: `open` until acknowledged or resolved (POST /api/v1/interference/{id}/ack, …/resolve). */
    state: text('state', { enum: ['open', 'acknowledged', 'resolved'] }).notNull().default('open'),
    /** The operator's note with the last acknowledgement or resolution. */
    stateNote: text('state_note'),
    /** When the state last changed (epoch ms); null while open. */
    stateChangedAtMs: integer('state_changed_at_ms'),
  },
  (t) => [
    uniqueIndex('findings_key_idx').on(t.key),
    index('findings_device_idx').on(t.deviceId, t.observedAtMs),
    index('findings_observed_idx').on(t.observedAtMs, t.id),
    index('findings_detected_idx').on(t.detectedAtMs, t.id),
    // The dashboard lists open findings by default, newest first.
    index('findings_state_observed_idx').on(t.state, t.observedAtMs, t.id),
  ],
);

/**
 * Every transition of a device's controlled state with the reconciler's explanation, so the
 * timeline shows why each change happened. Rewritten for a device's recent window on each reconcile.
 */
export const transitions = sqliteTable(
  'transitions',
  {
    deviceId: text('device_id').notNull(),
    atMs: integer('at_ms').notNull(),
    field: text('field').notNull(),
    fromValue: text('from_value').notNull(),
    toValue: text('to_value').notNull(),
    receivedAtMs: integer('received_at_ms').notNull(),
    /** JSON: {kind:'own_action',actionId} | {kind:'natural',cause,deviceProblem?} | {kind:'automation',cause,controlId,actionId?} | {kind:'unexplained'}. */
    explanation: text('explanation').notNull(),
    status: text('status', { enum: ['explained', 'waiting', 'finding'] }).notNull(),
    findingId: text('finding_id'),
  },
  // Retention deletes by age.
  (t) => [primaryKey({ columns: [t.deviceId, t.atMs, t.field] }), index('transitions_received_idx').on(t.receivedAtMs)],
);

/**
 * Devices whose history changed (new observation or own action) or whose waiting transitions come
 * due: the reconciler's work list, so its cost follows the changed devices, not the fleet.
 * `from_ms` is the earliest device time the change can affect.
 */
export const reconcileQueue = sqliteTable(
  'reconcile_queue',
  {
    deviceId: text('device_id').primaryKey(),
    dueAtMs: integer('due_at_ms').notNull(),
    fromMs: integer('from_ms').notNull(),
  },
  (t) => [index('reconcile_queue_due_idx').on(t.dueAtMs)],
);

/**
 * Alert outbox: written in the same transaction as the fact that causes it; `dedupe_key` makes
 * one alert per fact whatever the redeliveries. `data` is the JSON payload's `data`.
 */
export const alerts = sqliteTable(
  'alerts',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    dedupeKey: text('dedupe_key').notNull(),
    deviceId: text('device_id'),
    userId: text('user_id'),
    data: text('data').notNull(),
    createdAtMs: integer('created_at_ms').notNull(),
    /** Set once the dispatcher has created the per-sink deliveries. */
    fannedOutAtMs: integer('fanned_out_at_ms'),
  },
  (t) => [uniqueIndex('alerts_dedupe_idx').on(t.dedupeKey), index('alerts_fanout_idx').on(t.fannedOutAtMs, t.createdAtMs), index('alerts_created_idx').on(t.createdAtMs, t.id)],
);

/** One alert to one sink: retried with backoff until delivered or dead. */
export const alertDeliveries = sqliteTable(
  'alert_deliveries',
  {
    alertId: text('alert_id').notNull(),
    sink: text('sink').notNull(),
    status: text('status', { enum: ['pending', 'delivered', 'dead'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAtMs: integer('next_attempt_at_ms').notNull(),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    updatedAtMs: integer('updated_at_ms').notNull(),
    deliveredAtMs: integer('delivered_at_ms'),
  },
  (t) => [primaryKey({ columns: [t.alertId, t.sink] }), index('alert_deliveries_due_idx').on(t.status, t.nextAttemptAtMs)],
);

/** Commands sent (or refused) by the gateway: the daily budget, duplicate collapse and the timeline's command history. */
export const commands = sqliteTable(
  'commands',
  {
    id: text('id').primaryKey(),
    deviceId: text('device_id').notNull(),
    deviceType: text('device_type').notNull(),
    /** e.g. `charging`, `max-current`, `permanent-hold`, `follow-schedule`, `operation-mode`, `cancel`. */
    command: text('command').notNull(),
    body: text('body').notNull(),
    requestedAtMs: integer('requested_at_ms').notNull(),
    /**
     * `sending` (written before the request: a crash leaves it counted), `sent` (Enode answered),
     * `unknown` (timeout or 5xx: Enode may have taken it), `collapsed`, `refused` or `failed`.
     * `sending`, `sent` and `unknown` count against the daily budget.
     */
    outcome: text('outcome', { enum: ['sending', 'sent', 'unknown', 'collapsed', 'refused', 'failed'] }).notNull(),
    actionId: text('action_id'),
    override: integer('override', { mode: 'boolean' }).notNull().default(false),
    /** JSON array of what the guards did. */
    notes: text('notes').notNull(),
    error: text('error'),
  },
  (t) => [index('commands_device_idx').on(t.deviceId, t.requestedAtMs)],
);

/**
 * The event log: one row per fact that changed what enode-sync knows (device discovered, updated
 * or deleted, a new action state, a command sent or refused, every alert), written in the same
 * transaction as the change. `position` is the log order and the cursor readers page by: here an
 * autoincrement (one writer, so commit order; never reused after retention deletes), on Postgres
 * taken from `event_log` at the end of the writing transaction (store/postgres/events.ts).
 * `fact_key` names the fact: the same fact written again (redelivery, poll, replay, a rerun of the
 * reconciler) inserts nothing.
 */
export const events = sqliteTable(
  'events',
  {
    position: integer('position').primaryKey({ autoIncrement: true }),
    type: text('type').notNull(),
    factKey: text('fact_key').notNull(),
    /** When the fact happened as far as we know it (a snapshot's device time, a command's request), epoch ms. */
    occurredAt: integer('occurred_at').notNull(),
    /** When the event was written, epoch ms (retention prunes by it). */
    recordedAt: integer('recorded_at').notNull(),
    deviceId: text('device_id'),
    userId: text('user_id'),
    /** The event's `data`, JSON text. */
    data: text('data').notNull(),
  },
  (t) => [
    uniqueIndex('events_fact_idx').on(t.factKey),
    index('events_device_idx').on(t.deviceId, t.position),
    index('events_user_idx').on(t.userId, t.position),
    index('events_type_idx').on(t.type, t.position),
  ],
);

/**
 * The event log's one row (id 1): `last_position` is the Postgres position counter (unused on
 * SQLite, whose positions come from the autoincrement); `pruned_through` is the greatest position
 * retention deleted, so that a cursor before it is known to have missed events (410).
 */
export const eventLog = sqliteTable('event_log', {
  id: integer('id').primaryKey(),
  lastPosition: integer('last_position').notNull(),
  prunedThrough: integer('pruned_through').notNull(),
});

/**
 * Outbound subscriptions to the event log (Standard Webhooks, like Svix). `types` is a JSON list
 * of types and `x.*` prefixes (empty: every type). `secret` is the `whsec_…` signing key; after a
 * rotation `previous_secret` still signs too until `previous_secret_until_ms`. `fanned_out_through`
 * is the log position up to which matching events have become delivery rows: a subscription
 * starts at the log's end when created, and replay queues older events explicitly.
 */
export const subscriptions = sqliteTable('subscriptions', {
  id: text('id').primaryKey(),
  url: text('url').notNull(),
  types: text('types').notNull(),
  description: text('description'),
  secret: text('secret').notNull(),
  previousSecret: text('previous_secret'),
  previousSecretUntilMs: integer('previous_secret_until_ms'),
  paused: integer('paused', { mode: 'boolean' }).notNull().default(false),
  createdAtMs: integer('created_at_ms').notNull(),
  updatedAtMs: integer('updated_at_ms').notNull(),
  fannedOutThrough: integer('fanned_out_through').notNull(),
});

/**
 * One event to one subscription: `pending` (due at `next_attempt_at_ms`; claimed by
 * `claim_holder` until `claim_expires_at_ms` while it is being sent) → `sent`, or `dead` after
 * the last attempt. `event_id` is the event's cursor, sent as `webhook-id` on every attempt.
 */
export const subscriptionDeliveries = sqliteTable(
  'subscription_deliveries',
  {
    subscriptionId: text('subscription_id').notNull(),
    position: integer('position').notNull(),
    eventId: text('event_id').notNull(),
    status: text('status', { enum: ['pending', 'sent', 'dead'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAtMs: integer('next_attempt_at_ms').notNull(),
    claimHolder: text('claim_holder'),
    claimExpiresAtMs: integer('claim_expires_at_ms'),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    createdAtMs: integer('created_at_ms').notNull(),
    updatedAtMs: integer('updated_at_ms').notNull(),
    sentAtMs: integer('sent_at_ms'),
  },
  (t) => [
    primaryKey({ columns: [t.subscriptionId, t.position] }),
    uniqueIndex('subscription_deliveries_event_idx').on(t.subscriptionId, t.eventId),
    index('subscription_deliveries_due_idx').on(t.subscriptionId, t.status, t.nextAttemptAtMs),
  ],
);

/** Dashboard sessions ended by logout before their expiry; kept until then, so a restart forgets none. */
export const uiSessionRevocations = sqliteTable('ui_session_revocations', {
  id: text('id').primaryKey(),
  expiresAtMs: integer('expires_at_ms').notNull(),
});

/** One row the readiness check rewrites: proof that a real write commits (`BEGIN; ROLLBACK` proves nothing). */
export const healthProbe = sqliteTable('health_probe', {
  id: integer('id').primaryKey(),
  atMs: integer('at_ms').notNull(),
});

/**
 * Job leases with a fencing token: a periodic job or a per-device gateway lock is held by one
 * replica until `expires_at_ms`; `token` increases on every new acquisition, so a late write by a
 * former holder can be refused.
 */
export const leases = sqliteTable('leases', {
  name: text('name').primaryKey(),
  holder: text('holder').notNull(),
  token: integer('token').notNull(),
  expiresAtMs: integer('expires_at_ms').notNull(),
});

export type DeliveryRow = typeof deliveries.$inferSelect;
export type ActionRow = typeof actions.$inferSelect;
export type DeviceRow = typeof devices.$inferSelect;
export type ObservationRow = typeof observations.$inferSelect;
export type SystemEventRow = typeof systemEvents.$inferSelect;

export type FindingRow = typeof findings.$inferSelect;
export type TransitionRow = typeof transitions.$inferSelect;
export type AlertRow = typeof alerts.$inferSelect;
export type AlertDeliveryRow = typeof alertDeliveries.$inferSelect;
export type CommandRow = typeof commands.$inferSelect;
export type EventRow = typeof events.$inferSelect;
