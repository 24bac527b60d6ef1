/**
 * Retention of subscription deliveries, on the engine of the run (BOTH_ENGINES): a finished
 * delivery (sent or dead) goes once its event is pruned and it is older than RETENTION_DAYS; a
 * pending one whose event is pruned can never be sent, so it is made dead with the reason (and
 * goes a retention period later); one being sent right now (claimed past now) is left alone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createSubscriptionDispatcher } from '../../src/subscriptions/dispatcher.js';
import { SUBSCRIPTION_EVENT_PRUNED } from '../../src/subscriptions/types.js';
import { api, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { startReceiver, type Receiver } from './alerts-support.js';

const DAY = 86_400_000;
const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

const json = (body: unknown, method = 'POST'): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function subscribe(t: EngineApp, url: string): Promise<string> {
  const res = await api(t, '/subscriptions', json({ url, types: [] }));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

type Delivery = { eventId: string; status: string; lastError: string | null };
async function deliveries(t: EngineApp, id: string): Promise<Delivery[]> {
  const res = await api(t, `/subscriptions/${id}/deliveries`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Delivery[] }).data.map(({ eventId, status, lastError }) => ({ eventId, status, lastError }));
}

describe('subscriptions: retention', () => {
  it('deletes finished deliveries of pruned events, makes pending ones of pruned events dead with the reason, keeps an in-flight one and everything recent', async () => {
    const t = await makeApp();
    const r = await startReceiver();
    receivers.push(r);
    const active = await subscribe(t, r.url);
    const paused = await subscribe(t, r.url);
    const inFlight = await subscribe(t, r.url);
    await api(t, `/subscriptions/${paused}`, json({ paused: true }, 'PATCH'));
    const dispatcher = createSubscriptionDispatcher({ store: t.deps.store, clock: t.clock, logger: silentLogger(), timeoutMs: 5_000 });

    // Day 0: an event, sent to `active`, queued for `paused`, and being sent to `inFlight` (claimed below).
    await postWebhook(t, [vehicleEvent('v-old', 1, {}, 'discovered')]);
    await t.deps.store.subscriptions.fanOut({ id: inFlight, nowMs: t.clock.now().getTime(), limit: 100 });
    await dispatcher.run();
    const [old] = await deliveries(t, active);
    expect(old).toMatchObject({ status: 'sent' });
    expect(await deliveries(t, paused)).toEqual([{ eventId: old!.eventId, status: 'pending', lastError: null }]);

    // Day 31: a new event; the old one is past retention.
    t.clock.advance(31 * DAY);
    await postWebhook(t, [vehicleEvent('v-new', 2, {}, 'discovered')]);
    await dispatcher.run();
    // A send of the old event to `inFlight` starts now (after the run, which sent it the new one).
    await t.exec(`UPDATE subscription_deliveries SET status = 'pending' WHERE subscription_id = ?`, [inFlight]);
    const claimed = await t.deps.store.subscriptions.claim({ id: inFlight, holder: 'sender', nowMs: t.clock.now().getTime(), limit: 10, leaseMs: 60_000 });
    expect(claimed.map((c) => c.eventId)).toContain(old!.eventId);
    const [recent] = await deliveries(t, active);
    expect(recent!.eventId).not.toBe(old!.eventId);

    const first = await t.deps.store.prune({ cutoffMs: t.clock.now().getTime() - 30 * DAY, nowMs: t.clock.now().getTime() });
    expect(first.deleted).toMatchObject({ events: 1, subscription_deliveries: 1, subscription_deliveries_expired: 1 });
    expect(await deliveries(t, active)).toEqual([{ eventId: recent!.eventId, status: 'sent', lastError: null }]);
    expect(await deliveries(t, paused)).toEqual([
      { eventId: recent!.eventId, status: 'pending', lastError: null },
      { eventId: old!.eventId, status: 'dead', lastError: SUBSCRIPTION_EVENT_PRUNED },
    ]);
    expect((await deliveries(t, inFlight)).find((d) => d.eventId === old!.eventId)).toMatchObject({ status: 'pending' });
    // Its sender records the result: the claim was not taken away.
    const recorded = await t.deps.store.subscriptions.record({
      id: inFlight,
      holder: 'sender',
      nowMs: t.clock.now().getTime(),
      results: claimed.map((c) => ({ position: c.position, status: 'sent' as const, nextAttemptAtMs: t.clock.now().getTime(), lastStatus: 200, lastError: null })),
    });
    expect(recorded).toBe(claimed.length);

    // A second pass finds nothing more; a retention period later the dead one goes too.
    const again = await t.deps.store.prune({ cutoffMs: t.clock.now().getTime() - 30 * DAY, nowMs: t.clock.now().getTime() });
    expect(Object.values(again.deleted).every((n) => n === 0)).toBe(true);
    t.clock.advance(31 * DAY);
    await t.deps.store.prune({ cutoffMs: t.clock.now().getTime() - 30 * DAY, nowMs: t.clock.now().getTime() });
    // The new event is now past retention too: `paused` keeps only its (newly) dead delivery of it.
    expect(await deliveries(t, paused)).toEqual([{ eventId: recent!.eventId, status: 'dead', lastError: SUBSCRIPTION_EVENT_PRUNED }]);
    expect(await deliveries(t, active)).toEqual([]);
  });
});
