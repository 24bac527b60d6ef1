/**
 * Issue 14, items 4, 5 and 9 (dedupe): signed but hostile payloads — nesting deep enough to break
 * every recursive serialiser, timestamps far in the future or not ISO 8601 at all, and captured
 * bodies replayed under new delivery ids.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { webhookSinkName } from '../../src/alerts/sinks/index.js';
import { MAX_JSON_DEPTH } from '../../src/domain/json-depth.js';
import { itOn } from '../support/engines.js';
import { actionEvent, api, makeApp, NOW, postWebhook, vehicleAt, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { alertsEngineApp, failAction, startReceiver, type Receiver } from './alerts-support.js';
import { gatewayEngineApp, post, seedDevice } from './gateway-support.js';

/** JSON text nesting `levels` objects: the shape of the review's 5,000–16,000-level bodies. */
const deepJson = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const FAR_FUTURE_MS = Date.UTC(2099, 11, 1);

async function count(t: EngineApp, table: string, where = ''): Promise<number> {
  return Number((await t.column(`SELECT COUNT(*) FROM ${table} ${where}`))[0]);
}

/** Every admin read route that shows devices, actions and alerts answers 200. */
async function expectReadRoutesAnswer(t: EngineApp, paths: string[]) {
  for (const path of paths) {
    const res = await api(t, path);
    expect(res.status, `GET ${path}`).toBe(200);
  }
}

describe('nesting limit at ingest', () => {
  it.each([
    ['a device snapshot', (deep: string) => `[{"event":"user:vehicle:updated","createdAt":"2026-03-01T11:00:00Z","user":{"id":"u1"},"vehicle":{"id":"vehicle-1","userId":"u1","information":${deep}}}]`],
    ['an action target', (deep: string) => `[{"event":"user:vendor-action:updated","vendorAction":{"id":"a1","userId":"u1","targetId":"vehicle-1","targetType":"vehicle","state":"PENDING","createdAt":"2026-03-01T11:00:00Z","updatedAt":"2026-03-01T11:00:00Z","target":${deep}}}]`],
    ['an unknown event', (deep: string) => `[{"event":"user:something:new","payload":${deep}}]`],
  ])('quarantines %s nested 16,000 levels (400, raw body kept), and every read route still answers', async (_what, body) => {
    const t = await makeApp();
    const text = body(deepJson(16_000));
    const res = await postWebhook(t, text, { deliveryId: 'deep-1' });
    expect(res.status).toBe(400);
    const error = (await res.json()).error;
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
    const stored = await (await api(t, '/deliveries/deep-1')).json();
    expect(stored).toMatchObject({ status: 'quarantined', body: text, bodyEncoding: 'utf8' });
    expect(stored.error).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
    expect({ devices: await count(t, 'devices'), actions: await count(t, 'actions'), systemEvents: await count(t, 'system_events') }).toEqual({ devices: 0, actions: 0, systemEvents: 0 });
    await expectReadRoutesAnswer(t, ['/devices', '/actions', '/deliveries', '/deliveries?status=quarantined', '/alerts']);
    // A replay parses the body again and quarantines it again, rather than applying it.
    const replay = await (await api(t, '/deliveries/deep-1/replay', { method: 'POST' })).json();
    expect(replay.replay.status).toBe('quarantined');
  });

  it('applies a body exactly at the limit', async () => {
    const t = await makeApp();
    // [ event { vehicle { information { … levels … } } } ]: the outer array, the event, the vehicle, then the nesting.
    const within = deepJson(MAX_JSON_DEPTH - 3);
    const res = await postWebhook(t, `[{"event":"user:vehicle:updated","createdAt":"2026-03-01T11:00:00Z","user":{"id":"u1"},"vehicle":{"id":"vehicle-1","userId":"u1","information":${within}}}]`);
    expect(res.status).toBe(200);
    expect(await count(t, 'devices')).toBe(1);
  });
});

