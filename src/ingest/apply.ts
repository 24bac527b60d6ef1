import { hash as oneShotHash } from 'node:crypto';
import { actionAlert, credentialsInvalidatedAlert, versionMismatchAlert } from '../alerts/facts.js';
import { isFutureDatedVersion, mergeAction, toActionRecord, type ActionOrigin } from '../domain/actions.js';
import { compareSnapshotKeys, controlledState, deviceTimeMs, FUTURE_DATED_RANK, observedContext, snapshotKey } from '../domain/devices.js';
import { MAX_JSON_DEPTH, valueNestingExceeds } from '../domain/json-depth.js';
import { foreignVersion, missingControlledFields } from '../domain/payload-version.js';
import { InvalidControlStatusError, scheduleStatus, smartChargingStatus, type ControlStatus } from '../domain/control.js';
import { isAheadOfReceipt, parseTimeMs } from '../domain/time.js';
import {
  credentialsInvalidatedEvent,
  describeZodError,
  deviceSnapshotSchema,
  eventEnvelope,
  heartbeatEvent,
  parseDeviceEventName,
  vendorActionSchema,
  eventLabel,
  type EventEnvelope,
} from './events.js';
import type { DeviceUpsert, FunnelRepo, StoredDevice } from '../store/funnel.js';
import { actionUpdatedEvent, deviceEvent } from '../events/facts.js';
import type { SnapshotRef } from '../events/types.js';

/** Where an observation came from; the same rules apply to all. */
export interface ApplyContext {
  source: 'webhook' | 'poll' | 'gateway';
  /** The delivery that carried the event, when it came by webhook. */
  deliveryId: string | null;
  /** Position of the event in its delivery's body (webhooks only). */
  eventIndex?: number | undefined;
  /** Wall-clock time (ms) we received the fact. */
  receivedAt: number;
}

export type ApplyOutcome =
  | 'applied' // moved current state
  | 'recorded' // kept (observation, system event) without moving current state
  | 'duplicate'; // seen before: nothing changed

export interface ApplyResult {
  event: string;
  outcome: ApplyOutcome;
  /** The event's API version when this build does not understand it (domain/payload-version.ts). */
  foreignVersion?: string;
}

/** An event whose shape we cannot use; applying the delivery fails with this message. */
export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
}

/** Content hash for idempotency (not security): one-shot, cheaper than a Hash object per event. */
function sha256(text: string): string {
  return oneShotHash('sha256', text, 'hex');
}

/**
 * The one funnel: applies a single Enode-shaped event (from a webhook, a poll or the gateway)
 * to the projections. Idempotent: the same event applied twice changes nothing. Order-free:
 * actions merge by a total order (terminal first, then updatedAt); device snapshots by the
 * device's own time. Times further ahead of `ctx.receivedAt` than the repo's clock-skew
 * tolerance are recorded but never win a merge. Must run inside a transaction.
 */
export function applyEvent(repo: FunnelRepo, raw: unknown, ctx: ApplyContext): ApplyResult {
  const result = applyOne(repo, raw, ctx);
  const key = `${eventLabel(result.event)}\t${result.outcome}\t${result.foreignVersion ?? ''}`;
  appliedCounts.set(key, (appliedCounts.get(key) ?? 0) + 1);
  return result;
}

/** Events applied by this thread since start, by `event\toutcome\tforeignVersion` (the writer's share of /metrics). */
const appliedCounts = new Map<string, number>();

/** One applied-event counter: `version` only for events of a version this build does not understand. */
export interface AppliedEventCount {
  event: string;
  outcome: string;
  version?: string;
  count: number;
}

/** A copy of the applied-event counters of this thread. */
export function appliedEventCounts(): AppliedEventCount[] {
  return [...appliedCounts].map(([key, count]) => {
    const [event = '', outcome = '', version = ''] = key.split('\t');
    return version === '' ? { event, outcome, count } : { event, outcome, version, count };
  });
}

