/**
 * Zod schemas of the admin API shared by its route modules: the error body, path ids, paging, and
 * the shapes the presenters return. The routes validate requests with them and the OpenAPI document
 * (src/api/openapi.ts) is generated from them, so the docs cannot drift from the validation.
 */
import { z } from '@hono/zod-openapi';
import { DEVICE_TYPES } from '../domain/devices.js';
import { DEFAULT_LIMIT, MAX_LIMIT } from './pagination.js';

// ── errors ──

export const ErrorSchema = z
  .object({
    error: z
      .object({
        code: z.string().openapi({ description: 'Machine-readable code, e.g. `BAD_REQUEST`, `UNAUTHORIZED`, `NOT_FOUND`', example: 'NOT_FOUND' }),
        message: z.string().openapi({ description: 'What went wrong and what to do about it; safe to show', example: 'No device v1' }),
        requestId: z.string().openapi({ description: 'Also in the `x-request-id` response header and in the log' }),
      })
      .catchall(z.unknown())
      .openapi({ description: 'Some errors add details: `field` (the bad parameter or body field), `enode` (what Enode answered), `budget`, …' }),
  })
  .openapi('Error', { description: 'The one error body of enode-sync.' });

const ERROR_DESCRIPTIONS = {
  400: 'Invalid parameter or body; the message (and `field`, when there is one) names it',
  401: 'Missing or wrong `Authorization: Bearer <ADMIN_TOKEN>`',
  403: 'Enode does not allow it (e.g. the user did not grant the control scope)',
  404: 'Unknown id',
  409: 'Conflict with the current state (see `code`)',
  410: 'Gone: the cursor is older than what retention keeps; the body names the oldest cursor still available',
  413: 'Body over the limit',
  415: 'The body is not sent as `application/json`',
  422: 'Enode found the command unprocessable',
  429: 'Daily command limit of the device reached (`Retry-After` says when the next one fits)',
  500: 'Internal error (details only in the log)',
  502: 'Enode failed or answered unexpectedly',
  503: 'Unavailable (see `code`); retry later',
} as const;

export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

const errorContent = { 'application/json': { schema: ErrorSchema } };

/** Response entries of error statuses, all with the shared error body. */
export function errorResponses<S extends ErrorStatus>(...statuses: S[]): { [K in S]: { description: string; content: typeof errorContent } } {
  return Object.fromEntries(statuses.map((s) => [s, { description: ERROR_DESCRIPTIONS[s], content: errorContent }])) as unknown as {
    [K in S]: { description: string; content: typeof errorContent };
  };
}

/** A 200 JSON response entry. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

// ── parameters ──

const ID_MAX = 200;

/**
 * The `{id}` path parameter: 1 to 200 characters. `what` names it in the 400 message
 * (`Invalid vehicle id: …`); the validation hook uses the issue's message as it is.
 */
export function idParams(what?: string, description = 'Id, 1 to 200 characters (URL-encoded)') {
  const message = `Invalid ${what ? `${what} ` : ''}id: 1 to ${ID_MAX} characters`;
  return z.object({
    id: z
      .string()
      .min(1, message)
      .max(ID_MAX, message)
      .openapi({ param: { name: 'id', in: 'path' }, description }),
  });
}

/** `?after=&limit=` of every list; `pageParams()` turns them into a cursor and a limit. */
export const pageQuery = {
  after: z.string().max(2000).optional().openapi({ description: 'Cursor: `pagination.after` of the previous page, unchanged' }),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, `an integer from 1 to ${MAX_LIMIT}`)
    .refine((v) => Number(v) >= 1 && Number(v) <= MAX_LIMIT, `an integer from 1 to ${MAX_LIMIT}`)
    .optional()
    // Query values are text; the document shows what they carry.
    .openapi({ type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT, description: 'Page size' }),
};

/** An optional filter text of at most 200 characters. */
export const textFilter = (description: string) => z.string().max(ID_MAX).optional().openapi({ description });

/** The paged list body `{ data, pagination: { after } }`. */
export function listOf<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({
      data: z.array(item),
      pagination: z.object({
        after: z.string().nullable().openapi({ description: 'Cursor of the next page; null on the last page' }),
      }),
    })
    .openapi(name);
}

// ── shapes (src/api/present.ts, src/reconcile, src/alerts/present.ts, src/gateway/service.ts) ──