describe('rows stored before the nesting limit', () => {
  let rx: Receiver | undefined;
  afterEach(async () => {
    await rx?.close();
    rx = undefined;
  });

  /** Stores a device, an action and its alert normally, then makes their JSON as deep as the old code could store it. */
  async function seedDeepRows(t: EngineApp) {
    await postWebhook(t, [vehicleEvent('vehicle-1', 10, { charging: true })]);
    const id = await failAction(t, 'act-1');
    // Postgres's json input refuses nesting past its stack depth (about 13,000 levels with the
    // default max_stack_depth of 2 MB); 10,000 is still far past the 64 levels the reads allow.
    const deep = deepJson(t.engine === 'postgres' ? 10_000 : 16_000);
    await t.exec('UPDATE devices SET snapshot = ? WHERE id = ?', [deep, 'vehicle-1']);
    await t.exec('UPDATE actions SET target = ?, raw = ? WHERE id = ?', [deep, deep, 'act-1']);
    await t.exec('UPDATE alerts SET data = ? WHERE id = ?', [deep, id]);
    return id;
  }

  it('shows them with a placeholder and a note instead of answering 500', async () => {
    const t = await makeApp();
    const id = await seedDeepRows(t);
    await expectReadRoutesAnswer(t, ['/devices', '/devices/vehicle-1', '/actions', '/actions/act-1', '/devices/vehicle-1/timeline', '/alerts', `/alerts/${id}`]);

    const device = await (await api(t, '/devices/vehicle-1')).json();
    expect(device).toMatchObject({ id: 'vehicle-1', snapshot: {}, controlled: { charging: true } });
    expect(device.note).toMatch(/^snapshot nests deeper than 64 levels/);
    const action = await (await api(t, '/actions/act-1')).json();
    expect(action).toMatchObject({ id: 'act-1', state: 'FAILED', target: null, failureReason: { type: 'NO_RESPONSE' } });
    expect(action.note).toMatch(/^target nests deeper than 64 levels/);
    const alert = await (await api(t, `/alerts/${id}`)).json();
    expect(alert).toMatchObject({ id, type: 'action.failed', data: null });
    expect(alert.note).toMatch(/^data nests deeper than 64 levels/);
  });

  itOn(
    'sqlite',
    'a Postgres json column refuses text that does not parse, so no row can hold it',
    'shows JSON that does not parse (a damaged or hand-edited row) as unreadable instead of answering 500',
    async () => {
      const t = await makeApp();
      await postWebhook(t, [vehicleEvent('vehicle-1', 10, { charging: true })]);
      await failAction(t, 'act-1');
      await t.exec('UPDATE devices SET snapshot = ?, controlled = ? WHERE id = ?', ['{"id":"vehi', 'not json', 'vehicle-1']);
      await t.exec('UPDATE actions SET target = ?, failure_reason = ?, raw = ? WHERE id = ?', ['[1,', '{', '', 'act-1']);
      await expectReadRoutesAnswer(t, ['/devices', '/devices/vehicle-1', '/actions', '/actions/act-1']);
      const device = await (await api(t, '/devices/vehicle-1')).json();
      expect(device).toMatchObject({ id: 'vehicle-1', snapshot: {}, controlled: {} });
      expect(device.note).toBe('snapshot is not valid JSON in storage and is not shown; controlled is not valid JSON in storage and is not shown');
      const action = await (await api(t, '/actions/act-1')).json();
      expect(action).toMatchObject({ id: 'act-1', state: 'FAILED', target: null, failureReason: null });
      expect(action.note).toContain('target is not valid JSON');
    },
  );

  it('marks an alert whose payload cannot be built dead, with the reason, without sending or retrying it', async () => {
    rx = await startReceiver();
    const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: rx.url });
    const id = await seedDeepRows(t);
    await dispatcher.runAll(t.clock.now());
    expect(rx.requests).toHaveLength(0);
    const detail = await (await api(t, `/alerts/${id}`)).json();
    expect(detail.deliveries).toMatchObject([{ sink: webhookSinkName(rx.url), status: 'dead', attempts: 1, lastStatus: null }]);
    expect(detail.deliveries[0].lastError).toContain(`deeper than ${MAX_JSON_DEPTH} levels`);
    t.clock.advance(24 * 3600_000);
    await dispatcher.runAll(t.clock.now());
    expect(rx.requests).toHaveLength(0);
  });
});

