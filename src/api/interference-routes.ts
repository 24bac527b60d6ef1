import { createRoute, z } from '@hono/zod-openapi';
import type { Clock } from '../clock.js';
import type { InterferenceReadRepo } from '../db/interference-read-repo.js';
import type { ReadRepo } from '../db/read-repo.js';
import { parseTimeMs } from '../domain/time.js';
import { AppError } from '../errors.js';
import { findingView } from '../reconcile/findings.js';
import { buildTimeline, type TimelineKey } from '../reconcile/timeline.js';
import { apiRouter } from './openapi.js';
import { encodeCursor, page, pageParams } from './pagination.js';
import { errorResponses, FINDING_KINDS, FindingDetailSchema, FindingSchema, idParams, jsonResponse, listOf, pageQuery, TimelineSchema } from './schemas.js';

export interface InterferenceRouteDeps {
  read: ReadRepo;
  interference: InterferenceReadRepo;
  clock: Clock;
}

/** Default timeline window when `since` is not given. */
const DEFAULT_TIMELINE_MS = 24 * 3_600_000;
/** Extra rows read per source beyond the page, for entries sharing the cursor's instant. */
const SAME_INSTANT_SLACK = 50;

const isoTime = (name: string, description: string) =>
  z
    .string()
    .max(40)
    .refine((v) => parseTimeMs(v) !== undefined, `"${name}" must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z`)
    .transform((v) => parseTimeMs(v) as number)
    .optional()
    .openapi({ description: `${description} (ISO 8601 time, e.g. 2026-01-31T12:00:00Z)` });

const idText = z.string().min(1).max(200);

const parseJson = (text: string): unknown => JSON.parse(text) as unknown;

const listFindings = createRoute({
  method: 'get',
  path: '/interference',
  operationId: 'listFindings',
  tags: ['interference'],
  summary: 'Interference findings, newest change first',
  request: {
    query: z.object({
      deviceId: idText.optional().openapi({ description: 'Only findings on this device' }),
      userId: idText.optional().openapi({ description: 'Only findings of this Enode user' }),
      kind: z.enum(FINDING_KINDS).optional(),
      since: isoTime('since', 'Only findings observed at or after this time'),
      ...pageQuery,
    }),
  },
  responses: { 200: jsonResponse(listOf(FindingSchema, 'FindingList'), 'A page of findings'), ...errorResponses(400, 401) },
});

const getFinding = createRoute({
  method: 'get',
  path: '/interference/{id}',
  operationId: 'getFinding',
  tags: ['interference'],
  summary: 'One finding with its evidence',
  request: { params: idParams() },
  responses: { 200: jsonResponse(FindingDetailSchema, 'The finding'), ...errorResponses(400, 401, 404) },
});

const deviceTimeline = createRoute({
  method: 'get',
  path: '/devices/{id}/timeline',
  operationId: 'getDeviceTimeline',
  tags: ['devices'],
  summary: "A device's history, oldest first: commands, actions, observations (with their transitions) and findings",
  description: 'Entries at the same instant are ordered command, action, observation, finding. Without `since`, the last 24 hours.',
  request: {
    params: idParams(),
    query: z.object({
      since: isoTime('since', 'Start of the window (default: 24 hours ago)'),
      until: isoTime('until', 'End of the window (default: no end)'),
      ...pageQuery,
    }),
  },
  responses: { 200: jsonResponse(TimelineSchema, 'A page of the timeline'), ...errorResponses(400, 401, 404) },
});

/** `GET /interference` and `GET /devices/{id}/timeline`, under /api/v1 (auth applied by the caller). */
export function interferenceRoutes(deps: InterferenceRouteDeps) {
  const app = apiRouter();

  app.openapi(listFindings, (c) => {
    const q = c.req.valid('query');
    const { limit, after } = pageParams(q);
    let cursor: [number, string] | undefined;
    if (after) {
      const [ms, id] = after;
      if (typeof ms !== 'number' || typeof id !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
      cursor = [ms, id];
    }
    const rows = deps.interference.listFindings({ deviceId: q.deviceId, userId: q.userId, kind: q.kind, sinceMs: q.since, after: cursor, limit });
    return c.json(page(rows, limit, (r) => [r.observedAtMs, r.id], findingView), 200);
  });

  app.openapi(getFinding, (c) => {
    const { id } = c.req.valid('param');
    const row = deps.interference.getFinding(id);
    if (!row) throw new AppError('NOT_FOUND', `No finding ${id}`);
    return c.json({ ...findingView(row), evidence: parseJson(row.evidence) }, 200);
  });

  app.openapi(deviceTimeline, (c) => {
    const { id: deviceId } = c.req.valid('param');
    const device = deps.read.getDevice(deviceId);
    const q = c.req.valid('query');
    const { limit, after } = pageParams(q);
    let cursor: TimelineKey | undefined;
    if (after) {
      const [ms, rank, id] = after;
      if (typeof ms !== 'number' || typeof rank !== 'number' || typeof id !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
      cursor = [ms, rank, id];
    }
    const untilMs = q.until ?? Number.MAX_SAFE_INTEGER;
    const sinceMs = cursor ? cursor[0] : (q.since ?? deps.clock.now().getTime() - DEFAULT_TIMELINE_MS);
    const parts = deps.interference.timeline(deviceId, sinceMs, untilMs, limit + 1 + SAME_INSTANT_SLACK);
    if (!device && parts.actions.length === 0 && parts.commands.length === 0) throw new AppError('NOT_FOUND', `No device ${deviceId}`);

    const entries = buildTimeline(parts, { sinceMs, untilMs, cursor });
    const shown = entries.slice(0, limit);
    const last = shown[shown.length - 1];
    return c.json(
      {
        deviceId,
        data: shown.map((e) => e.entry),
        pagination: { after: entries.length > limit && last ? encodeCursor(last.key) : null },
      },
      200,
    );
  });

  return app;
}