function applyOne(repo: FunnelRepo, raw: unknown, ctx: ApplyContext): ApplyResult {
  const parsed = eventEnvelope.safeParse(raw);
  if (!parsed.success) throw new InvalidEventError(`event without a usable "event" field: ${describeZodError(parsed.error)}`);
  const envelope = parsed.data;
  // Only webhook bodies carry Enode's payload version; polled and gateway objects are read with
  // the client's own Enode-Version header.
  const foreign = ctx.source === 'webhook' ? foreignVersion(envelope.version) : null;
  if (foreign === null) return applyUnderstood(repo, raw, envelope, ctx);
  // Once per webhook and version: the alert's key names both, so redeliveries add nothing.
  repo.enqueueAlert(
    versionMismatchAlert({ webhookId: repo.settings.webhookId ?? null, version: foreign, seenIn: 'event', event: envelope.event, deliveryId: ctx.deliveryId, atMs: ctx.receivedAt }),
  );
  return { ...applyForeign(repo, raw, envelope, ctx), foreignVersion: foreign };
}

/**
 * An event of a version this build does not understand: applied as usual where its shape is
 * complete (it parses with our schemas and a device snapshot carries every controlled field of
 * its type); otherwise kept as a system event only, so a partial snapshot never becomes the
 * device's current one and an unusable one never fails its delivery.
 */
function applyForeign(repo: FunnelRepo, raw: unknown, envelope: EventEnvelope, ctx: ApplyContext): ApplyResult {
  const name = envelope.event;
  const record = raw as Record<string, unknown>;
  let complete: boolean;
  if (name === 'user:vendor-action:updated' || name === 'user:charge-action:updated') {
    complete = vendorActionSchema.safeParse(record.vendorAction).success;
  } else {
    const device = parseDeviceEventName(name);
    if (device) {
      const snapshot = deviceSnapshotSchema.safeParse(record[device.type]);
      complete =
        snapshot.success &&
        (envelope.user?.id ?? snapshot.data.userId) !== undefined &&
        missingControlledFields(device.type, snapshot.data).length === 0;
    } else {
      complete = true;
    }
  }
  if (complete) {
    try {
      return repo.transaction(() => applyUnderstood(repo, raw, envelope, ctx));
    } catch (err) {
      // A shape our rules still refuse (a bad time, a heartbeat's count): kept, not failing the delivery.
      if (!(err instanceof InvalidEventError)) throw err;
    }
  }
  return { event: name, outcome: recordSystemEvent(repo, raw, name, envelope, ctx, null, null) };
}

