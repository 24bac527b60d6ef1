/**
 * The event log's envelope and payloads as a consumer sees them (`GET /api/v1/events`, the SSE
 * stream, subscriptions and the library's `events()` all hand out the same envelope). Written out
 * as plain interfaces so that the published declarations stay small and readable; the checks at
 * the end keep them in step with the code that builds the payloads.
 */
import type { AlertType } from '../alerts/types.js';
import type { presentEvent } from '../api/events-routes.js';
import type { presentAction, presentDevice } from '../api/present.js';
import type { Change } from '../domain/diff.js';
import type { EventType } from '../events/types.js';

export type { AlertType, EventType };

/** A device as `GET /api/v1/devices/{id}` shows it. */
export interface EnodeSyncDevice {
  id: string;
  type: string;
  userId: string;
  vendor: string | null;
  lastSeen: string | null;
  isReachable: boolean | null;
  /** The fields enode-sync watches for interference (charging, max current, …). */
  controlled: Record<string, unknown>;
  /** The latest snapshot as Enode sent it. */
  snapshot: Record<string, unknown>;
  /** ISO time of the deletion; null while the device exists. */
  deletedAt: string | null;
  /** Set when a stored part could not be shown (it is then `{}`). */
  note?: string;
}

/** An action (Enode's vendor action) as the admin API shows it. */
export interface EnodeSyncAction {
  id: string;
  userId: string;
  targetId: string;
  targetType: string;
  kind: string | null;
  target: Record<string, unknown> | null;
  /** PENDING, then one terminal state (CONFIRMED, FAILED, CANCELLED). */
  state: string;
  failureReason: { type: string; detail?: string } | null;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
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
  command: {
    id: string;
    deviceId: string;
    deviceType: string;
    command: string;
    body: unknown;
    requestedAt: string;
    outcome: string;
    actionId: string | null;
    override: boolean;
    notes: unknown[];
    error: string | null;
  };
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

/** One event of the log: switch on `type` to get its payload's type. */
export type EnodeSyncEvent =
  | EventEnvelope<DeviceEventType, DeviceEventData>
  | EventEnvelope<'action.updated', ActionUpdatedData>
  | EventEnvelope<CommandEventType, CommandEventData>
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
