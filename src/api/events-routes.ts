/**
 * The event log under /api/v1 (auth is applied by the caller): `GET /events`, oldest first, paged
 * by the events' own ids (opaque cursors that sort in log order).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { AppError } from '../errors.js';
import { decodeEventCursor, encodeEventCursor } from '../events/cursor.js';
import { EVENT_TYPES } from '../events/types.js';
import type { StoredEvent } from '../events/types.js';
import type { ReadStore } from '../store/read.js';
import { decodeStored } from './safe-json.js';
import { apiRouter } from './openapi.js';
import { pageParams } from './pagination.js';
import { errorResponses, jsonResponse, listOf, pageQuery, textFilter } from './schemas.js';

export interface EventRouteDeps {
  read: Pick<ReadStore, 'events' | 'eventsPrunedThrough'>;
}

const isoTime = z.string().openapi({ format: 'date-time' });

export const EventSchema = z
  .object({
    id: z.string().openapi({ description: 'The event id, also its cursor: ids sort (as strings) in log order', example: 'ev1_0000000002s' }),
    type: z.string().openapi({ description: EVENT_TYPES.join(', '), example: 'device.updated' }),
    occurredAt: isoTime.openapi({ description: 'When the fact happened, as far as enode-sync knows it (a snapshot’s device time, a command’s request)' }),
    recordedAt: isoTime.openapi({ description: 'When enode-sync received what caused the event' }),
    deviceId: z.string().nullable(),
    userId: z.string().nullable(),
    data: z.record(z.string(), z.unknown()).openapi({ description: 'The payload of the type: `{ device, changes }`, `{ action, previousState }`, `{ command }`, or the alert’s data' }),
  })
  .openapi('Event');

const TYPE_FILTER = /^[a-z]+(\.[a-z]+)*(\.\*)?$/;

const listEvents = createRoute({
  method: 'get',
  path: '/events',
  operationId: 'listEvents',
  tags: ['events'],
  summary: 'The event log, oldest first',
  description:
    'Every fact that changed what enode-sync knows, once, in the order it was stored. Page with `after` = the id of the last event read ' +
    '(or `pagination.after`); a cursor older than what retention keeps answers 410 with `oldestCursor`.',
  request: {
    query: z.object({
      type: z.string().max(2000).optional().openapi({ description: 'Comma list of types and prefixes, e.g. `device.*,action.updated`' }),
      deviceId: textFilter('Only events of this device'),
      userId: textFilter('Only events of this Enode user'),
      ...pageQuery,
    }),
  },
  responses: { 200: jsonResponse(listOf(EventSchema, 'EventList'), 'A page of events'), ...errorResponses(400, 401, 410) },
});

/** The types of `?type=`: known types or prefixes of known types; anything else is a 400 (a typo must not silently match nothing). */
function parseTypes(text: string | undefined): string[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const types = text.split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of types) {
    const known = t.endsWith('.*') ? EVENT_TYPES.some((e) => e.startsWith(t.slice(0, -1))) : (EVENT_TYPES as readonly string[]).includes(t);
    if (!TYPE_FILTER.test(t) || !known) throw new AppError('BAD_REQUEST', `Unknown event type "${t}" in "type": one of ${EVENT_TYPES.join(', ')}, or a prefix such as device.*`, { field: 'type' });
  }
  return types;
}

/** An event as readers get it: the envelope `{ id, type, occurredAt, recordedAt, deviceId, userId, data }`. */
export function presentEvent(e: StoredEvent) {
  const data = decodeStored(e.data);
  return {
    id: encodeEventCursor(e.position),
    type: e.type,
    occurredAt: new Date(e.occurredAtMs).toISOString(),
    recordedAt: new Date(e.recordedAtMs).toISOString(),
    deviceId: e.deviceId,
    userId: e.userId,
    data: (data !== null && typeof data === 'object' && !Array.isArray(data) ? data : {}) as Record<string, unknown>,
  };
}

/** The event log's routes. */
export function eventRoutes(deps: EventRouteDeps) {
  const app = apiRouter();

  app.openapi(listEvents, async (c) => {
    const q = c.req.valid('query');
    const { limit } = pageParams({ limit: q.limit });
    const after = q.after === undefined || q.after === '' ? undefined : decodeEventCursor(q.after);
    if (q.after && after === undefined) {
      throw new AppError('BAD_REQUEST', 'Invalid "after" cursor: pass the id of the last event read (or pagination.after) unchanged', { field: 'after' });
    }
    const types = parseTypes(q.type);
    if (after !== undefined) {
      const prunedThrough = await deps.read.eventsPrunedThrough();
      if (after < prunedThrough) {
        const requestId = (c.get('requestId' as never) as string | undefined) ?? 'unknown';
        const message = 'Events after this cursor were deleted by retention (RETENTION_DAYS); resume from oldestCursor and resync what was missed';
        return c.json({ error: { code: 'CURSOR_EXPIRED', message, requestId, oldestCursor: encodeEventCursor(prunedThrough) } }, 410);
      }
    }
    const rows = await deps.read.events({ after, types, deviceId: q.deviceId, userId: q.userId, limit });
    const shown = rows.slice(0, limit);
    const last = shown[shown.length - 1];
    return c.json({ data: shown.map(presentEvent), pagination: { after: rows.length > limit && last ? encodeEventCursor(last.position) : null } }, 200);
  });

  return app;
}