function applyUnderstood(repo: FunnelRepo, raw: unknown, envelope: EventEnvelope, ctx: ApplyContext): ApplyResult {
  const name = envelope.event;
  // Webhook bodies were measured as bytes before parsing (parseEventArray); polled and gateway
  // objects were parsed by the Enode client, so they are measured here, by the same limit.
  if (ctx.source !== 'webhook' && valueNestingExceeds(raw, MAX_JSON_DEPTH)) {
    throw new InvalidEventError(`${name}: nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels`);
  }

  if (name === 'user:vendor-action:updated' || name === 'user:charge-action:updated') {
    // The envelope is validated above; only the action itself is left to check.
    const payload = (raw as Record<string, unknown>).vendorAction;
    const parsed = vendorActionSchema.safeParse(payload);
    if (!parsed.success) throw new InvalidEventError(`${name}: vendorAction: ${describeZodError(parsed.error)}`);
    const origin: ActionOrigin = ctx.source === 'gateway' ? 'gateway' : 'enode';
    // Keep the object as Enode sent it (zod's output reorders keys); zod only validated it.
    const action = payload as typeof parsed.data;
    return { event: name, outcome: applyAction(repo, action, origin, ctx) };
  }

  const device = parseDeviceEventName(name);
  if (device) {
    const payload = (raw as Record<string, unknown>)[device.type];
    const snapshot = deviceSnapshotSchema.safeParse(payload);
    if (!snapshot.success) throw new InvalidEventError(`${name}: ${device.type}: ${describeZodError(snapshot.error)}`);
    const userId = envelope.user?.id ?? snapshot.data.userId;
    const original = payload as DeviceObservation['snapshot'];
    const snapshotText = JSON.stringify(original);
    if (!userId) throw new InvalidEventError(`${name}: no user id in "user.id" or "${device.type}.userId"`);
    const updatedFields = (raw as { updatedFields?: unknown }).updatedFields;
    return {
      event: name,
      outcome: applyDeviceSnapshot(repo, {
        type: device.type,
        verb: device.verb,
        event: name,
        userId,
        snapshot: original,
        snapshotText,
        eventCreatedAt: envelope.createdAt ?? null,
        updatedFields: Array.isArray(updatedFields) ? (updatedFields as string[]) : null,
        // The same event twice (any delivery) has the same name, time and snapshot bytes.
        hash: sha256(`${name}\n${envelope.createdAt ?? ''}\n${snapshotText}`),
        ctx,
      }),
    };
  }

  if (name === 'user:schedule:execution-updated' || name === 'user:vehicle:smart-charging-status-updated') {
    return { event: name, outcome: applyControlStatus(repo, raw as Record<string, unknown>, name, envelope, ctx) };
  }

  // Everything else is recorded as a system event, unknown types included, so nothing is lost.
  let pendingEvents: number | null = null;
  let vendor: string | null = null;
  if (name === 'system:heartbeat') {
    const hb = heartbeatEvent.safeParse(raw);
    if (!hb.success) throw new InvalidEventError(`${name}: ${describeZodError(hb.error)}`);
    pendingEvents = hb.data.pendingEvents ?? null;
  } else if (name === 'user:credentials:invalidated') {
    const ci = credentialsInvalidatedEvent.safeParse(raw);
    if (!ci.success) throw new InvalidEventError(`${name}: ${describeZodError(ci.error)}`);
    vendor = ci.data.vendor ?? null;
  }
  return { event: name, outcome: recordSystemEvent(repo, raw, name, envelope, ctx, pendingEvents, vendor) };
}

/** Keeps an event as a system event (once: by its content hash); credentials.invalidated raises its alert. */
function recordSystemEvent(
  repo: FunnelRepo,
  raw: unknown,
  name: string,
  envelope: EventEnvelope,
  ctx: ApplyContext,
  pendingEvents: number | null,
  vendor: string | null,
): ApplyOutcome {
  const text = JSON.stringify(raw);
  const systemEvent = {
    event: name,
    userId: envelope.user?.id ?? null,
    vendor,
    createdAt: envelope.createdAt ?? null,
    pendingEvents,
    payload: text,
    deliveryId: ctx.deliveryId,
    receivedAt: ctx.receivedAt,
    hash: sha256(text),
  };
  const inserted = repo.insertSystemEvent(systemEvent);
  if (inserted && name === 'user:credentials:invalidated') repo.enqueueAlert(credentialsInvalidatedAlert(systemEvent));
  return inserted ? 'recorded' : 'duplicate';
}

/**
 * A schedule's execution status or a vehicle's smart charging status: kept once per distinct
 * status for the device it controls, and the device queued for the reconciler from the time the
 * status took effect (a change waiting for its grace may be the automation's doing).
 */
function applyControlStatus(repo: FunnelRepo, raw: Record<string, unknown>, name: string, envelope: EventEnvelope, ctx: ApplyContext): ApplyOutcome {
  let status: ControlStatus;
  try {
    if (name === 'user:schedule:execution-updated') {
      const userId = envelope.user?.id;
      if (!userId) throw new InvalidControlStatusError('no user id in "user.id"');
      status = scheduleStatus(raw.status, raw.schedule, userId);
    } else {
      status = smartChargingStatus(raw.smartChargingStatus, envelope.user?.id);
    }
  } catch (err) {
    if (err instanceof InvalidControlStatusError) throw new InvalidEventError(`${name}: ${err.message}`);
    throw err;
  }
  const text = JSON.stringify(status);
  const inserted = repo.insertControlStatus({
    deviceId: status.deviceId,
    userId: status.userId,
    source: status.source,
    subjectId: status.subjectId,
    state: status.state,
    atMs: status.atMs,
    receivedAt: ctx.receivedAt,
    status: text,
    deliveryId: ctx.deliveryId,
    // The same status however it came (webhook, redelivery, a read through the API) is one row.
    hash: sha256(text),
  });
  if (!inserted) return 'duplicate';
  const fromMs = Math.min(status.atMs, status.override?.createdAtMs ?? status.atMs);
  repo.markForReconcile(status.deviceId, fromMs, ctx.receivedAt);
  return 'recorded';
}