describe('NUL characters in payload text', () => {
  it('fail the delivery that carries one, alone, with the same message and alert on every engine; the raw body is kept', async () => {
    const t = await makeApp();
    const nul = vehicleEvent('vehicle-2', 10, { charging: true });
    nul.vehicle.vendor = 'TES\u0000LA';
    expect((await postWebhook(t, [vehicleEvent('vehicle-1', 10, { charging: true }), nul], { deliveryId: 'nul-vendor' })).status).toBe(200);
    expect((await postWebhook(t, [vehicleEvent('vehicle-3', 10)], { deliveryId: 'after-it' })).status).toBe(200);

    const stored = await (await api(t, '/deliveries/nul-vendor')).json();
    expect(stored).toMatchObject({ id: 'nul-vendor', status: 'failed' });
    expect(stored.error).toContain('device contains a NUL character (U+0000)');
    // The whole delivery is undone, not half applied; the one after it is applied.
    expect((await api(t, '/devices/vehicle-1')).status).toBe(404);
    expect((await api(t, '/devices/vehicle-2')).status).toBe(404);
    expect((await api(t, '/devices/vehicle-3')).status).toBe(200);
    expect(await t.column(`SELECT dedupe_key FROM alerts WHERE type = 'delivery.failed'`)).toEqual(['delivery.failed:nul-vendor']);
  });
});

describe('lone surrogates in payload text', () => {
  it('are stored as U+FFFD on every engine: the device is named by that id, reconciled once and leaves the queue', async () => {
    const t = await makeApp();
    // JSON may escape half a surrogate pair; no UTF-8 text can hold it. JSON.stringify keeps the escape.
    const events = [vehicleEvent('car-\ud800', 10, { charging: false }), vehicleEvent('car-\ud800', 20, { charging: true })];
    events[1]!.vehicle.information.displayName = 'Ole\udc00s car';
    const body = JSON.stringify(events);
    expect(body).toContain('\\ud800');
    expect((await postWebhook(t, body, { deliveryId: 'lone-surrogate' })).status).toBe(200);
    expect((await (await api(t, '/deliveries/lone-surrogate')).json()).status).toBe('applied');

    const device = await (await api(t, `/devices/${encodeURIComponent('car-\ufffd')}`)).json();
    expect(device).toMatchObject({ id: 'car-\ufffd' });
    expect(JSON.stringify(device)).toContain('Ole\ufffds car');
    expect(await t.column(`SELECT device_id FROM reconcile_queue`)).toEqual(['car-\ufffd']);
    // Due once, taken once: the queue runs out (a stored id that reads back otherwise would stay due forever).
    const run = await t.deps.store.reconcile({ nowMs: NOW.getTime() + 3_600_000 });
    expect(run.more).toBe(false);
    expect(run.devices).toBe(1);
    expect(await t.column(`SELECT device_id FROM reconcile_queue`)).toEqual([]);
  });
});

