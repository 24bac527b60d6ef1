/**
 * The event log's envelope and payloads as a consumer sees them (`GET /api/v1/events`, the SSE
 * stream, subscriptions and the library's `events()` all hand out the same envelope). Every type
 * here is inferred from the zod schemas of events/schemas.ts — the same schemas the OpenAPI
 * document is generated from and the tests parse every produced event with — so the types, the
 * document and the events cannot drift apart. The checks at the end tie them to the presenters.
 */
import type { z } from '@hono/zod-openapi';
import type { AlertType } from '../alerts/types.js';
import type { presentEvent } from '../api/events-routes.js';
import type { presentAction, presentDevice } from '../api/present.js';
import type * as S from '../events/schemas.js';
import type { EventType } from '../events/types.js';

export type { AlertType, EventType };

/** A device as `GET /api/v1/devices/{id}` shows it. */
export type EnodeSyncDevice = z.infer<typeof S.DeviceEventDataSchema>['device'];

/** An action (Enode's vendor action) as the admin API shows it. */
export type EnodeSyncAction = z.infer<typeof S.ActionUpdatedDataSchema>['action'];

/** One changed leaf: its dotted path and both values (null where absent). */
export type EnodeSyncChange = z.infer<typeof S.ChangeSchema>;

/** `device.discovered`, `device.updated`, `device.deleted`: the device after the change and what changed. */
export type DeviceEventData = z.infer<typeof S.DeviceEventDataSchema>;

/** `action.updated`: the action in its new state, and the state before (null when first seen). */
export type ActionUpdatedData = z.infer<typeof S.ActionUpdatedDataSchema>;

/** `command.sent`, `command.refused`: a command of the gateway's log. */
export type CommandEventData = z.infer<typeof S.CommandEventDataSchema>;

/** `interference.acknowledged`, `interference.resolved`: an operator's decision about a finding. */
export type FindingStateData = z.infer<typeof S.FindingStateDataSchema>;

/** An alert type's payload: what the alert is about (device, user, action, finding, …) and links into the admin API. */
export type AlertEventData = Extract<EnodeSyncEvent, { type: AlertType }>['data'];

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

/** One event of the log: switch on `type` to get its payload's type. */
export type EnodeSyncEvent = z.infer<typeof S.EventSchema>;

/** Compile-time checks: each `true` fails to build when the schemas drift from the code or from each other. */
type Holds<T extends true> = T;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type EventTypesCheck = [
  // Every type of the log has a schema.
  Holds<EventType extends EnodeSyncEvent['type'] ? true : false>,
  Holds<Same<Extract<EnodeSyncEvent, { type: DeviceEventType }>['data'], DeviceEventData>>,
  Holds<Same<Extract<EnodeSyncEvent, { type: CommandEventType }>['data'], CommandEventData>>,
  Holds<ReturnType<typeof presentDevice> extends EnodeSyncDevice ? true : false>,
  Holds<ReturnType<typeof presentAction> extends EnodeSyncAction ? true : false>,
  Holds<Omit<ReturnType<typeof presentEvent>, 'type' | 'data'> extends Omit<EnodeSyncEvent, 'type' | 'data'> ? true : false>,
  Holds<EnodeSyncEvent extends EventEnvelope<EventType, unknown> ? true : false>,
];
