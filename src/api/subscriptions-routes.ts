/**
 * Outbound subscriptions under /api/v1 (auth is applied by the caller): Standard Webhooks
 * endpoints that receive the event log. A subscription's secret is shown once, when it is made
 * (create, rotate-secret), and never again.
 */
import { randomBytes } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import { decodeEventCursor, encodeEventCursor } from '../events/cursor.js';
import type { Store } from '../store/port.js';
import type { ReadStore } from '../store/read.js';
import type { SubscriptionDeliveryRecord } from '../store/subscriptions-read.js';
import { ROTATION_OVERLAP_MS, typeFilterError, type SubscriptionRecord } from '../subscriptions/types.js';
import { apiRouter } from './openapi.js';
import { page, pageParams } from './pagination.js';
import { errorResponses, idParams, jsonResponse, listOf, pageQuery } from './schemas.js';

export interface SubscriptionRouteDeps {
  read: Pick<ReadStore, 'getSubscription' | 'listSubscriptions' | 'listSubscriptionDeliveries' | 'eventsPrunedThrough'>;
  store: Pick<Store, 'subscriptions'>;
  /** Default: the store's clock (the daemon's). */
  clock?: Clock | undefined;
}

/** A new `whsec_` secret: 32 random bytes, base64, as Standard Webhooks defines it. */
export function newSubscriptionSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

const newSubscriptionId = () => `sub_${randomBytes(12).toString('base64url')}`;

const isoTime = z.string().openapi({ format: 'date-time' });

// http and https only, as for the alert sinks (config.ts ALERT_WEBHOOK_URLS).
const urlField = z
  .url({ protocol: /^https?$/, error: 'an absolute http:// or https:// URL' })
  .max(2000, 'at most 2000 characters')
  // Credentials in a URL would be echoed by fetch's error into logs and lastError; control
  // characters (NUL among them) cannot be stored on Postgres. Both are a clear 400.
  .refine((u) => !/[\u0000-\u001f\u007f]/.test(u), 'no control characters')
  .refine((u) => {
    try {
      const parsed = new URL(u);
      return parsed.username === '' && parsed.password === '';
    } catch {
      return true;
    }
  }, 'no user name or password in the URL: put a token in its path or query instead')
  .openapi({ description: 'Where events are POSTed (http or https)', example: 'https://billing.example.com/hooks/enode' });

const typesField = z
  .array(z.string().max(100))
  .max(50)
  .superRefine((types, ctx) => {
    for (const t of types) {
      const error = typeFilterError(t);
      if (error) ctx.addIssue({ code: 'custom', message: error });
    }
  })
  .openapi({ description: 'Event types and prefixes (`device.*`); empty: every type', example: ['device.*', 'action.updated'] });

// Shown in the API and dashboard: plain text, no control characters.
const descriptionField = z
  .string()
  .max(500)
  .regex(/^[^\p{Cc}]*$/u, 'no control characters')
  .openapi({ description: 'A note for people', example: 'Billing' });

export const SubscriptionSchema = z
  .object({
    id: z.string().openapi({ example: 'sub_2YxVq0mZc1b7kQ9w' }),
    url: z.string(),
    types: z.array(z.string()),
    description: z.string().nullable(),
    paused: z.boolean(),
    createdAt: isoTime,
    updatedAt: isoTime,
    fannedOutThrough: z.string().openapi({ description: 'Cursor of the last event of the log looked at for this subscription' }),
    previousSecretValidUntil: isoTime.nullable().openapi({ description: 'After a rotation: until when the old secret still signs too' }),
  })
  .openapi('Subscription');

