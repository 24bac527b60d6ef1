/**
 * The event stream over real HTTP, against the daemon on each engine: events from webhooks
 * arrive as frames; a client that disconnects and reconnects with Last-Event-ID receives exactly
 * the events it missed, in order; an idle stream gets keep-alive comments; SIGTERM with a stream
 * open stops the daemon promptly, the stream told to reconnect.
 */
import { afterEach, expect, it } from 'vitest';
import { encodeEventCursor } from '../../src/events/cursor.js';
import { adminGet, deliver, E2E_ADMIN, removeDir, startDaemon, tempDir, waitApplied, type Daemon } from '../support/daemon.js';
import { daemonDatabases, describeEngines } from '../support/engines-e2e.js';
import { vehicleEvent } from '../support/fixtures.js';
import { sseReader, type SseFrame, type SseReader } from '../support/sse.js';

const running: Daemon[] = [];
const dirs: string[] = [];
const databases = daemonDatabases();

afterEach(async () => {
  for (const d of running.splice(0)) await d.proc.stop();
  await databases.dropAll();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

async function connect(d: Daemon, query: string, lastEventId?: string): Promise<SseReader> {
  const headers: Record<string, string> = { authorization: `Bearer ${E2E_ADMIN}`, accept: 'text/event-stream' };
  if (lastEventId) headers['last-event-id'] = lastEventId;
  const res = await fetch(`${d.url}/api/v1/events/stream${query}`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = sseReader(res.body!);
  expect((await reader.next(10_000))?.comments).toEqual(['connected']);
  return reader;
}

const devices = (frames: SseFrame[]) => frames.map((f) => `${f.event} ${JSON.parse(f.data!).deviceId}`);

describeEngines('event stream over real HTTP', (engine) => {
  it('delivers webhook events live; after a disconnect, Last-Event-ID resumes with exactly the missed events, in order; idle streams get keep-alive comments', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const db = await databases.make(engine);
    const d = await startDaemon(dir, { ...db.env, EVENTS_STREAM_KEEPALIVE_SECONDS: '1', EVENTS_STREAM_POLL_MS: '100' });
    running.push(d);

    const first = await connect(d, `?after=${encodeEventCursor(0)}&type=device.*`);
    expect((await deliver(d.url, 'd1', [vehicleEvent('v1', 1), vehicleEvent('v2', 1)])).status).toBe(200);
    const seen = await first.events(2, 15_000);
    expect(devices(seen)).toEqual(['device.discovered v1', 'device.discovered v2']);
    await first.close();

    // While disconnected: three more facts (and a duplicate delivery that adds none).
    expect((await deliver(d.url, 'd2', [vehicleEvent('v1', 2, { batteryLevel: 61 })])).status).toBe(200);
    expect((await deliver(d.url, 'd3', [vehicleEvent('v3', 1), vehicleEvent('v2', 2, { batteryLevel: 12 })])).status).toBe(200);
    expect((await deliver(d.url, 'd3', [vehicleEvent('v3', 1), vehicleEvent('v2', 2, { batteryLevel: 12 })])).status).toBe(200);
    await waitApplied(d.url);

    const again = await connect(d, `?after=${encodeEventCursor(0)}&type=device.*`, seen[1]!.id);
    const missed = await again.events(3, 15_000);
    expect(devices(missed)).toEqual(['device.updated v1', 'device.discovered v3', 'device.updated v2']);
    const listed = (await (await adminGet(d.url, '/events?type=device.*&limit=500')).json()).data as Array<{ id: string }>;
    expect([...seen, ...missed].map((f) => f.id)).toEqual(listed.map((e) => e.id));
    // Nothing else follows: the next frame is a keep-alive comment, about a second later.
    expect(await again.next(5_000)).toEqual({ comments: ['keep-alive'] });
    await again.close();
  }, 90_000);

  (engine === 'postgres' ? it : it.skip)(
    `streams events another replica wrote${engine === 'postgres' ? '' : ' [postgres only: one daemon per SQLite file]'}`,
    async () => {
      const dir = tempDir();
      dirs.push(dir);
      const db = await databases.make(engine);
      const env = { ...db.env, EVENTS_STREAM_POLL_MS: '100' };
      const reader = await startDaemon(dir, env);
      running.push(reader);
      const writer = await startDaemon(dir, env);
      running.push(writer);
      const s = await connect(reader, '');
      expect((await deliver(writer.url, 'r1', [vehicleEvent('v1', 1), vehicleEvent('v2', 1)])).status).toBe(200);
      expect(devices(await s.events(2, 15_000))).toEqual(['device.discovered v1', 'device.discovered v2']);
      await s.close();
    },
    90_000,
  );

  it('stops promptly on SIGTERM with a stream open; the stream is told to reconnect', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const db = await databases.make(engine);
    const d = await startDaemon(dir, db.env);
    running.push(d);
    const s = await connect(d, '');
    const started = Date.now();
    const stopped = d.proc.stop();
    const frames = await s.until((f) => f.event === 'error', 10_000);
    expect(JSON.parse(frames[frames.length - 1]!.data!)).toMatchObject({ code: 'SHUTTING_DOWN' });
    expect(await stopped).toBe(0);
    running.pop();
    // Well under the server's 10 s shutdown deadline, which an open stream would otherwise run into.
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(d.logs()).toContain('"msg":"stopped"');
  }, 60_000);
});
