/**
 * Outbound subscriptions under /api/v1 (auth is applied by the caller): Standard Webhooks
 * endpoints that receive the event log. A subscription's secret is shown once, when it is made
 * (create, rotate-secret), and never again.
 *
 * Beside them, the env-configured alert sinks are listed as subscriptions defined by
 * configuration (`source: "config"`, subscriptions/config-defined.ts): readable, with their
 * attempts from the alert outbox, but changed only through the environment — PATCH, DELETE,
 * rotate-secret, replay and retry on them answer 409 CONFIG_DEFINED.
 */
import { randomBytes } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import { decodeEventCursor, encodeEventCursor } from '../events/cursor.js';
import { requireJsonBody } from '../http/json-body.js';
import type { Store } from '../store/port.js';
import type { ReadStore } from '../store/read.js';
import type { SinkDeliveryRecord, SubscriptionDeliveryRecord } from '../store/subscriptions-read.js';
import { privateUrlRefusal, type LookupFn } from '../subscriptions/address-policy.js';
import { CONFIG_ID_PREFIX, configSubscriptions, type ConfigSubscription } from '../subscriptions/config-defined.js';
import { ROTATION_OVERLAP_MS, typeFilterError, type SubscriptionRecord } from '../subscriptions/types.js';
import { apiRouter } from './openapi.js';
import { page, pageParams } from './pagination.js';
import { errorResponses, idParams, jsonResponse, listOf, pageQuery } from './schemas.js';

export interface SubscriptionRouteDeps {
  read: Pick<ReadStore, 'getSubscription' | 'listSubscriptions' | 'listSubscriptionDeliveries' | 'listSinkDeliveries' | 'eventsPrunedThrough' | 'oldestEventRecordedAtMs' | 'positionBeforeRecordedSince'>;
  store: Pick<Store, 'subscriptions'>;
  /** The alert sinks (listed as subscriptions defined by configuration), RETENTION_DAYS and SUBSCRIPTION_ALLOW_PRIVATE_URLS. */
  config: Pick<Config, 'alerts' | 'retention' | 'subscriptions'>;
  clock: Clock;
  /** Name resolution for the private-address check; dns.lookup by default. */
  lookup?: LookupFn | undefined;
}

/** A new `whsec_` secret: 32 random bytes, base64, as Standard Webhooks defines it. */
export function newSubscriptionSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** Events looked at per replay transaction. */
export const REPLAY_BATCH = 500;

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
    id: z.string().openapi({ description: '`sub_…` for a subscription made through the API; `config:webhook:<n>` or `config:slack` for one defined by configuration', example: 'sub_2YxVq0mZc1b7kQ9w' }),
    source: z.enum(['api', 'config']).openapi({
      description:
        '`api`: made through this API. `config`: an alert sink of the environment (ALERT_WEBHOOK_URLS, ALERT_SLACK_WEBHOOK_URL), sent from the alert outbox; ' +
        'change the environment and restart to change it (PATCH, DELETE, rotate-secret, replay and retry answer 409 CONFIG_DEFINED)',
    }),
    url: z.string().openapi({ description: 'Where events are POSTed; for `source: config`, the origin only (a path may carry a token)' }),
    types: z.array(z.string()),
    description: z.string().nullable(),
    paused: z.boolean(),
    createdAt: isoTime.nullable().openapi({ description: 'Null for `source: config`' }),
    updatedAt: isoTime.nullable().openapi({ description: 'Null for `source: config`' }),
    fannedOutThrough: z.string().nullable().openapi({ description: 'Cursor of the last event of the log looked at for this subscription; null for `source: config`' }),
    previousSecretValidUntil: isoTime.nullable().openapi({ description: 'After a rotation: until when the old secret still signs too' }),
  })
  .openapi('Subscription');

