/**
 * The event stream over a real HTTP server (the daemon's startServer, @hono/node-server): a client
 * that stops reading while events pile up past EVENTS_STREAM_BUFFER_EVENTS is ended as a slow
 * consumer and its connection is dropped, even though its socket does not drain (the write that
 * waits on it must not hide the end); and a dashboard live tail ends when its session does.
 */
import { afterEach, expect, it } from 'vitest';
import { encodeEventCursor } from '../../src/events/cursor.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { ADMIN_TOKEN, makeApp, postWebhook, vehicleEvent } from '../support/fixtures.js';
import { openRaw, type RawConnection } from '../support/raw-http.js';

const servers: RunningServer[] = [];
const sockets: RawConnection[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.socket.destroy();
  for (const s of servers.splice(0)) await s.close(1_000);
});

const connections = (server: RunningServer) => new Promise<number>((resolve, reject) => server.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

/** A device event of about `bytes` bytes: the snapshot carries a padding field (shown in `device` and in `changes`). */
function bigVehicleEvent(id: string, bytes: number) {
  const e = vehicleEvent(id, 1);
  return { ...e, vehicle: { ...e.vehicle, padding: 'x'.repeat(bytes) } };
}

it('a client that stops reading is ended as SLOW_CONSUMER and disconnected although its socket does not drain', async () => {
  const t = await makeApp({ EVENTS_STREAM_BUFFER_EVENTS: '10', EVENTS_STREAM_POLL_MS: '50', EVENTS_STREAM_SLOW_SECONDS: '1' });
  const server = await startServer(t.deps, 0, '127.0.0.1');
  servers.push(server);
  const client = await openRaw(server.port);
  sockets.push(client);
  client.socket.write(`GET /api/v1/events/stream?after=${encodeEventCursor(0)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nAccept: text/event-stream\r\n\r\n`);
  await expect.poll(() => client.received(), { timeout: 10_000 }).toContain(': connected');
  // The client stops reading: what the server writes fills the socket buffers, then waits.
  client.socket.pause();

  // ~24 MB of events: far more than loopback socket buffers hold, and than the client's buffer of 10.
  for (let i = 0; i < 40; i++) {
    expect((await postWebhook(t, [0, 1, 2, 3, 4].map((k) => bigVehicleEvent(`v${i}-${k}`, 60_000)))).status).toBe(200);
  }
  await expect.poll(() => t.deps.eventFeed.disconnects().slow_consumer, { timeout: 20_000 }).toBe(1);
  // The connection is gone on the server's side within the end frame's wait, without the client reading.
  await expect.poll(() => connections(server), { timeout: 10_000, interval: 100 }).toBe(0);
  expect(t.deps.eventFeed.size).toBe(0);
  client.socket.resume();
  await client.whenClosed(10_000);
});

it('a live tail opened with a dashboard session ends when the session is logged out', async () => {
  const t = await makeApp({ EVENTS_STREAM_POLL_MS: '50', EVENTS_STREAM_KEEPALIVE_SECONDS: '1' });
  const server = await startServer(t.deps, 0, '127.0.0.1');
  servers.push(server);
  const login = await fetch(`${server.url}/ui/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.url, 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ token: ADMIN_TOKEN, next: '/ui' }).toString(),
  });
  expect(login.status).toBe(303);
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const res = await fetch(`${server.url}/ui/events/stream`, { headers: { cookie, accept: 'text/event-stream' } });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let text = '';
  const readUntil = async (needle: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!text.includes(needle)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${needle} within ${timeoutMs} ms; received: ${text}`);
      const chunk = await Promise.race([reader.read(), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), left))]);
      if (chunk === 'timeout') continue;
      if (chunk.done) throw new Error(`the stream ended before ${needle}; received: ${text}`);
      text += new TextDecoder().decode(chunk.value);
    }
  };
  await readUntil(': connected', 5_000);
  // Still signed in: events flow.
  await postWebhook(t, [vehicleEvent('v1', 1)]);
  await readUntil('event: device.discovered', 10_000);

  const logout = await fetch(`${server.url}/ui/logout`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, origin: server.url, 'sec-fetch-site': 'same-origin' },
  });
  expect(logout.status).toBe(303);
  await readUntil('"code":"UNAUTHORIZED"', 10_000);
  expect((await reader.read()).done).toBe(true);
  expect(t.deps.eventFeed.disconnects().logout).toBe(1);
});
