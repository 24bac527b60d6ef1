/**
 * The event log's contract as zod schemas: the envelope every reader gets and each type's `data`.
 * One source for three things: the consumer types of the library (embed/event-types.ts infers
 * them), the OpenAPI document (`GET /events` and the `webhooks` section, api/openapi.ts), and the
 * tests that parse every event the log produces with its type's schema (test/support/event-schemas.ts).
 *
 * Objects are open (`z.object`): a consumer must accept fields added later, so the document does
 * not forbid them; the tests compare each parse with its input to catch a field the schema lacks.
 */
import { z } from '@hono/zod-openapi';
import { ActionSchema, DeviceSchema, FindingSchema } from '../api/schemas.js';
import { EVENT_TYPES, type EventType } from './types.js';

const isoTime = z.string().openapi({ format: 'date-time' });
const links = z
  .record(z.string(), z.string())
  .openapi({ description: 'Admin API paths about the fact (`timeline`, `action`, `delivery`, `replay`); absolute under PUBLIC_URL when sent to a sink' });
const deviceRef = z.object({ id: z.string(), type: z.string(), userId: z.string() }).openapi({ description: 'The device the fact is about' });
const userRef = z.object({ id: z.string() });

export const ChangeSchema = z
  .object({
    path: z.string().openapi({ description: 'Dotted path of the changed leaf (`snapshot.chargeState.batteryLevel`); a key holding a dot is quoted as `["a.b"]`' }),
    from: z.unknown().openapi({ description: 'The value before (null where absent)' }),
    to: z.unknown().openapi({ description: 'The value after (null where absent)' }),
  })
  .openapi('EventChange');

// ── state events ──

export const DeviceEventDataSchema = z
  .object({
    device: DeviceSchema.openapi({ description: 'The device as `GET /api/v1/devices/{id}` shows it after the change' }),
    changes: z.array(ChangeSchema),
  })
  .openapi('DeviceEventData', { description: '`device.discovered`, `device.updated`, `device.deleted`: the device after the change and what changed.' });

export const ActionUpdatedDataSchema = z
  .object({
    action: ActionSchema,
    previousState: z.string().nullable().openapi({ description: 'The state before; null when the action was first seen' }),
  })
  .openapi('ActionUpdatedData', { description: '`action.updated`: the action in its new state (once per state, never backwards).' });

export const CommandEventDataSchema = z
  .object({
    command: z.object({
      id: z.string(),
      deviceId: z.string(),
      deviceType: z.string(),
      command: z.string().openapi({ example: 'charging' }),
      body: z.unknown().openapi({ description: 'The body sent, as Enode takes it' }),
      requestedAt: isoTime,
      outcome: z.enum(['sent', 'refused']),
      actionId: z.string().nullable(),
      override: z.boolean(),
      notes: z.array(z.unknown()),
      error: z.string().nullable().openapi({ description: 'Why the guards refused it' }),
    }),
  })
  .openapi('CommandEventData', { description: '`command.sent` (Enode took it), `command.refused` (the gateway’s guards refused it).' });

const FINDING_FIELDS = { id: true, deviceId: true, deviceType: true, userId: true, kind: true, field: true, from: true, to: true, observedAt: true, detectedAt: true, actionId: true } as const;

export const FindingStateDataSchema = z
  .object({
    finding: FindingSchema.pick(FINDING_FIELDS),
    state: z.enum(['acknowledged', 'resolved']),
    previousState: z.string().openapi({ description: '`open` or `acknowledged`' }),
    note: z.string().nullable().openapi({ description: "The operator's note" }),
  })
  .openapi('FindingStateData', { description: '`interference.acknowledged`, `interference.resolved`: an operator acknowledged or resolved a finding.' });

// ── alert types (the alert outbox's payloads: src/alerts/facts.ts, src/reconcile/reconciler.ts) ──

export const InterferenceDetectedDataSchema = z.object({ finding: FindingSchema, device: deviceRef, links }).openapi('InterferenceDetectedData');

export const ActionAlertDataSchema = z.object({ action: ActionSchema, device: deviceRef, user: userRef, links }).openapi('ActionAlertData', {
  description: '`action.failed`, `action.cancelled`',
});