const isoTime = z.string().openapi({ format: 'date-time' });
const json = z.unknown().openapi({ description: 'Any JSON value' });
const jsonObject = z.record(z.string(), z.unknown());

export const ActionSchema = z
  .object({
    id: z.string(),
    userId: z.string(),
    targetId: z.string(),
    targetType: z.string().openapi({ example: 'vehicle' }),
    kind: z.string().nullable().openapi({ description: 'Charging actions: `START` or `STOP`' }),
    target: jsonObject.nullable().openapi({ description: "Enode's `target` (HVAC) or `targetState` (max current, battery mode)" }),
    state: z.string().openapi({ example: 'PENDING', description: '`PENDING`, `CONFIRMED`, `FAILED` or `CANCELLED`' }),
    failureReason: z.object({ type: z.string(), detail: z.string().optional() }).nullable(),
    createdAt: isoTime,
    updatedAt: isoTime,
    completedAt: isoTime.nullable(),
    origin: z.enum(['gateway', 'enode']).openapi({ description: '`gateway`: sent through enode-sync; `enode`: seen in webhooks or polls' }),
    note: z.string().optional().openapi({ description: 'Present when a stored field could not be shown (unreadable, or nested too deep); that field is then `{}` or `null`' }),
  })
  .openapi('Action', { description: "A vendor action with Enode's field names." });

export const DeviceSchema = z
  .object({
    id: z.string(),
    type: z.string().openapi({ description: DEVICE_TYPES.join(', ') }),
    userId: z.string(),
    vendor: z.string().nullable(),
    lastSeen: z.string().nullable(),
    isReachable: z.boolean().nullable(),
    controlled: jsonObject.openapi({ description: 'The fields the reconciler watches (e.g. `charging`, `maxCurrent`, `hvacMode`, `operationMode`)' }),
    snapshot: jsonObject.openapi({ description: 'The latest Enode object, as received' }),
    deletedAt: isoTime.nullable(),
    note: z.string().optional().openapi({ description: 'Present when a stored field could not be shown (unreadable, or nested too deep); that field is then `{}` or `null`' }),
  })
  .openapi('Device');

const deliveryStatus = z.enum(['pending', 'applied', 'failed', 'quarantined']);

export const DeliverySummarySchema = z
  .object({
    id: z.string().openapi({ description: 'The `x-enode-delivery` header (generated when Enode sent none)' }),
    receivedAt: isoTime.nullable(),
    status: deliveryStatus,
    error: z.string().nullable(),
    eventCount: z.number().int(),
    appliedAt: isoTime.nullable(),
    attempts: z.number().int(),
    bodySha256: z.string(),
  })
  .openapi('DeliverySummary', { description: 'A webhook delivery as stored.' });

export const DeliverySchema = DeliverySummarySchema.extend({
  versions: z.array(z.string()).openapi({
    description: "The distinct Enode API versions (`version`) of the body's events, first seen first; events without one add nothing. Versions other than 2024-10-01 are applied only where their shape is complete (README \"Payload versions\")",
    example: ['2024-10-01'],
  }),
  headers: z.record(z.string(), z.string()),
  body: z.string().openapi({ description: 'The raw body: text when it is UTF-8, else base64' }),
  bodyEncoding: z.string().openapi({ enum: ['utf8', 'base64'] }),
}).openapi('Delivery', { description: 'A webhook delivery with its headers and raw body.' });

export const ReplaySchema = DeliverySummarySchema.extend({
  replay: z.object({ status: deliveryStatus, error: z.string().nullable() }),
}).openapi('DeliveryReplay');

export const FINDING_KINDS = ['ACTION_OVERRIDDEN', 'UNEXPECTED_CHANGE', 'ACTION_CONFLICT'] as const;

export const FindingSchema = z
  .object({
    id: z.string(),
    deviceId: z.string(),
    deviceType: z.string(),
    userId: z.string(),
    kind: z.string().openapi({ enum: [...FINDING_KINDS] }),
    field: z.string().nullable().openapi({ description: 'The controlled field (the first the change moved); null for ACTION_CONFLICT' }),
    from: json,
    to: json,
    fields: z
      .array(z.object({ field: z.string(), from: json, to: json }))
      .openapi({ description: 'Every controlled field the change moved at once (one episode, one finding), `field` first; empty for ACTION_CONFLICT' }),
    observedAt: isoTime,
    detectedAt: isoTime,
    actionId: z.string().nullable(),
  })
  .openapi('Finding', { description: 'Third-party interference found by the reconciler.' });

