/**
 * The event log under /api/v1 (auth is applied by the caller): `GET /events`, oldest first, paged
 * by the events' own ids (opaque cursors that sort in log order).
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { AppError } from '../errors.js';
import { decodeEventCursor, encodeEventCursor } from '../events/cursor.js';
import { EVENT_TYPES } from '../events/types.js';
import { presentEvent } from '../events/present.js';
import { EventSchema } from '../events/schemas.js';
import type { EventFeed, StreamEnd, StreamFilter, StreamSubscription } from '../events/stream.js';
import type { ReadStore } from '../store/read.js';
import { apiRouter } from './openapi.js';
import { pageParams } from './pagination.js';
import { errorResponses, jsonResponse, listOf, pageQuery, textFilter } from './schemas.js';

export { presentEvent };

export interface EventRouteDeps {
  read: Pick<ReadStore, 'events' | 'eventsPrunedThrough'>;
}

export { EventSchema };

const TYPE_FILTER = /^[a-z]+(\.[a-z][a-z_]*)*(\.\*)?$/;

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

const EXPIRED_MESSAGE = 'Events after this cursor were deleted by retention (RETENTION_DAYS); resume from oldestCursor and resync what was missed';

/** The 410 of a cursor older than what retention keeps, or undefined when the log still holds what follows it. */
async function expiredAnswer(c: Context, read: Pick<ReadStore, 'eventsPrunedThrough'>, after: number) {
  const prunedThrough = await read.eventsPrunedThrough();
  if (after >= prunedThrough) return undefined;
  const requestId = (c.get('requestId' as never) as string | undefined) ?? 'unknown';
  return c.json({ error: { code: 'CURSOR_EXPIRED', message: EXPIRED_MESSAGE, requestId, oldestCursor: encodeEventCursor(prunedThrough) } }, 410);
}

/** The position a cursor names; a malformed one is a 400 naming where it came from. */
function parseCursor(text: string | undefined, field: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  const position = decodeEventCursor(text);
  if (position === undefined) throw new AppError('BAD_REQUEST', `Invalid ${field} cursor: pass the id of the last event read unchanged`, { field });
  return position;
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
    const rows = await deps.read.events({ after, types, deviceId: q.deviceId, userId: q.userId, limit });
    // Checked after the read: a prune that committed before it is seen (the mark only grows), so a
    // page never starts silently past deleted events.
    if (after !== undefined) {
      const expired = await expiredAnswer(c, deps.read, after);
      if (expired) return expired;
    }
    const shown = rows.slice(0, limit);
    const last = shown[shown.length - 1];
    // The log stores what events/schemas.ts describes (the tests parse every event read with it).
    return c.json({ data: shown.map(presentEvent) as Array<z.infer<typeof EventSchema>>, pagination: { after: rows.length > limit && last ? encodeEventCursor(last.position) : null } }, 200);
  });

  return app;
}

export interface EventStreamDeps {
  read: Pick<ReadStore, 'eventsPrunedThrough' | 'lastEventPosition'>;
  feed: EventFeed;
  /** A comment line after this long without events keeps proxies from closing the connection. */
  keepAliveMs: number;
}

