/**
 * Outbound subscriptions to the event log, on the engine of the run (BOTH_ENGINES): signed
 * Standard Webhooks that the `standardwebhooks` verifier accepts, retries with the same
 * `webhook-id` then dead then manual retry, replay, secret rotation, pause, type filters, a slow
 * endpoint beside a fast one, and concurrent dispatchers sending each event once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RETRY_SCHEDULE_MS, MAX_ATTEMPTS } from '../../src/alerts/backoff.js';
import { silentLogger } from '../../src/logger.js';
import { createSubscriptionDispatcher } from '../../src/subscriptions/dispatcher.js';
import { actionEvent, api, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { startReceiver, verifyAt, type Receiver } from './alerts-support.js';

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

function dispatcher(t: EngineApp, o: { timeoutMs?: number; holder?: string } = {}) {
  return createSubscriptionDispatcher({ store: t.deps.store, clock: t.clock, logger: silentLogger(), timeoutMs: o.timeoutMs ?? 5_000, random: () => 0.5, ...(o.holder ? { holder: o.holder } : {}) });
}

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function subscribe(t: EngineApp, body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const res = await api(t, '/subscriptions', json(body));
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; secret: string };
}

async function deliveries(t: EngineApp, id: string): Promise<Array<{ eventId: string; status: string; attempts: number; lastError: string | null; lastStatus: number | null }>> {
  const res = await api(t, `/subscriptions/${id}/deliveries`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: never[] }).data;
}

async function logIds(t: EngineApp, type?: string): Promise<string[]> {
  const res = await api(t, `/events?limit=500${type ? `&type=${type}` : ''}`);
  return ((await res.json()) as { data: Array<{ id: string }> }).data.map((e) => e.id);
}

describe('subscriptions: the URL', () => {
  it.each([
    ['credentials in it', 'https://user:secret@hooks.example.com/x', 'no user name or password'],
    ['a NUL in it', 'https://hooks.example.com/a\u0000b', 'no control characters'],
  ])('with %s is a 400 that says why, on create and on update', async (_what, url, message) => {
    const t = await makeApp();
    const created = await api(t, '/subscriptions', json({ url, types: [] }));
    expect(created.status).toBe(400);
    expect(JSON.stringify(await created.json())).toContain(message);
    const { id } = await subscribe(t, { url: 'https://hooks.example.com/ok', types: [] });
    const patched = await api(t, `/subscriptions/${id}`, { ...json({ url }), method: 'PATCH' });
    expect(patched.status).toBe(400);
    expect(JSON.stringify(await patched.json())).toContain(message);
  });
});

describe('subscriptions: text', () => {
  it('a lone surrogate in the description is stored and shown as U+FFFD on every engine, on create and on update', async () => {
    const t = await makeApp();
    // JSON.stringify escapes half a surrogate pair as \udXXX, as a client may send it.
    const res = await api(t, '/subscriptions', json({ url: 'https://hooks.example.com/ok', types: [], description: 'billing \ud800' }));
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    expect(((await (await api(t, `/subscriptions/${id}`)).json()) as { description: string }).description).toBe('billing \ufffd');
    const patched = await api(t, `/subscriptions/${id}`, { ...json({ description: '\udc00 ops' }), method: 'PATCH' });
    expect(patched.status).toBe(200);
    expect(((await (await api(t, `/subscriptions/${id}`)).json()) as { description: string }).description).toBe('\ufffd ops');
    // A well-formed pair, escaped in the text, passes unchanged (the text is rewritten, the pair kept).
    const pair = await api(t, `/subscriptions/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: '{"description":"ops \\ud83d\\ude00 \\udc00"}' });
    expect(pair.status).toBe(200);
    expect(((await (await api(t, `/subscriptions/${id}`)).json()) as { description: string }).description).toBe('ops \ud83d\ude00 \ufffd');
    // Rewriting the text must not turn a body too deep for it into a 500.
    const deep = `{"description":"\\ud800","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const refused = await api(t, `/subscriptions/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: deep });
    expect(refused.status).toBe(400);
  });
});

describe('subscriptions: delivery', () => {
  it('sends each new event signed; the standardwebhooks verifier accepts it; the body is the envelope of GET /events; the secret is shown once', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v0', 1, { batteryLevel: 10 }, 'discovered')]);
    const r = await receiver();
    const sub = await subscribe(t, { url: r.url, types: [], description: 'billing' });
    expect(sub.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const shown = (await (await api(t, `/subscriptions/${sub.id}`)).json()) as Record<string, unknown>;
    expect(shown).not.toHaveProperty('secret');
    expect(JSON.stringify(await (await api(t, '/subscriptions')).json())).not.toContain(sub.secret);

    await postWebhook(t, [vehicleEvent('v1', 2, { batteryLevel: 40 }, 'discovered')]);
    await postWebhook(t, [vehicleEvent('v1', 3, { batteryLevel: 41, charging: true })]);
    const reports = await dispatcher(t).run();
    expect(reports[0]).toMatchObject({ queued: 2, sent: 2 });

    // Created after v0's event: it starts at the end of the log.
    expect(r.requests).toHaveLength(2);
    const log = ((await (await api(t, '/events?limit=500')).json()) as { data: Array<{ id: string }> }).data;
    const expected = log.slice(-2);
    for (const [i, req] of r.requests.entries()) {
      const verified = verifyAt(t.clock.now(), req, sub.secret);
      expect(verified).toEqual(expected[i]);
      expect(req.headers['webhook-id']).toBe(expected[i]!.id);
    }
    expect((await deliveries(t, sub.id)).map((d) => d.status)).toEqual(['sent', 'sent']);
    // Nothing left: a second run sends nothing.
    expect((await dispatcher(t).run())[0]).toMatchObject({ attempted: 0 });
  });

  it('a failing receiver gets every retry with the same webhook-id on the alert schedule, then the delivery is dead; a manual retry sends it again', async () => {
    const t = await makeApp();
    const r = await receiver(() => ({ status: 500, body: 'down' }));
    const sub = await subscribe(t, { url: r.url, types: ['device.*'] });
    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered')]);
    const d = dispatcher(t);
    for (let n = 1; n <= MAX_ATTEMPTS; n++) {
      await d.run();
      expect(r.requests).toHaveLength(n);
      const early = await d.run();
      expect(early[0]!.attempted).toBe(0);
      t.clock.advance(RETRY_SCHEDULE_MS[n - 1] ?? 0);
    }
    expect(new Set(r.requests.map((q) => q.headers['webhook-id'])).size).toBe(1);
    const [dead] = await deliveries(t, sub.id);
    expect(dead).toMatchObject({ status: 'dead', attempts: MAX_ATTEMPTS, lastStatus: 500 });
    expect(dead!.lastError).toContain('HTTP 500');

    r.answer(() => ({ status: 204 }));
    const retried = await api(t, `/subscriptions/${sub.id}/deliveries/${dead!.eventId}/retry`, { method: 'POST' });
    expect(retried.status).toBe(200);
    expect((await api(t, `/subscriptions/${sub.id}/deliveries/${dead!.eventId}/retry`, { method: 'POST' })).status).toBe(409);
    await d.run();
    expect(r.requests).toHaveLength(MAX_ATTEMPTS + 1);
    expect(r.requests.at(-1)!.headers['webhook-id']).toBe(dead!.eventId);
    expect((await deliveries(t, sub.id))[0]).toMatchObject({ status: 'sent', attempts: 1 });
    expect((await api(t, `/subscriptions/${sub.id}/deliveries/ev1_zzzzzzzzzzz/retry`, { method: 'POST' })).status).toBe(404);
  });

  it('type filters take exact types and prefixes', async () => {
    const t = await makeApp();
    const r1 = await receiver();
    const r2 = await receiver();
    await subscribe(t, { url: r1.url, types: ['action.*'] });
    await subscribe(t, { url: r2.url, types: ['device.discovered', 'action.failed'] });
    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered'), actionEvent('a1', 'PENDING', 2)]);
    await postWebhook(t, [vehicleEvent('v1', 3, { charging: true }), actionEvent('a1', 'FAILED', 4, { failureReason: { type: 'NO_RESPONSE', detail: 'x' } })]);
    await dispatcher(t).run();
    const types = (r: Receiver) => r.requests.map((q) => (JSON.parse(q.body) as { type: string }).type).sort();
    // `action.*` takes the alert type action.failed too.
    expect(types(r1)).toEqual(['action.failed', 'action.updated', 'action.updated']);
    expect(types(r2)).toEqual(['action.failed', 'device.discovered']);
  });

  it('paused: nothing is sent and deliveries wait; resumed: they go out. Deleted: its pending deliveries are dropped', async () => {
    const t = await makeApp();
    const r = await receiver();
    const sub = await subscribe(t, { url: r.url, types: [] });
    const patched = await api(t, `/subscriptions/${sub.id}`, { ...json({ paused: true }), method: 'PATCH' });
    expect(((await patched.json()) as { paused: boolean }).paused).toBe(true);
    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered')]);
    await dispatcher(t).run();
    expect(r.requests).toHaveLength(0);
    expect((await deliveries(t, sub.id)).map((d) => d.status)).toEqual(['pending']);
    await api(t, `/subscriptions/${sub.id}`, { ...json({ paused: false }), method: 'PATCH' });
    await dispatcher(t).run();
    expect(r.requests).toHaveLength(1);

    const other = await subscribe(t, { url: r.url, types: [] });
    await api(t, `/subscriptions/${other.id}`, { ...json({ paused: true }), method: 'PATCH' });
    await postWebhook(t, [vehicleEvent('v2', 2, {}, 'discovered')]);
    await dispatcher(t).run();
    expect((await api(t, `/subscriptions/${other.id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await t.column(`SELECT count(*) FROM subscription_deliveries WHERE subscription_id = ?`, [other.id])).toEqual([0]);
    expect((await api(t, `/subscriptions/${other.id}`)).status).toBe(404);
    expect((await api(t, `/subscriptions/${other.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('replay re-queues events after a cursor or since a time (already sent ones included); a cursor past retention answers 410', async () => {
    const t = await makeApp();
    const r = await receiver();
    const sub = await subscribe(t, { url: r.url, types: ['device.*'] });
    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered')]);
    t.clock.advance(60_000);
    await postWebhook(t, [vehicleEvent('v2', 2, {}, 'discovered')]);
    await postWebhook(t, [actionEvent('a1', 'PENDING', 3)]);
    await dispatcher(t).run();
    expect(r.requests).toHaveLength(2);
    const [first, second] = await logIds(t, 'device.*');

    const byCursor = await api(t, `/subscriptions/${sub.id}/replay`, json({ after: first }));
    expect(await byCursor.json()).toEqual({ queued: 1 });
    await dispatcher(t).run();
    expect(r.requests.map((q) => q.headers['webhook-id'])).toEqual([first, second, second]);

    const since = new Date(t.clock.now().getTime() - 120_000).toISOString();
    expect(await (await api(t, `/subscriptions/${sub.id}/replay`, json({ since }))).json()).toEqual({ queued: 2 });
    await dispatcher(t).run();
    expect(r.requests).toHaveLength(5);

    expect((await api(t, `/subscriptions/${sub.id}/replay`, json({}))).status).toBe(400);
    expect((await api(t, `/subscriptions/${sub.id}/replay`, json({ after: 'nope' }))).status).toBe(400);
    expect((await api(t, `/subscriptions/sub_unknown/replay`, json({ after: first }))).status).toBe(404);
    await t.exec(`INSERT INTO event_log (id, last_position, pruned_through) VALUES (1, 0, 2) ON CONFLICT (id) DO UPDATE SET pruned_through = 2`);
    const gone = await api(t, `/subscriptions/${sub.id}/replay`, json({ after: 'ev1_00000000001' }));
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { error: { oldestCursor: string } }).error.oldestCursor).toBe('ev1_00000000002');
  });

  it('rotation: for 24 h both secrets sign (each verifies alone); after that only the new one', async () => {
    const t = await makeApp();
    const r = await receiver();
    const sub = await subscribe(t, { url: r.url, types: [] });
    const rotated = await api(t, `/subscriptions/${sub.id}/rotate-secret`, { method: 'POST' });
    expect(rotated.status).toBe(200);
    const { secret: next, previousSecretValidUntil } = (await rotated.json()) as { secret: string; previousSecretValidUntil: string };
    expect(next).not.toBe(sub.secret);
    expect(Date.parse(previousSecretValidUntil) - t.clock.now().getTime()).toBe(24 * 3_600_000);

    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered')]);
    await dispatcher(t).run();
    const during = r.requests[0]!;
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(() => verifyAt(t.clock.now(), during, sub.secret)).not.toThrow();
    expect(() => verifyAt(t.clock.now(), during, next)).not.toThrow();

    t.clock.advance(24 * 3_600_000 + 1);
    await postWebhook(t, [vehicleEvent('v2', 2, {}, 'discovered')]);
    await dispatcher(t).run();
    const after = r.requests[1]!;
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() => verifyAt(t.clock.now(), after, next)).not.toThrow();
    expect(() => verifyAt(t.clock.now(), after, sub.secret)).toThrow();
  });

  it('one slow endpoint does not delay another: a hanging receiver and an answering one, sent in the same run', async () => {
    const t = await makeApp();
    const slow = await receiver(() => 'hang');
    const fast = await receiver();
    const slowSub = await subscribe(t, { url: slow.url, types: [] });
    await subscribe(t, { url: fast.url, types: [] });
    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered')]);
    const started = performance.now();
    const run = dispatcher(t, { timeoutMs: 3_000 }).run();
    await fast.waitFor(1, 2_000);
    expect(performance.now() - started).toBeLessThan(2_000);
    await slow.waitFor(1, 2_000);
    await run;
    const [timedOut] = await deliveries(t, slowSub.id);
    expect(timedOut).toMatchObject({ status: 'pending', attempts: 1, lastError: 'timed out' });
  });

  it('concurrent dispatchers (distinct claim holders) send each event to each subscription once', async () => {
    const t = await makeApp();
    const r1 = await receiver();
    const r2 = await receiver();
    await subscribe(t, { url: r1.url, types: [] });
    await subscribe(t, { url: r2.url, types: ['device.*'] });
    for (let i = 0; i < 12; i++) await postWebhook(t, [vehicleEvent(`v${i}`, i, {}, 'discovered')]);
    const runs = await Promise.all([1, 2, 3].map((n) => dispatcher(t, { holder: `replica-${n}` }).run()));
    for (let round = 0; round < 5; round++) await Promise.all([1, 2, 3].map((n) => dispatcher(t, { holder: `replica-${n}` }).run()));
    expect(runs.flat().reduce((sum, x) => sum + x.sent, 0)).toBeGreaterThan(0);
    const ids = (r: Receiver) => r.requests.map((q) => String(q.headers['webhook-id']));
    expect(ids(r1)).toHaveLength(12);
    expect(new Set(ids(r1)).size).toBe(12);
    expect(ids(r2)).toHaveLength(12);
    expect(new Set(ids(r2)).size).toBe(12);
  });
});

describe('subscriptions: API validation', () => {
  it('clear 4xx for bad URLs, unknown types, unknown fields and non-JSON bodies', async () => {
    const t = await makeApp();
    for (const body of [{ url: 'ftp://example.com/x', types: [] }, { url: 'not a url' }, { url: 'https://example.com', types: ['device.nope'] }, { url: 'https://example.com', extra: 1 }]) {
      const res = await api(t, '/subscriptions', json(body));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).not.toBe('');
    }
    expect((await api(t, '/subscriptions', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })).status).toBe(415);
    expect((await api(t, '/subscriptions/sub_nope', { ...json({ paused: true }), method: 'PATCH' })).status).toBe(404);
    expect((await api(t, '/subscriptions/sub_nope/rotate-secret', { method: 'POST' })).status).toBe(404);
    expect((await api(t, '/subscriptions', json({ url: 'https://example.com' }), null)).status).toBe(401);
  });
});
