import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { DEVICE_PATHS, DEVICE_TYPES, OPERATION_MODES, type DeviceType, type Intent } from '../types.js';
import type { SimServices } from './context.js';
import { problem, readJson, zodIssues } from './problem.js';

const chargingBody = z.object({ action: z.enum(['START', 'STOP']) });
const maxCurrentBody = z.object({ maxCurrent: z.number().positive() });
const setpoint = z.number().finite();
const permanentHoldBody = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('HEAT'), heatSetpoint: setpoint }),
  z.strictObject({ mode: z.literal('COOL'), coolSetpoint: setpoint }),
  z.strictObject({ mode: z.literal('AUTO'), heatSetpoint: setpoint, coolSetpoint: setpoint }),
  z.strictObject({ mode: z.literal('OFF') }),
]);
const operationModeBody = z.object({ operationMode: z.enum(OPERATION_MODES as [string, ...string[]]) });

type IntentParser = (body: unknown) => { ok: true; intent: Intent } | { ok: false; response: Response };

function parser<S extends z.ZodType>(schema: S, toIntent: (v: z.infer<S>) => Intent): IntentParser {
  return (body) => {
    const r = schema.safeParse(body);
    if (!r.success) return { ok: false, response: problem(400, 'Invalid request body', zodIssues(r.error)) };
    return { ok: true, intent: toIntent(r.data) };
  };
}

const parseCharging = parser(chargingBody, (v) => ({ kind: 'charging', action: v.action }));
const parseMaxCurrent = parser(maxCurrentBody, (v) => ({ kind: 'maxCurrent', maxCurrent: v.maxCurrent }));
const parsePermanentHold = parser(permanentHoldBody, (v) => ({ kind: 'hvac', target: { ...v, holdType: 'PERMANENT' } }));
const parseOperationMode = parser(operationModeBody, (v) => ({
  kind: 'operationMode',
  operationMode: v.operationMode as (typeof OPERATION_MODES)[number],
}));
const parseFollowSchedule: IntentParser = () => ({ ok: true, intent: { kind: 'hvac', target: { holdType: 'SCHEDULED' } } });

/** Action create, get and cancel endpoints. */
export function registerActionRoutes(app: Hono, s: SimServices): void {
  const create = (type: DeviceType, parse: IntentParser, ignoreBody = false) => async (c: Context) => {
    const id = c.req.param('id') ?? '';
    if (!s.world.getTyped(type, id)) return problem(404, `No ${type} with id ${id}`);
    let body: unknown;
    if (!ignoreBody) {
      const read = await readJson(c);
      if (!read.ok) return read.response;
      body = read.value;
    }
    const parsed = parse(body);
    if (!parsed.ok) return parsed.response;
    // Enode's 422: the device is under an enabled Schedule or an active smart charging plan.
    const controlled = s.automation.controlProblem(type, id, parsed.intent);
    if (controlled) return problem(422, controlled);
    const result = s.actions.create(type, id, parsed.intent);
    if (!result.ok) return problem(result.status, result.detail);
    return c.json(result.action);
  };

  app.post('/vehicles/:id/charging', create('vehicle', parseCharging));
  app.post('/vehicles/:id/max-current', create('vehicle', parseMaxCurrent));
  app.post('/chargers/:id/charging', create('charger', parseCharging));
  app.post('/chargers/:id/max-current', create('charger', parseMaxCurrent));
  app.post('/hvacs/:id/permanent-hold', create('hvac', parsePermanentHold));
  app.post('/hvacs/:id/follow-schedule', create('hvac', parseFollowSchedule, true));
  app.post('/batteries/:id/operation-mode', create('battery', parseOperationMode));

  for (const type of DEVICE_TYPES) {
    const path = DEVICE_PATHS[type];
    app.get(`/${path}/actions/:actionId`, (c) => {
      const action = s.actions.get(type, c.req.param('actionId'));
      return action ? c.json(action) : problem(404, `No ${type} action with id ${c.req.param('actionId')}`);
    });
    app.post(`/${path}/actions/:actionId/cancel`, (c) => {
      const r = s.actions.cancel(type, c.req.param('actionId'));
      if (r.status === 404) return problem(404, `No ${type} action with id ${c.req.param('actionId')}`);
      return c.json(r.action, r.status);
    });
  }
}
