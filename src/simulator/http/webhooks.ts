import type { Hono } from 'hono';
import { z } from 'zod';
import { API_VERSION } from '../types.js';
import type { SimServices } from './context.js';
import { paginate, parsePageQuery } from './pagination.js';
import { problem, readJson, zodIssues } from './problem.js';

/** Events a webhook may subscribe to (2024-10-01). */
export const SUBSCRIBABLE_EVENTS = [
  '*',
  'user:vehicle:discovered',
  'user:vehicle:updated',
  'user:vehicle:deleted',
  'user:vehicle:smart-charging-status-updated',
  'user:charge-action:updated',
  'user:vendor-action:updated',
  'user:schedule:execution-updated',
  'user:charger:discovered',
  'user:charger:updated',
  'user:charger:deleted',
  'user:hvac:discovered',
  'user:hvac:updated',
  'user:hvac:deleted',
  'user:inverter:discovered',
  'user:inverter:updated',
  'user:inverter:deleted',
  'user:inverter:statistics-updated',
  'user:credentials:invalidated',
  'user:battery:discovered',
  'user:battery:updated',
  'user:battery:deleted',
  'enode:webhook:test',
  'user:meter:discovered',
  'user:meter:updated',
  'user:meter:deleted',
] as const;

const url = z
  .string()
  .min(8)
  .max(200)
  .refine((u) => {
    try {
      const p = new URL(u).protocol;
      return p === 'https:' || p === 'http:';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL');
const secret = z.string().min(6).max(256);
const events = z.array(z.enum(SUBSCRIBABLE_EVENTS));
const apiVersion = z.literal(API_VERSION).nullable();
const authentication = z.strictObject({
  headerName: z.string().min(1).max(128).regex(/^[a-z0-9-_]+$/),
  headerValue: z.string().min(1).max(256),
});

const createBody = z.strictObject({
  url,
  secret,
  events: events.optional(),
  apiVersion: apiVersion.optional(),
  authentication: authentication.optional(),
});
const updateBody = z.strictObject({
  url: url.optional(),
  secret: secret.optional(),
  events: events.optional(),
  apiVersion: apiVersion.optional(),
  authentication: authentication.nullable().optional(),
});

/** Webhook management: create, list, get, update, delete, test. */
export function registerWebhookRoutes(app: Hono, s: SimServices): void {
  app.post('/webhooks', async (c) => {
    const read = await readJson(c);
    if (!read.ok) return read.response;
    const r = createBody.safeParse(read.value);
    if (!r.success) return problem(400, 'Invalid webhook', zodIssues(r.error));
    const created = s.webhooks.create(r.data);
    if ('error' in created) return problem(400, created.error);
    return c.json(created);
  });

  app.get('/webhooks', (c) => {
    const q = parsePageQuery(c);
    if (q instanceof Response) return q;
    const page = paginate(s.webhooks.list(), (w) => w.seq, q);
    return c.json({ data: page.data.map(({ seq: _seq, ...w }) => w), pagination: page.pagination });
  });

  app.get('/webhooks/:id', (c) => {
    const w = s.webhooks.get(c.req.param('id'));
    return w ? c.json(w) : problem(404, `No webhook with id ${c.req.param('id')}`);
  });

  app.patch('/webhooks/:id', async (c) => {
    if (!s.webhooks.get(c.req.param('id'))) return problem(404, `No webhook with id ${c.req.param('id')}`);
    const read = await readJson(c);
    if (!read.ok) return read.response;
    const r = updateBody.safeParse(read.value ?? {});
    if (!r.success) return problem(400, 'Invalid webhook update', zodIssues(r.error));
    const w = s.webhooks.update(c.req.param('id'), r.data);
    return w ? c.json(w) : problem(404, `No webhook with id ${c.req.param('id')}`);
  });

  app.delete('/webhooks/:id', (c) =>
    s.webhooks.delete(c.req.param('id')) ? new Response(null, { status: 204 }) : problem(404, `No webhook with id ${c.req.param('id')}`),
  );

  app.post('/webhooks/:id/test', async (c) => {
    const result = await s.webhooks.test(c.req.param('id'));
    return result ? c.json(result) : problem(404, `No webhook with id ${c.req.param('id')}`);
  });
}
