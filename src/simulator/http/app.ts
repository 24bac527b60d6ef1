import { Hono } from 'hono';
import type { SimServices } from './context.js';
import { registerActionRoutes } from './actions.js';
import { registerAdminRoutes } from './admin.js';
import { registerAutomationRoutes } from './automation.js';
import { registerDeviceRoutes } from './devices.js';
import { problem } from './problem.js';
import { registerWebhookRoutes } from './webhooks.js';

const OPEN_PATHS = ['/oauth2/token', '/health/ready'];

function isAdmin(path: string): boolean {
  return path === '/_sim' || path.startsWith('/_sim/');
}

/** The fake Enode API as a Hono app. */
export function createSimulatorApp(s: SimServices): Hono {
  const app = new Hono();

  // Injected API faults come first: an overloaded API answers before it looks at anything else.
  app.use('*', async (c, next) => {
    if (isAdmin(c.req.path)) return next();
    const { rateLimitRate, errorRate } = s.options;
    if (s.faults.chance(rateLimitRate)) {
      const retryAfter = s.faults.int(1, 5);
      return problem(429, 'Rate limit exceeded (simulated)', undefined, { 'retry-after': String(retryAfter) });
    }
    if (s.faults.chance(errorRate)) {
      return problem(s.faults.pick([500, 502, 503]), 'Upstream failure (simulated)');
    }
    return next();
  });

  app.post('/oauth2/token', async (c) => {
    if (!s.tokens.checkBasic(c.req.header('authorization'))) {
      return c.json({ error: 'invalid_client', error_description: 'Client authentication failed' }, 401, {
        'www-authenticate': 'Basic realm="enode-simulator"',
      });
    }
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    if (form['grant_type'] !== 'client_credentials') {
      return c.json({ error: 'unsupported_grant_type', error_description: 'grant_type must be client_credentials' }, 400);
    }
    return c.json(s.tokens.issue());
  });

  app.use('*', async (c, next) => {
    if (isAdmin(c.req.path) || OPEN_PATHS.includes(c.req.path)) return next();
    if (!s.tokens.checkBearer(c.req.header('authorization'))) {
      return problem(401, 'Missing, invalid or expired access token', undefined, { 'www-authenticate': 'Bearer' });
    }
    return next();
  });

  registerAdminRoutes(app, s);
  registerDeviceRoutes(app, s);
  registerActionRoutes(app, s);
  registerAutomationRoutes(app, s);
  registerWebhookRoutes(app, s);

  app.notFound((c) => problem(404, `No route for ${c.req.method} ${c.req.path}`));
  app.onError((err) => {
    s.options.logger?.error({ err }, 'simulator request failed');
    return problem(500, 'Internal simulator error');
  });
  return app;
}