const SubscriptionWithSecretSchema = SubscriptionSchema.extend({
  secret: z.string().openapi({ description: 'The `whsec_…` signing secret: shown this once only', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
}).openapi('SubscriptionWithSecret');

export const SubscriptionDeliverySchema = z
  .object({
    eventId: z.string().openapi({ description: 'The event id, sent as `webhook-id` on every attempt' }),
    status: z.enum(['pending', 'sent', 'dead']),
    attempts: z.number().int(),
    nextAttemptAt: isoTime,
    lastStatus: z.number().int().nullable().openapi({ description: 'HTTP status of the last attempt (null: no answer)' }),
    lastError: z.string().nullable(),
    createdAt: isoTime,
    updatedAt: isoTime,
    sentAt: isoTime.nullable(),
  })
  .openapi('SubscriptionDelivery');

const iso = (ms: number) => new Date(ms).toISOString();

function presentSubscription(s: SubscriptionRecord) {
  return {
    id: s.id,
    url: s.url,
    types: s.types,
    description: s.description,
    paused: s.paused,
    createdAt: iso(s.createdAtMs),
    updatedAt: iso(s.updatedAtMs),
    fannedOutThrough: encodeEventCursor(s.fannedOutThrough),
    previousSecretValidUntil: s.previousSecretUntilMs === null ? null : iso(s.previousSecretUntilMs),
  };
}

function presentSubscriptionDelivery(d: SubscriptionDeliveryRecord) {
  return {
    eventId: d.eventId,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: iso(d.nextAttemptAtMs),
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    createdAt: iso(d.createdAtMs),
    updatedAt: iso(d.updatedAtMs),
    sentAt: d.sentAtMs === null ? null : iso(d.sentAtMs),
  };
}

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json\s*(;|$)/i;

/** A missing body, a non-JSON content type and malformed JSON each get their own clear 4xx. */
const requireJsonBody: MiddlewareHandler = async (c, next) => {
  const text = await c.req.text();
  if (text.trim() === '') throw new AppError('BAD_REQUEST', 'A JSON request body is required');
  if (!JSON_MEDIA_TYPE.test(c.req.header('content-type') ?? '')) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as JSON, with Content-Type: application/json');
  try {
    JSON.parse(text);
  } catch {
    throw new AppError('BAD_REQUEST', 'The request body is not valid JSON');
  }
  await next();
};

const jsonBody = <T extends z.ZodType>(schema: T) => ({ required: true, content: { 'application/json': { schema } } });
const tags = ['subscriptions'];
const subParams = idParams('subscription', 'The subscription id');

const createSubscription = createRoute({
  method: 'post',
  path: '/subscriptions',
  operationId: 'createSubscription',
  tags,
  summary: 'Subscribe a URL to the event log (Standard Webhooks)',
  description:
    'Events written from now on that match `types` are POSTed to `url`, signed with the returned `whsec_` secret (shown this once). ' +
    'A new subscription starts at the end of the log; use replay for older events.',
  middleware: [requireJsonBody],
  request: { body: jsonBody(z.object({ url: urlField, types: typesField.default([]), description: descriptionField.optional() }).strict()) },
  responses: { 201: jsonResponse(SubscriptionWithSecretSchema, 'The subscription, with its secret'), ...errorResponses(400, 401, 415) },
});

const listSubscriptions = createRoute({
  method: 'get',
  path: '/subscriptions',
  operationId: 'listSubscriptions',
  tags,
  summary: 'Subscriptions by id (never their secrets)',
  request: { query: z.object(pageQuery) },
  responses: { 200: jsonResponse(listOf(SubscriptionSchema, 'SubscriptionList'), 'A page of subscriptions'), ...errorResponses(400, 401) },
});

const getSubscription = createRoute({
  method: 'get',
  path: '/subscriptions/{id}',
  operationId: 'getSubscription',
  tags,
  summary: 'One subscription (never its secret)',
  request: { params: subParams },
  responses: { 200: jsonResponse(SubscriptionSchema, 'The subscription'), ...errorResponses(400, 401, 404) },
});

const updateSubscription = createRoute({
  method: 'patch',
  path: '/subscriptions/{id}',
  operationId: 'updateSubscription',
  tags,
  summary: 'Change a subscription’s URL, types, description, or pause it',
  description: 'While paused nothing is sent; its deliveries wait and go out once it is resumed.',
  middleware: [requireJsonBody],
  request: {
    params: subParams,
    body: jsonBody(z.object({ url: urlField.optional(), types: typesField.optional(), description: descriptionField.nullable().optional(), paused: z.boolean().optional() }).strict()),
  },
  responses: { 200: jsonResponse(SubscriptionSchema, 'The subscription'), ...errorResponses(400, 401, 404, 415) },
});

const deleteSubscription = createRoute({
  method: 'delete',
  path: '/subscriptions/{id}',
  operationId: 'deleteSubscription',
  tags,
  summary: 'Delete a subscription; its pending deliveries are dropped',
  request: { params: subParams },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 401, 404) },
});