function applyAction(
  repo: FunnelRepo,
  input: Parameters<typeof toActionRecord>[0],
  origin: ActionOrigin,
  ctx: ApplyContext,
): ApplyOutcome {
  const rawText = JSON.stringify(input);
  let incoming;
  try {
    incoming = toActionRecord(input, origin, sha256(rawText));
  } catch (err) {
    throw new InvalidEventError((err as Error).message);
  }
  const toleranceMs = repo.settings.clockSkewToleranceMs;
  const row = repo.getActionVersion(incoming.id);
  // A stored version is judged against the latest receipt of news about it, an incoming one against its own.
  const stored = row && { ...row, futureDated: isFutureDatedVersion(row, row.lastNewsAt, toleranceMs) };
  const merge = mergeAction(stored, { ...incoming, futureDated: isFutureDatedVersion(incoming, ctx.receivedAt, toleranceMs) });
  switch (merge.write) {
    case 'none':
      return 'duplicate';
    case 'origin':
      repo.setActionOrigin(incoming.id, merge.origin, ctx.receivedAt);
      markActionTarget(repo, incoming, ctx);
      return 'applied';
    case 'version':
      repo.upsertAction({ ...incoming, origin: merge.origin }, stored?.firstSeenAt ?? ctx.receivedAt, ctx.receivedAt, rawText);
      // A new state (not a newer version of the same state) is an event of the log.
      const event = actionUpdatedEvent({ ...incoming, origin: merge.origin }, stored?.state ?? null, ctx.receivedAt);
      if (event) repo.appendEvent(event);
      // The stored state just became this version's: FAILED / CANCELLED raise their alert (once per action).
      const alert = actionAlert({ ...incoming, origin: merge.origin }, ctx.receivedAt);
      if (alert) repo.enqueueAlert(alert);
      markActionTarget(repo, incoming, ctx);
      return 'applied';
  }
}

/** An own action changed: its target's transitions from the action's creation on may read differently now. */
function markActionTarget(repo: FunnelRepo, action: { targetId: string; createdAt: string; updatedAtMs: number }, ctx: ApplyContext): void {
  repo.markForReconcile(action.targetId, parseTimeMs(action.createdAt) ?? action.updatedAtMs, ctx.receivedAt);
}

interface DeviceObservation {
  type: string;
  verb: 'discovered' | 'updated' | 'deleted';
  event: string;
  userId: string;
  snapshot: Record<string, unknown> & { id: string; vendor?: string | null | undefined; lastSeen?: string | null | undefined; isReachable?: boolean | null | undefined };
  snapshotText: string;
  eventCreatedAt: string | null;
  updatedFields: string[] | null;
  hash: string;
  ctx: ApplyContext;
}

