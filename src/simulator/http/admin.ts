import type { Hono } from 'hono';
import { z } from 'zod';
import { interfere } from '../interference.js';
import { setPlugged } from '../physics.js';
import { DEVICE_TYPES } from '../types.js';
import type { SimServices } from './context.js';
import { problem, readJson, zodIssues } from './problem.js';

const advanceBody = z.object({ seconds: z.number().nonnegative().max(30 * 24 * 3600) });
const addDeviceBody = z.object({ type: z.enum(DEVICE_TYPES as [string, ...string[]]), userId: z.string().min(1).optional() });
const plugBody = z.object({ pluggedIn: z.boolean() });

/**
 * Test and demo controls under `/_sim` (open, or behind `adminToken` when set): ground truth,
 * a state summary, driving sim time, and poking devices.
 */
export function registerAdminRoutes(app: Hono, s: SimServices): void {
  app.use('/_sim/*', async (c, next) => {
    const token = s.options.adminToken;
    if (token && c.req.header('authorization') !== `Bearer ${token}`) return problem(401, 'Missing or wrong admin token');
    return next();
  });

  app.get('/_sim/truth', (c) => c.json(s.truth.snapshot()));
  app.get('/_sim/state', (c) => c.json(s.state()));
  app.get('/_sim/actions', (c) => c.json({ data: s.actions.list() }));

  app.post('/_sim/advance', async (c) => {
    const read = await readJson(c);
    if (!read.ok) return read.response;
    const r = advanceBody.safeParse(read.value);
    if (!r.success) return problem(400, 'Body must be {"seconds": number ≥ 0}', zodIssues(r.error));
    await s.runFor(r.data.seconds * 1000);
    return c.json(s.state());
  });

  app.post('/_sim/flush', async (c) => {
    await s.flushWebhooks();
    return c.json(s.state());
  });

  app.post('/_sim/devices', async (c) => {
    const read = await readJson(c);
    if (!read.ok) return read.response;
    const r = addDeviceBody.safeParse(read.value);
    if (!r.success) return problem(400, 'Body must be {"type": vehicle|charger|hvac|battery, "userId"?: string}', zodIssues(r.error));
    const rec = s.world.addDevice(r.data.type as (typeof DEVICE_TYPES)[number], r.data.userId);
    return c.json(rec.data, 201);
  });

  app.delete('/_sim/devices/:id', (c) =>
    s.world.removeDevice(c.req.param('id')) ? new Response(null, { status: 204 }) : problem(404, `No device with id ${c.req.param('id')}`),
  );

  app.post('/_sim/devices/:id/plug', async (c) => {
    const rec = s.world.get(c.req.param('id'));
    if (!rec || (rec.type !== 'vehicle' && rec.type !== 'charger')) return problem(404, `No vehicle or charger with id ${c.req.param('id')}`);
    const read = await readJson(c);
    if (!read.ok) return read.response;
    const r = plugBody.safeParse(read.value);
    if (!r.success) return problem(400, 'Body must be {"pluggedIn": boolean}', zodIssues(r.error));
    const error = setPlugged(s.world, rec, r.data.pluggedIn);
    if (error) return problem(400, error);
    return c.json(rec.data);
  });

  app.post('/_sim/devices/:id/interfere', (c) => {
    const rec = s.world.get(c.req.param('id'));
    if (!rec) return problem(404, `No device with id ${c.req.param('id')}`);
    const changed = interfere(s.world, rec, s.manualRng);
    return c.json({ changed, device: rec.data });
  });
}