const streamEvents = createRoute({
  method: 'get',
  path: '/events/stream',
  operationId: 'streamEvents',
  tags: ['events'],
  summary: 'The event log as Server-Sent Events',
  description:
    'A `text/event-stream` of the log: each event is a frame with `id:` its cursor, `event:` its type and `data:` the envelope of `GET /events` ' +
    '(one line of JSON). It resumes after the `Last-Event-ID` header (sent by EventSource on reconnect) or `after`; with neither it starts at the ' +
    'end of the log (new events only; `after=ev1_00000000000` reads from the start until retention prunes, then answers 410 with oldestCursor). It streams events written by every replica. A comment ' +
    'line (`: keep-alive`) follows every 15 s without events (EVENTS_STREAM_KEEPALIVE_SECONDS). A cursor older than retention answers 410 with ' +
    '`oldestCursor` before the stream starts; if retention overtakes a client mid-stream, an `event: error` frame `{ code: "CURSOR_EXPIRED", ' +
    'oldestCursor }` ends it. A client that falls behind (more than EVENTS_STREAM_BUFFER_EVENTS waiting) is caught up from the log at its pace; one that ' +
    'takes nothing from its full buffer for EVENTS_STREAM_SLOW_SECONDS is sent `event: error` `{ code: "SLOW_CONSUMER" }` and disconnected, and one open at shutdown gets `{ code: "SHUTTING_DOWN" }`: reconnect with Last-Event-ID.',
  request: {
    query: z.object({
      after: z.string().max(2000).optional().openapi({ description: 'Cursor: stream the events after it (the `Last-Event-ID` header takes precedence)' }),
      type: z.string().max(2000).optional().openapi({ description: 'Comma list of types and prefixes, e.g. `device.*,action.updated`' }),
      deviceId: textFilter('Only events of this device'),
      userId: textFilter('Only events of this Enode user'),
    }),
    headers: z.object({
      'last-event-id': z.string().max(2000).optional().openapi({ description: 'The id of the last event received: the stream resumes after it' }),
    }),
  },
  responses: {
    200: {
      description: 'An endless `text/event-stream`: `id: <cursor>`, `event: <type>`, `data: <envelope JSON>` per event; comment lines keep it open',
      content: { 'text/event-stream': { schema: z.string().openapi({ example: 'id: ev1_0000000002s\nevent: device.updated\ndata: {"id":"ev1_0000000002s","type":"device.updated",…}\n\n' }) } },
    },
    ...errorResponses(400, 401, 410),
  },
});

/** The frame of a stream's end that the client should know about; none when the client left. */
function endFrame(end: StreamEnd): { event: string; data: string } | undefined {
  switch (end.reason) {
    case 'closed':
      return undefined;
    case 'shutdown':
      return { event: 'error', data: JSON.stringify({ code: 'SHUTTING_DOWN', message: 'This replica is stopping: reconnect with Last-Event-ID' }) };
    case 'slow':
      return {
        event: 'error',
        data: JSON.stringify({ code: 'SLOW_CONSUMER', message: `${end.buffered} events waited for this client and it took none for too long: reconnect with Last-Event-ID` }),
      };
    case 'expired':
      return { event: 'error', data: JSON.stringify({ code: 'CURSOR_EXPIRED', message: EXPIRED_MESSAGE, oldestCursor: encodeEventCursor(end.prunedThrough) }) };
    case 'logout':
      return { event: 'error', data: JSON.stringify({ code: 'UNAUTHORIZED', message: 'The dashboard session ended (logout or expiry): sign in again' }) };
  }
}

/** How long the last frame of a stream may take to leave: a client too slow to take it is not waited for. */
const END_FRAME_WAIT_MS = 1_000;
/** How often a stream opened with a dashboard session checks that the session still holds (at most; and at each keep-alive). */
const SESSION_CHECK_MS = 5_000;

/**
 * The context key under which an authentication middleware leaves a check that the credential a
 * stream was opened with still holds (the dashboard's session cookie: src/ui/auth.ts). Without
 * one (the bearer token), a stream lives until the client, the server or the feed ends it.
 */
export const STREAM_AUTH_CHECK = 'eventStreamAuthCheck';

/** Leaves on `c` the check that the request's credential still holds, for a stream it opens. */
export function setStreamAuthCheck(c: Context, stillValid: () => Promise<boolean>): void {
  c.set(STREAM_AUTH_CHECK as never, stillValid as never);
}

interface PumpOptions {
  keepAliveMs: number;
  /** The credential check of the request (see STREAM_AUTH_CHECK), if any. */
  stillAuthorized: (() => Promise<boolean>) | undefined;
  /** Drops the connection: for a client that no longer reads, the last frame cannot reach it. */
  disconnect(): void;
}

/** Writes `text`, or gives up when the subscription ends first (a client that stopped reading blocks the write forever). */
async function writeUnlessEnded(stream: SSEStreamingApi, sub: StreamSubscription, text: string): Promise<boolean> {
  return Promise.race([stream.write(text).then(() => true), sub.ended.then(() => false)]);
}

