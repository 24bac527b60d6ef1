/**
 * A device event carried by a webhook keeps its snapshot by reference on SQLite (the delivery's
 * stored body holds it: events/snapshot-ref.ts), and every reader shows it whole all the same: the
 * feed, a subscription's delivery. When the delivery is gone (retention) the snapshot reads `{}`
 * with a note. On Postgres the event keeps its copy; the readers show the same.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { SNAPSHOT_GONE_NOTE } from '../../src/events/snapshot-ref.js';
import { createSubscriptionDispatcher } from '../../src/subscriptions/dispatcher.js';
import { api, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { startReceiver, verifyAt, type Receiver } from './alerts-support.js';

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

type LoggedEvent = { id: string; type: string; data: { device: Record<string, unknown>; changes: unknown[] } };

async function deviceEvents(t: EngineApp): Promise<LoggedEvent[]> {
  const res = await api(t, '/events?type=device.*&limit=100');
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: LoggedEvent[] }).data;
}

describe('device events: the snapshot by reference', () => {
  it('the feed and a subscription show each webhook snapshot whole, in the API order of the device; SQLite stores a reference instead of the copy', async () => {
    const t = await makeApp();
    const r = await startReceiver();
    receivers.push(r);
    const created = await api(t, '/subscriptions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: r.url, types: ['device.*'] }) });
    const sub = (await created.json()) as { id: string; secret: string };
    const sent = [vehicleEvent('ref-1', 1, { batteryLevel: 40 }, 'discovered'), vehicleEvent('ref-1', 2, { batteryLevel: 41, charging: true }), vehicleEvent('ref-2', 2, { batteryLevel: 70 })];
    await postWebhook(t, sent, { deliveryId: 'ref-delivery' });
    await t.deps.store.idle();

    const events = await deviceEvents(t);
    expect(events.map((e) => [e.type, e.data.device.id])).toEqual([
      ['device.discovered', 'ref-1'],
      ['device.updated', 'ref-1'],
      ['device.discovered', 'ref-2'],
    ]);
    events.forEach((e, i) => {
      expect(e.data.device.snapshot).toEqual(sent[i]!.vehicle);
      // The device as GET /api/v1/devices/{id} orders it: the snapshot right after `controlled`.
      const keys = Object.keys(e.data.device);
      expect(keys[keys.indexOf('controlled') + 1]).toBe('snapshot');
      expect(e.data.device).not.toHaveProperty('note');
    });
    expect((await (await api(t, '/devices/ref-2')).json()) as Record<string, unknown>).toMatchObject({ snapshot: events[2]!.data.device.snapshot });

    const stored = await t.column<string>(`SELECT data FROM events WHERE type LIKE 'device.%' ORDER BY position`);
    const vin = String((sent[0]!.vehicle as { information: { vin: string } }).information.vin);
    // A discovery lists every field of the device from nothing, the snapshot whole among them.
    for (const i of [0, 2]) {
      const { device, changes } = events[i]!.data;
      const shown = Object.keys(device).filter((k) => device[k] !== null).sort();
      expect(changes).toEqual(shown.map((path) => ({ path, from: null, to: device[path] })));
      expect(changes.find((c) => (c as { path: string }).path === 'snapshot')).toEqual({ path: 'snapshot', from: null, to: sent[i]!.vehicle });
    }
    expect(events[1]!.data.changes).toContainEqual({ path: 'snapshot.chargeState.batteryLevel', from: 40, to: 41 });
    if (t.engine === 'sqlite') {
      for (const text of stored) expect(text).toContain('"$snapshot"');
      // Neither copy of the snapshot is stored again: an update lists only what changed, and a
      // discovery's `changes` (every leaf, from nothing) are derived from the device when read.
      for (const text of stored) expect(text).not.toContain(vin);
      expect(stored[0]).not.toContain('"changes"');
      expect(stored[1]).toContain('"changes"');
    } else {
      for (const text of stored) expect(text).not.toContain('"$snapshot"');
    }

    await createSubscriptionDispatcher({ store: t.deps.store, clock: t.clock, logger: silentLogger(), timeoutMs: 5_000, random: () => 0.5 }).run();
    expect(r.requests).toHaveLength(3);
    r.requests.forEach((req, i) => expect(verifyAt(t.clock.now(), req, sub.secret)).toEqual(events[i]));
  });

  it('a snapshot whose delivery is gone reads {} with a note; the rest of the event stays', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('ref-3', 1, { batteryLevel: 40 }, 'discovered')], { deliveryId: 'pruned-delivery' });
    await t.deps.store.idle();
    const [before] = await deviceEvents(t);
    await t.exec(`DELETE FROM delivery_bodies WHERE id IN (SELECT body_id FROM deliveries WHERE id = ?)`, ['pruned-delivery']);
    await t.exec(`DELETE FROM deliveries WHERE id = ?`, ['pruned-delivery']);
    const [after] = await deviceEvents(t);
    if (t.engine === 'sqlite') {
      expect(after!.data.device).toEqual({ ...before!.data.device, snapshot: {}, note: SNAPSHOT_GONE_NOTE });
      // A discovery's changes are the device's fields from nothing: the snapshot among them reads {} too, the rest stays.
      expect(after!.data.changes).toEqual(before!.data.changes.map((c) => ((c as { path: string }).path === 'snapshot' ? { ...(c as object), to: {} } : c)));
      expect(after!.data.changes).toHaveLength(before!.data.changes.length);
    } else {
      // Postgres keeps the event's own copy.
      expect(after).toEqual(before);
    }
  });
});
