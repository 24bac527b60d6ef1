import { z } from 'zod';

/**
 * Zod schemas of Enode webhook events, lenient on purpose: unknown fields pass through, enum-like
 * fields are plain strings (Enode adds enum values without a new API version), and only what the
 * projections rely on is required.
 */
const isoString = z.string().min(1);

export const eventEnvelope = z.looseObject({
  event: z.string().min(1),
  createdAt: z.string().optional(),
  version: z.string().optional(),
  user: z.looseObject({ id: z.string().min(1) }).optional(),
});
export type EventEnvelope = z.infer<typeof eventEnvelope>;

export const vendorActionSchema = z.looseObject({
  id: z.string().min(1),
  userId: z.string().min(1),
  targetId: z.string().min(1),
  targetType: z.string().min(1),
  state: z.string().min(1),
  createdAt: isoString,
  updatedAt: isoString,
  completedAt: z.string().nullish(),
  kind: z.string().nullish(),
  target: z.record(z.string(), z.unknown()).nullish(),
  targetState: z.record(z.string(), z.unknown()).nullish(),
  failureReason: z.looseObject({ type: z.string(), detail: z.string().optional() }).nullish(),
});

export const deviceSnapshotSchema = z.looseObject({
  id: z.string().min(1),
  userId: z.string().min(1).optional(),
  vendor: z.string().nullish(),
  lastSeen: z.string().nullish(),
  isReachable: z.boolean().nullish(),
});
export type DeviceSnapshot = z.infer<typeof deviceSnapshotSchema>;

export const heartbeatEvent = eventEnvelope.extend({
  // A count of events: a whole number that fits the column on every engine. Anything else fails
  // the delivery on both engines alike (Postgres would refuse 1.5 in an integer column).
  pendingEvents: z.number().int().nonnegative().max(2_147_483_647).optional(),
});

export const credentialsInvalidatedEvent = eventEnvelope.extend({
  vendor: z.string().optional(),
});

/** `user:<device>:<verb>` → device type and verb, or undefined for other events. */
export function parseDeviceEventName(
  event: string,
): { type: string; verb: 'discovered' | 'updated' | 'deleted' } | undefined {
  const m = /^user:(vehicle|charger|hvac|battery|inverter|meter):(discovered|updated|deleted)$/.exec(event);
  if (!m) return undefined;
  return { type: m[1] as string, verb: m[2] as 'discovered' | 'updated' | 'deleted' };
}

/** Turns a zod error into one readable line naming the failing paths. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/**
 * Event names Enode documents (API 2024-10-01, ../shared/enode/REFERENCE.md §1.4). Only these
 * become `event` label values (and keys of the writer's counters): the name comes from a payload, and a label set grown by whoever
 * can get an event signed or applied would grow Prometheus without bound.
 */
const KNOWN_EVENTS: ReadonlySet<string> = new Set([
  ...['vehicle', 'charger', 'hvac', 'battery', 'inverter', 'meter', 'hem-system'].flatMap((d) => ['discovered', 'updated', 'deleted'].map((v) => `user:${d}:${v}`)),
  'user:vehicle:smart-charging-status-updated',
  'user:inverter:statistics-updated',
  'user:vendor-action:updated',
  'user:charge-action:updated',
  'user:schedule:execution-updated',
  'user:credentials:invalidated',
  'system:heartbeat',
  'enode:webhook:test',
]);

/** The `event` label for an event name: a documented Enode event keeps its name, anything else is `other`. */
export function eventLabel(name: string): string {
  return KNOWN_EVENTS.has(name) ? name : 'other';
}
