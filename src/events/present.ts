/**
 * The envelope readers get (`GET /api/v1/events`, the SSE stream, subscriptions, the dashboard and
 * the library's `events()`): `{ id, type, occurredAt, recordedAt, deviceId, userId, data }`, as
 * events/schemas.ts describes it.
 */
import { decodeStored } from '../api/safe-json.js';
import { encodeEventCursor } from './cursor.js';
import type { StoredEvent } from './types.js';

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Data as the schema of today describes it, for events written by an older version: a finding
 * logged before one change could list several fields has no `fields`; it gets its one field
 * (none for ACTION_CONFLICT), so consumers typed against the schema never meet a missing list.
 */
function upgrade(type: string, data: JsonObject): JsonObject {
  if (type !== 'interference.detected' || !isObject(data['finding']) || Array.isArray(data['finding']['fields'])) return data;
  const f = data['finding'];
  const fields = typeof f['field'] === 'string' ? [{ field: f['field'], from: f['from'] ?? null, to: f['to'] ?? null }] : [];
  return { ...data, finding: { ...f, fields } };
}

/** An event as readers get it: the envelope `{ id, type, occurredAt, recordedAt, deviceId, userId, data }`. */
export function presentEvent(e: StoredEvent) {
  const decoded = decodeStored(e.data);
  const data = isObject(decoded) ? upgrade(e.type, decoded) : {};
  return {
    id: encodeEventCursor(e.position),
    type: e.type,
    occurredAt: new Date(e.occurredAtMs).toISOString(),
    recordedAt: new Date(e.recordedAtMs).toISOString(),
    deviceId: e.deviceId,
    userId: e.userId,
    data,
  };
}
