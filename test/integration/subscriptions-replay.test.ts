/**
 * Subscription replay, on the engine of the run (BOTH_ENGINES): done in batches of short
 * transactions with a cursor (the store's replay takes one batch and says where the next starts),
 * every matching event of a long range queued through the API, and a `since` that reaches into
 * what retention deleted answers 410 with the oldest cursor, like an expired `after`.
 */
import { describe, expect, it } from 'vitest';
import { REPLAY_BATCH } from '../../src/api/subscriptions-routes.js';
import { encodeEventCursor } from '../../src/events/cursor.js';
import { api, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';

const DAY = 86_400_000;
const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function subscribe(t: EngineApp, types: string[] = []): Promise<string> {
  // Paused: nothing is sent; the deliveries' rows show what replay queued.
  const res = await api(t, '/subscriptions', json({ url: 'https://hooks.example.com/x', types }));
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  expect((await api(t, `/subscriptions/${id}`, { ...json({ paused: true }), method: 'PATCH' })).status).toBe(200);
  return id;
}

/** Writes `n` device.discovered events, 100 per webhook. */
async function discover(t: EngineApp, n: number, prefix: string): Promise<void> {
  for (let i = 0; i < n; i += 100) {
    await postWebhook(t, Array.from({ length: Math.min(100, n - i) }, (_, j) => vehicleEvent(`${prefix}${i + j}`, 1, {}, 'discovered')));
  }
}

async function fannedOut(t: EngineApp, id: string): Promise<void> {
  for (let more = true; more; ) more = (await t.deps.store.subscriptions.fanOut({ id, nowMs: t.clock.now().getTime(), limit: 1000 })).more;
}

describe('subscriptions: replay', () => {
  it('the store replays one batch per call and names where the next one starts', async () => {
    const t = await makeApp();
    const id = await subscribe(t, ['device.*']);
    await discover(t, 5, 'v');
    await fannedOut(t, id);
    const positions = (await t.column<number>(`SELECT position FROM events ORDER BY position`)).map(Number);
    const first = await t.deps.store.subscriptions.replay({ id, after: 0, limit: 2 });
    expect(first).toEqual({ queued: 2, through: positions[1] });
    const second = await t.deps.store.subscriptions.replay({ id, after: first!.through!, limit: 2 });
    expect(second).toEqual({ queued: 2, through: positions[3] });
    expect(await t.deps.store.subscriptions.replay({ id, after: second!.through!, limit: 2 })).toEqual({ queued: 1, through: null });
    expect(await t.deps.store.subscriptions.replay({ id: 'sub_unknown', after: 0, limit: 2 })).toBeUndefined();
  });

  it(`queues every matching event of a range longer than one batch (${REPLAY_BATCH} events)`, async () => {
    const t = await makeApp();
    const id = await subscribe(t, ['device.discovered']);
    await discover(t, 2 * REPLAY_BATCH + 150, 'v');
    await fannedOut(t, id);
    await t.exec(`DELETE FROM subscription_deliveries`);
    const since = new Date(t.clock.now().getTime() - 60_000).toISOString();
    const res = await api(t, `/subscriptions/${id}/replay`, json({ since }));
    expect(await res.json()).toEqual({ queued: 2 * REPLAY_BATCH + 150 });
    expect(await t.column(`SELECT count(*) FROM subscription_deliveries WHERE subscription_id = ? AND status = 'pending'`, [id])).toEqual([2 * REPLAY_BATCH + 150]);
  });

  it('a since replays what was recorded from that time on and nothing older; a time after the last event queues nothing', async () => {
    const t = await makeApp();
    const id = await subscribe(t, ['device.discovered']);
    await discover(t, 30, 'old');
    t.clock.advance(3_600_000);
    const cut = t.clock.now().getTime();
    t.clock.advance(1_000);
    await discover(t, 20, 'new');
    await fannedOut(t, id);
    await t.exec(`DELETE FROM subscription_deliveries`);
    expect(await (await api(t, `/subscriptions/${id}/replay`, json({ since: new Date(cut).toISOString() }))).json()).toEqual({ queued: 20 });
    const replayed = await t.column<string>(`SELECT e.device_id FROM subscription_deliveries d JOIN events e ON e.position = d.position WHERE d.subscription_id = ?`, [id]);
    expect(replayed.every((d) => d.startsWith('new'))).toBe(true);
    expect(await (await api(t, `/subscriptions/${id}/replay`, json({ since: new Date(t.clock.now().getTime() + 1_000).toISOString() }))).json()).toEqual({ queued: 0 });
  });

  it('a since older than the oldest event kept after retention answers 410 with the oldest cursor; a later one replays', async () => {
    const t = await makeApp();
    const id = await subscribe(t);
    const start = t.clock.now().getTime();
    await discover(t, 3, 'old');
    t.clock.advance(40 * DAY);
    await discover(t, 2, 'new');
    await fannedOut(t, id);
    await t.exec(`DELETE FROM subscription_deliveries`);
    await t.deps.store.prune({ cutoffMs: t.clock.now().getTime() - 30 * DAY });
    const [prunedThrough] = (await t.column<number>(`SELECT pruned_through FROM event_log WHERE id = 1`)).map(Number);
    expect(prunedThrough).toBeGreaterThan(0);

    const gone = await api(t, `/subscriptions/${id}/replay`, json({ since: new Date(start).toISOString() }));
    expect(gone.status).toBe(410);
    const { error } = (await gone.json()) as { error: { code: string; oldestCursor: string; message: string } };
    expect(error).toMatchObject({ code: 'CURSOR_EXPIRED', oldestCursor: encodeEventCursor(prunedThrough!) });
    expect(error.message).toContain('since this time');
    expect(await t.column(`SELECT count(*) FROM subscription_deliveries WHERE subscription_id = ? AND status = 'pending'`, [id])).toEqual([0]);

    // From the oldest cursor, or since a time within what is kept: every kept event.
    expect(await (await api(t, `/subscriptions/${id}/replay`, json({ after: error.oldestCursor }))).json()).toEqual({ queued: 2 });
    expect(await (await api(t, `/subscriptions/${id}/replay`, json({ since: new Date(t.clock.now().getTime() - DAY).toISOString() }))).json()).toEqual({ queued: 2 });
    // An unknown subscription is a 404 even for an expired range.
    expect((await api(t, `/subscriptions/sub_unknown/replay`, json({ since: new Date(start).toISOString() }))).status).toBe(404);
  });
});