function applyDeviceSnapshot(repo: FunnelRepo, o: DeviceObservation): ApplyOutcome {
  const { snapshot, ctx } = o;
  const toleranceMs = repo.settings.clockSkewToleranceMs;
  const eventAtMs = parseTimeMs(o.eventCreatedAt) ?? 0;
  // Kept with its own times (the observation); a future-dated one is ranked below every credible one.
  const key = snapshotKey({ atMs: deviceTimeMs(snapshot), eventAtMs, discovered: o.verb === 'discovered', hash: o.hash }, ctx.receivedAt, toleranceMs);
  // One read of the stored row: its key decides, and its state is the event's `from`.
  const stored = repo.getDevice(snapshot.id);
  const current = stored?.key;
  const newer = !current || compareSnapshotKeys(key, current) > 0;
  const controlled = JSON.stringify(controlledState(o.type, snapshot));
  const snapshotText = o.snapshotText;

  const inserted = repo.insertObservation({
    deviceId: snapshot.id,
    deviceType: o.type,
    userId: o.userId,
    event: o.event,
    source: ctx.source,
    deliveryId: ctx.deliveryId,
    eventIndex: ctx.eventIndex ?? null,
    observedAtMs: key.atMs,
    eventCreatedAt: o.eventCreatedAt,
    receivedAt: ctx.receivedAt,
    updatedFields: o.updatedFields ? JSON.stringify(o.updatedFields) : null,
    snapshot: ctx.deliveryId !== null && ctx.eventIndex !== undefined ? null : snapshotText,
    controlled,
    context: JSON.stringify(observedContext(o.type, snapshot)),
    stale: !newer,
    hash: o.hash,
  });
  if (!inserted) return 'duplicate';
  // A new snapshot (even a stale one: it may fill a gap in the history) is the reconciler's cue;
  // a future-dated one is not history the reconciler should judge.
  if (o.verb === 'updated' && key.rank !== FUTURE_DATED_RANK) repo.markForReconcile(snapshot.id, key.atMs, ctx.receivedAt);

  // The stored row before the change, for the event's `from` (only when state may change).
  const before = newer || o.verb === 'deleted' ? stored : undefined;
  let written: DeviceUpsert | undefined;
  if (newer) {
    repo.writeDevice((written = {
      id: snapshot.id,
      type: o.type,
      userId: o.userId,
      vendor: snapshot.vendor ?? null,
      lastSeen: snapshot.lastSeen ?? null,
      isReachable: snapshot.isReachable ?? null,
      snapshot: snapshotText,
      controlled,
      key,
      now: ctx.receivedAt,
    }), current !== undefined);
  }
  let deleted: number | undefined;
  if (o.verb === 'deleted') {
    // Deletion is a max over delete events' times, so it too is independent of order. One dated
    // ahead of its receipt is only recorded: trusted, it would outlast every later snapshot.
    const deletedAtMs = Math.max(eventAtMs, key.atMs);
    if (!isAheadOfReceipt(deletedAtMs, ctx.receivedAt, toleranceMs)) {
      repo.markDeviceDeleted(snapshot.id, deletedAtMs, ctx.receivedAt);
      deleted = deletedAtMs;
    }
  }
  // A webhook's snapshot is in its stored delivery: the event may point there instead of copying it.
  const ref = written && ctx.deliveryId !== null && ctx.eventIndex !== undefined ? { delivery: ctx.deliveryId, index: ctx.eventIndex, key: o.type } : undefined;
  appendDeviceEvent(repo, before, written, deleted, snapshot, ctx.receivedAt, ref);
  return newer || deleted !== undefined ? 'applied' : 'recorded';
}

/**
 * Logs what the writes above did to the device's stored row, as they did it (an update keeps the
 * stored type and user; a deletion time only grows): nothing when what the API shows is unchanged.
 */
function appendDeviceEvent(
  repo: FunnelRepo,
  before: StoredDevice | undefined,
  written: DeviceUpsert | undefined,
  deletedAtMs: number | undefined,
  snapshot: Record<string, unknown>,
  receivedAt: number,
  snapshotRef: SnapshotRef | undefined,
): void {
  const base: StoredDevice | undefined = written
    ? {
        id: written.id,
        type: before?.type ?? written.type,
        userId: before?.userId ?? written.userId,
        vendor: written.vendor,
        lastSeen: written.lastSeen,
        isReachable: written.isReachable,
        snapshot: written.snapshot,
        controlled: written.controlled,
        key: written.key,
        deletedAtMs: before?.deletedAtMs ?? null,
      }
    : before;
  if (!base) return;
  const after = deletedAtMs === undefined || (base.deletedAtMs !== null && base.deletedAtMs >= deletedAtMs) ? base : { ...base, deletedAtMs };
  if (after === before) return;
  const event = deviceEvent(before, after, receivedAt, written ? snapshot : undefined);
  if (event) repo.appendEvent(snapshotRef ? { ...event, snapshotRef: before ? snapshotRef : { ...snapshotRef, firstSeen: true } } : event);
}
