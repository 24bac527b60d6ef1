/**
 * The event log's vocabulary: every event type, the event as the funnel and the adapters write
 * it (with the key of its fact), and the envelope readers get. Free of I/O.
 */
import { ALERT_TYPES } from '../alerts/types.js';


/** Event types besides the alert types (which are event types on the same log). */
export const STATE_EVENT_TYPES = [
  'device.discovered',
  'device.updated',
  'device.deleted',
  'action.updated',
  'command.sent',
  'command.refused',
  // An operator acknowledged or resolved a finding (POST /api/v1/interference/{id}/ack, …/resolve).
  'interference.acknowledged',
  'interference.resolved',
] as const;

/** Every type the log holds. */
export const EVENT_TYPES = [...STATE_EVENT_TYPES, ...ALERT_TYPES] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** Where a device event's snapshot is (events/snapshot-ref.ts): the delivery, the event's index in its body, the key of the device in that event. */
export interface SnapshotRef {
  delivery: string;
  index: number;
  key: string;
  /**
   * The device was first seen (no stored row before): the event's `changes` are every leaf of the
   * device from nothing, `diffJson({}, device)`, so the writer leaves them out and readers derive
   * them from the device they show.
   */
  firstSeen?: true;
}

/** An event as written, in the transaction of the change it records. */
export interface NewEvent {
  type: EventType;
  /**
   * Names the fact (unique in the log): the same fact written again — a redelivery, a poll of the
   * same state, a replay, a rerun of the reconciler — inserts nothing.
   */
  factKey: string;
  /** When the fact happened as far as we know it (epoch ms). */
  occurredAtMs: number;
  /** When enode-sync received what caused it (epoch ms); retention prunes by it. */
  recordedAtMs: number;
  deviceId: string | null;
  userId: string | null;
  data: Record<string, unknown>;
  /**
   * A device event carried by a webhook: where its `data.device.snapshot` is in the stored
   * delivery, so an adapter may store the event without that copy (events/snapshot-ref.ts).
   */
  snapshotRef?: SnapshotRef;
}

/** An event as stored: its position in the log, `data` as JSON text. */
export interface StoredEvent {
  position: number;
  type: string;
  occurredAtMs: number;
  recordedAtMs: number;
  deviceId: string | null;
  userId: string | null;
  data: string;
}
