import { createRoute } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { apiRouter } from '../api/openapi.js';
import { CommandResultSchema, errorResponses, ErrorSchema, idParams, jsonResponse, SmartOverrideResultSchema } from '../api/schemas.js';
import type { Deps } from '../deps.js';
import type { Command } from '../domain/guards.js';
import { AppError } from '../errors.js';
import { requireJsonBody } from '../http/json-body.js';
import { chargingBody, flagsQuery, maxCurrentBody, operationModeBody, overrideQuery, permanentHoldBody, toFlags } from './bodies.js';
import { createInterventionLookup } from './interventions.js';
import { createDeviceLock } from './device-lock.js';
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

const retryAfter = { 'Retry-After': { description: 'Seconds until a command fits again', schema: { type: 'integer' as const } } };

const errorContent = { 'application/json': { schema: ErrorSchema } };

const commandErrors = {
  ...errorResponses(400, 401, 403, 404, 409, 422, 502),
  409: {
    description:
      '`DEVICE_NOT_CAPABLE`, `ACTION_PENDING`; `CONTROLLED_BY_SCHEDULE` (`scheduleId`) or `CONTROLLED_BY_SMART_CHARGING` (`planId`), with `controls`, while an active Enode ' +
      "schedule or smart charging plan controls the device (nothing sent; `force=true` sends anyway) or when Enode's 422 names one (`enode`); `ENODE_CONFLICT`",
    content: errorContent,
  },
  422: { description: '`ENODE_UNPROCESSABLE`: Enode found the command unprocessable, naming no schedule or smart charging plan', content: errorContent },
  429: { ...errorResponses(429)[429], headers: retryAfter },
  503: {
    description: '`ENODE_NOT_CONFIGURED` (no Enode credentials: the gateway is off) or `ENODE_RATE_LIMITED` (nothing was sent; see `Retry-After`)',
    headers: retryAfter,
    content: errorContent,
  },
};

const GUARDS =
  'Guarded as Enode advises: refused when the device lacks the capability (409 DEVICE_NOT_CAPABLE), when a different action is PENDING and ' +
  '`supersede=false` (409 ACTION_PENDING), or past the daily command limit unless `override=true` (429 DAILY_COMMAND_LIMIT; the limit counts the gateway\'s commands and the ' +
  'actions other callers of the same Enode client created, such as schedules and smart charging: `budget.bySource`). An identical ' +
  'PENDING action is returned instead of sending again (`outcome: collapsed`). Enode refusals keep their status (`ENODE_*` codes).';

const CONTROLLED =
  ' While an active Enode schedule or smart charging plan controls the device (as its stored statuses say), nothing is sent and nothing counts: 409 ' +
  '`CONTROLLED_BY_SCHEDULE` (`scheduleId`) or `CONTROLLED_BY_SMART_CHARGING` (`planId`), with `controls` and how to proceed — a smart override (vehicles), ' +
  'disabling the schedule or smart charging, or `force=true` to send anyway. Enode\'s own 422 for a schedule or plan answers the same two codes (with `enode`).';

/** The commands Enode refuses with 422 under a schedule or plan (REFERENCE §2.6): charging, max current, HVAC holds. */
const CONTROLLABLE: ReadonlySet<Command['command']> = new Set(['charging', 'max-current', 'permanent-hold', 'follow-schedule']);

type Body = typeof chargingBody | typeof maxCurrentBody | typeof permanentHoldBody | typeof operationModeBody;

interface CommandSpec {
  path: string;
  operationId: string;
  deviceType: Command['deviceType'];
  command: Command['command'];
  summary: string;
}

function bodilessCommandRoute(spec: CommandSpec, enabled: MiddlewareHandler) {
  return createRoute({
    method: 'post',
    path: spec.path,
    operationId: spec.operationId,
    tags: ['commands'],
    summary: spec.summary,
    description: `Takes no body (whatever is sent is ignored, as Enode does). ${GUARDS}${CONTROLLABLE.has(spec.command) ? CONTROLLED : ''}`,
    middleware: [enabled],
    request: { params: idParams(spec.deviceType, `The ${spec.deviceType} id`), query: flagsQuery },
    responses: { 200: jsonResponse(CommandResultSchema, 'Sent to Enode, or collapsed onto an identical PENDING action'), ...commandErrors },
  });
}

