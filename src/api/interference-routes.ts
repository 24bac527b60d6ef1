import { createRoute, z } from '@hono/zod-openapi';
import type { Clock } from '../clock.js';
import { parseTimeMs } from '../domain/time.js';
import { wellFormed } from '../domain/well-formed.js';
import { AppError } from '../errors.js';
import { findingOf, parseStoredJson, timelineCursor, timelinePage } from '../reconcile/timeline.js';
import { FINDING_NOTE_MAX, FINDING_STATES, type OperatorFindingState } from '../store/finding-state.js';
import type { Store } from '../store/port.js';
import type { FindingRecord, ReadStore } from '../store/read.js';
import { apiRouter } from './openapi.js';
import { encodeCursor, page, pageParams } from './pagination.js';
import { errorResponses, FINDING_KINDS, FindingDetailSchema, FindingWithStateSchema, idParams, jsonResponse, listOf, pageQuery, TimelineSchema } from './schemas.js';

export interface InterferenceRouteDeps {
  read: Pick<ReadStore, 'getDevice' | 'getFinding' | 'listFindings' | 'timelinePage'>;
  store: Pick<Store, 'setFindingState'>;
  clock: Clock;
}

/** A finding as the API lists it: the contract's fields, then what an operator made of it. */
export function presentFinding(row: FindingRecord) {
  return { ...findingOf(row), state: row.state, note: row.stateNote, stateChangedAt: row.stateChangedAtMs === null ? null : new Date(row.stateChangedAtMs).toISOString() };
}

/** Default timeline window when `since` is not given. */
const DEFAULT_TIMELINE_MS = 24 * 3_600_000;

const isoTime = (name: string, description: string) =>
  z
    .string()
    .max(40)
    .refine((v) => parseTimeMs(v) !== undefined, `"${name}" must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z`)
    .transform((v) => parseTimeMs(v) as number)
    .optional()
    .openapi({ description: `${description} (ISO 8601 time, e.g. 2026-01-31T12:00:00Z)` });

const idText = z.string().min(1).max(200);

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
      state: z.enum(FINDING_STATES).optional().openapi({ description: 'Only findings in this state (default: every state)' }),
      since: isoTime('since', 'Only findings observed at or after this time'),
      ...pageQuery,
    }),
  },
  responses: { 200: jsonResponse(listOf(FindingWithStateSchema, 'FindingList'), 'A page of findings'), ...errorResponses(400, 401) },
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

const noteBody = z
  .object({
    note: z
      .string()
      .max(FINDING_NOTE_MAX)
      .refine((v) => !v.includes('\u0000'), 'A note cannot hold a NUL character')
      .nullable()
      .optional()
      .openapi({ description: `What the operator found or did (at most ${FINDING_NOTE_MAX} characters)` }),
  })
  .strict();

const stateRoute = (action: 'ack' | 'resolve') =>
  createRoute({
    method: 'post',
    path: `/interference/{id}/${action}`,
    operationId: action === 'ack' ? 'acknowledgeFinding' : 'resolveFinding',
    tags: ['interference'],
    summary: action === 'ack' ? 'Acknowledge a finding, with an optional note' : 'Resolve a finding, with an optional note',
    description:
      (action === 'ack'
        ? 'The finding becomes `acknowledged` and an `interference.acknowledged` event is written to the log with it. '
        : 'The finding becomes `resolved` and an `interference.resolved` event is written to the log with it. ') +
      'A finding goes open → acknowledged → resolved (or straight to resolved); asking for a state it already has, or acknowledging a resolved ' +
      'finding, changes nothing and writes no event. The body is optional. Answers the finding with its state.',
    request: { params: idParams(), body: { required: false, content: { 'application/json': { schema: noteBody } } } },
    responses: { 200: jsonResponse(FindingDetailSchema, 'The finding with its state'), ...errorResponses(400, 401, 404) },
  });

const deviceTimeline = createRoute({
  method: 'get',
  path: '/devices/{id}/timeline',
  operationId: 'getDeviceTimeline',
  tags: ['devices'],
  summary: "A device's history, oldest first: commands, actions, observations (with their transitions) and findings",
  description:
    'Paged like every list (`?after=&limit=`, `{ data, pagination: { after } }`), oldest first: pass `pagination.after` back unchanged ' +
    'for the next entries; at most 500 a page (default 50). Entries at the same instant are ordered command, action, observation, finding. ' +
    'Without `since`, the last 24 hours. Stored values nested deeper than 32 levels are cut there, and a stored value that is not JSON ' +
    'shows as "[unreadable stored JSON]".',
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

  app.openapi(listFindings, async (c) => {
    const q = c.req.valid('query');
    const { limit, after } = pageParams(q);
    let cursor: [number, string] | undefined;
    if (after) {
      const [ms, id] = after;
      if (typeof ms !== 'number' || typeof id !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
      cursor = [ms, id];
    }
    const rows = await deps.read.listFindings({ deviceId: q.deviceId, userId: q.userId, kind: q.kind, state: q.state, sinceMs: q.since, after: cursor, limit });
    return c.json(page(rows, limit, (r) => [r.observedAtMs, r.id], presentFinding), 200);
  });

  const detail = async (id: string) => {
    const row = await deps.read.getFinding(id);
    if (!row) throw new AppError('NOT_FOUND', `No finding ${id}`);
    return { ...presentFinding(row), evidence: parseStoredJson(row.evidence) };
  };

  app.openapi(getFinding, async (c) => c.json(await detail(c.req.valid('param').id), 200));

  for (const [action, state] of [['ack', 'acknowledged'], ['resolve', 'resolved']] as Array<['ack' | 'resolve', OperatorFindingState]>) {
    app.openapi(stateRoute(action), async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.header('content-type') ? c.req.valid('json') : {};
      // A lone surrogate in the note is stored as U+FFFD on every engine (domain/well-formed.ts).
      const outcome = await deps.store.setFindingState({ id, state, note: wellFormed(body.note?.trim() ?? '') || null, nowMs: deps.clock.now().getTime() });
      if (!outcome.found) throw new AppError('NOT_FOUND', `No finding ${id}`);
      return c.json(await detail(id), 200);
    });
  }

  app.openapi(deviceTimeline, async (c) => {
    const { id: deviceId } = c.req.valid('param');
    const device = await deps.read.getDevice(deviceId);
    const q = c.req.valid('query');
    const { limit, after } = pageParams(q);
    const cursor = timelineCursor(after);
    const untilMs = q.until ?? Number.MAX_SAFE_INTEGER;
    // A cursor carries where the window continues: later pages need not repeat `since`.
    const sinceMs = cursor ? cursor[0] : (q.since ?? deps.clock.now().getTime() - DEFAULT_TIMELINE_MS);
    const result = await timelinePage(deps.read, deviceId, { sinceMs, untilMs, after: cursor, limit });
    if (!device && !cursor && result.entries.length === 0) throw new AppError('NOT_FOUND', `No device ${deviceId}`);
    return c.json(
      {
        deviceId,
        data: result.entries.map((e) => e.entry),
        pagination: { after: result.next ? encodeCursor(result.next) : null },
      },
      200,
    );
  });

  return app;
}