const SubscriptionWithSecretSchema = SubscriptionSchema.extend({
  secret: z.string().openapi({ description: 'The `whsec_…` signing secret: shown this once only', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
}).openapi('SubscriptionWithSecret');

export const SubscriptionDeliverySchema = z
  .object({
    eventId: z.string().openapi({ description: 'The event id, sent as `webhook-id` on every attempt; for `source: config`, the alert id (its `webhook-id`)' }),
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
    source: 'api' as 'api' | 'config',
    url: s.url,
    types: s.types,
    description: s.description,
    paused: s.paused,
    createdAt: iso(s.createdAtMs) as string | null,
    updatedAt: iso(s.updatedAtMs) as string | null,
    fannedOutThrough: encodeEventCursor(s.fannedOutThrough) as string | null,
    previousSecretValidUntil: s.previousSecretUntilMs === null ? null : iso(s.previousSecretUntilMs),
  };
}

function presentConfigSubscription(s: ConfigSubscription): ReturnType<typeof presentSubscription> {
  return { id: s.id, source: 'config', url: s.url, types: s.types, description: s.description, paused: false, createdAt: null, updatedAt: null, fannedOutThrough: null, previousSecretValidUntil: null };
}

const SINK_STATUS = { pending: 'pending', delivered: 'sent', dead: 'dead' } as const;

/** An alert outbox attempt as a delivery of a subscription defined by configuration. */
function presentSinkDelivery(d: SinkDeliveryRecord): ReturnType<typeof presentSubscriptionDelivery> {
  return {
    eventId: d.alertId,
    status: SINK_STATUS[d.status],
    attempts: d.attempts,
    nextAttemptAt: iso(d.nextAttemptAtMs),
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    createdAt: iso(d.createdAtMs),
    updatedAt: iso(d.updatedAtMs),
    sentAt: d.deliveredAtMs === null ? null : iso(d.deliveredAtMs),
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
  description: 'Those defined by configuration (the alert sinks, `source: config`, ids `config:…`) come first, then those made through the API.',
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
  responses: { 200: jsonResponse(SubscriptionSchema, 'The subscription'), ...errorResponses(400, 401, 404, 409, 415) },
});

const deleteSubscription = createRoute({
  method: 'delete',
  path: '/subscriptions/{id}',
  operationId: 'deleteSubscription',
  tags,
  summary: 'Delete a subscription; its pending deliveries are dropped',
  request: { params: subParams },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 401, 404, 409) },
});

const rotateSecret = createRoute({
  method: 'post',
  path: '/subscriptions/{id}/rotate-secret',
  operationId: 'rotateSubscriptionSecret',
  tags,
  summary: 'Replace the signing secret; the old one still signs for 24 h',
  description: 'During the overlap `webhook-signature` carries both signatures, space-separated: a receiver holding either secret verifies.',
  request: { params: subParams },
  responses: { 200: jsonResponse(SubscriptionWithSecretSchema, 'The subscription, with its new secret (shown this once)'), ...errorResponses(400, 401, 404, 409) },
});

const replay = createRoute({
  method: 'post',
  path: '/subscriptions/{id}/replay',
  operationId: 'replaySubscription',
  tags,
  summary: 'Send events again, from a cursor or a time',
  description:
    'Queues the matching events after the cursor `after` (an event id) or recorded since the ISO time `since` — one of them — as pending deliveries, due now, ' +
    'in batches of 500 events per transaction. A cursor or time reaching into what retention deleted answers 410 with `oldestCursor` (replay from there): never a silent partial replay.',
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
  responses: { 200: jsonResponse(z.object({ queued: z.number().int() }).openapi('ReplayQueued'), 'How many deliveries were queued'), ...errorResponses(400, 401, 404, 409, 410, 415) },
});

