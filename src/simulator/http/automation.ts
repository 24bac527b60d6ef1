import type { Hono } from 'hono';
import { z } from 'zod';
import type { ScheduleInput } from '../automation.js';
import { HOUR_MINUTE } from '../schedules.js';
import type { SimServices } from './context.js';
import { paginate, parsePageQuery } from './pagination.js';
import { problem, readJson, zodIssues } from './problem.js';

const hourMinute = z.string().regex(HOUR_MINUTE, 'must be HH:MM (00:00–23:59, or 24:00)');
const filters = {
  hourMinute: z.strictObject({ from: hourMinute, to: hourMinute }).optional(),
  fromTimestamp: z.iso.datetime({ offset: true }).optional(),
  toTimestamp: z.iso.datetime({ offset: true }).optional(),
  weekdays: z.array(z.number().int().min(0).max(6)).optional(),
};
const setpoint = z.number().finite();
const targetState = z.union([
  z.strictObject({ coolSetpoint: setpoint, mode: z.literal('COOL'), holdType: z.literal('PERMANENT') }),
  z.strictObject({ heatSetpoint: setpoint, mode: z.literal('HEAT'), holdType: z.literal('PERMANENT') }),
  z.strictObject({ coolSetpoint: setpoint, heatSetpoint: setpoint, mode: z.literal('AUTO'), holdType: z.literal('PERMANENT') }),
  z.strictObject({ mode: z.literal('OFF'), holdType: z.literal('PERMANENT') }),
  z.strictObject({ holdType: z.literal('SCHEDULED') }),
]);
const chargeRule = z.strictObject({ ...filters, shouldCharge: z.boolean() });
const temperatureRule = z.strictObject({ ...filters, targetState });

const chargeFields = {
  targetId: z.string().min(1),
  locationId: z.string().nullable(),
  targetType: z.enum(['vehicle', 'charger']),
  isEnabled: z.boolean(),
  defaultShouldCharge: z.boolean(),
  rules: z.array(chargeRule),
};
const temperatureFields = {
  isEnabled: z.boolean(),
  targetId: z.string().min(1),
  targetType: z.literal('hvac'),
  defaultTargetState: targetState,
  rules: z.array(temperatureRule),
};
// locationId may be left out on create (the simulator has no locations): it is then null.
const chargeSchedule = z.strictObject({ ...chargeFields, locationId: chargeFields.locationId.default(null) });
const temperatureSchedule = z.strictObject(temperatureFields);
const partialSchedule = z.union([z.strictObject(chargeFields).partial(), z.strictObject(temperatureFields).partial()]);

const policyBody = z.strictObject({
  isEnabled: z.boolean().optional(),
  deadline: hourMinute.optional(),
  minimumChargeLimit: z.number().min(0).max(100).optional(),
});

/**
 * Enode Schedules (`/users/{userId}/schedules`, `/schedules/{id}`, `/schedules/{id}/status`) and
 * smart charging (`/vehicles/{id}/smart-charging-policy|status|plans`, `/vehicles/{id}/smart-override`).
 */
export function registerAutomationRoutes(app: Hono, s: SimServices): void {
  app.post('/users/:userId/schedules', async (c) => {
    const userId = c.req.param('userId');
    if (!s.world.users.has(userId)) return problem(404, `No user with id ${userId}`);
    const read = await readJson(c);
    if (!read.ok) return read.response;
    const body = read.value as { targetType?: unknown } | undefined;
    const schema = body?.targetType === 'hvac' ? temperatureSchedule : chargeSchedule;
    const r = schema.safeParse(body);
    if (!r.success) return problem(400, 'Invalid schedule', zodIssues(r.error));
    const created = s.automation.createSchedule(userId, r.data as ScheduleInput);
    if (!created.ok) return problem(created.status, created.detail);
    return c.json(created.value);
  });

  app.get('/users/:userId/schedules', (c) => {
    const userId = c.req.param('userId');
    if (!s.world.users.has(userId)) return problem(404, `No user with id ${userId}`);
    const q = parsePageQuery(c);
    if (q instanceof Response) return q;
    const page = paginate(s.automation.listSchedules(userId), (e) => e.seq, q);
    return c.json({ data: page.data.map((e) => e.schedule), pagination: page.pagination });
  });

  app.get('/schedules/:id', (c) => {
    const schedule = s.automation.getSchedule(c.req.param('id'));
    return schedule ? c.json(schedule) : problem(404, `No schedule with id ${c.req.param('id')}`);
  });

  app.put('/schedules/:id', async (c) => {
    const id = c.req.param('id');
    if (!s.automation.getSchedule(id)) return problem(404, `No schedule with id ${id}`);
    const read = await readJson(c);
    if (!read.ok) return read.response;
    const r = partialSchedule.safeParse(read.value ?? {});
    if (!r.success) return problem(400, 'Invalid schedule update', zodIssues(r.error));
    const updated = s.automation.updateSchedule(id, r.data as Partial<ScheduleInput>);
    if (!updated.ok) return problem(updated.status, updated.detail);
    return c.json(updated.value);
  });

  app.delete('/schedules/:id', (c) =>
    s.automation.deleteSchedule(c.req.param('id')) ? new Response(null, { status: 204 }) : problem(404, `No schedule with id ${c.req.param('id')}`),
  );

  app.get('/schedules/:id/status', (c) => {
    const status = s.automation.scheduleStatus(c.req.param('id'));
    return status ? c.json(status) : problem(404, `No schedule with id ${c.req.param('id')}`);
  });

  app.get('/vehicles/:id/smart-charging-policy', (c) => {
    const v = s.world.getTyped('vehicle', c.req.param('id'));
    return v ? c.json(v.data.smartChargingPolicy) : problem(404, `No vehicle with id ${c.req.param('id')}`);
  });

  app.put('/vehicles/:id/smart-charging-policy', async (c) => {
    const id = c.req.param('id');
    if (!s.world.getTyped('vehicle', id)) return problem(404, `No vehicle with id ${id}`);
    const read = await readJson(c);
    if (!read.ok) return read.response;
    const r = policyBody.safeParse(read.value ?? {});
    if (!r.success) return problem(400, 'Invalid smart charging policy', zodIssues(r.error));
    const updated = s.automation.updatePolicy(id, r.data as { isEnabled?: boolean; deadline?: string; minimumChargeLimit?: number });
    if (!updated.ok) return problem(updated.status, updated.detail);
    return c.json(updated.value);
  });

  app.get('/vehicles/:id/smart-charging-status', (c) => {
    const status = s.automation.smartStatus(c.req.param('id'));
    return status ? c.json(status) : problem(404, `No vehicle with id ${c.req.param('id')}`);
  });

  app.get('/vehicles/:id/smart-charging-plans/:planId', (c) => {
    const id = c.req.param('id');
    if (!s.world.getTyped('vehicle', id)) return problem(404, `No vehicle with id ${id}`);
    const plan = s.automation.plan(id, c.req.param('planId'));
    return plan ? c.json(plan) : problem(404, `No smart charging plan ${c.req.param('planId')} for vehicle ${id}`);
  });

  app.post('/vehicles/:id/smart-override', (c) => {
    const r = s.automation.createOverride(c.req.param('id'));
    return r.ok ? c.json(r.value) : problem(r.status, r.detail);
  });

  app.delete('/vehicles/:id/smart-override', (c) => {
    const r = s.automation.endOverrideByRequest(c.req.param('id'));
    return r.ok ? c.json(r.value) : problem(r.status, r.detail);
  });
}