function bodyCommandRoute(spec: CommandSpec & { body: Body }, enabled: MiddlewareHandler) {
  return createRoute({
    method: 'post',
    path: spec.path,
    operationId: spec.operationId,
    tags: ['commands'],
    summary: spec.summary,
    description: `The body is exactly Enode's. ${GUARDS}${CONTROLLABLE.has(spec.command) ? CONTROLLED : ' `force` has no effect: Enode controls batteries by no schedule or plan this gateway knows.'}`,
    middleware: [enabled, requireJsonBody],
    request: {
      params: idParams(spec.deviceType, `The ${spec.deviceType} id`),
      query: flagsQuery,
      body: { required: true, content: { 'application/json': { schema: spec.body } } },
    },
    responses: { 200: jsonResponse(CommandResultSchema, 'Sent to Enode, or collapsed onto an identical PENDING action'), ...commandErrors, ...errorResponses(415) },
  });
}

/**
 * The command routes under /api/v1 (auth is applied by the caller): bodies exactly as Enode's,
 * flags `?override=true` and `?supersede=false`, answers `{ action, outcome, notes, commandId,
 * budget }`. The Enode client is read from `deps.enode` at each request (503 while it is unset),
 * and that check comes before any validation.
 */
export function gatewayRoutes(deps: Deps, gateway: Gateway = defaultGateway(deps)) {
  const app = apiRouter();
  const enabled: MiddlewareHandler = async (_c, next) => {
    gateway.ensureEnabled();
    await next();
  };

  const withBody: Array<CommandSpec & { body: Body }> = [
    { path: '/vehicles/{id}/charging', operationId: 'startStopVehicleCharging', deviceType: 'vehicle', command: 'charging', summary: 'Start or stop charging a vehicle', body: chargingBody },
    { path: '/chargers/{id}/charging', operationId: 'startStopChargerCharging', deviceType: 'charger', command: 'charging', summary: 'Start or stop charging on a charger', body: chargingBody },
    { path: '/chargers/{id}/max-current', operationId: 'setChargerMaxCurrent', deviceType: 'charger', command: 'max-current', summary: 'Set the max current of a charger', body: maxCurrentBody },
    { path: '/hvacs/{id}/permanent-hold', operationId: 'setHvacPermanentHold', deviceType: 'hvac', command: 'permanent-hold', summary: 'Hold an HVAC at a mode and setpoints', body: permanentHoldBody },
    { path: '/batteries/{id}/operation-mode', operationId: 'setBatteryOperationMode', deviceType: 'battery', command: 'operation-mode', summary: 'Set the operation mode of a battery', body: operationModeBody },
  ];
  for (const spec of withBody) {
    app.openapi(bodyCommandRoute(spec, enabled), async (c) => {
      const { id } = c.req.valid('param');
      const command = { deviceType: spec.deviceType, command: spec.command, body: c.req.valid('json') } as Command;
      return c.json(await withRetryAfter(c, () => gateway.send(command, id, toFlags(c.req.valid('query')))), 200);
    });
  }

  const followSchedule: CommandSpec = { path: '/hvacs/{id}/follow-schedule', operationId: 'setHvacFollowSchedule', deviceType: 'hvac', command: 'follow-schedule', summary: 'Return an HVAC to its schedule' };
  app.openapi(bodilessCommandRoute(followSchedule, enabled), async (c) => {
    const { id } = c.req.valid('param');
    // Enode's follow-schedule takes no body: nothing is read.
    const command = { deviceType: 'hvac', command: 'follow-schedule', body: {} } as Command;
    return c.json(await withRetryAfter(c, () => gateway.send(command, id, toFlags(c.req.valid('query')))), 200);
  });

  const cancel = createRoute({
    method: 'post',
    path: '/actions/{id}/cancel',
    operationId: 'cancelAction',
    tags: ['commands'],
    summary: 'Cancel a PENDING action',
    description:
      "Asks Enode to stop retrying the action; a command already queued in the vendor's cloud may still execute. Not counted against the daily limit. " +
      '409 ACTION_ALREADY_RESOLVED when the action is no longer PENDING.',
    middleware: [enabled],
    request: { params: idParams('action', 'The action id') },
    responses: {
      200: jsonResponse(CommandResultSchema, 'Cancelled (the action as Enode answered)'),
      ...errorResponses(400, 401, 403, 404, 409, 502),
      503: commandErrors[503],
    },
  });
  app.openapi(cancel, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(await withRetryAfter(c, () => gateway.cancel(id)), 200);
  });

  const smartOverrideDoc =
    'Enode 2024-10-01 has this route for vehicles only (there is no charger smart-override path), so there is none for chargers here.';
  const createOverride = createRoute({
    method: 'post',
    path: '/vehicles/{id}/smart-override',
    operationId: 'createVehicleSmartOverride',
    tags: ['commands'],
    summary: 'Charge a vehicle now, past its Enode schedule or smart charging plan',
    description:
      "Enode's `POST /vehicles/{id}/smart-override`: the vehicle charges now; the schedule or plan regains control when charging stops or the override is ended. Takes no body. " +
      'It starts charging, so it is guarded like a command: 404 for a vehicle enode-sync does not know (or a device that is not a vehicle), 409 DEVICE_NOT_CAPABLE when the vehicle ' +
      'cannot start charging, 429 DAILY_COMMAND_LIMIT past the daily limit unless `override=true`; it counts against the budget. The answer is Enode\'s override; its ' +
      '`vendorActionId` (the action that starts charging) arrives by webhook or poll like any action and counts once. A note NOT_CONTROLLED says when no active schedule or plan is known. ' +
      smartOverrideDoc,
    middleware: [enabled],
    request: { params: idParams('vehicle', 'The vehicle id'), query: overrideQuery },
    responses: { 200: jsonResponse(SmartOverrideResultSchema, 'Enode created the smart override'), ...commandErrors },
  });
  app.openapi(createOverride, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(await withRetryAfter(c, () => gateway.smartOverride(id, toFlags(c.req.valid('query')))), 200);
  });

  const endOverride = createRoute({
    method: 'delete',
    path: '/vehicles/{id}/smart-override',
    operationId: 'endVehicleSmartOverride',
    tags: ['commands'],
    summary: "End a vehicle's smart override",
    description:
      "Enode's `DELETE /vehicles/{id}/smart-override`: the schedule or plan regains control of the vehicle (which may or may not stop charging). It sends the vehicle nothing " +
      'by itself, so it does not count against the daily limit (what the schedule or plan then does is counted as theirs) and has no budget in the answer; it is logged as a ' +
      '`cancel` with note SMART_OVERRIDE_ENDED. 404 ENODE_NOT_FOUND when Enode knows no active override of the vehicle. ' +
      smartOverrideDoc,
    middleware: [enabled],
    request: { params: idParams('vehicle', 'The vehicle id') },
    responses: {
      200: jsonResponse(SmartOverrideResultSchema, 'Enode ended the smart override'),
      ...errorResponses(400, 401, 403, 404, 409, 502),
      503: commandErrors[503],
    },
  });
  app.openapi(endOverride, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(await withRetryAfter(c, () => gateway.endSmartOverride(id)), 200);
  });

  return app;
}

function defaultGateway(deps: Deps): Gateway {
  const logger = deps.logger.child({ component: 'gateway' });
  return createGateway({
    enode: () => deps.enode,
    read: deps.read,
    store: deps.store,
    clock: deps.clock,
    logger,
    dailyCommandLimit: deps.config.dailyCommandLimit,
    interventions: createInterventionLookup({ clock: deps.clock, logger }),
    // Replicas on one database lock a device across processes (a lease); one daemon in-process.
    deviceLock: createDeviceLock({ clock: deps.clock, fleet: deps.replica && { leases: deps.store.leases, holder: deps.replica.holder } }),
  });
}
