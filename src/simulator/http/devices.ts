import type { Hono } from 'hono';
import { DEVICE_PATHS, DEVICE_TYPES } from '../types.js';
import type { SimServices } from './context.js';
import { paginate, parsePageQuery } from './pagination.js';
import { problem } from './problem.js';

/** Device reads: client-wide lists, per-user lists, single devices, users, health. */
export function registerDeviceRoutes(app: Hono, s: SimServices): void {
  for (const type of DEVICE_TYPES) {
    const path = DEVICE_PATHS[type];
    app.get(`/${path}`, (c) => {
      const q = parsePageQuery(c);
      if (q instanceof Response) return q;
      const page = paginate(s.world.list(type), (r) => r.seq, q);
      return c.json({ data: page.data.map((r) => r.data), pagination: page.pagination });
    });
    app.get(`/${path}/:id`, (c) => {
      const rec = s.world.getTyped(type, c.req.param('id'));
      return rec ? c.json(rec.data) : problem(404, `No ${type} with id ${c.req.param('id')}`);
    });
    app.get(`/users/:userId/${path}`, (c) => {
      const userId = c.req.param('userId');
      if (!s.world.users.has(userId)) return problem(404, `No user with id ${userId}`);
      const q = parsePageQuery(c);
      if (q instanceof Response) return q;
      const page = paginate(s.world.list(type, userId), (r) => r.seq, q);
      return c.json({ data: page.data.map((r) => r.data), pagination: page.pagination });
    });
  }

  app.get('/users', (c) => {
    const q = parsePageQuery(c);
    if (q instanceof Response) return q;
    const users = [...s.world.users.values()].sort((a, b) => b.seq - a.seq);
    const page = paginate(users, (u) => u.seq, q);
    return c.json({ data: page.data.map((u) => ({ id: u.id })), pagination: page.pagination });
  });

  app.get('/users/:userId', (c) => {
    const userId = c.req.param('userId');
    if (!s.world.users.has(userId)) return problem(404, `No user with id ${userId}`);
    const linked = new Map<string, { vendor: string; vendorType: string; isValid: boolean }>();
    for (const rec of s.world.list(undefined, userId)) {
      linked.set(`${rec.data.vendor}/${rec.type}`, { vendor: rec.data.vendor, vendorType: rec.type, isValid: true });
    }
    return c.json({ id: userId, linkedVendors: [...linked.values()] });
  });

  app.get('/health/ready', () => new Response(null, { status: 204 }));
}