const listDeliveries = createRoute({
  method: 'get',
  path: '/subscriptions/{id}/deliveries',
  operationId: 'listSubscriptionDeliveries',
  tags,
  summary: 'A subscription’s deliveries, newest event first',
  description: 'For a subscription defined by configuration: its attempts in the alert outbox, most recently updated first (also listed by GET /api/v1/alerts).',
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

const DAY_MS = 86_400_000;

/** The 409 for a change to a subscription defined by configuration. */
function configDefined(c: Context, id: string, hint = 'change the environment and restart') {
  const requestId = (c.get('requestId' as never) as string | undefined) ?? 'unknown';
  const message = `Subscription ${id} is defined by configuration (ALERT_WEBHOOK_URLS / ALERT_SLACK_WEBHOOK_URL): ${hint}`;
  return c.json({ error: { code: 'CONFIG_DEFINED', message, requestId } }, 409);
}

/** The subscription routes. */
export function subscriptionRoutes(deps: SubscriptionRouteDeps) {
  const app = apiRouter();
  const { read, store, config, clock } = deps;
  const nowMs = () => clock.now().getTime();
  const fromConfig = configSubscriptions(config.alerts);
  const isConfig = (id: string) => id.startsWith(CONFIG_ID_PREFIX);
  const noSubscription = (id: string) => new AppError('NOT_FOUND', `No subscription ${id}`);
  /** What a read or a store call answered for the subscription `id`; a 404 when it knows no such id. */
  const known = <T>(id: string, value: T | undefined): T => {
    if (value === undefined) throw noSubscription(id);
    return value;
  };
  const configured = (id: string) => known(id, fromConfig.find((s) => s.id === id));
  const found = async (id: string) => known(id, await read.getSubscription(id));
  /** SUBSCRIPTION_ALLOW_PRIVATE_URLS=false: a URL at a private address is a 400 that says why. */
  const checkUrl = async (url: string | undefined) => {
    if (url === undefined || config.subscriptions.allowPrivateUrls) return;
    const refusal = await privateUrlRefusal(url, deps.lookup);
    if (refusal) throw new AppError('BAD_REQUEST', `url: ${refusal}`, { field: 'url' });
  };

  app.openapi(createSubscription, async (c) => {
    const body = c.req.valid('json');
    await checkUrl(body.url);
    const secret = newSubscriptionSecret();
    const s = await store.subscriptions.create({ id: newSubscriptionId(), url: body.url, types: body.types, description: body.description ?? null, secret, nowMs: nowMs() });
    return c.json({ ...presentSubscription(s), secret }, 201);
  });

  app.openapi(listSubscriptions, async (c) => {
    const { limit, after } = pageParams(c.req.valid('query'));
    const last = after?.[0];
    if (after && typeof last !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
    // One list by id: `config:…` sorts before `sub_…`, so the configured ones come first.
    const fromApi = (await read.listSubscriptions({ after: last as string | undefined, limit })).map(presentSubscription);
    const rows = [...fromConfig.filter((s) => last === undefined || s.id > last).map(presentConfigSubscription), ...fromApi].slice(0, limit + 1);
    return c.json(page(rows, limit, (s) => [s.id], (s) => s), 200);
  });

  app.openapi(getSubscription, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(isConfig(id) ? presentConfigSubscription(configured(id)) : presentSubscription(await found(id)), 200);
  });

  app.openapi(updateSubscription, async (c) => {
    const { id } = c.req.valid('param');
    if (isConfig(id)) return configDefined(c, configured(id).id);
    const body = c.req.valid('json');
    await checkUrl(body.url);
    const s = known(id, await store.subscriptions.update({ id, url: body.url, types: body.types, description: body.description, paused: body.paused, nowMs: nowMs() }));
    return c.json(presentSubscription(s), 200);
  });

  app.openapi(deleteSubscription, async (c) => {
    const { id } = c.req.valid('param');
    if (isConfig(id)) return configDefined(c, configured(id).id);
    if (!(await store.subscriptions.remove({ id }))) throw noSubscription(id);
    return c.body(null, 204);
  });

  app.openapi(rotateSecret, async (c) => {
    const { id } = c.req.valid('param');
    if (isConfig(id)) return configDefined(c, configured(id).id, 'its secret is ALERT_WEBHOOK_SECRET; change the environment and restart');
    const secret = newSubscriptionSecret();
    const s = known(id, await store.subscriptions.rotate({ id, secret, overlapMs: ROTATION_OVERLAP_MS, nowMs: nowMs() }));
    return c.json({ ...presentSubscription(s), secret }, 200);
  });

  app.openapi(replay, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    // The alert outbox keeps no cursor into the event log: an alert is sent again by retrying it.
    if (isConfig(id)) return configDefined(c, configured(id).id, 'it has no replay; send a dead alert again with POST /api/v1/alerts/{alertId}/retry');
    if ((body.after === undefined) === (body.since === undefined)) throw new AppError('BAD_REQUEST', 'Pass exactly one of "after" (an event id) or "since" (an ISO time)');
    let after: number | undefined;
    if (body.after !== undefined) {
      after = decodeEventCursor(body.after);
      if (after === undefined) throw new AppError('BAD_REQUEST', 'Invalid "after": pass an event id (e.g. from GET /api/v1/events) unchanged', { field: 'after' });
    }
    const sinceMs = body.since === undefined ? undefined : Date.parse(body.since);
    await found(id);
    // Never a silent partial replay: a range reaching into what retention deleted is a 410. For a
    // time: retention deletes only events recorded before now - RETENTION_DAYS, so a later time is
    // whole; an earlier one is whole only when nothing kept is younger than it (the oldest kept was recorded before it).
    const prunedThrough = await read.eventsPrunedThrough();
    const expired =
      after !== undefined
        ? after < prunedThrough
        : prunedThrough > 0 &&
          sinceMs! < nowMs() - config.retention.days * DAY_MS &&
          sinceMs! < ((await read.oldestEventRecordedAtMs()) ?? Number.POSITIVE_INFINITY);
    if (expired) {
      const requestId = (c.get('requestId' as never) as string | undefined) ?? 'unknown';
      const message = `Events ${after !== undefined ? 'after this cursor' : 'since this time'} were deleted by retention (RETENTION_DAYS); replay from oldestCursor`;
      return c.json({ error: { code: 'CURSOR_EXPIRED', message, requestId, oldestCursor: encodeEventCursor(prunedThrough) } }, 410);
    }
    // Batches of REPLAY_BATCH events, each its own short transaction (on SQLite the single writer
    // is free between them), from the cursor or from the first event recorded since the time
    // (found in one read; the batches still filter by the time, as positions follow commits, not
    // receipt times). Nothing recorded since it: nothing to replay.
    let from: number;
    if (after !== undefined) from = after;
    else {
      const start = await read.positionBeforeRecordedSince(sinceMs!);
      if (start === undefined) return c.json({ queued: 0 }, 200);
      from = Math.max(start, prunedThrough);
    }
    let queued = 0;
    for (;;) {
      const batch = known(id, await store.subscriptions.replay({ id, after: from, sinceMs, limit: REPLAY_BATCH, nowMs: nowMs() }));
      queued += batch.queued;
      if (batch.through === null) break;
      from = batch.through;
    }
    return c.json({ queued }, 200);
  });

  app.openapi(listDeliveries, async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const { limit, after } = pageParams(q);
    if (isConfig(id)) {
      const sink = configured(id).sink;
      const [ms, alertId] = after ?? [];
      if (after && (typeof ms !== 'number' || typeof alertId !== 'string')) throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
      const status = q.status === 'sent' ? 'delivered' : q.status;
      const rows = await read.listSinkDeliveries({ sink, status, after: after ? [ms as number, alertId as string] : undefined, limit });
      return c.json(page(rows, limit, (d) => [d.updatedAtMs, d.alertId], presentSinkDelivery), 200);
    }
    const before = after?.[0];
    if (after && typeof before !== 'number') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
    await found(id);
    const rows = await read.listSubscriptionDeliveries({ subscriptionId: id, status: q.status, before: before as number | undefined, limit });
    return c.json(page(rows, limit, (d) => [d.position], presentSubscriptionDelivery), 200);
  });

  app.openapi(retryDelivery, async (c) => {
    const { id, eventId } = c.req.valid('param');
    if (isConfig(id)) return configDefined(c, configured(id).id, `retry its dead alert with POST /api/v1/alerts/${eventId}/retry`);
    const position = decodeEventCursor(eventId);
    // An id that is no event id names no delivery either.
    const outcome = position === undefined ? 'not_found' : await store.subscriptions.retry({ id, position, nowMs: nowMs() });
    if (outcome === 'not_found') throw new AppError('NOT_FOUND', `No delivery of event ${eventId} to subscription ${id}`);
    if (outcome === 'not_dead') throw new AppError('CONFLICT', `The delivery of event ${eventId} is not dead: only dead deliveries are retried by hand`);
    return c.json({ eventId, status: 'pending' as const }, 200);
  });

  return app;
}
