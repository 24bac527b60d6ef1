import type { ActionRecord, DeliveryRecord, DeliverySummary, DeviceRecord } from '../store/read.js';
import { isDeviceDeleted } from '../domain/devices.js';
import { joinNotes, presentable } from './safe-json.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * An action as the admin API shows it: Enode's field names plus `origin`. A `target` or
 * `failureReason` too deep to serialise (stored before ingest limited nesting) or not JSON is shown as null,
 * with a `note` saying so, rather than failing every page that holds the action.
 */
export function presentAction(
  a: Pick<ActionRecord, 'id' | 'userId' | 'targetId' | 'targetType' | 'kind' | 'target' | 'state' | 'failureReason' | 'createdAt' | 'updatedAt' | 'completedAt' | 'origin'>,
) {
  const target = presentable(a.target, 'target');
  const failureReason = presentable(a.failureReason, 'failureReason');
  const note = joinNotes(target.note, failureReason.note);
  return {
    id: a.id,
    userId: a.userId,
    targetId: a.targetId,
    targetType: a.targetType,
    kind: a.kind,
    target: target.value,
    state: a.state,
    failureReason: failureReason.value,
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
    completedAt: a.completedAt,
    origin: a.origin,
    ...(note === null ? {} : { note }),
  };
}

/** What a device's presentation reads: its identity, JSON decoded, and what tells a deletion apart from a later snapshot. */
export type PresentedDeviceFields = Pick<
  DeviceRecord,
  'id' | 'type' | 'userId' | 'vendor' | 'lastSeen' | 'isReachable' | 'snapshot' | 'controlled' | 'deletedAtMs' | 'snapshotAtMs' | 'snapshotRank' | 'snapshotEventAtMs'
>;

/**
 * A device: identity, the watched `controlled` fields and the latest snapshot as received. A
 * snapshot (or controlled state) too deep to serialise (stored before ingest limited nesting) or not
 * JSON at all is shown as `{}` (the documented type is an object), with a `note`, rather than
 * failing every page that holds the device.
 */
export function presentDevice(d: PresentedDeviceFields) {
  const snapshot = presentable<DeviceRecord['snapshot']>(d.snapshot, 'snapshot');
  const controlled = presentable<DeviceRecord['controlled']>(d.controlled, 'controlled');
  const note = joinNotes(snapshot.note, controlled.note);
  return {
    id: d.id,
    type: d.type,
    userId: d.userId,
    vendor: d.vendor,
    lastSeen: d.lastSeen,
    isReachable: d.isReachable,
    controlled: controlled.value ?? {},
    snapshot: snapshot.value ?? {},
    deletedAt: isDeviceDeleted(d) ? iso(d.deletedAtMs) : null,
    ...(note === null ? {} : { note }),
  };
}

export function presentDeliverySummary(d: DeliverySummary) {
  return {
    id: d.id,
    receivedAt: iso(d.receivedAt),
    status: d.status,
    error: d.error,
    eventCount: d.eventCount,
    appliedAt: iso(d.appliedAt),
    attempts: d.attempts,
    bodySha256: d.bodySha256,
  };
}

/** A delivery with its headers and body (text when UTF-8, else base64), and its events' API versions. */
export function presentDelivery(d: DeliveryRecord) {
  const text = d.body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(d.body);
  return {
    ...presentDeliverySummary(d),
    versions: isText ? eventVersions(text) : [],
    headers: d.headers,
    body: isText ? text : d.body.toString('base64'),
    bodyEncoding: isText ? 'utf8' : 'base64',
  };
}

/**
 * The distinct `version` strings of a body's events, in order of first appearance (README
 * "Payload versions"); events without one add nothing. Empty when the body is not a JSON array.
 */
function eventVersions(text: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  const versions = new Set<string>();
  for (const e of parsed) {
    const v = e !== null && typeof e === 'object' ? (e as { version?: unknown }).version : undefined;
    if (typeof v === 'string') versions.add(v);
  }
  return [...versions];
}
