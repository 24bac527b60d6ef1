/**
 * The admin API's OpenAPI side: the validation hook every route module shares, the description of
 * the plain (non-admin) routes, the document itself and the routes that serve it.
 *
 * The route modules declare their routes with `createRoute` and zod schemas (src/api/schemas.ts);
 * `@hono/zod-openapi` validates requests with those schemas and generates the document from them.
 */
import { readFileSync } from 'node:fs';
import { createRoute, OpenAPIHono, z, type Hook } from '@hono/zod-openapi';
import type { Env } from 'hono';
import type { ZodError } from 'zod';
import { AppError } from '../errors.js';
import { EVENT_SCHEMAS } from '../events/schemas.js';
import { EVENT_TYPES } from '../events/types.js';
import { renderReference } from './openapi-reference.js';
import { errorResponses, ErrorSchema, jsonResponse } from './schemas.js';

type Issue = ZodError['issues'][number];
type OpenAPIRegistry = OpenAPIHono['openAPIRegistry'];

/** The 400 of a request that failed its route's schema, worded as the routes worded it before. */
export function validationError(target: string, issues: readonly Issue[]): AppError {
  const issue = issues[0];
  if (!issue) return new AppError('BAD_REQUEST', `Invalid request ${target}`);
  switch (target) {
    case 'param':
      // Path schemas carry their whole message (see idParams).
      return new AppError('BAD_REQUEST', issue.message);
    case 'query': {
      const name = String(issue.path[0] ?? '');
      return new AppError('BAD_REQUEST', `Invalid query parameter "${name}": ${issue.message}`, { field: name });
    }
    case 'json': {
      // Command bodies are Enode's, which refuses unknown fields: name the first one.
      const unknownKeys = issue.code === 'unrecognized_keys' ? issue.keys : [];
      const field = unknownKeys[0] ?? issue.path.map(String).join('.');
      if (field === '') return new AppError('BAD_REQUEST', `Invalid request body: ${issue.message}`, { field: null });
      const message = unknownKeys.length > 0 ? 'unknown field (Enode accepts no other)' : issue.message;
      return new AppError('BAD_REQUEST', `Invalid body field "${field}": ${message}`, { field });
    }
    default:
      return new AppError('BAD_REQUEST', `Invalid request ${target}: ${issue.message}`);
  }
}

/**
 * The `defaultHook` of every admin route module: a request failing its schema throws the 400
 * `AppError`, so the app's one error handler renders `{ error: { code, message, requestId } }`.
 */
export const validationHook: Hook<unknown, Env, string, void> = (result) => {
  if (!result.success) throw validationError(result.target, result.error.issues);
};

/** A route module of the admin API: validation through `validationHook`. */
export function apiRouter() {
  return new OpenAPIHono({ defaultHook: validationHook });
}

let packageVersion: string | undefined;

/** `version` of package.json (src/api and dist/api both sit two levels below it). */
function readPackageVersion(): string {
  if (packageVersion === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    packageVersion = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  }
  return packageVersion;
}

const text = (description: string, example: string) => ({ description, content: { 'text/plain': { schema: z.string().openapi({ example }) } } });

/**
 * Adds to the document what the route modules do not declare: the `bearerAuth` scheme (applied to
 * every operation unless it says otherwise) and the routes outside the admin API (webhook
 * receiver, health, metrics), which stay plain Hono routes and take no bearer token.
 */
