/**
 * `GET /api/v1/events/stream` through app.request(): frames (`id` the cursor, `event` the type,
 * `data` the envelope of GET /events), resume by `after` or Last-Event-ID, filters, keep-alive
 * comments, the 410 of an expired cursor, a slow client ended with a reason, shutdown and
 * disconnect releasing the shared feed.
 */
import { expect, it } from 'vitest';
import { encodeEventCursor } from '../../src/events/cursor.js';
import { api, makeApp, postWebhook, vehicleEvent, actionEvent, type EngineApp } from '../support/fixtures.js';
import { sseReader, type SseFrame, type SseReader } from '../support/sse.js';

const FAST = { EVENTS_STREAM_POLL_MS: '50' };
const FROM_START = encodeEventCursor(0);

async function open(t: EngineApp, query = '', headers: Record<string, string> = {}): Promise<SseReader> {
  const res = await api(t, `/events/stream${query}`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = sseReader(res.body!);
  // The stream says it is open before any event.
  expect((await reader.next())?.comments).toEqual(['connected']);
  return reader;
}

async function listed(t: EngineApp, query = ''): Promise<Array<Record<string, unknown> & { id: string; type: string }>> {
  return (await (await api(t, `/events?limit=500${query}`)).json()).data;
}

const summary = (frames: SseFrame[]) => frames.map((f) => [f.event, JSON.parse(f.data!).deviceId]);

it('streams the log from a cursor: id the cursor, event the type, data the envelope of GET /events, then new events live', async () => {
  const t = await makeApp(FAST);
  await postWebhook(t, [vehicleEvent('v1', 1), vehicleEvent('v2', 1)]);
  await postWebhook(t, [vehicleEvent('v1', 2, { batteryLevel: 61 })]);
  const s = await open(t, `?after=${FROM_START}`);
  const first = await s.events(3);
  const log = await listed(t);
  expect(first.map((f) => [f.id, f.event, JSON.parse(f.data!)])).toEqual(log.map((e) => [e.id, e.type, e]));
  // One line of JSON per event.
  expect(first.every((f) => !f.data!.includes('\n'))).toBe(true);

  await postWebhook(t, [actionEvent('a1', 'PENDING', 3, { targetId: 'v2' })]);
  const [live] = await s.events(1);
  expect([live!.event, JSON.parse(live!.data!).deviceId]).toEqual(['action.updated', 'v2']);
  expect(live!.id! > first[2]!.id!).toBe(true);
  await s.close();
});

it('without a cursor it starts at the end of the log; Last-Event-ID takes precedence over after', async () => {
  const t = await makeApp(FAST);
  await postWebhook(t, [vehicleEvent('v1', 1), vehicleEvent('v2', 1), vehicleEvent('v3', 1)]);
  const log = await listed(t);
  const tail = await open(t);
  await postWebhook(t, [vehicleEvent('v4', 1)]);
  expect(summary(await tail.events(1))).toEqual([['device.discovered', 'v4']]);
  await tail.close();

  // EventSource resends its first URL with the last id it saw as the header: the header wins.
  const resumed = await open(t, `?after=${FROM_START}`, { 'last-event-id': log[1]!.id });
  expect(summary(await resumed.events(2))).toEqual([
    ['device.discovered', 'v3'],
    ['device.discovered', 'v4'],
  ]);
  await resumed.close();
});

it('filters as the list does: type with prefixes, deviceId, userId', async () => {
  const t = await makeApp(FAST);
  await postWebhook(t, [vehicleEvent('v1', 1), vehicleEvent('v2', 1), actionEvent('a1', 'PENDING', 1, { targetId: 'v2' }), vehicleEvent('v1', 2, { batteryLevel: 60 })]);
  const devices = await open(t, `?after=${FROM_START}&type=device.*`);
  const byDevice = await open(t, `?after=${FROM_START}&deviceId=v2`);
  const byUserAndType = await open(t, `?after=${FROM_START}&userId=user-of-v1&type=device.updated,action.updated`);
  await postWebhook(t, [vehicleEvent('v2', 3, { batteryLevel: 10 }), actionEvent('a2', 'PENDING', 3, { targetId: 'v1' })]);
  expect(summary(await devices.events(4))).toEqual([
    ['device.discovered', 'v1'],
    ['device.discovered', 'v2'],
    ['device.updated', 'v1'],
    ['device.updated', 'v2'],
  ]);
  expect(summary(await byDevice.events(3))).toEqual([
    ['device.discovered', 'v2'],
    ['action.updated', 'v2'],
    ['device.updated', 'v2'],
  ]);
  expect(summary(await byUserAndType.events(2))).toEqual([
    ['device.updated', 'v1'],
    ['action.updated', 'v1'],
  ]);
  await Promise.all([devices.close(), byDevice.close(), byUserAndType.close()]);
});

it('a malformed cursor or an unknown type is a 400; no token is a 401; a cursor older than retention is a 410 before the stream starts', async () => {
  const t = await makeApp({ ...FAST, RETENTION_DAYS: '30' });
  expect((await api(t, '/events/stream?after=nope')).status).toBe(400);
  const badHeader = await api(t, '/events/stream', { headers: { 'last-event-id': 'nope' } });
  expect(badHeader.status).toBe(400);
  expect((await badHeader.json()).error.message).toMatch(/Invalid Last-Event-ID cursor/);
  expect((await api(t, '/events/stream?type=device.updatd')).status).toBe(400);
  expect((await api(t, '/events/stream', {}, null)).status).toBe(401);

  await postWebhook(t, [vehicleEvent('v1', 1)]);
  await postWebhook(t, [vehicleEvent('v1', 2, { batteryLevel: 70 })]);
  const old = await listed(t);
  t.clock.advance(31 * 86_400_000);
  await postWebhook(t, [vehicleEvent('v1', 60 * 24 * 31, { batteryLevel: 90 })]);
  await t.deps.store.prune({ cutoffMs: t.clock.now().getTime() - 30 * 86_400_000 });
  const gone = await api(t, `/events/stream?after=${old[0]!.id}`);
  expect(gone.status).toBe(410);
  expect((await gone.json()).error).toMatchObject({ code: 'CURSOR_EXPIRED', oldestCursor: old[1]!.id });
  const resumed = await open(t, `?after=${old[1]!.id}`);
  expect(summary(await resumed.events(1))).toEqual([['device.updated', 'v1']]);
  await resumed.close();
});

it('a comment line keeps an idle stream open (EVENTS_STREAM_KEEPALIVE_SECONDS)', async () => {
  const t = await makeApp({ ...FAST, EVENTS_STREAM_KEEPALIVE_SECONDS: '1' });
  const s = await open(t);
  const started = Date.now();
  const frame = await s.next(3_000);
  expect(frame).toEqual({ comments: ['keep-alive'] });
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  await s.close();
});

it('catches up a backlog larger than its buffer a page at a time, in order, without dropping the client', async () => {
  const t = await makeApp({ ...FAST, EVENTS_STREAM_BUFFER_EVENTS: '10' });
  await postWebhook(t, Array.from({ length: 25 }, (_, i) => vehicleEvent(`v${i}`, 1)));
  const s = await open(t, `?after=${FROM_START}`);
  const frames = await s.events(25);
  expect(frames.map((f) => f.id)).toEqual((await listed(t)).map((e) => e.id));
  await s.close();
});

it('a client that does not read while live events pile up is ended with SLOW_CONSUMER; it resumes with Last-Event-ID', async () => {
  const t = await makeApp({ ...FAST, EVENTS_STREAM_BUFFER_EVENTS: '10', EVENTS_STREAM_SLOW_SECONDS: '1' });
  const s = await open(t);
  // Not read while 40 events arrive at once: its buffer (10) fills, and after a second with nothing taken it is ended.
  await postWebhook(t, Array.from({ length: 40 }, (_, i) => vehicleEvent(`v${i}`, 1)));
  await expect.poll(() => t.deps.eventFeed.size, { timeout: 5_000 }).toBe(0);
  const frames = await s.until((f) => f.event === 'error');
  const error = frames[frames.length - 1]!;
  expect(JSON.parse(error.data!)).toMatchObject({ code: 'SLOW_CONSUMER' });
  expect(await s.next()).toBeUndefined();
  const got = frames.filter((f) => f.id !== undefined);
  expect(got.length).toBeLessThan(40);
  const resumed = await open(t, '', got.length > 0 ? { 'last-event-id': got[got.length - 1]!.id! } : { 'last-event-id': FROM_START });
  const rest = await resumed.events(40 - got.length);
  expect([...got, ...rest].map((f) => f.id)).toEqual((await listed(t)).map((e) => e.id));
  await resumed.close();
});

it('a client that leaves is dropped from the shared feed; at shutdown open streams end with SHUTTING_DOWN', async () => {
  const t = await makeApp(FAST);
  const a = await open(t);
  const b = await open(t);
  expect(t.deps.eventFeed.size).toBe(2);
  await a.close();
  await expect.poll(() => t.deps.eventFeed.size).toBe(1);
  t.deps.eventFeed.close();
  const [end] = await b.until((f) => f.event === 'error');
  expect(JSON.parse(end!.data!)).toMatchObject({ code: 'SHUTTING_DOWN' });
  expect(await b.next()).toBeUndefined();
  expect(t.deps.eventFeed.size).toBe(0);
});