/** A finding as the interference list and detail show it: the contract's fields, then its operator state. */
export const FindingWithStateSchema = FindingSchema.extend({
  state: z.string().openapi({ enum: ['open', 'acknowledged', 'resolved'], description: 'open until an operator acknowledges or resolves it' }),
  note: z.string().nullable().openapi({ description: "The operator's note with the last acknowledgement or resolution" }),
  stateChangedAt: isoTime.nullable().openapi({ description: 'When the state last changed; null while open' }),
}).openapi('FindingWithState');

export const FindingDetailSchema = FindingWithStateSchema.extend({
  evidence: json.openapi({ description: 'What the reconciler saw: snapshots before and after, the action involved' }),
}).openapi('FindingDetail');

const TransitionSchema = z.object({
  field: z.string(),
  from: json,
  to: json,
  status: z.string().openapi({ enum: ['explained', 'waiting', 'finding'] }),
  explanation: json.openapi({ description: "`{kind:'own_action',actionId}`, `{kind:'natural',cause,…}`, `{kind:'automation',cause:'enode_schedule'|'smart_charging_plan'|'smart_override',controlId,actionId?}` or `{kind:'unexplained'}`" }),
  findingId: z.string().nullable(),
});

const at = isoTime.openapi({ description: "The entry's device time" });

export const TimelineEntrySchema = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('observation'),
      at,
      receivedAt: isoTime,
      source: z.string().openapi({ enum: ['webhook', 'poll', 'gateway'] }),
      event: z.string(),
      stale: z.boolean().openapi({ description: 'Older than the stored state: recorded, current state not moved' }),
      controlled: json,
      context: json,
      transitions: z.array(TransitionSchema).openapi({
        description: "The transitions judged at this device time. Listed once: on the first observation of that time; other observations of the same time list none",
      }),
    }),
    z.object({ type: z.literal('action'), at, action: ActionSchema }),
    z.object({
      type: z.literal('command'),
      at,
      command: z.object({
        id: z.string(),
        command: z.string(),
        body: json,
        outcome: z.string().openapi({ enum: ['sent', 'collapsed', 'refused', 'failed'] }),
        actionId: z.string().nullable(),
        override: z.boolean(),
        notes: json,
        error: z.string().nullable(),
      }),
    }),
    z.object({ type: z.literal('finding'), at, finding: FindingSchema }),
    z.object({
      type: z.literal('control'),
      at,
      control: json.openapi({
        description:
          "A status of an Enode schedule or of the vehicle's smart charging taking effect: `{ source: 'schedule' | 'smart_charging', id, subjectId, deviceId, userId, state, atMs, active, expected, upcoming, override }` (README \"Levels of control\")",
      }),
    }),
  ])
  .openapi('TimelineEntry');

export const TimelineSchema = z
  .object({
    deviceId: z.string(),
    data: z.array(TimelineEntrySchema),
    pagination: z.object({
      after: z.string().nullable().openapi({ description: 'Cursor of the next entries (pass it back as `after`); null on the last page' }),
    }),
  })
  .openapi('Timeline', { description: 'One page of a device history, oldest first (at most `limit` entries, 500 at most).' });

const alertDeliveryStatus = z.enum(['pending', 'delivered', 'dead']);

const AlertDeliveryStateSchema = z.object({
  sink: z.string().openapi({ example: 'webhook:https://ops.example/hooks' }),
  status: alertDeliveryStatus,
  attempts: z.number().int(),
  nextAttemptAt: isoTime.nullable().openapi({ description: 'Only while pending' }),
  lastStatus: z.number().int().nullable().openapi({ description: "The sink's last HTTP status" }),
  lastError: z.string().nullable(),
  updatedAt: isoTime.nullable(),
  deliveredAt: isoTime.nullable(),
});

export const AlertSchema = z
  .object({
    id: z.string(),
    type: z.string().openapi({ example: 'interference.detected' }),
    deviceId: z.string().nullable(),
    userId: z.string().nullable(),
    createdAt: isoTime.nullable(),
    data: json.openapi({ description: 'The alert payload, as the sinks receive it' }),
    note: z.string().optional().openapi({ description: 'Present when a stored field could not be shown (unreadable, or nested too deep); that field is then `{}` or `null`' }),
  })
  .openapi('Alert');

