/**
 * The subscription dispatcher's job, on the engine of the run (BOTH_ENGINES): each subscription
 * drains in a lane of its own, so a hanging endpoint never holds back another one's events; and a
 * run told to stop aborts its sends in flight, records nothing for them, and the delivery goes out
 * again after its claim expires with the same `webhook-id`; an idle lane wakes when the log grows,
 * not at its next poll; and a batch of events goes out in one claim and one record.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { unleasedContext } from '../../src/jobs/scheduler.js';
import { silentLogger } from '../../src/logger.js';
import { claimLeaseMs, createSubscriptionDispatcher } from '../../src/subscriptions/dispatcher.js';
import { api, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { startReceiver, type Receiver } from './alerts-support.js';

const receivers: Receiver[] = [];
const stops: AbortController[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) s.abort();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function subscribe(t: EngineApp, url: string): Promise<string> {
  const res = await api(t, '/subscriptions', json({ url, types: [] }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** Starts the dispatcher's job as the scheduler would, polling every 50 ms; returns its stop and its end. */
function startJob(t: EngineApp, timeoutMs: number): { stop: AbortController; ended: Promise<unknown> } {
  const d = createSubscriptionDispatcher({ store: t.deps.store, clock: t.clock, logger: silentLogger(), timeoutMs, random: () => 0.5, pollMs: 50 });
  const stop = new AbortController();
  stops.push(stop);
  return { stop, ended: d.job(5).run(t.clock.now(), unleasedContext(stop.signal)) };
}

describe('subscriptions: lanes', () => {
  it('a hanging endpoint does not hold back another: events written while it hangs reach the other long before its timeout', async () => {
    const t = await makeApp();
    const TIMEOUT_MS = 8_000;
    const slow = await receiver(() => 'hang');
    const fast = await receiver();
    await subscribe(t, slow.url);
    await subscribe(t, fast.url);
    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered')]);
    const job = startJob(t, TIMEOUT_MS);
    const [hung] = await slow.waitFor(1, 5_000);
    await fast.waitFor(1, 5_000);
    // The fast lane recorded its send and went idle (its next look finds nothing due) before more is written.
    await expect.poll(async () => (await t.column(`SELECT status FROM subscription_deliveries WHERE status = 'sent'`)).length, { timeout: 5_000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 200));

    // Written while the slow endpoint hangs: the fast one gets them without waiting for its timeout.
    await postWebhook(t, [vehicleEvent('v2', 2, {}, 'discovered')]);
    await postWebhook(t, [vehicleEvent('v3', 3, {}, 'discovered')]);
    const got = await fast.waitFor(3, TIMEOUT_MS - 1_000);
    expect(got[2]!.at - hung!.at).toBeLessThan(TIMEOUT_MS);
    // Still hanging: the slow one's first request is all it got, and nothing is recorded for it yet.
    expect(slow.requests).toHaveLength(1);
    job.stop.abort();
    await job.ended;
  });

  it('a run told to stop aborts its send in flight at once, records nothing, and after the claim expires the delivery goes out with the same webhook-id', async () => {
    const t = await makeApp();
    const TIMEOUT_MS = 20_000;
    const r = await receiver(() => 'hang');
    const id = await subscribe(t, r.url);
    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered')]);
    const first = startJob(t, TIMEOUT_MS);
    const [hung] = await r.waitFor(1, 5_000);
    const stoppedAt = performance.now();
    first.stop.abort();
    await first.ended;
    // Far sooner than the attempt's timeout: the send was aborted, not waited for.
    expect(performance.now() - stoppedAt).toBeLessThan(TIMEOUT_MS / 2);
    const [pending] = ((await (await api(t, `/subscriptions/${id}/deliveries`)).json()) as { data: Array<Record<string, unknown>> }).data;
    expect(pending).toMatchObject({ status: 'pending', attempts: 0, lastError: null, lastStatus: null });

    // Claimed for the batch's timeouts plus a margin: not sent again before that, sent again after.
    r.answer(() => ({ status: 204 }));
    const early = await createSubscriptionDispatcher({ store: t.deps.store, clock: t.clock, logger: silentLogger(), timeoutMs: TIMEOUT_MS }).run();
    expect(early[0]).toMatchObject({ attempted: 0 });
    t.clock.advance(claimLeaseMs(TIMEOUT_MS) + 1);
    const second = startJob(t, TIMEOUT_MS);
    const [, again] = await r.waitFor(2, 5_000);
    expect(again!.headers['webhook-id']).toBe(hung!.headers['webhook-id']);
    await expect
      .poll(async () => ((await (await api(t, `/subscriptions/${id}/deliveries`)).json()) as { data: Array<Record<string, unknown>> }).data[0], { timeout: 5_000 })
      .toMatchObject({ status: 'sent', attempts: 1 });
    second.stop.abort();
    await second.ended;
  });

  it('lanes wake when the log grows: a subscription created while the job runs, and an idle one, get new events long before the next poll', async () => {
    const t = await makeApp();
    const r = await receiver();
    const POLL_MS = 60_000;
    const d = createSubscriptionDispatcher({
      store: t.deps.store,
      clock: t.clock,
      logger: silentLogger(),
      timeoutMs: 5_000,
      pollMs: POLL_MS,
      head: () => t.deps.read.lastEventPosition(),
      headPollMs: 20,
    });
    const stop = new AbortController();
    stops.push(stop);
    // The job starts with no subscription: it looked them up once and waits.
    const ended = d.job(60).run(t.clock.now(), unleasedContext(stop.signal));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await subscribe(t, r.url);
    const first = performance.now();
    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered')]);
    const [one] = await r.waitFor(1, 10_000);
    expect(one!.at - first).toBeLessThan(POLL_MS / 6);
    // The lane has sent what there was and waits: without the head it would sleep for POLL_MS.
    await expect.poll(async () => (await t.column(`SELECT status FROM subscription_deliveries WHERE status = 'sent'`)).length, { timeout: 5_000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const written = performance.now();
    await postWebhook(t, [vehicleEvent('v2', 2, {}, 'discovered')]);
    const [, second] = await r.waitFor(2, 10_000);
    expect(second!.at - written).toBeLessThan(POLL_MS / 6);
    stop.abort();
    await ended;
  });

  it('a burst goes out in batches: 150 events reach the subscriber in a few rounds, each sent once', async () => {
    const t = await makeApp();
    const r = await receiver();
    const id = await subscribe(t, r.url);
    for (let i = 0; i < 15; i++) await postWebhook(t, Array.from({ length: 10 }, (_, j) => vehicleEvent(`b${i * 10 + j}`, 1, {}, 'discovered')));
    const reports = await createSubscriptionDispatcher({ store: t.deps.store, clock: t.clock, logger: silentLogger(), timeoutMs: 5_000 }).run();
    expect(reports[0]).toMatchObject({ subscriptionId: id, queued: 150, attempted: 150, sent: 150 });
    const ids = r.requests.map((q) => q.headers['webhook-id']);
    expect(new Set(ids).size).toBe(150);
  });
});
