import { Hono } from 'hono';
import { z } from 'zod';
import { createAlertReadRepo, presentAlertDetail, presentDelivery } from '../alerts/read-repo.js';
import { ALERT_TYPES } from '../alerts/types.js';
import type { Clock } from '../clock.js';
import type { Db } from '../db/open.js';
import { AppError } from '../errors.js';
import type { Writer } from '../ingest/writer.js';
import { page, pageParams } from './pagination.js';

export interface AlertRouteDeps {
  db: Db;
  writer: Pick<Writer, 'run'>;
  clock: Clock;
}

const listQuery = z.object({
  status: z.enum(['pending', 'delivered', 'dead']).optional(),
  type: z.enum(ALERT_TYPES).optional(),
  after: z.string().max(2000).optional(),
  limit: z.string().optional(),
});

const idParam = z.string().min(1).max(200);

function alertIdParam(raw: string): string {
  const parsed = idParam.safeParse(raw);
  if (!parsed.success) throw new AppError('BAD_REQUEST', 'Invalid id: 1 to 200 characters');
  return parsed.data;
}

/**
 * The alert outbox under /api/v1 (auth is applied by the caller):
 * - `GET /alerts?status=&type=` — one entry per alert and sink, most recently updated first;
 * - `GET /alerts/{id}` — an alert with all its deliveries;
 * - `POST /alerts/{id}/retry` — dead deliveries become pending, due now (404 unknown, 409 none dead).
 */
export function alertRoutes(deps: AlertRouteDeps) {
  const read = createAlertReadRepo(deps.db);
  const app = new Hono();

  app.get('/alerts', (c) => {
    const parsed = listQuery.safeParse(c.req.query());
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AppError('BAD_REQUEST', `Invalid query parameter "${String(issue?.path[0] ?? '')}": ${issue?.message ?? 'invalid'}`);
    }
    const q = parsed.data;
    const { limit, after } = pageParams(q);
    let key: [number, string, string] | undefined;
    if (after) {
      const [ms, id, sink] = after;
      if (typeof ms !== 'number' || typeof id !== 'string' || typeof sink !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
      key = [ms, id, sink];
    }
    const rows = read.listDeliveries({ status: q.status, type: q.type, after: key, limit });
    return c.json(page(rows, limit, (r) => [r.updatedAtMs, r.alertId, r.sink], presentDelivery));
  });

  app.get('/alerts/:id', (c) => {
    const id = alertIdParam(c.req.param('id'));
    const found = read.getAlert(id);
    if (!found) throw new AppError('NOT_FOUND', `No alert ${id}`);
    return c.json(presentAlertDetail(found));
  });

  app.post('/alerts/:id/retry', async (c) => {
    const id = alertIdParam(c.req.param('id'));
    const outcome = await deps.writer.run('alertRetry', { alertId: id, nowMs: deps.clock.now().getTime() });
    if (!outcome.found) throw new AppError('NOT_FOUND', `No alert ${id}`);
    if (outcome.sinks.length === 0) throw new AppError('CONFLICT', `Alert ${id} has no dead delivery to retry`);
    const found = read.getAlert(id);
    return c.json({ ...presentAlertDetail(found!), retried: outcome.sinks });
  });

  return app;
}