const rotateSecret = createRoute({
  method: 'post',
  path: '/subscriptions/{id}/rotate-secret',
  operationId: 'rotateSubscriptionSecret',
  tags,
  summary: 'Replace the signing secret; the old one still signs for 24 h',
  description: 'During the overlap `webhook-signature` carries both signatures, space-separated: a receiver holding either secret verifies.',
  request: { params: subParams },
  responses: { 200: jsonResponse(SubscriptionWithSecretSchema, 'The subscription, with its new secret (shown this once)'), ...errorResponses(400, 401, 404) },
});

const replay = createRoute({
  method: 'post',
  path: '/subscriptions/{id}/replay',
  operationId: 'replaySubscription',
  tags,
  summary: 'Send events again, from a cursor or a time',
  description:
    'Queues the matching events after the cursor `after` (an event id) or recorded since the ISO time `since` — one of them — as pending deliveries, due now. ' +
    'A cursor older than what retention keeps answers 410 with `oldestCursor`.',
  middleware: [requireJsonBody],
  request: {
    params: subParams,
    body: jsonBody(
      z
        .object({
          after: z.string().max(100).optional().openapi({ description: 'An event id: events after it', example: 'ev1_0000000002s' }),
          since: z.iso.datetime({ offset: true }).optional().openapi({ description: 'An ISO time: events recorded since then' }),
        })
        .strict(),
    ),
  },
  responses: { 200: jsonResponse(z.object({ queued: z.number().int() }).openapi('ReplayQueued'), 'How many deliveries were queued'), ...errorResponses(400, 401, 404, 410, 415) },
});

const listDeliveries = createRoute({
  method: 'get',
  path: '/subscriptions/{id}/deliveries',
  operationId: 'listSubscriptionDeliveries',
  tags,
  summary: 'A subscription’s deliveries, newest event first',
  request: { params: subParams, query: z.object({ status: z.enum(['pending', 'sent', 'dead']).optional(), ...pageQuery }) },
  responses: { 200: jsonResponse(listOf(SubscriptionDeliverySchema, 'SubscriptionDeliveryList'), 'A page of deliveries'), ...errorResponses(400, 401, 404) },
});

const retryDelivery = createRoute({
  method: 'post',
  path: '/subscriptions/{id}/deliveries/{eventId}/retry',
  operationId: 'retrySubscriptionDelivery',
  tags,
  summary: 'Send a dead delivery again, with the full retry schedule',
  request: {
    params: subParams.extend({ eventId: z.string().min(1).max(100).openapi({ param: { name: 'eventId', in: 'path' }, description: 'The event id' }) }),
  },
  responses: { 200: jsonResponse(z.object({ eventId: z.string(), status: z.literal('pending') }).openapi('SubscriptionRetry'), 'Pending, due now'), ...errorResponses(400, 401, 404, 409) },
});

