import { configuredSinkNames } from './alerts/sinks/index.js';
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { AppError } from './errors.js';
import { alertRoutes } from './api/alerts-routes.js';
import { eventStreamRoutes } from './api/events-routes.js';
import { bearerAuth } from './api/auth.js';
import { interferenceRoutes } from './api/interference-routes.js';
import { buildDocument, describeApp, docsRoutes } from './api/openapi.js';
import { adminRoutes } from './api/routes.js';
import { subscriptionRoutes } from './api/subscriptions-routes.js';
import type { Deps } from './deps.js';
import { createErrorHandler, notFoundHandler } from './errors.js';
import { createAuthGuard } from './http/auth-guard.js';
import { metricsAuth } from './http/metrics-auth.js';
import { refuseNulInUrl } from './http/nul-guard.js';
import { gatewayRoutes } from './gateway/routes.js';
import { readyzHandler } from './health.js';
import { webhookRoutes } from './ingest/route.js';
import { uiRoutes } from './ui/routes.js';

/** Longest client-chosen X-Request-Id echoed back and logged; longer ones are replaced by a UUID. */
const REQUEST_ID_MAX_LENGTH = 64;

/** hono's body limit, answering with the one error body. */
function limitBody(maxSize: number) {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new AppError('PAYLOAD_TOO_LARGE', `Body larger than ${maxSize} bytes`);
    },
  });
}

/** Builds the HTTP app over the deps; it never listens, so tests call `app.request()`. */
export function createApp(deps: Deps) {
  // OpenAPIHono: the route modules' descriptions are merged into its registry as they are mounted.
  const app = new OpenAPIHono();
  // A client's X-Request-Id is kept for tracing only when short and plain (hono checks [\w-=]).
  app.use(requestId({ limitLength: REQUEST_ID_MAX_LENGTH }));
  app.onError(createErrorHandler(deps.logger, deps.clock));
  app.notFound(notFoundHandler);

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  // One budget of wrong tokens per client address for the admin API, the dashboard and /metrics.
  const authGuard = createAuthGuard({ config: deps.config, clock: deps.clock, logger: deps.logger.child({ component: 'auth' }) });

  // Prometheus text; no secrets in it. Keep it on the private network, or set METRICS_TOKEN (README "Monitoring").
  app.get('/metrics', metricsAuth(deps.config.metricsToken, authGuard), async (c) => c.body(await deps.metrics.render(), 200, { 'content-type': deps.metrics.contentType }));

  // Ready = migrations applied, a real write committed, the apply loop not stalled (health.ts).
  app.get('/readyz', readyzHandler(deps));

  app.route(
    '/',
    webhookRoutes({
      webhookSecrets: deps.config.webhookSecrets,
      bodyLimitBytes: deps.config.webhookBodyLimitBytes,
      store: deps.store,
      clock: deps.clock,
      logger: deps.logger.child({ component: 'webhook' }),
      unverifiedBytesLimit: deps.config.http.webhookUnverifiedBytesLimit,
      bodyTimeoutSeconds: deps.config.http.webhookBodyTimeoutSeconds,
      trustProxy: deps.config.http.trustProxy,
      onResult: (result, seconds) => deps.metrics.recordDelivery(result, seconds),
    }),
  );

  const api = new OpenAPIHono();
  api.use(bearerAuth(deps.config.adminToken, authGuard));
  // Bodies are read only once the token is right (a body without a length would be read into
  // memory by the limit itself), and never past API_BODY_LIMIT_BYTES. The dashboard bounds its
  // forms (the login form included) to 8 KiB in ui/routes.tsx.
  api.use(limitBody(deps.config.http.apiBodyLimitBytes));
  api.use(refuseNulInUrl());
  api.route('/', adminRoutes({ read: deps.read, store: deps.store }));
  api.route('/', interferenceRoutes({ read: deps.read, store: deps.store, clock: deps.clock }));
  api.route('/', eventStreamRoutes({ read: deps.read, feed: deps.eventFeed, keepAliveMs: deps.config.eventsStream.keepAliveSeconds * 1000 }));
  api.route('/', gatewayRoutes(deps));
  api.route('/', alertRoutes({ read: deps.read, store: deps.store, clock: deps.clock, sinks: configuredSinkNames(deps.config.alerts) }));
  api.route('/', subscriptionRoutes({ read: deps.read, store: deps.store, config: deps.config, clock: deps.clock }));
  // GET /api/v1/openapi.json and /api/v1/reference: behind the bearer token like all of /api/v1.
  api.route('/', docsRoutes(() => buildDocument(app)));
  app.route('/api/v1', api);
  app.use('/ui/*', refuseNulInUrl());
  app.route('/ui', uiRoutes(deps, authGuard));
  describeApp(app.openAPIRegistry);

  return app;
}

export type App = ReturnType<typeof createApp>;
