import { z } from 'zod';

/** An Enode vendor action as returned (REFERENCE §2.1); kept loose: the ingest funnel parses it. */
export type EnodeAction = Record<string, unknown>;

/**
 * Enode's answer to `POST|DELETE /vehicles/{id}/smart-override` as returned; kept loose like
 * actions: the gateway parses it (smartOverrideSchema) after counting the command.
 */
export type EnodeSmartOverride = Record<string, unknown>;

/**
 * `SmartOverrideResponse` (2024-10-01): the override, `endedAt` null while it lasts,
 * `vendorActionId` the action that starts charging. Loose: new fields pass through.
 */
export const smartOverrideSchema = z.looseObject({
  createdAt: z.string(),
  endedAt: z.string().nullable(),
  targetType: z.string(),
  targetId: z.string(),
  vendorActionId: z.string().nullable(),
  userId: z.string(),
  vendor: z.string(),
});
export type SmartOverride = z.infer<typeof smartOverrideSchema>;

/** A device object as returned; kept loose for the same reason (unknown fields and enum values). */
export type EnodeDevice = Record<string, unknown> & { id: string };

export { BATTERY_OPERATION_MODES, type BatteryOperationMode, type ChargeKind, type PermanentHold } from '../domain/commands.js';

/** Devices must at least carry an id; everything else is passed through untouched. */
export const deviceSchema = z.looseObject({ id: z.string().min(1) });

/** A page of a list endpoint (REFERENCE §4.5). */
export const pageSchema = z.looseObject({
  data: z.array(z.unknown()),
  pagination: z.looseObject({ after: z.string().nullable().optional(), before: z.string().nullable().optional() }),
});

/** `WebhookResponse` (REFERENCE §1.6); loose so that new fields do not break the watch job. */
export const webhookSchema = z.looseObject({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()).optional(),
  isActive: z.boolean(),
  lastSuccess: z.string().nullable().optional(),
  createdAt: z.string().optional(),
  apiVersion: z.string().nullable().optional(),
  authentication: z.looseObject({ headerName: z.string() }).nullable().optional(),
});
export type EnodeWebhook = z.infer<typeof webhookSchema>;

/** Result of `POST /webhooks/{id}/test`. */
export const webhookTestSchema = z.looseObject({
  status: z.string(),
  description: z.string().optional(),
  response: z.looseObject({ code: z.number().optional(), body: z.unknown().optional() }).nullable().optional(),
});
export type EnodeWebhookTestResult = z.infer<typeof webhookTestSchema>;

/** Body of `PATCH /webhooks/{id}`: every field optional; `authentication: null` disables it. */
export interface WebhookPatch {
  url?: string;
  secret?: string;
  events?: string[];
  apiVersion?: string | null;
  authentication?: { headerName: string; headerValue: string } | null;
}