const frame = (f: { id?: string; event: string; data: string }) => `${f.event ? `event: ${f.event}\n` : ''}data: ${f.data}\n${f.id ? `id: ${f.id}\n` : ''}\n`;

/** Writes the subscription's events to the stream until either ends. */
async function pump(stream: SSEStreamingApi, sub: StreamSubscription, o: PumpOptions): Promise<void> {
  stream.onAbort(() => sub.close());
  const checkEveryMs = o.stillAuthorized ? Math.min(o.keepAliveMs, SESSION_CHECK_MS) : o.keepAliveMs;
  let checkedAt = Date.now();
  let wroteAt = Date.now();
  // Sent at once so that clients and proxies see the stream open before the first event.
  await stream.write(': connected\n\n');
  for (;;) {
    const next = await sub.next(checkEveryMs);
    if (stream.aborted) return;
    if ('end' in next) return endStream(stream, next.end, o);
    if (o.stillAuthorized && Date.now() - checkedAt >= checkEveryMs) {
      checkedAt = Date.now();
      if (!(await o.stillAuthorized())) {
        sub.end({ reason: 'logout' });
        return endStream(stream, { reason: 'logout' }, o);
      }
    }
    let text: string;
    if ('idle' in next) {
      if (Date.now() - wroteAt < o.keepAliveMs) continue;
      text = ': keep-alive\n\n';
    } else {
      // One write per batch: the race against the end below costs one promise per batch, not per event.
      text = next.events.map((e) => frame({ id: encodeEventCursor(e.position), event: e.type, data: JSON.stringify(presentEvent(e)) })).join('');
    }
    if (!(await writeUnlessEnded(stream, sub, text))) return endStream(stream, await sub.ended, o);
    wroteAt = Date.now();
    if (stream.aborted) return;
  }
}

/** Sends the end's frame, if the client should know; a client that does not take it within END_FRAME_WAIT_MS is disconnected. */
async function endStream(stream: SSEStreamingApi, end: StreamEnd, o: PumpOptions): Promise<void> {
  const last = endFrame(end);
  if (!last) return;
  let timer: NodeJS.Timeout | undefined;
  const sent = await Promise.race([
    stream.write(frame(last)).then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), END_FRAME_WAIT_MS);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
  if (!sent) o.disconnect();
}

/** The Node response under a request served by @hono/node-server (its `env` bindings), to drop a connection that does not drain. */
function nodeResponse(c: Context): { destroy(): void } | undefined {
  const env = c.env as { outgoing?: { destroy?: unknown } } | undefined;
  const outgoing = env?.outgoing;
  return outgoing && typeof outgoing.destroy === 'function' ? (outgoing as { destroy(): void }) : undefined;
}

/** `GET /events/stream` (auth is applied by the caller). */
export function eventStreamRoutes(deps: EventStreamDeps) {
  const app = apiRouter();

  app.openapi(streamEvents, async (c) => {
    const q = c.req.valid('query');
    const header = c.req.header('last-event-id');
    // EventSource sends Last-Event-ID on reconnect while the URL keeps its first `after`: the header is the newer position.
    const resumed = header !== undefined && header !== '' ? parseCursor(header, 'Last-Event-ID') : parseCursor(q.after, '"after"');
    const types = parseTypes(q.type);
    if (resumed !== undefined) {
      const expired = await expiredAnswer(c, deps.read, resumed);
      if (expired) return expired;
    }
    const filter: StreamFilter = { after: resumed ?? (await deps.read.lastEventPosition()), types, deviceId: q.deviceId, userId: q.userId };
    const sub = deps.feed.subscribe(filter);
    c.header('X-Accel-Buffering', 'no');
    const stillAuthorized = c.get(STREAM_AUTH_CHECK as never) as (() => Promise<boolean>) | undefined;
    const socket = nodeResponse(c);
    return streamSSE(c, (stream) =>
      pump(stream, sub, {
        keepAliveMs: deps.keepAliveMs,
        stillAuthorized,
        disconnect: () => {
          // Node's response: destroying it closes the socket even with unsent bytes queued. Elsewhere, ending the body is all there is.
          socket?.destroy();
          stream.abort();
        },
      }),
    );
  });

  return app;
}