export const CredentialsInvalidatedDataSchema = z
  .object({ user: userRef.nullable(), vendor: z.string().nullable(), invalidatedAt: isoTime.nullable(), links })
  .openapi('CredentialsInvalidatedData');

export const WebhookHealthDataSchema = z
  .object({ webhook: z.object({ id: z.string(), lastSuccess: isoTime.nullable(), isActive: z.boolean() }), note: z.string(), links })
  .openapi('WebhookHealthData', { description: '`webhook.inactive`, `webhook.reactivated`: the Enode webhook enode-sync receives on' });

export const DeliveryFailedDataSchema = z
  .object({ delivery: z.object({ id: z.string(), status: z.literal('failed'), error: z.string().nullable(), eventCount: z.number().int() }), links })
  .openapi('DeliveryFailedData');

export const DeviceFaultDataSchema = z
  .object({
    device: deviceRef,
    fault: z.object({
      powerDeliveryState: z.string().nullable(),
      observedAt: isoTime,
      field: z.string(),
      from: z.unknown(),
      to: z.unknown(),
    }),
    links,
  })
  .openapi('DeviceFaultData');

export const ApplyStalledDataSchema = z
  .object({ apply: z.object({ failingSince: isoTime, error: z.string().nullable(), backlog: z.number().int() }), note: z.string(), links })
  .openapi('ApplyStalledData');

export const VersionMismatchDataSchema = z
  .object({
    webhook: z.object({ id: z.string().nullable().openapi({ description: 'ENODE_WEBHOOK_ID; null when none is configured' }) }),
    version: z.string().openapi({ description: 'The API version this build does not understand', example: '2025-06-01' }),
    understoodVersion: z.string().openapi({ example: '2024-10-01' }),
    seenIn: z.enum(['event', 'webhook']).openapi({ description: '`event`: a delivered event carried it; `webhook`: the watched webhook is pinned to it' }),
    event: z.string().nullable().openapi({ description: 'The first event seen with it (seenIn `event`)' }),
    deliveryId: z.string().nullable(),
    note: z.string(),
    links,
  })
  .openapi('VersionMismatchData');

// ── the envelope ──

/** The envelope of events whose type is one of `types`, with `data` as `data` describes. */
function envelope<const T extends readonly [string, ...string[]], D extends z.ZodType>(name: string, types: T, data: D, description: string) {
  return z
    .object({
      id: z.string().openapi({ description: 'The event id, also its cursor: ids sort (as strings) in log order', example: 'ev1_0000000002s' }),
      type: z.enum(types),
      occurredAt: isoTime.openapi({ description: 'When the fact happened, as far as enode-sync knows it (a snapshot’s device time, a command’s request)' }),
      recordedAt: isoTime.openapi({ description: 'When enode-sync received what caused the event' }),
      deviceId: z.string().nullable(),
      userId: z.string().nullable(),
      data,
    })
    .openapi(name, { description });
}