/** The subscription routes. */
export function subscriptionRoutes(deps: SubscriptionRouteDeps) {
  const app = apiRouter();
  const { read, store } = deps;
  // Undefined: the store stamps its own clock's time.
  const nowMs = () => (deps.clock === undefined ? undefined : deps.clock.now().getTime());
  const noSubscription = (id: string) => new AppError('NOT_FOUND', `No subscription ${id}`);
  /** What a read or a store call answered for the subscription `id`; a 404 when it knows no such id. */
  const known = <T>(id: string, value: T | undefined): T => {
    if (value === undefined) throw noSubscription(id);
    return value;
  };
  const found = async (id: string) => known(id, await read.getSubscription(id));

  app.openapi(createSubscription, async (c) => {
    const body = c.req.valid('json');
    const secret = newSubscriptionSecret();
    const s = await store.subscriptions.create({ id: newSubscriptionId(), url: body.url, types: body.types, description: body.description ?? null, secret, nowMs: nowMs() });
    return c.json({ ...presentSubscription(s), secret }, 201);
  });

  app.openapi(listSubscriptions, async (c) => {
    const { limit, after } = pageParams(c.req.valid('query'));
    const last = after?.[0];
    if (after && typeof last !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
    const rows = await read.listSubscriptions({ after: last as string | undefined, limit });
    return c.json(page(rows, limit, (s) => [s.id], presentSubscription), 200);
  });

  app.openapi(getSubscription, async (c) => c.json(presentSubscription(await found(c.req.valid('param').id)), 200));

  app.openapi(updateSubscription, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const s = known(id, await store.subscriptions.update({ id, url: body.url, types: body.types, description: body.description, paused: body.paused, nowMs: nowMs() }));
    return c.json(presentSubscription(s), 200);
  });

  app.openapi(deleteSubscription, async (c) => {
    const { id } = c.req.valid('param');
    if (!(await store.subscriptions.remove({ id }))) throw noSubscription(id);
    return c.body(null, 204);
  });

  app.openapi(rotateSecret, async (c) => {
    const { id } = c.req.valid('param');
    const secret = newSubscriptionSecret();
    const s = known(id, await store.subscriptions.rotate({ id, secret, overlapMs: ROTATION_OVERLAP_MS, nowMs: nowMs() }));
    return c.json({ ...presentSubscription(s), secret }, 200);
  });

  app.openapi(replay, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    if ((body.after === undefined) === (body.since === undefined)) throw new AppError('BAD_REQUEST', 'Pass exactly one of "after" (an event id) or "since" (an ISO time)');
    let after: number | undefined;
    if (body.after !== undefined) {
      after = decodeEventCursor(body.after);
      if (after === undefined) throw new AppError('BAD_REQUEST', 'Invalid "after": pass an event id (e.g. from GET /api/v1/events) unchanged', { field: 'after' });
      const prunedThrough = await read.eventsPrunedThrough();
      if (after < prunedThrough) {
        const requestId = (c.get('requestId' as never) as string | undefined) ?? 'unknown';
        const message = 'Events after this cursor were deleted by retention (RETENTION_DAYS); replay from oldestCursor';
        return c.json({ error: { code: 'CURSOR_EXPIRED', message, requestId, oldestCursor: encodeEventCursor(prunedThrough) } }, 410);
      }
    }
    const sinceMs = body.since === undefined ? undefined : Date.parse(body.since);
    const outcome = known(id, await store.subscriptions.replay({ id, after, sinceMs, nowMs: nowMs() }));
    return c.json({ queued: outcome.queued }, 200);
  });

  app.openapi(listDeliveries, async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const { limit, after } = pageParams(q);
    const before = after?.[0];
    if (after && typeof before !== 'number') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
    await found(id);
    const rows = await read.listSubscriptionDeliveries({ subscriptionId: id, status: q.status, before: before as number | undefined, limit });
    return c.json(page(rows, limit, (d) => [d.position], presentSubscriptionDelivery), 200);
  });

  app.openapi(retryDelivery, async (c) => {
    const { id, eventId } = c.req.valid('param');
    const position = decodeEventCursor(eventId);
    // An id that is no event id names no delivery either.
    const outcome = position === undefined ? 'not_found' : await store.subscriptions.retry({ id, position, nowMs: nowMs() });
    if (outcome === 'not_found') throw new AppError('NOT_FOUND', `No delivery of event ${eventId} to subscription ${id}`);
    if (outcome === 'not_dead') throw new AppError('CONFLICT', `The delivery of event ${eventId} is not dead: only dead deliveries are retried by hand`);
    return c.json({ eventId, status: 'pending' as const }, 200);
  });

  return app;
}
