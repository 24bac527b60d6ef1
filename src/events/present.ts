/**
 * The envelope readers get (`GET /api/v1/events`, the SSE stream, subscriptions, the dashboard and
 * the library's `events()`): `{ id, type, occurredAt, recordedAt, deviceId, userId, data }`, as
 * events/schemas.ts describes it.
 */
import { decodeStored } from '../api/safe-json.js';
import { encodeEventCursor } from './cursor.js';
import type { StoredEvent } from './types.js';

/** An event as readers get it: the envelope `{ id, type, occurredAt, recordedAt, deviceId, userId, data }`. */
export function presentEvent(e: StoredEvent) {
  const data = decodeStored(e.data);
  return {
    id: encodeEventCursor(e.position),
    type: e.type,
    occurredAt: new Date(e.occurredAtMs).toISOString(),
    recordedAt: new Date(e.recordedAtMs).toISOString(),
    deviceId: e.deviceId,
    userId: e.userId,
    data: (data !== null && typeof data === 'object' && !Array.isArray(data) ? data : {}) as Record<string, unknown>,
  };
}