export const DeviceEventSchema = envelope('DeviceEvent', ['device.discovered', 'device.updated', 'device.deleted'], DeviceEventDataSchema, 'A device appeared, changed or was deleted.');
export const ActionUpdatedEventSchema = envelope('ActionUpdatedEvent', ['action.updated'], ActionUpdatedDataSchema, 'An action reached a new state.');
export const CommandEventSchema = envelope('CommandEvent', ['command.sent', 'command.refused'], CommandEventDataSchema, 'The command gateway sent or refused a command.');
export const FindingStateEventSchema = envelope(
  'FindingStateEvent',
  ['interference.acknowledged', 'interference.resolved'],
  FindingStateDataSchema,
  'An operator acknowledged or resolved a finding.',
);
export const InterferenceDetectedEventSchema = envelope(
  'InterferenceDetectedEvent',
  ['interference.detected'],
  InterferenceDetectedDataSchema,
  'The reconciler found third-party interference.',
);
export const ActionAlertEventSchema = envelope('ActionAlertEvent', ['action.failed', 'action.cancelled'], ActionAlertDataSchema, 'An action failed or was cancelled.');
export const CredentialsInvalidatedEventSchema = envelope(
  'CredentialsInvalidatedEvent',
  ['credentials.invalidated'],
  CredentialsInvalidatedDataSchema,
  "A user's vendor credentials were invalidated: they must relink the account.",
);
export const WebhookHealthEventSchema = envelope(
  'WebhookHealthEvent',
  ['webhook.inactive', 'webhook.reactivated'],
  WebhookHealthDataSchema,
  'Enode disabled the webhook (and dropped its queue), or it is active again.',
);
export const DeliveryFailedEventSchema = envelope('DeliveryFailedEvent', ['delivery.failed'], DeliveryFailedDataSchema, 'A stored webhook delivery could not be applied.');
export const DeviceFaultEventSchema = envelope('DeviceFaultEvent', ['device.fault'], DeviceFaultDataSchema, "A controlled change explained by the device's own problem.");
export const ApplyStalledEventSchema = envelope('ApplyStalledEvent', ['apply.stalled'], ApplyStalledDataSchema, 'Applying stored deliveries keeps failing on the storage.');
export const VersionMismatchEventSchema = envelope(
  'VersionMismatchEvent',
  ['webhook.version_mismatch'],
  VersionMismatchDataSchema,
  'Enode sends payloads of an API version this build does not understand (once per webhook and version).',
);

const ENVELOPES = [
  DeviceEventSchema,
  ActionUpdatedEventSchema,
  CommandEventSchema,
  FindingStateEventSchema,
  InterferenceDetectedEventSchema,
  ActionAlertEventSchema,
  CredentialsInvalidatedEventSchema,
  WebhookHealthEventSchema,
  DeliveryFailedEventSchema,
  DeviceFaultEventSchema,
  ApplyStalledEventSchema,
  VersionMismatchEventSchema,
] as const;

/** Any event of the log: `type` tells which payload `data` is. */
export const EventSchema = z.union(ENVELOPES).openapi('Event', { description: 'An event of the log; `type` names the payload of `data`.' });

export type EventEnvelopeSchema = (typeof ENVELOPES)[number];

/** The envelope schema of each event type. */
export const EVENT_SCHEMAS: { readonly [T in EventType]: EventEnvelopeSchema } = Object.fromEntries(
  EVENT_TYPES.map((type) => {
    const schema = ENVELOPES.find((s) => (s.shape.type.options as readonly string[]).includes(type));
    if (!schema) throw new Error(`event type ${type} has no schema in events/schemas.ts`);
    return [type, schema];
  }),
) as { [T in EventType]: EventEnvelopeSchema };

/** Why `event` does not match its type's schema (a missing or mistyped field, or one the schema lacks), or undefined when it does. */
export function eventSchemaProblem(event: unknown): string | undefined {
  const type = event !== null && typeof event === 'object' ? (event as { type?: unknown }).type : undefined;
  const schema = typeof type === 'string' ? (EVENT_SCHEMAS as Record<string, EventEnvelopeSchema | undefined>)[type] : undefined;
  if (!schema) return `unknown event type ${JSON.stringify(type)}`;
  const parsed = schema.safeParse(event);
  if (!parsed.success) return `${type}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(envelope)'}: ${i.message}`).join('; ')}`;
  const extra = extraKeys(event, parsed.data, '');
  return extra.length > 0 ? `${type}: not in its schema: ${extra.join(', ')}` : undefined;
}

/** Paths of object keys in `given` that the parse stripped (fields the schema does not declare). */
function extraKeys(given: unknown, parsed: unknown, path: string): string[] {
  if (given === null || typeof given !== 'object' || parsed === null || typeof parsed !== 'object') return [];
  if (Array.isArray(given)) return Array.isArray(parsed) ? given.flatMap((g, i) => extraKeys(g, parsed[i], `${path}[${i}]`)) : [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(given)) {
    const at = path === '' ? k : `${path}.${k}`;
    if (!Object.hasOwn(parsed, k)) out.push(at);
    else out.push(...extraKeys(v, (parsed as Record<string, unknown>)[k], at));
  }
  return out;
}