export function describeApp(registry: OpenAPIRegistry): void {
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'The `ADMIN_TOKEN` of the daemon',
  });
  const status = (value: string) => z.object({ status: z.literal(value) });
  registry.registerPath({
    method: 'post',
    path: '/webhooks/enode',
    operationId: 'receiveEnodeWebhook',
    tags: ['webhooks'],
    summary: 'Receive an Enode webhook delivery',
    description:
      'Verifies `x-enode-signature` (HMAC-SHA1 of the raw body with `ENODE_WEBHOOK_SECRET`), stores the raw delivery durably, then answers; ' +
      'applying its events follows. A duplicate (same `x-enode-delivery`, or same body hash without one) is acknowledged and not applied again.',
    security: [],
    request: {
      headers: z.object({
        'x-enode-signature': z.string().openapi({ description: '`sha1=<hex HMAC of the raw body>`' }),
        'x-enode-delivery': z.string().optional().openapi({ description: 'Delivery id; one is derived from the body hash when absent' }),
      }),
      body: {
        required: true,
        description: 'A JSON array of Enode events (`user:vehicle:updated`, `user:vendor-action:updated`, …)',
        content: { 'application/json': { schema: z.array(z.record(z.string(), z.unknown())) } },
      },
    },
    responses: {
      200: jsonResponse(
        z.object({
          deliveryId: z.string(),
          status: z.enum(['pending', 'applied', 'failed', 'quarantined']),
          duplicate: z.boolean(),
        }),
        'Stored (or a duplicate of a stored delivery)',
      ),
      400: { description: 'Correctly signed but not a JSON array of events: kept as `quarantined`', content: { 'application/json': { schema: ErrorSchema } } },
      401: { description: 'Missing or wrong `x-enode-signature`; nothing of the request is stored', content: { 'application/json': { schema: ErrorSchema } } },
      ...errorResponses(413),
      503: { description: 'Could not be stored: Enode retries later', content: { 'application/json': { schema: ErrorSchema } } },
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    tags: ['operations'],
    summary: 'The process is up',
    security: [],
    responses: { 200: jsonResponse(status('ok'), 'Up') },
  });
  registry.registerPath({
    method: 'get',
    path: '/readyz',
    operationId: 'ready',
    tags: ['operations'],
    summary: 'Ready: database writable and every migration applied',
    security: [],
    responses: {
      200: jsonResponse(status('ready'), 'Ready'),
      503: { description: 'Not ready; the message says why', content: { 'application/json': { schema: ErrorSchema.extend({ status: z.literal('unavailable') }) } } },
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tags: ['operations'],
    summary: 'Prometheus metrics',
    description: 'Prometheus text exposition format. No secrets in it, but keep it on the private network.',
    security: [],
    responses: { 200: text('Metrics', 'enode_sync_deliveries_total{result="accepted"} 12') },
  });
  describeEventWebhooks(registry);
}

const standardWebhooksHeaders = z.object({
  'webhook-id': z.string().openapi({ description: 'The event id (its cursor): the same on every retry and replay; de-duplicate on it', example: 'ev1_0000000002s' }),
  'webhook-timestamp': z.string().openapi({ description: 'Unix seconds of this attempt; refuse ones too far from your clock (replay protection)', example: '1767225600' }),
  'webhook-signature': z.string().openapi({
    description:
      'Space-separated `v1,<base64 HMAC-SHA256>` signatures of `<webhook-id>.<webhook-timestamp>.<body>` under the subscription secret (`whsec_…`); ' +
      'two while a rotated secret overlaps. Verify with any Standard Webhooks library',
  }),
});

/**
 * The `webhooks` section: one entry per event type, as a subscription (`POST /api/v1/subscriptions`)
 * receives it — a POST of the event's envelope (the schema `GET /events` and the stream use), signed
 * with the Standard Webhooks headers.
 */
export function describeEventWebhooks(registry: OpenAPIRegistry): void {
  for (const type of EVENT_TYPES) {
    registry.registerWebhook({
      method: 'post',
      path: type,
      operationId: `event_${type.replace(/\./g, '_')}`,
      tags: ['event webhooks'],
      summary: `${type} sent to a subscription`,
      description:
        'Sent to every subscription whose `types` match, at least once, in log order per subscription attempt; a retry carries the same `webhook-id`. ' +
        'Answer 2xx to acknowledge; anything else (or no answer within the timeout) is retried on the alert schedule, then dead-lettered.',
      security: [],
      request: {
        headers: standardWebhooksHeaders,
        body: { required: true, content: { 'application/json': { schema: EVENT_SCHEMAS[type] } } },
      },
      responses: {
        200: { description: 'Any 2xx acknowledges the event' },
        default: { description: 'Anything else is retried with the same `webhook-id`' },
      },
    });
  }
}

/** The OpenAPI 3.1 document of an app whose registry holds every route (see `describeApp`). */
export function buildDocument(app: OpenAPIHono) {
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'enode-sync',
      version: readPackageVersion(),
      description:
        'Admin API of enode-sync: the local copy of Enode devices and vendor actions, interference findings, webhook deliveries, alerts, ' +
        'and the guarded command gateway. Every `/api/v1` route takes `Authorization: Bearer <ADMIN_TOKEN>`. Lists page with ' +
        '`?after=<pagination.after>&limit=`. Errors are `{ "error": { "code", "message", "requestId" } }`.',
      license: { name: 'MIT' },
    },
    servers: [{ url: '/', description: 'This daemon' }],
    security: [{ bearerAuth: [] }],
    tags: [
      { name: 'actions', description: 'Vendor actions, as Enode reports them' },
      { name: 'devices', description: 'Devices and their history' },
      { name: 'interference', description: 'Findings of the reconciler' },
      { name: 'deliveries', description: 'Raw webhook deliveries and replay' },
      { name: 'alerts', description: 'The alert outbox' },
      {
        name: 'commands',
        description:
          'The command gateway: bodies exactly as Enode takes them, guarded; 409 CONTROLLED_BY_SCHEDULE / CONTROLLED_BY_SMART_CHARGING while an Enode schedule or plan controls the device (`force=true`, or a vehicle smart override)',
      },
      { name: 'docs', description: 'This document and its rendered reference' },
      { name: 'webhooks', description: 'Where Enode delivers' },
      { name: 'event webhooks', description: 'What a subscription receives: one entry per event type of the log (the `webhooks` section)' },
      { name: 'operations', description: 'Health and metrics' },
    ],
  });
}

