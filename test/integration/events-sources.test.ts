/**
 * The event log fed by every path besides the webhook: the poll path (the store's applyEvents, as
 * the poller calls it), replays, the reconciler's findings and the command gateway.
 */
import { describe, expect, it } from 'vitest';
import type { EngineApp } from '../support/fixtures.js';
import { actionEvent, api, makeApp, postWebhook, vehicleEvent } from '../support/fixtures.js';
import { vehicle } from '../support/episodes.js';
import { gatewayEngineApp, post, seedDevice } from './gateway-support.js';

async function log(t: EngineApp): Promise<Array<{ id: string; type: string; deviceId: string | null; data: Record<string, any> }>> {
  const body = await (await api(t, '/events?limit=500')).json();
  return body.data;
}

async function reconcileAll(t: EngineApp): Promise<void> {
  for (let i = 0; i < 100; i++) if (!(await t.deps.store.reconcile({})).more) return;
}

describe('event log: poll, replay, reconciler and gateway', () => {
  it('the poll path logs the same facts as webhooks, and a state seen both ways is logged once', async () => {
    const t = await makeApp();
    await t.deps.store.applyEvents([vehicleEvent('v1', 1, { batteryLevel: 10 }), actionEvent('a1', 'PENDING', 1, { targetId: 'v1' })], 'poll');
    await postWebhook(t, [vehicleEvent('v1', 1, { batteryLevel: 10 }), actionEvent('a1', 'PENDING', 1, { targetId: 'v1' })]);
    await t.deps.store.applyEvents([actionEvent('a1', 'CANCELLED', 2, { targetId: 'v1' }), vehicleEvent('v1', 2, { batteryLevel: 11 })], 'poll');
    await postWebhook(t, [actionEvent('a1', 'CANCELLED', 2, { targetId: 'v1' })]);
    expect((await log(t)).map((e) => e.type)).toEqual(['device.discovered', 'action.updated', 'action.updated', 'action.cancelled', 'device.updated']);
  });

  it('a replay of an applied delivery adds nothing; a failed delivery logs only delivery.failed, once, however often it is replayed', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v1', 1)], { deliveryId: 'd1' });
    await api(t, '/deliveries/d1/replay', { method: 'POST' });
    expect((await log(t)).map((e) => e.type)).toEqual(['device.discovered']);
    // Its good first event is rolled back with the bad second one: no device.discovered for v2.
    await postWebhook(t, [vehicleEvent('v2', 1), { event: 'user:vendor-action:updated', vendorAction: { id: 'x' } }], { deliveryId: 'd2' });
    await api(t, '/deliveries/d2/replay', { method: 'POST' });
    expect((await log(t)).map((e) => [e.type, e.deviceId])).toEqual([
      ['device.discovered', 'v1'],
      ['delivery.failed', null],
    ]);
  });

  it('interference.detected from the reconciler is an event of the log, once however often it is judged', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v1', 0, { charging: true })]);
    await postWebhook(t, [vehicle('v1', 5, { charging: false })]);
    t.clock.advance(61_000);
    await reconcileAll(t);
    await postWebhook(t, [vehicle('v1', 5, { charging: false }), vehicle('v1', 0, { charging: true })], { deliveryId: 'again' });
    t.clock.advance(61_000);
    await reconcileAll(t);
    const found = (await log(t)).filter((e) => e.type === 'interference.detected');
    expect(found).toHaveLength(1);
    const alert = await t.row<{ data: string }>(`SELECT data FROM alerts WHERE type = 'interference.detected'`);
    expect(found[0]!.data).toEqual(JSON.parse(alert!.data));
    expect(found[0]!.deviceId).toBe('v1');
  });

  it('the gateway logs command.sent with its action, and command.refused for a command its guards refuse', async () => {
    const { t } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const first = await (await post(t, '/vehicles/v1/charging', { action: 'START' })).json();
    expect((await post(t, '/vehicles/v1/charging?supersede=false', { action: 'STOP' })).status).toBe(409);
    const events = (await log(t)).filter((e) => !e.type.startsWith('device.'));
    expect(events.map((e) => e.type)).toEqual(['action.updated', 'command.sent', 'command.refused']);
    expect(events[0]!.data['action']).toMatchObject({ id: first.action.id, origin: 'gateway', state: 'PENDING' });
    expect(events[1]!.data['command']).toMatchObject({ deviceId: 'v1', command: 'charging', body: { action: 'START' }, outcome: 'sent', actionId: first.action.id });
    expect(events[2]!.data['command']).toMatchObject({ command: 'charging', body: { action: 'STOP' }, outcome: 'refused', error: expect.stringContaining('ACTION_PENDING') });
    expect(events.every((e) => e.deviceId === 'v1')).toBe(true);
  });
});
