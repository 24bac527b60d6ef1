/**
 * The event log's envelope and payloads as a consumer sees them (`GET /api/v1/events`, the SSE
 * stream, subscriptions and the library's `events()` all hand out the same envelope). The payloads
 * are named interfaces over the records they are built from (`Pick` of the fields shown as they
 * are, the rest written out), so a field is declared once; the checks at the end keep them in
 * step with the code that builds the payloads.
 */
import type { AlertType } from '../alerts/types.js';
import type { presentEvent } from '../api/events-routes.js';
import type { presentAction, presentDevice } from '../api/present.js';
import type { ActionRecord } from '../domain/actions.js';
import type { Change } from '../domain/diff.js';
import type { CommandFact } from '../events/facts.js';
import type { EventType } from '../events/types.js';
import type { DeviceRecord } from '../store/read.js';

export type { AlertType, EventType };

/** A device as `GET /api/v1/devices/{id}` shows it. */
export interface EnodeSyncDevice extends Pick<DeviceRecord, 'id' | 'type' | 'userId' | 'vendor' | 'lastSeen' | 'isReachable' | 'controlled' | 'snapshot'> {
  /** ISO time of the deletion; null while the device exists. */
  deletedAt: string | null;
  /** Set when a stored part could not be shown (it is then `{}`). */
  note?: string;
}

/** An action (Enode's vendor action) as the admin API shows it. */
export interface EnodeSyncAction
  extends Pick<ActionRecord, 'id' | 'userId' | 'targetId' | 'targetType' | 'kind' | 'target' | 'state' | 'failureReason' | 'createdAt' | 'updatedAt' | 'completedAt'> {
  /** Who asked for it: this service's command gateway, or someone else. */
  origin: string;
  note?: string;
}

/** One changed leaf: its dotted path and both values (null where absent). */
export type EnodeSyncChange = Change;

/** `device.discovered`, `device.updated`, `device.deleted`: the device after the change and what changed. */
export interface DeviceEventData {
  device: EnodeSyncDevice;
  changes: EnodeSyncChange[];
}

/** `action.updated`: the action in its new state, and the state before (null when first seen). */
export interface ActionUpdatedData {
  action: EnodeSyncAction;
  previousState: string | null;
}

/** `command.sent`, `command.refused`: a command of the gateway's log. */
export interface CommandEventData {
  /** The record with its stored body decoded and its request time as ISO text. */
  command: Omit<CommandFact, 'body' | 'requestedAtMs'> & { body: unknown; requestedAt: string };
}

/** An alert type's payload: what the alert is about (device, user, action, finding, …) and links into the dashboard. */
export interface AlertEventData {
  links?: Record<string, string>;
  [key: string]: unknown;
}

/** The envelope every event shares; `id` is an opaque cursor that sorts in log order. */
export interface EventEnvelope<T extends EventType, D> {
  id: string;
  type: T;
  /** ISO time the fact happened, as far as enode-sync knows it. */
  occurredAt: string;
  /** ISO time enode-sync received what caused it. */
  recordedAt: string;
  deviceId: string | null;
  userId: string | null;
  data: D;
}

export type DeviceEventType = 'device.discovered' | 'device.updated' | 'device.deleted';
export type CommandEventType = 'command.sent' | 'command.refused';
export type FindingStateEventType = 'interference.acknowledged' | 'interference.resolved';

/** `interference.acknowledged`, `interference.resolved`: an operator's decision about a finding (store/finding-state.ts). */
export interface FindingStateData {
  finding: Record<string, unknown>;
  state: 'acknowledged' | 'resolved';
  previousState: string;
  note: string | null;
}

/** One event of the log: switch on `type` to get its payload's type. */
export type EnodeSyncEvent =
  | EventEnvelope<DeviceEventType, DeviceEventData>
  | EventEnvelope<'action.updated', ActionUpdatedData>
  | EventEnvelope<CommandEventType, CommandEventData>
  | EventEnvelope<FindingStateEventType, FindingStateData>
  | EventEnvelope<AlertType, AlertEventData>;

/** Compile-time checks: each `true` fails to build when the interfaces above drift from the code. */
type Holds<T extends true> = T;
type EventTypesCheck = [
  // Every type of the log has a payload above, and no other type does.
  Holds<EventType extends EnodeSyncEvent['type'] ? (EnodeSyncEvent['type'] extends EventType ? true : false) : false>,
  Holds<ReturnType<typeof presentDevice> extends EnodeSyncDevice ? true : false>,
  Holds<ReturnType<typeof presentAction> extends EnodeSyncAction ? true : false>,
  Holds<Omit<ReturnType<typeof presentEvent>, 'type' | 'data'> extends Omit<EnodeSyncEvent, 'type' | 'data'> ? true : false>,
];