describe('payload timestamps', () => {
  /** A `user:vehicle:updated` whose snapshot is dated `atMs` and whose event is dated `createdAtMs`. */
  const vehicleUpdate = (atMs: number, charging: boolean, createdAtMs = NOW.getTime()) => {
    const vehicle = vehicleAt('vehicle-1', atMs, { charging });
    return { event: 'user:vehicle:updated', createdAt: new Date(createdAtMs).toISOString(), user: { id: vehicle.userId }, vehicle, updatedFields: [] };
  };

  it.each([
    ['the future one first', [true, false]],
    ['the present one first', [false, true]],
  ])('a snapshot dated 2099 never pins the device (%s); it is recorded with its time', async (_order, futureFirst) => {
    const t = await makeApp();
    const present = vehicleUpdate(NOW.getTime() - 60_000, false);
    const future = vehicleUpdate(FAR_FUTURE_MS, true);
    for (const isFuture of futureFirst) await postWebhook(t, [isFuture ? future : present]);
    const device = await (await api(t, '/devices/vehicle-1')).json();
    expect(device).toMatchObject({ lastSeen: present.vehicle.lastSeen, controlled: { charging: false } });
    const observed = await t.rows('SELECT observed_at_ms AS "atMs" FROM observations ORDER BY observed_at_ms');
    expect(observed).toEqual([{ atMs: NOW.getTime() - 60_000 }, { atMs: FAR_FUTURE_MS }]);
    // Later real snapshots keep moving the state: nothing is "stale" against 2099.
    await postWebhook(t, [vehicleUpdate(NOW.getTime(), true)]);
    expect((await (await api(t, '/devices/vehicle-1')).json()).controlled.charging).toBe(true);
  });

  it('a snapshot dated 2099 is no history for the reconciler: it raises no finding', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleUpdate(NOW.getTime() - 120_000, false)]);
    await postWebhook(t, [vehicleUpdate(FAR_FUTURE_MS, true)]);
    t.clock.advance(61_000);
    await t.deps.store.reconcile({});
    expect((await (await api(t, '/interference')).json()).data).toEqual([]);
  });

  it('a snapshot ahead by less than the tolerance counts (clocks differ a little); past it, it does not', async () => {
    const t = await makeApp({ CLOCK_SKEW_TOLERANCE_SECONDS: '600' });
    await postWebhook(t, [vehicleUpdate(NOW.getTime() - 60_000, false)]);
    await postWebhook(t, [vehicleUpdate(NOW.getTime() + 600_000, true, NOW.getTime())]);
    expect((await (await api(t, '/devices/vehicle-1')).json()).controlled.charging).toBe(true);
    await postWebhook(t, [vehicleUpdate(NOW.getTime() + 600_001, false, NOW.getTime())]);
    expect((await (await api(t, '/devices/vehicle-1')).json()).controlled.charging).toBe(true);
  });

  it.each([
    ['600 (the default)', '600', false],
    ['3600', '3600', true],
  ])('CLOCK_SKEW_TOLERANCE_SECONDS=%s decides whether a snapshot 30 minutes ahead wins', async (_what, seconds, wins) => {
    const t = await makeApp({ CLOCK_SKEW_TOLERANCE_SECONDS: seconds });
    await t.deps.store.applyEvents([vehicleUpdate(NOW.getTime() - 60_000, false)], 'poll');
    await t.deps.store.applyEvents([vehicleUpdate(NOW.getTime() + 30 * 60_000, true)], 'poll');
    const row = await t.row<{ controlled: string }>('SELECT controlled FROM devices');
    expect(JSON.parse(row!.controlled).charging).toBe(wins);
  });

  it('a device that so far has only a future-dated snapshot is listed, and the first real one replaces it', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleUpdate(FAR_FUTURE_MS, true)]);
    expect((await (await api(t, '/devices/vehicle-1')).json()).controlled.charging).toBe(true);
    await postWebhook(t, [vehicleUpdate(NOW.getTime() - 3_600_000, false)]);
    expect((await (await api(t, '/devices/vehicle-1')).json()).controlled.charging).toBe(false);
  });

  it('ignores times that are not ISO 8601 ("Dec 1 2099", "1"): such a snapshot has no device time and never pins', async () => {
    const t = await makeApp();
    const loose = vehicleUpdate(NOW.getTime(), true);
    const v = loose.vehicle as Record<string, unknown> & { chargeState: Record<string, unknown>; odometer: Record<string, unknown>; location: Record<string, unknown> };
    v.lastSeen = 'Dec 1 2099';
    v.chargeState.lastUpdated = '1';
    v.odometer.lastUpdated = 'Tue, 01 Dec 2099 00:00:00 GMT';
    v.location.lastUpdated = '2099-12-01';
    loose.createdAt = 'Dec 1 2099';
    await postWebhook(t, [loose]);
    expect(await t.rows('SELECT observed_at_ms AS "atMs" FROM observations')).toEqual([{ atMs: 0 }]);
    await postWebhook(t, [vehicleUpdate(NOW.getTime() - 3_600_000, false)]);
    expect((await (await api(t, '/devices/vehicle-1')).json()).controlled.charging).toBe(false);
  });

  it('a :deleted dated 2099 is recorded but does not delete the device, and the gateway still commands it', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const vehicle = vehicleAt('v1', FAR_FUTURE_MS);
    const deleted = { event: 'user:vehicle:deleted', createdAt: new Date(FAR_FUTURE_MS).toISOString(), user: { id: vehicle.userId }, vehicle };
    expect((await postWebhook(t, [deleted])).status).toBe(200);
    expect(await count(t, 'observations', `WHERE event = 'user:vehicle:deleted'`)).toBe(1);
    expect((await (await api(t, '/devices/v1')).json()).deletedAt).toBeNull();
    const res = await post(t, '/vehicles/v1/charging', { action: 'START' });
    expect(res.status).toBe(200);
    expect((await res.json()).outcome).toBe('sent');
    expect(enode.commandRequests()).toHaveLength(1);

    // A deletion dated now still deletes it, even though a 2099 snapshot was seen.
    const now = vehicleAt('v1', t.clock.now().getTime());
    await postWebhook(t, [{ event: 'user:vehicle:deleted', createdAt: t.clock.now().toISOString(), user: { id: now.userId }, vehicle: now }]);
    expect((await post(t, '/vehicles/v1/charging', { action: 'STOP' })).status).toBe(404);
  });

  it.each([
    ['the future one first', true],
    ['the present one first', false],
  ])('an action version dated 2099 never wins over a present one (%s)', async (_order, futureFirst) => {
    const t = await makeApp();
    const future = actionEvent('act-1', 'FAILED', 0);
    future.vendorAction.updatedAt = new Date(FAR_FUTURE_MS).toISOString();
    const present = actionEvent('act-1', 'CONFIRMED', 100);
    for (const e of futureFirst ? [future, present] : [present, future]) await postWebhook(t, [e]);
    expect((await (await api(t, '/actions/act-1')).json())).toMatchObject({ state: 'CONFIRMED', updatedAt: present.vendorAction.updatedAt });
  });

  it('a present PENDING replaces a stored PENDING dated 2099', async () => {
    const t = await makeApp();
    const future = actionEvent('act-1', 'PENDING', 0);
    future.vendorAction.updatedAt = new Date(FAR_FUTURE_MS).toISOString();
    await postWebhook(t, [future]);
    const present = actionEvent('act-1', 'PENDING', 100);
    await postWebhook(t, [present]);
    expect((await (await api(t, '/actions/act-1')).json()).updatedAt).toBe(present.vendorAction.updatedAt);
  });
});

