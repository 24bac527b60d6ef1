import { Hono } from 'hono';
import { z } from 'zod';
import type { ReadRepo } from '../db/read-repo.js';
import { DEVICE_TYPES } from '../domain/devices.js';
import { AppError } from '../errors.js';
import type { Writer } from '../ingest/writer.js';
import { page, pageParams } from './pagination.js';
import { presentAction, presentDelivery, presentDeliverySummary, presentDevice } from './present.js';

export interface AdminRouteDeps {
  read: ReadRepo;
  writer: Writer;
}

const idParam = z.string().min(1).max(200);

function parseQuery<T extends z.ZodType>(schema: T, query: Record<string, string>): z.infer<T> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError('BAD_REQUEST', `Invalid query parameter "${String(issue?.path[0] ?? '')}": ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

function id(raw: string): string {
  const parsed = idParam.safeParse(raw);
  if (!parsed.success) throw new AppError('BAD_REQUEST', 'Invalid id: 1 to 200 characters');
  return parsed.data;
}

const pageQuery = { after: z.string().max(2000).optional(), limit: z.string().optional() };

function keyPair(after: Array<string | number> | undefined): [number, string] | undefined {
  if (!after) return undefined;
  const [ms, last] = after;
  if (typeof ms !== 'number' || typeof last !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
  return [ms, last];
}

/** The admin read API and delivery replay, under /api/v1 (auth is applied by the caller). */
export function adminRoutes(deps: AdminRouteDeps) {
  const app = new Hono();

  app.get('/actions/:id', (c) => {
    const row = deps.read.getAction(id(c.req.param('id')));
    if (!row) throw new AppError('NOT_FOUND', `No action ${c.req.param('id')}`);
    return c.json(presentAction(row));
  });

  app.get('/actions', (c) => {
    const q = parseQuery(
      z.object({ state: z.string().regex(/^[A-Z_:]{1,40}$/, 'an Enode action state, e.g. PENDING').optional(), targetId: z.string().max(200).optional(), ...pageQuery }),
      c.req.query(),
    );
    const { limit, after } = pageParams(q);
    const rows = deps.read.listActions({ state: q.state, targetId: q.targetId, after: keyPair(after), limit });
    return c.json(page(rows, limit, (r) => [r.updatedAtMs, r.id], presentAction));
  });

  app.get('/devices/:id', (c) => {
    const row = deps.read.getDevice(id(c.req.param('id')));
    if (!row) throw new AppError('NOT_FOUND', `No device ${c.req.param('id')}`);
    return c.json(presentDevice(row));
  });

  app.get('/devices', (c) => {
    const q = parseQuery(z.object({ type: z.enum(DEVICE_TYPES).optional(), userId: z.string().max(200).optional(), ...pageQuery }), c.req.query());
    const { limit, after } = pageParams(q);
    const last = after?.[0];
    if (after && typeof last !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
    const rows = deps.read.listDevices({ type: q.type, userId: q.userId, after: last as string | undefined, limit });
    return c.json(page(rows, limit, (r) => [r.id], presentDevice));
  });

  app.get('/deliveries/:id', (c) => {
    const row = deps.read.getDelivery(id(c.req.param('id')));
    if (!row) throw new AppError('NOT_FOUND', `No delivery ${c.req.param('id')}`);
    return c.json(presentDelivery(row));
  });

  app.get('/deliveries', (c) => {
    const q = parseQuery(z.object({ status: z.enum(['pending', 'applied', 'failed', 'quarantined']).optional(), ...pageQuery }), c.req.query());
    const { limit, after } = pageParams(q);
    const rows = deps.read.listDeliveries({ status: q.status, after: keyPair(after), limit });
    return c.json(page(rows, limit, (r) => [r.receivedAt, r.id], presentDeliverySummary));
  });

  app.post('/deliveries/:id/replay', async (c) => {
    const deliveryId = id(c.req.param('id'));
    const outcome = await deps.writer.replay(deliveryId);
    if (!outcome) throw new AppError('NOT_FOUND', `No delivery ${deliveryId}`);
    const row = deps.read.getDelivery(deliveryId);
    return c.json({ ...presentDeliverySummary(row!), replay: { status: outcome.status, error: outcome.error } });
  });

  return app;
}
