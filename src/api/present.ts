import type { ActionRow, DeliveryRow, DeviceRow } from '../db/schema.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** An action as the admin API shows it: Enode's field names plus `origin`. */
export function presentAction(
  a: Pick<ActionRow, 'id' | 'userId' | 'targetId' | 'targetType' | 'kind' | 'target' | 'state' | 'failureReason' | 'createdAt' | 'updatedAt' | 'completedAt' | 'origin'>,
) {
  return {
    id: a.id,
    userId: a.userId,
    targetId: a.targetId,
    targetType: a.targetType,
    kind: a.kind,
    target: a.target,
    state: a.state,
    failureReason: a.failureReason,
    createdAt: a.createdAt,
    updatedAt: a.updatedAt,
    completedAt: a.completedAt,
    origin: a.origin,
  };
}

/** A device: identity, the watched `controlled` fields and the latest snapshot as received. */
export function presentDevice(d: DeviceRow) {
  const deleted = d.deletedAtMs !== null && d.deletedAtMs >= Math.max(d.snapshotEventAtMs, d.snapshotAtMs);
  return {
    id: d.id,
    type: d.type,
    userId: d.userId,
    vendor: d.vendor,
    lastSeen: d.lastSeen,
    isReachable: d.isReachable,
    controlled: d.controlled,
    snapshot: d.snapshot,
    deletedAt: deleted ? iso(d.deletedAtMs) : null,
  };
}

type DeliverySummary = Pick<DeliveryRow, 'id' | 'receivedAt' | 'status' | 'error' | 'eventCount' | 'appliedAt' | 'attempts' | 'bodySha256'>;

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

/** A delivery with its headers and body (text when UTF-8, else base64). */
export function presentDelivery(d: DeliveryRow) {
  const text = d.body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(d.body);
  return {
    ...presentDeliverySummary(d),
    headers: d.headers,
    body: isText ? text : d.body.toString('base64'),
    bodyEncoding: isText ? 'utf8' : 'base64',
  };
}