export const AlertListEntrySchema = AlertDeliveryStateSchema.extend({ alertId: z.string(), alert: AlertSchema }).openapi('AlertDelivery', {
  description: 'One alert delivered (or not yet) to one sink.',
});

export const AlertDetailSchema = AlertSchema.extend({
  fannedOutAt: isoTime.nullable(),
  deliveries: z.array(AlertDeliveryStateSchema),
}).openapi('AlertDetail');

export const AlertRetrySchema = AlertDetailSchema.extend({
  retried: z.array(z.string()).openapi({ description: 'The sinks whose dead delivery is pending again' }),
}).openapi('AlertRetry');

const NOTE_CODES = [
  'COLLAPSED',
  'SUPERSEDES',
  'DAILY_LIMIT_OVERRIDDEN',
  'DEVICE_UNREACHABLE',
  'CANCELLED_BY_ENODE',
  'VENDOR_MAY_STILL_EXECUTE',
  'CONTROL_FORCED',
  'NOT_CONTROLLED',
  'SMART_OVERRIDE_ENDED',
] as const;

const CommandNotesSchema = z.array(
  z.object({
    code: z.enum(NOTE_CODES).openapi({
      description:
        '`CONTROL_FORCED`: sent with `force=true` although a schedule or plan controls the device; `NOT_CONTROLLED`: a smart override although no active schedule or plan is known; `SMART_OVERRIDE_ENDED`: the smart override ended (`actionId`: the action that had started charging)',
    }),
    message: z.string(),
    actionId: z.string().optional(),
  }),
);

const CommandIdSchema = z.string().openapi({ description: 'The command log entry (shown in the device timeline)' });

const BudgetSchema = z
  .object({
    limit: z.number().int(),
    used: z.number().int().openapi({ description: 'Commands that reached the device through Enode for this client in the last 24 h: the sum of `bySource`' }),
    remaining: z.number().int(),
    bySource: z
      .object({
        gateway: z.number().int().openapi({ description: 'Commands sent through this gateway (smart overrides included)' }),
        schedule: z.number().int().openapi({ description: 'Actions another caller created while an Enode schedule of the device was active: the schedule’s' }),
        smartCharging: z.number().int().openapi({ description: 'Actions another caller created while a smart charging plan of the device was executing: the plan’s' }),
        other: z.number().int().openapi({ description: 'The other actions Enode reported that other callers of the same Enode client created (other services, smart overrides sent elsewhere)' }),
      })
      .openapi({ description: 'Who sent the commands `used` counts; each command is counted once' }),
  })
  .openapi('CommandBudget', { description: "The device's daily budget after this command" });

export const CommandResultSchema = z
  .object({
    action: ActionSchema,
    outcome: z.enum(['sent', 'collapsed']).openapi({ description: '`sent`: Enode was asked; `collapsed`: an identical PENDING action was returned, nothing sent' }),
    notes: CommandNotesSchema,
    commandId: CommandIdSchema,
    budget: BudgetSchema.optional().openapi({ description: "The device's daily budget after this command; absent for cancels" }),
  })
  .openapi('CommandResult');

export const SmartOverrideSchema = z
  .object({
    createdAt: isoTime,
    endedAt: isoTime.nullable().openapi({ description: 'null while the override lasts' }),
    targetType: z.string().openapi({ example: 'vehicle' }),
    targetId: z.string(),
    vendorActionId: z.string().nullable().openapi({ description: 'The action that starts charging; it arrives by webhook (or poll) like any action' }),
    userId: z.string(),
    vendor: z.string(),
  })
  .catchall(z.unknown())
  .openapi('SmartOverride', { description: "Enode's `SmartOverrideResponse`, as Enode answered it." });

export const SmartOverrideResultSchema = z
  .object({
    smartOverride: SmartOverrideSchema,
    outcome: z.enum(['sent']).openapi({ description: 'Enode was asked' }),
    notes: CommandNotesSchema,
    commandId: CommandIdSchema,
    budget: BudgetSchema.optional().openapi({ description: "The vehicle's daily budget after a smart override (it starts charging, so it counts); absent when ending one, which sends the vehicle nothing" }),
  })
  .openapi('SmartOverrideResult', { description: 'The answer of the smart override routes: the envelope of CommandResult with the override in place of the action.' });
