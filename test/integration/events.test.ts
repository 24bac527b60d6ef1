/**
 * The event log through the admin API (`GET /api/v1/events`), fed by the webhook path: one event
 * per fact, only when current state changes, alerts as events, filters, cursors, retention.
 */
import { describe, expect, it } from 'vitest';
import { api, actionEvent, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';

interface Envelope {
  id: string;
  type: string;
  occurredAt: string;
  recordedAt: string;
  deviceId: string | null;
  userId: string | null;
  data: Record<string, any>;
}

async function events(t: EngineApp, query = ''): Promise<Envelope[]> {
  const all: Envelope[] = [];
  let after: string | null = null;
  for (;;) {
    const sep = query === '' ? '' : '&';
    const res = await api(t, `/events?limit=2${sep}${query}${after ? `&after=${after}` : ''}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Envelope[]; pagination: { after: string | null } };
    all.push(...body.data);
    if (!body.pagination.after) return all;
    after = body.pagination.after;
  }
}

describe('event log: webhook facts', () => {
  it('device.discovered, then device.updated with the changed paths; the device is shown as GET /devices/{id} shows it', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v1', 1, { batteryLevel: 40 }, 'discovered')]);
    await postWebhook(t, [vehicleEvent('v1', 2, { batteryLevel: 41, charging: true })]);
    const log = await events(t);
    expect(log.map((e) => e.type)).toEqual(['device.discovered', 'device.updated']);
    const updated = log[1]!;
    const shown = await (await api(t, '/devices/v1')).json();
    expect(updated.data['device']).toEqual(shown);
    expect(updated).toMatchObject({ deviceId: 'v1', userId: 'user-of-v1', occurredAt: '2026-03-01T10:02:00.000Z' });
    const paths = (updated.data['changes'] as Array<{ path: string; from: unknown; to: unknown }>).map((c) => c.path);
    expect(paths).toContain('snapshot.chargeState.batteryLevel');
    expect(paths).toContain('controlled.charging');
    expect(updated.data['changes']).toContainEqual({ path: 'snapshot.chargeState.batteryLevel', from: 40, to: 41 });
    expect(log[0]!.id < log[1]!.id).toBe(true);
  });

  it('a redelivered, replayed or stale snapshot adds no event', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v1', 5, { batteryLevel: 50 })], { deliveryId: 'd-new' });
    await postWebhook(t, [vehicleEvent('v1', 5, { batteryLevel: 50 })], { deliveryId: 'd-new' });
    await postWebhook(t, [vehicleEvent('v1', 5, { batteryLevel: 50 })], { deliveryId: 'd-again' });
    expect((await api(t, '/deliveries/d-new/replay', { method: 'POST' })).status).toBe(200);
    await postWebhook(t, [vehicleEvent('v1', 3, { batteryLevel: 30 })], { deliveryId: 'd-stale' });
    expect((await events(t)).map((e) => e.type)).toEqual(['device.discovered']);
  });

  it('device.deleted when a delete applies; a snapshot newer than the deletion rediscovers the device', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v1', 1)]);
    await postWebhook(t, [vehicleEvent('v1', 2, {}, 'deleted')]);
    await postWebhook(t, [vehicleEvent('v1', 2, {}, 'deleted')], { deliveryId: 'again' });
    await postWebhook(t, [vehicleEvent('v1', 9)]);
    const log = await events(t);
    expect(log.map((e) => e.type)).toEqual(['device.discovered', 'device.deleted', 'device.discovered']);
    expect(log[1]!.data['device']['deletedAt']).not.toBeNull();
    expect(log[2]!.data['device']['deletedAt']).toBeNull();
  });

  it('action.updated once per new state, never backwards; FAILED also logs its alert as an event', async () => {
    const t = await makeApp();
    await postWebhook(t, [actionEvent('a1', 'PENDING', 1)]);
    await postWebhook(t, [actionEvent('a1', 'PENDING', 2)]);
    await postWebhook(t, [actionEvent('a1', 'FAILED', 3, { failureReason: { type: 'X', detail: 'y' } })]);
    await postWebhook(t, [actionEvent('a1', 'PENDING', 4)]);
    await postWebhook(t, [actionEvent('a1', 'FAILED', 3, { failureReason: { type: 'X', detail: 'y' } })], { deliveryId: 'dup' });
    const log = await events(t);
    expect(log.map((e) => [e.type, e.data['previousState'] ?? null, e.data['action']?.state ?? null])).toEqual([
      ['action.updated', null, 'PENDING'],
      ['action.updated', 'PENDING', 'FAILED'],
      ['action.failed', null, 'FAILED'],
    ]);
    const alert = await t.row<{ data: string }>(`SELECT data FROM alerts WHERE type = 'action.failed'`);
    expect(log[2]!.data).toEqual(JSON.parse(alert!.data));
    expect(log[2]).toMatchObject({ deviceId: 'vehicle-1', userId: 'user-of-vehicle-1' });
  });

  it('credentials.invalidated and delivery.failed are events of the log, once', async () => {
    const t = await makeApp();
    const invalidated = { event: 'user:credentials:invalidated', createdAt: '2026-03-01T11:00:00.000Z', version: '2024-10-01', user: { id: 'u7' }, vendor: 'TESLA' };
    const broken = { event: 'user:vendor-action:updated', createdAt: '2026-03-01T11:00:00.000Z', vendorAction: { id: 'x' } };
    await postWebhook(t, [invalidated], { deliveryId: 'c1' });
    await postWebhook(t, [invalidated], { deliveryId: 'c2' });
    await postWebhook(t, [broken], { deliveryId: 'bad' });
    await api(t, '/deliveries/bad/replay', { method: 'POST' });
    expect((await events(t)).map((e) => [e.type, e.userId])).toEqual([
      ['credentials.invalidated', 'u7'],
      ['delivery.failed', null],
    ]);
  });
});

describe('event log: reading', () => {
  it('filters by type (comma list and prefixes), device and user; pages oldest first', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v1', 1), vehicleEvent('v2', 1), actionEvent('a1', 'PENDING', 1, { targetId: 'v2' }), vehicleEvent('v1', 2, { batteryLevel: 60 })]);
    expect((await events(t, 'type=device.*')).map((e) => [e.type, e.deviceId])).toEqual([
      ['device.discovered', 'v1'],
      ['device.discovered', 'v2'],
      ['device.updated', 'v1'],
    ]);
    expect((await events(t, 'type=action.updated,device.updated')).map((e) => e.type)).toEqual(['action.updated', 'device.updated']);
    expect((await events(t, 'deviceId=v2')).map((e) => e.type)).toEqual(['device.discovered', 'action.updated']);
    expect((await events(t, 'userId=user-of-v1')).map((e) => e.type)).toEqual(['device.discovered', 'device.updated']);
    const all = await events(t);
    const after = await (await api(t, `/events?after=${all[1]!.id}`)).json();
    expect(after.data.map((e: Envelope) => e.id)).toEqual(all.slice(2).map((e) => e.id));
    expect(after.pagination.after).toBeNull();
  });

  it('a malformed cursor or an unknown type is a 400 that says so; the route needs the admin token', async () => {
    const t = await makeApp();
    const bad = await api(t, '/events?after=not-a-cursor');
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toMatch(/Invalid "after" cursor/);
    const typo = await api(t, '/events?type=device.updatd');
    expect(typo.status).toBe(400);
    expect((await typo.json()).error.message).toMatch(/Unknown event type "device.updatd"/);
    expect((await api(t, '/events', {}, null)).status).toBe(401);
  });

  it('retention prunes old events; a cursor before what is kept answers 410 with the oldest cursor still available', async () => {
    const t = await makeApp({ RETENTION_DAYS: '30' });
    await postWebhook(t, [vehicleEvent('v1', 1)]);
    await postWebhook(t, [vehicleEvent('v1', 2, { batteryLevel: 70 })]);
    const old = await events(t);
    t.clock.advance(31 * 86_400_000);
    await postWebhook(t, [vehicleEvent('v1', 60 * 24 * 31, { batteryLevel: 90 })]);
    const r = await t.deps.store.prune({ cutoffMs: t.clock.now().getTime() - 30 * 86_400_000 });
    expect(r.deleted['events']).toBe(2);
    const kept = await events(t);
    expect(kept.map((e) => e.type)).toEqual(['device.updated']);
    const gone = await api(t, `/events?after=${old[0]!.id}`);
    expect(gone.status).toBe(410);
    const body = await gone.json();
    expect(body.error.oldestCursor).toBe(old[1]!.id);
    const resumed = await (await api(t, `/events?after=${body.error.oldestCursor}`)).json();
    expect(resumed.data.map((e: Envelope) => e.id)).toEqual(kept.map((e) => e.id));
  });

  it('once retention emptied the log, its end is where retention stopped, not the start (a live tail from there is not expired)', async () => {
    const t = await makeApp({ RETENTION_DAYS: '30' });
    await postWebhook(t, [vehicleEvent('v1', 1)]);
    await postWebhook(t, [vehicleEvent('v1', 2, { batteryLevel: 70 })]);
    const all = await events(t);
    t.clock.advance(31 * 86_400_000);
    await t.deps.store.prune({ cutoffMs: t.clock.now().getTime() - 30 * 86_400_000 });
    expect(await events(t)).toEqual([]);
    const end = await t.deps.read.lastEventPosition();
    expect(end).toBe(await t.deps.read.eventsPrunedThrough());
    expect(end).toBeGreaterThan(0);
    // Reading on from the last event that was shown is not expired: nothing after it was pruned.
    expect((await api(t, `/events?after=${all[1]!.id}`)).status).toBe(200);
  });
});