export type OpenApiDocument = ReturnType<typeof buildDocument>;

const openApiJsonRoute = createRoute({
  method: 'get',
  path: '/openapi.json',
  operationId: 'getOpenApiDocument',
  tags: ['docs'],
  summary: 'This OpenAPI 3.1 document',
  responses: {
    200: jsonResponse(z.record(z.string(), z.unknown()).openapi({ description: 'OpenAPI 3.1' }), 'The document'),
    ...errorResponses(401),
  },
});

const referenceRoute = createRoute({
  method: 'get',
  path: '/reference',
  operationId: 'getApiReference',
  tags: ['docs'],
  summary: 'This document rendered as an HTML page',
  description: 'Every operation with its parameters, request body and responses; no scripts, no external assets.',
  responses: {
    200: { description: 'The reference page', content: { 'text/html': { schema: z.string() } } },
    ...errorResponses(401),
  },
});

/**
 * `GET /openapi.json` and `GET /reference`, mounted inside the admin API (so behind its bearer
 * token). `document` is asked at the first request, once every route is registered.
 */
export function docsRoutes(document: () => OpenApiDocument) {
  const app = apiRouter();
  let cached: { json: OpenApiDocument; html: string } | undefined;
  const get = () => {
    if (!cached) {
      const json = document();
      cached = { json, html: renderReference(json) };
    }
    return cached;
  };
  app.openapi(openApiJsonRoute, (c) => c.json(get().json as unknown as Record<string, unknown>, 200));
  app.openapi(referenceRoute, (c) => {
    // Inline styles only; nothing else may load or run.
    c.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    c.header('x-content-type-options', 'nosniff');
    return c.html(get().html, 200);
  });
  return app;
}
