import { createRoute, z } from '@hono/zod-openapi';
import { presentAlertDetail, presentDelivery } from '../alerts/present.js';
import { ALERT_TYPES } from '../alerts/types.js';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { Store } from '../store/port.js';
import type { ReadStore } from '../store/read.js';
import { apiRouter } from './openapi.js';
import { page, pageParams } from './pagination.js';
import { AlertDetailSchema, AlertListEntrySchema, AlertRetrySchema, errorResponses, idParams, jsonResponse, listOf, pageQuery } from './schemas.js';

export interface AlertRouteDeps {
  read: Pick<ReadStore, 'listAlertDeliveries' | 'getAlert'>;
  store: Pick<Store, 'alerts'>;
  clock: Clock;
  /** Names of the configured sinks: a retry goes only to those. */
  sinks: string[];
}

const listAlerts = createRoute({
  method: 'get',
  path: '/alerts',
  operationId: 'listAlerts',
  tags: ['alerts'],
  summary: 'Alert deliveries (one per alert and sink), most recently updated first',
  request: {
    query: z.object({
      status: z.enum(['pending', 'delivered', 'dead']).optional(),
      type: z.enum(ALERT_TYPES).optional(),
      ...pageQuery,
    }),
  },
  responses: { 200: jsonResponse(listOf(AlertListEntrySchema, 'AlertDeliveryList'), 'A page of alert deliveries'), ...errorResponses(400, 401) },
});

const getAlert = createRoute({
  method: 'get',
  path: '/alerts/{id}',
  operationId: 'getAlert',
  tags: ['alerts'],
  summary: 'One alert with all its deliveries',
  request: { params: idParams() },
  responses: { 200: jsonResponse(AlertDetailSchema, 'The alert'), ...errorResponses(400, 401, 404) },
});

const retryAlert = createRoute({
  method: 'post',
  path: '/alerts/{id}/retry',
  operationId: 'retryAlert',
  tags: ['alerts'],
  summary: 'Send the dead deliveries of an alert again',
  description: 'Dead deliveries become pending, due now. 409 when the alert has no dead delivery.',
  request: { params: idParams() },
  responses: { 200: jsonResponse(AlertRetrySchema, 'The alert, with the sinks retried'), ...errorResponses(400, 401, 404, 409) },
});

/**
 * The alert outbox under /api/v1 (auth is applied by the caller):
 * - `GET /alerts?status=&type=` — one entry per alert and sink, most recently updated first;
 * - `GET /alerts/{id}` — an alert with all its deliveries;
 * - `POST /alerts/{id}/retry` — dead deliveries become pending, due now (404 unknown, 409 none dead).
 */
export function alertRoutes(deps: AlertRouteDeps) {
  const { read } = deps;
  const app = apiRouter();

  app.openapi(listAlerts, async (c) => {
    const q = c.req.valid('query');
    const { limit, after } = pageParams(q);
    let key: [number, string, string] | undefined;
    if (after) {
      const [ms, id, sink] = after;
      if (typeof ms !== 'number' || typeof id !== 'string' || typeof sink !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
      key = [ms, id, sink];
    }
    const rows = await read.listAlertDeliveries({ status: q.status, type: q.type, after: key, limit });
    return c.json(page(rows, limit, (r) => [r.updatedAtMs, r.alertId, r.sink], presentDelivery), 200);
  });

  app.openapi(getAlert, async (c) => {
    const { id } = c.req.valid('param');
    const found = await read.getAlert(id);
    if (!found) throw new AppError('NOT_FOUND', `No alert ${id}`);
    return c.json(presentAlertDetail(found), 200);
  });

  app.openapi(retryAlert, async (c) => {
    const { id } = c.req.valid('param');
    const outcome = await deps.store.alerts.retry({ alertId: id, nowMs: deps.clock.now().getTime(), configured: deps.sinks });
    if (!outcome.found) throw new AppError('NOT_FOUND', `No alert ${id}`);
    if (outcome.sinks.length === 0) throw new AppError('CONFLICT', `Alert ${id} has no dead delivery to retry`);
    const found = await read.getAlert(id);
    return c.json({ ...presentAlertDetail(found!), retried: outcome.sinks }, 200);
  });

  return app;
}