describe('replayed bodies', () => {
  it('stores a body once, whatever delivery ids it is re-sent under, and points each duplicate at it', async () => {
    const t = await makeApp();
    const body = JSON.stringify([vehicleEvent('vehicle-1', 10), actionEvent('act-1', 'PENDING', 10)]);
    const answers = [];
    for (const id of ['d-1', 'replay-2', 'replay-3', 'replay-4', 'replay-5']) {
      const res = await postWebhook(t, body, { deliveryId: id });
      expect(res.status).toBe(200);
      answers.push(await res.json());
    }
    expect(answers[0]).toEqual({ deliveryId: 'd-1', status: 'pending', duplicate: false });
    expect(answers.slice(1)).toEqual(Array(4).fill({ deliveryId: 'd-1', status: 'applied', duplicate: true }));
    expect(await count(t, 'deliveries')).toBe(1);
    // Without a delivery id too.
    expect(await (await postWebhook(t, body, { deliveryId: null })).json()).toEqual({ deliveryId: 'd-1', status: 'applied', duplicate: true });
    expect(await count(t, 'deliveries')).toBe(1);
  });

  it('a quarantined body replayed under a new id is a duplicate of the quarantined delivery', async () => {
    const t = await makeApp();
    expect((await postWebhook(t, '{"not":"an array"}', { deliveryId: 'q-1' })).status).toBe(400);
    const again = await postWebhook(t, '{"not":"an array"}', { deliveryId: 'q-2' });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ deliveryId: 'q-1', status: 'quarantined', duplicate: true });
    expect(await count(t, 'deliveries')).toBe(1);
  });

  it('keeps the rule for a reused id with a different body: stored under a derived id', async () => {
    const t = await makeApp();
    await postWebhook(t, [actionEvent('act-1', 'PENDING', 1)], { deliveryId: 'd-1' });
    const other = await (await postWebhook(t, [actionEvent('act-2', 'PENDING', 1)], { deliveryId: 'd-1' })).json();
    expect(other.duplicate).toBe(false);
    expect(other.deliveryId).toMatch(/^d-1~[0-9a-f]{16}$/);
    expect(await count(t, 'deliveries')).toBe(2);
  });
});
