import { createRoute, z } from '@hono/zod-openapi';
import { DEVICE_TYPES } from '../domain/devices.js';
import { AppError } from '../errors.js';
import type { Store } from '../store/port.js';
import type { ReadStore } from '../store/read.js';
import { eventRoutes } from './events-routes.js';
import { apiRouter } from './openapi.js';
import { page, pageParams } from './pagination.js';
import { presentAction, presentDelivery, presentDeliverySummary, presentDevice } from './present.js';
import {
  ActionSchema,
  DeliverySchema,
  DeliverySummarySchema,
  DeviceSchema,
  errorResponses,
  idParams,
  jsonResponse,
  listOf,
  pageQuery,
  ReplaySchema,
  textFilter,
} from './schemas.js';

export interface AdminRouteDeps {
  read: ReadStore;
  store: Store;
}

function keyPair(after: Array<string | number> | undefined): [number, string] | undefined {
  if (!after) return undefined;
  const [ms, last] = after;
  if (typeof ms !== 'number' || typeof last !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
  return [ms, last];
}

const getAction = createRoute({
  method: 'get',
  path: '/actions/{id}',
  operationId: 'getAction',
  tags: ['actions'],
  summary: 'One vendor action',
  request: { params: idParams() },
  responses: { 200: jsonResponse(ActionSchema, 'The action'), ...errorResponses(400, 401, 404) },
});

const listActions = createRoute({
  method: 'get',
  path: '/actions',
  operationId: 'listActions',
  tags: ['actions'],
  summary: 'Vendor actions, most recently updated first',
  request: {
    query: z.object({
      state: z
        .string()
        .regex(/^[A-Z_:]{1,40}$/, 'an Enode action state, e.g. PENDING')
        .optional()
        .openapi({ description: '`PENDING`, `CONFIRMED`, `FAILED` or `CANCELLED`', example: 'PENDING' }),
      targetId: textFilter('Only actions on this device'),
      ...pageQuery,
    }),
  },
  responses: { 200: jsonResponse(listOf(ActionSchema, 'ActionList'), 'A page of actions'), ...errorResponses(400, 401) },
});

const getDevice = createRoute({
  method: 'get',
  path: '/devices/{id}',
  operationId: 'getDevice',
  tags: ['devices'],
  summary: 'One device: identity, watched fields and the latest snapshot',
  request: { params: idParams() },
  responses: { 200: jsonResponse(DeviceSchema, 'The device'), ...errorResponses(400, 401, 404) },
});

const listDevices = createRoute({
  method: 'get',
  path: '/devices',
  operationId: 'listDevices',
  tags: ['devices'],
  summary: 'Devices by id',
  request: {
    query: z.object({ type: z.enum(DEVICE_TYPES).optional(), userId: textFilter('Only devices of this Enode user'), ...pageQuery }),
  },
  responses: { 200: jsonResponse(listOf(DeviceSchema, 'DeviceList'), 'A page of devices'), ...errorResponses(400, 401) },
});

const getDelivery = createRoute({
  method: 'get',
  path: '/deliveries/{id}',
  operationId: 'getDelivery',
  tags: ['deliveries'],
  summary: 'One webhook delivery with its headers and raw body',
  request: { params: idParams(undefined, 'The `x-enode-delivery` header of the delivery (or the generated id)') },
  responses: { 200: jsonResponse(DeliverySchema, 'The delivery'), ...errorResponses(400, 401, 404) },
});

const listDeliveries = createRoute({
  method: 'get',
  path: '/deliveries',
  operationId: 'listDeliveries',
  tags: ['deliveries'],
  summary: 'Webhook deliveries, newest first',
  request: { query: z.object({ status: z.enum(['pending', 'applied', 'failed', 'quarantined']).optional(), ...pageQuery }) },
  responses: { 200: jsonResponse(listOf(DeliverySummarySchema, 'DeliveryList'), 'A page of deliveries'), ...errorResponses(400, 401) },
});

const replayDelivery = createRoute({
  method: 'post',
  path: '/deliveries/{id}/replay',
  operationId: 'replayDelivery',
  tags: ['deliveries'],
  summary: 'Apply a stored delivery again',
  description: 'For a delivery that failed to apply (e.g. before a fix). Applying is idempotent: events already applied change nothing.',
  request: { params: idParams() },
  responses: { 200: jsonResponse(ReplaySchema, 'The delivery after the replay, with its outcome'), ...errorResponses(400, 401, 404) },
});

/** The admin read API and delivery replay, under /api/v1 (auth is applied by the caller). */
export function adminRoutes(deps: AdminRouteDeps) {
  const app = apiRouter();

  app.openapi(getAction, async (c) => {
    const { id } = c.req.valid('param');
    const row = await deps.read.getAction(id);
    if (!row) throw new AppError('NOT_FOUND', `No action ${id}`);
    return c.json(presentAction(row), 200);
  });

  app.openapi(listActions, async (c) => {
    const q = c.req.valid('query');
    const { limit, after } = pageParams(q);
    const rows = await deps.read.listActions({ state: q.state, targetId: q.targetId, after: keyPair(after), limit });
    return c.json(page(rows, limit, (r) => [r.updatedAtMs, r.id], presentAction), 200);
  });

  app.openapi(getDevice, async (c) => {
    const { id } = c.req.valid('param');
    const row = await deps.read.getDevice(id);
    if (!row) throw new AppError('NOT_FOUND', `No device ${id}`);
    return c.json(presentDevice(row), 200);
  });

  app.openapi(listDevices, async (c) => {
    const q = c.req.valid('query');
    const { limit, after } = pageParams(q);
    const last = after?.[0];
    if (after && typeof last !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
    const rows = await deps.read.listDevices({ type: q.type, userId: q.userId, after: last as string | undefined, limit });
    return c.json(page(rows, limit, (r) => [r.id], presentDevice), 200);
  });

  app.openapi(getDelivery, async (c) => {
    const { id } = c.req.valid('param');
    const row = await deps.read.getDelivery(id);
    if (!row) throw new AppError('NOT_FOUND', `No delivery ${id}`);
    return c.json(presentDelivery(row), 200);
  });

  app.openapi(listDeliveries, async (c) => {
    const q = c.req.valid('query');
    const { limit, after } = pageParams(q);
    const rows = await deps.read.listDeliveries({ status: q.status, after: keyPair(after), limit });
    return c.json(page(rows, limit, (r) => [r.receivedAt, r.id], presentDeliverySummary), 200);
  });

  app.openapi(replayDelivery, async (c) => {
    const { id } = c.req.valid('param');
    const outcome = await deps.store.replay(id);
    if (!outcome) throw new AppError('NOT_FOUND', `No delivery ${id}`);
    const row = await deps.read.getDelivery(id);
    return c.json({ ...presentDeliverySummary(row!), replay: { status: outcome.status, error: outcome.error } }, 200);
  });

  app.route('/', eventRoutes({ read: deps.read }));

  return app;
}
