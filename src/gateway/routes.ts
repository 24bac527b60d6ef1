import { Hono, type Context } from 'hono';
import type { z } from 'zod';
import { createCommandRepo } from '../db/command-repo.js';
import type { Deps } from '../deps.js';
import type { Command } from '../domain/guards.js';
import { AppError } from '../errors.js';
import { chargingBody, maxCurrentBody, operationModeBody, parseBody, parseFlags, parseId, permanentHoldBody } from './bodies.js';
import { createInterventionLookup } from './interventions.js';
import { createGateway, type Gateway } from './service.js';

/** Sets `Retry-After` on the errors that carry `retryAfterSeconds` (daily limit, Enode rate limit). */
async function withRetryAfter<T>(c: Context, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const seconds = err instanceof AppError ? err.details?.['retryAfterSeconds'] : undefined;
    if (typeof seconds === 'number') c.header('Retry-After', String(seconds));
    throw err;
  }
}

/**
 * The command routes under /api/v1 (auth is applied by the caller): bodies exactly as Enode's,
 * flags `?override=true` and `?supersede=false`, answers `{ action, outcome, notes, commandId,
 * budget }`. The Enode client is read from `deps.enode` at each request (503 while it is unset).
 */
export function gatewayRoutes(deps: Deps, gateway: Gateway = defaultGateway(deps)) {
  const app = new Hono();

  const route = <S extends z.ZodType | null>(deviceType: Command['deviceType'], command: Command['command'], schema: S) => async (c: Context) => {
    gateway.ensureEnabled();
    const deviceId = parseId(c.req.param('id'), deviceType);
    const flags = parseFlags(c.req.query());
    // follow-schedule takes no body in Enode; whatever was sent is ignored, as Enode does.
    const body = schema === null ? {} : parseBody(schema, await c.req.text());
    const result = await withRetryAfter(c, () => gateway.send({ deviceType, command, body } as Command, deviceId, flags));
    return c.json(result);
  };

  app.post('/vehicles/:id/charging', route('vehicle', 'charging', chargingBody));
  app.post('/chargers/:id/charging', route('charger', 'charging', chargingBody));
  app.post('/chargers/:id/max-current', route('charger', 'max-current', maxCurrentBody));
  app.post('/hvacs/:id/permanent-hold', route('hvac', 'permanent-hold', permanentHoldBody));
  app.post('/hvacs/:id/follow-schedule', route('hvac', 'follow-schedule', null));
  app.post('/batteries/:id/operation-mode', route('battery', 'operation-mode', operationModeBody));

  app.post('/actions/:id/cancel', async (c) => {
    gateway.ensureEnabled();
    const actionId = parseId(c.req.param('id'), 'action');
    return c.json(await withRetryAfter(c, () => gateway.cancel(actionId)));
  });

  return app;
}

function defaultGateway(deps: Deps): Gateway {
  const logger = deps.logger.child({ component: 'gateway' });
  return createGateway({
    enode: () => deps.enode,
    read: deps.repos.read,
    commands: createCommandRepo(deps.db),
    writer: deps.writer,
    clock: deps.clock,
    logger,
    dailyCommandLimit: deps.config.dailyCommandLimit,
    interventions: createInterventionLookup({ clock: deps.clock, logger }),
  });
}
