/**
 * The event log as a consumer sees it (issue 16): how fast events go through the log, and how long
 * a webhook takes to reach a subscriber.
 *
 * One daemon (`node dist/main.js serve`, a file database), one subscription to `device.*` and
 * `action.*` pointing at a receiver in this process, and one Server-Sent Events client on
 * `GET /api/v1/events/stream`, both opened before the first delivery (so they see the whole log).
 *
 * 1. Steady: deliveries at a fixed rate, well below saturation. Each event is matched to the
 *    delivery that carried it (its `occurredAt` is the payload's device or action time, unique per
 *    event), and its latency is the time from that delivery's POST to its arrival: at the stream
 *    client, and at the subscriber (signed, pushed by the dispatcher), after a warm-up delivery both
 *    consumers have received. The reference is the POST's own acknowledgement latency in the same run.
 * 2. Burst: deliveries as fast as the daemon acknowledges them. Events/s through the log = the burst's
 *    events over the time from its first POST until the stream client (and the subscriber) had the
 *    last one; the reference is the burst's events over the time until the daemon had applied all of
 *    it (polled on `GET /api/v1/deliveries?status=pending`), so a ratio of 1 means the log hands
 *    events on as fast as they are applied.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { copyFileSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sendAll, startProcess, waitHealthy } from './harness.js';
import { makeDeliveries } from './payloads.js';

const SECRET = 'bench-webhook-secret';
const ADMIN = 'bench-admin-token-0123456789';
/** makeDeliveries' first event time; event n of a set is at BASE + n s. */
const BASE_MS = Date.parse('2026-01-01T00:00:00.000Z');

export interface EventsBenchOptions {
  /** Steady phase: deliveries per second, and how many. */
  steadyRate: number;
  steadyDeliveries: number;
  /** Burst phase: deliveries sent as fast as they are acknowledged. */
  burstDeliveries: number;
  connections: number;
  eventsPerDelivery: number;
  /** ALERT_DISPATCH_INTERVAL_SECONDS for the daemon (how often an idle subscription lane looks again). */
  dispatchIntervalSeconds: number;
}

interface Arrivals {
  /** performance.now() of each event's arrival, by `occurredAt` ms. */
  at: Map<number, number>;
  /** Arrivals counted per phase seed. */
  count: number;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The receiver: records each event's arrival by its occurredAt (a duplicate keeps the first). */
async function startReceiver(arrivals: Arrivals) {
  const port = await freePort();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void readBody(req).then((text) => {
      const now = performance.now();
      try {
        const event = JSON.parse(text) as { occurredAt: string };
        const key = Date.parse(event.occurredAt);
        if (!arrivals.at.has(key)) {
          arrivals.at.set(key, now);
          arrivals.count++;
        }
      } catch {
        // Not an event: counted nowhere.
      }
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${port}/hook`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * An SSE client opened before the first delivery, recording each event's arrival by its
 * occurredAt. Like a real consumer it resumes with Last-Event-ID whenever the stream ends (the
 * server ends a client it judges slow); `reconnects` counts those.
 */
function startStream(base: string, arrivals: Arrivals) {
  const controller = new AbortController();
  const state = { reconnects: 0, ends: [] as string[] };
  let lastId: string | undefined;
  const readOnce = async () => {
    const res = await fetch(`${base}/api/v1/events/stream?type=device.*,action.*`, {
      headers: { authorization: `Bearer ${ADMIN}`, ...(lastId ? { 'last-event-id': lastId } : {}) },
      signal: controller.signal,
    });
    if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body) {
      const now = performance.now();
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const frame = buffer.slice(0, end).split('\n');
        buffer = buffer.slice(end + 2);
        const id = frame.find((l) => l.startsWith('id:'));
        const data = frame.find((l) => l.startsWith('data:'));
        const event = frame.find((l) => l.startsWith('event:'));
        if (data && event?.slice(6).trim() === 'error') {
          state.ends.push(data.slice(5).trim());
          continue;
        }
        if (!data || !id) continue;
        lastId = id.slice(3).trim();
        const key = Date.parse((JSON.parse(data.slice(5)) as { occurredAt: string }).occurredAt);
        if (!arrivals.at.has(key)) {
          arrivals.at.set(key, now);
          arrivals.count++;
        }
      }
    }
  };
  const done = (async () => {
    while (!controller.signal.aborted) {
      try {
        await readOnce();
      } catch (err) {
        if (controller.signal.aborted) return;
        state.ends.push(String(err));
      }
      if (controller.signal.aborted) return;
      state.reconnects++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { state, close: async () => { controller.abort(); await done.catch(() => undefined); } };
}

/** Sends the deliveries at `rate` per second, one request each; returns each one's send time and acknowledgement latency. */
async function sendSteady(url: string, deliveries: ReturnType<typeof makeDeliveries>, rate: number) {
  const sentAt: number[] = [];
  const ackMs: number[] = [];
  const started = performance.now();
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < deliveries.length; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const d = deliveries[i]!;
    const t0 = performance.now();
    sentAt[i] = t0;
    inFlight.push(
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-enode-delivery': d.id, 'x-enode-signature': d.signature }, body: d.body }).then(async (res) => {
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`delivery ${d.id} answered ${res.status}`);
        ackMs[i] = performance.now() - t0;
      }),
    );
  }
  await Promise.all(inFlight);
  return { sentAt, ackMs };
}

async function countLogged(base: string, from: number, to: number): Promise<number> {
  // Events of the set are those whose occurredAt falls in [from, to]; the log is read to its end.
  let after = '';
  let n = 0;
  for (;;) {
    const res = await fetch(`${base}/api/v1/events?type=device.*,action.*&limit=200${after ? `&after=${after}` : ''}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    if (!res.ok) throw new Error(`GET /api/v1/events answered ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as { data: Array<{ id: string; occurredAt: string }> };
    for (const e of page.data) {
      const t = Date.parse(e.occurredAt);
      if (t >= from && t <= to) n++;
    }
    const next = page.data.at(-1)?.id;
    if (page.data.length < 200 || next === undefined) return n;
    after = next;
  }
}

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = performance.now();
  const deadline = started + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`bench: ${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now();
}

async function pendingDeliveries(base: string): Promise<boolean> {
  const res = await fetch(`${base}/api/v1/deliveries?status=pending&limit=1`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return ((await res.json()) as { data: unknown[] }).data.length > 0;
}

/** Latency (ms) from each event's delivery POST to its arrival, for the events of one set. */
function latencies(arrivals: Arrivals, sentAt: number[], seedBaseN: number, perDelivery: number, count: number): number[] {
  const out: number[] = [];
  for (const [occurredAt, at] of arrivals.at) {
    const n = Math.round((occurredAt - BASE_MS) / 1000) - seedBaseN;
    if (n < 0 || n >= count * perDelivery) continue;
    const sent = sentAt[Math.floor(n / perDelivery)];
    if (sent !== undefined) out.push(at - sent);
  }
  return out;
}

export async function eventsBench(o: EventsBenchOptions) {
  // One set, so that every event's time (BASE + n s) is its own: a warm-up delivery, then the
  // steady deliveries, then the burst.
  const all = makeDeliveries(1 + o.steadyDeliveries + o.burstDeliveries, SECRET, { eventsPerDelivery: o.eventsPerDelivery, seed: 'ev' });
  const warm = all.slice(0, 1);
  const steady = all.slice(1, 1 + o.steadyDeliveries);
  const burst = all.slice(1 + o.steadyDeliveries);
  const per = o.eventsPerDelivery;
  const steadyEvents = o.steadyDeliveries * per;
  const stream: Arrivals = { at: new Map(), count: 0 };
  const subscriber: Arrivals = { at: new Map(), count: 0 };

  const dir = mkdtempSync(join(tmpdir(), 'enode-sync-bench-events-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logFd = openSync(join(dir, 'daemon.log'), 'a');
  const daemon = startProcess(
    process.execPath,
    ['dist/main.js', 'serve'],
    {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_PATH: join(dir, 'bench.db'),
      ENODE_WEBHOOK_SECRET: SECRET,
      ADMIN_TOKEN: ADMIN,
      LOG_LEVEL: 'warn',
      ALERT_DISPATCH_INTERVAL_SECONDS: String(o.dispatchIntervalSeconds),
      SUBSCRIPTION_ALLOW_PRIVATE_URLS: 'true',
    },
    logFd,
  );
  const receiver = await startReceiver(subscriber);
  let sse: ReturnType<typeof startStream> | undefined;
  try {
    await waitHealthy(`${base}/healthz`);
    const created = await fetch(`${base}/api/v1/subscriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url, types: ['device.*', 'action.*'], description: 'bench' }),
    });
    if (created.status !== 201) throw new Error(`creating the subscription answered ${created.status}: ${await created.text()}`);
    sse = startStream(base, stream);
    // Warm-up: both consumers have the first delivery's events before anything is measured.
    await sendAll(`${base}/webhooks/enode`, warm, 1);
    await waitFor(async () => !(await pendingDeliveries(base)), 60_000, 'applying the warm-up delivery');
    const warmLogged = await countLogged(base, BASE_MS, BASE_MS + (per - 1) * 1000);
    await waitFor(() => stream.count >= warmLogged && subscriber.count >= warmLogged, 60_000, 'the warm-up events reaching both consumers');

    // 1. Steady.
    const s = await sendSteady(`${base}/webhooks/enode`, steady, o.steadyRate);
    const steadyFrom = BASE_MS + per * 1000;
    const steadyTo = steadyFrom + (steadyEvents - 1) * 1000;
    await waitFor(async () => !(await pendingDeliveries(base)), 120_000, 'applying the steady deliveries');
    const steadyLogged = await countLogged(base, steadyFrom, steadyTo);
    await waitFor(() => stream.count >= warmLogged + steadyLogged && subscriber.count >= warmLogged + steadyLogged, 120_000, `the steady phase's ${steadyLogged} events reaching both consumers`);
    const streamSteady = latencies(stream, s.sentAt, per, per, o.steadyDeliveries);
    const subscriberSteady = latencies(subscriber, s.sentAt, per, per, o.steadyDeliveries);

    // 2. Burst.
    const burstFrom = steadyTo + 1000;
    const burstTo = burstFrom + (o.burstDeliveries * per - 1) * 1000;
    const streamBefore = stream.count;
    const subscriberBefore = subscriber.count;
    const t0 = performance.now();
    const load = await sendAll(`${base}/webhooks/enode`, burst, o.connections);
    const appliedAt = await waitFor(async () => !(await pendingDeliveries(base)), 300_000, 'applying the burst');
    const burstLogged = await countLogged(base, burstFrom, burstTo);
    const streamDoneAt = await waitFor(() => stream.count - streamBefore >= burstLogged, 300_000, `the burst's ${burstLogged} events reaching the stream`);
    const subscriberDoneAt = await waitFor(() => subscriber.count - subscriberBefore >= burstLogged, 300_000, `the burst's ${burstLogged} events reaching the subscriber`);
    const seconds = (t: number) => (t - t0) / 1000;
    return {
      steady: {
        rate: o.steadyRate,
        deliveries: o.steadyDeliveries,
        events: steadyLogged,
        ack: { p50: percentile(s.ackMs, 50), p99: percentile(s.ackMs, 99) },
        stream: { p50: percentile(streamSteady, 50), p99: percentile(streamSteady, 99), n: streamSteady.length },
        subscriber: { p50: percentile(subscriberSteady, 50), p99: percentile(subscriberSteady, 99), n: subscriberSteady.length },
      },
      stream: { reconnects: sse.state.reconnects, ends: sse.state.ends.slice(0, 3) },
      burst: {
        deliveries: o.burstDeliveries,
        events: burstLogged,
        ackedPerSecond: load.rps,
        appliedEventsPerSecond: burstLogged / seconds(appliedAt),
        streamEventsPerSecond: burstLogged / seconds(streamDoneAt),
        subscriberEventsPerSecond: burstLogged / seconds(subscriberDoneAt),
        errors: load.errors + load.non2xx,
      },
      dispatchIntervalSeconds: o.dispatchIntervalSeconds,
    };
  } finally {
    await sse?.close();
    await receiver.close();
    await daemon.stop();
    // BENCH_DAEMON_LOG=<file> keeps the daemon's log of the run, for looking into a figure.
    if (process.env.BENCH_DAEMON_LOG) copyFileSync(join(dir, 'daemon.log'), process.env.BENCH_DAEMON_LOG);
    rmSync(dir, { recursive: true, force: true });
  }
}
