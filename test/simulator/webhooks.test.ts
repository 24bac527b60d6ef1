import { afterEach, describe, expect, it } from 'vitest';
import { verifyEnodeSignature } from '../../src/ingest/signature.js';
import type { Simulator } from '../../src/simulator/index.js';
import { api, find, quietSim, startReceiver, type Receiver } from './helpers.js';

let sim: Simulator | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await sim?.close();
  await receiver?.close();
  sim = undefined;
  receiver = undefined;
});

const SECRET = 'test-webhook-secret';

/** Generates events: interference flips every battery's operation mode. */
function churn(s: Simulator, rounds: number): void {
  for (let i = 0; i < rounds; i++) {
    for (const rec of s.world.list('battery')) s.control.interfere(rec.data.id);
  }
}

describe('webhook delivery', () => {
  it('delivers signed JSON arrays with a unique delivery id per POST and the 2024-10-01 envelope', async () => {
    receiver = await startReceiver();
    sim = quietSim({ webhookUrl: receiver.url, webhookSecret: SECRET });
    const v = find(sim, 'vehicle', (r) => !r.data.chargeState.isPluggedIn);
    sim.control.setPlugged(v.data.id, true);
    churn(sim, 3);
    await sim.flushWebhooks();

    expect(receiver.received.length).toBeGreaterThan(0);
    const ids = new Set<string>();
    for (const r of receiver.received) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(verifyEnodeSignature(new Uint8Array(r.body), r.headers['x-enode-signature'] as string, [SECRET])).toBe(true);
      expect(verifyEnodeSignature(new Uint8Array(r.body), r.headers['x-enode-signature'] as string, ['other-secret'])).toBe(false);
      ids.add(r.headers['x-enode-delivery'] as string);
      expect(Array.isArray(r.events)).toBe(true);
      expect(r.events.length).toBeLessThanOrEqual(100);
    }
    expect(ids.size).toBe(receiver.received.length);

    const events = receiver.received.flatMap((r) => r.events);
    const vehicleUpdate = events.find((e) => e['event'] === 'user:vehicle:updated' && e['vehicle'].id === v.data.id);
    expect(vehicleUpdate).toMatchObject({ version: '2024-10-01', user: { id: v.data.userId }, createdAt: sim.clock.iso() });
    expect(vehicleUpdate!['updatedFields']).toEqual(expect.arrayContaining(['chargeState.isPluggedIn', 'chargeState.powerDeliveryState']));
    expect(vehicleUpdate!['vehicle'].chargeState.isPluggedIn).toBe(true);
  });

  it('emits vendor-action events for every transition of an action', async () => {
    receiver = await startReceiver();
    sim = quietSim({ webhookUrl: receiver.url, webhookSecret: SECRET });
    const c = find(sim, 'charger');
    const r = await api(sim).call('POST', `/chargers/${c.data.id}/max-current`, { maxCurrent: 10 });
    await sim.runFor(30_000);
    const actionEvents = receiver.received.flatMap((x) => x.events).filter((e) => e['event'] === 'user:vendor-action:updated');
    expect(actionEvents.map((e) => e['vendorAction'].state)).toEqual(['PENDING', 'CONFIRMED']);
    expect(actionEvents[1]).toMatchObject({ user: { id: c.data.userId }, vendorAction: { id: r.body.id }, updatedFields: expect.arrayContaining(['state']) });
  });

  it('batches at most 100 events per POST', async () => {
    receiver = await startReceiver();
    sim = quietSim({ webhookUrl: receiver.url, webhookSecret: SECRET, fleet: { batteries: 30 } });
    // The first event goes out alone; everything produced while it is in flight queues up.
    churn(sim, 10);
    await sim.flushWebhooks();
    const sizes = receiver.received.map((r) => r.events.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(200);
    expect(Math.max(...sizes)).toBe(100);
  });

  it('retries a failing receiver with growing intervals, then deactivates the webhook and drops its events', async () => {
    receiver = await startReceiver(500);
    sim = quietSim({ webhookUrl: receiver.url, webhookSecret: SECRET, retryMaxAttempts: 4, retryBaseSeconds: 10, retryFactor: 2 });
    churn(sim, 1);
    await sim.runFor(3600_000);
    const attempts = sim.truth().deliveries.filter((d) => d.webhookId === sim!.defaultWebhookId);
    expect(attempts.map((d) => d.attempt)).toEqual([1, 2, 3, 4]);
    const times = attempts.map((d) => Date.parse(d.at));
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    expect(gaps).toEqual([10_000, 20_000, 40_000]);
    expect(new Set(receiver.received.map((r) => r.headers['x-enode-delivery'])).size).toBe(4);

    const a = api(sim);
    const hook = await a.call('GET', `/webhooks/${sim.defaultWebhookId}`);
    expect(hook.body.isActive).toBe(false);
    const truth = sim.truth();
    expect(truth.webhookStats.deactivations).toBe(1);
    expect(truth.droppedEvents.filter((d) => d.reason === 'retries_exhausted').length).toBeGreaterThan(0);

    // While inactive, new events are dropped too.
    churn(sim, 1);
    expect(sim.truth().droppedEvents.some((d) => d.reason === 'inactive')).toBe(true);

    // A successful test reactivates it.
    receiver.status = 200;
    const test = await a.call('POST', `/webhooks/${sim.defaultWebhookId}/test`);
    expect(test.body).toMatchObject({ status: 'SUCCESS', response: { code: 200, body: 'ok' } });
    expect(receiver.received.at(-1)!.events).toEqual([{ event: 'enode:webhook:test', createdAt: sim.clock.iso(), version: '2024-10-01' }]);
    expect((await a.call('GET', `/webhooks/${sim.defaultWebhookId}`)).body).toMatchObject({ isActive: true, lastSuccess: sim.clock.iso() });
    const before = receiver.received.length;
    churn(sim, 1);
    await sim.flushWebhooks();
    expect(receiver.received.length).toBeGreaterThan(before);
  });

  it('reports FAILURE from the test endpoint when the receiver fails or is unreachable', async () => {
    receiver = await startReceiver(503);
    sim = quietSim();
    const a = api(sim);
    const created = await a.call('POST', '/webhooks', { url: receiver.url, secret: SECRET });
    expect((await a.call('POST', `/webhooks/${created.body.id}/test`)).body).toMatchObject({ status: 'FAILURE', response: { code: 503 } });
    const dead = await a.call('POST', '/webhooks', { url: 'http://127.0.0.1:9/nothing', secret: SECRET });
    expect((await a.call('POST', `/webhooks/${dead.body.id}/test`)).body).toMatchObject({ status: 'FAILURE', response: null });
  });

  it('drops events at dropRate=1 and records them as dropped', async () => {
    receiver = await startReceiver();
    sim = quietSim({ webhookUrl: receiver.url, webhookSecret: SECRET, dropRate: 1 });
    churn(sim, 2);
    await sim.flushWebhooks();
    expect(receiver.received).toHaveLength(0);
    const truth = sim.truth();
    expect(truth.webhookStats.dropped).toBeGreaterThan(0);
    expect(truth.droppedEvents.every((d) => d.reason === 'fault')).toBe(true);
  });

  it('delivers every event exactly twice at duplicateRate=1 and counts the duplicates', async () => {
    receiver = await startReceiver();
    sim = quietSim({ webhookUrl: receiver.url, webhookSecret: SECRET, duplicateRate: 1 });
    churn(sim, 2);
    await sim.flushWebhooks();
    const keys = receiver.received.flatMap((r) => r.events).map((e) => JSON.stringify(e));
    const unique = new Set(keys).size;
    expect(unique).toBe(sim.world.list('battery').length * 2);
    expect(keys.length).toBe(unique * 2);
    expect(sim.truth().webhookStats.duplicated).toBe(unique);
  });

  it('duplicates some events at duplicateRate=0.3', async () => {
    receiver = await startReceiver();
    sim = quietSim({ webhookUrl: receiver.url, webhookSecret: SECRET, duplicateRate: 0.3, fleet: { batteries: 10 } });
    churn(sim, 4);
    await sim.flushWebhooks();
    const delivered = receiver.received.flatMap((r) => r.events).length;
    const duplicated = sim.truth().webhookStats.duplicated;
    expect(duplicated).toBeGreaterThan(0);
    expect(duplicated).toBeLessThan(delivered / 2);
    expect(delivered).toBe(sim.world.list('battery').length * 4 + duplicated);
  });

  it('shuffles delivery order at reorderRate but still delivers every event', async () => {
    receiver = await startReceiver();
    sim = quietSim({ webhookUrl: receiver.url, webhookSecret: SECRET, reorderRate: 1 });
    churn(sim, 5);
    await sim.flushWebhooks();
    const times = receiver.received.flatMap((r) => r.events).map((e) => e['createdAt'] as string);
    expect(sim.truth().webhookStats.reordered).toBeGreaterThan(0);
    const batteries = sim.world.list('battery').length;
    const events = receiver.received.flatMap((r) => r.events).filter((e) => e['event'] === 'user:battery:updated');
    expect(events.length).toBe(batteries * 5);
    expect(times.length).toBeGreaterThan(0);
  });

  it('sends system:heartbeat periodically with pendingEvents', async () => {
    receiver = await startReceiver();
    sim = quietSim({ webhookUrl: receiver.url, webhookSecret: SECRET, heartbeatSeconds: 300, fleet: { vehicles: 0, chargers: 0, hvacs: 0, batteries: 0 } });
    await sim.runFor(900_000);
    const beats = receiver.received.flatMap((r) => r.events).filter((e) => e['event'] === 'system:heartbeat');
    expect(beats).toHaveLength(3);
    expect(beats[0]).toEqual({ event: 'system:heartbeat', createdAt: expect.any(String), version: '2024-10-01', pendingEvents: 0 });
  });

  it('sends the authentication header and only the subscribed events', async () => {
    receiver = await startReceiver();
    sim = quietSim();
    const a = api(sim);
    await a.call('POST', '/webhooks', {
      url: receiver.url,
      secret: SECRET,
      events: ['user:battery:updated'],
      authentication: { headerName: 'x-api-key', headerValue: 'k-123' },
    });
    sim.control.setPlugged(find(sim, 'vehicle', (r) => !r.data.chargeState.isPluggedIn).data.id, true);
    churn(sim, 1);
    await sim.flushWebhooks();
    const events = receiver.received.flatMap((r) => r.events);
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e['event'] === 'user:battery:updated')).toBe(true);
    expect(receiver.received[0]!.headers['x-api-key']).toBe('k-123');
  });

  it('discovers and deletes devices with events', async () => {
    receiver = await startReceiver();
    sim = quietSim({ webhookUrl: receiver.url, webhookSecret: SECRET });
    const added = sim.control.addDevice('hvac', 'new-user');
    sim.control.removeDevice(added.data.id);
    await sim.flushWebhooks();
    const events = receiver.received.flatMap((r) => r.events);
    expect(events.map((e) => e['event'])).toEqual(['user:hvac:discovered', 'user:hvac:updated', 'user:hvac:deleted']);
    expect(events[0]!['hvac']).toMatchObject({ id: added.data.id, information: expect.any(Object), thermostatState: null });
    expect(events[0]!['user']).toEqual({ id: 'new-user' });
  });
});

describe('webhook management', () => {
  it('creates, lists, gets, patches and deletes webhooks; never echoes the secret', async () => {
    sim = quietSim();
    const a = api(sim);
    const created = await a.call('POST', '/webhooks', { url: 'https://example.test/hook', secret: SECRET, authentication: { headerName: 'x-key', headerValue: 'v' } });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ url: 'https://example.test/hook', events: ['*'], isActive: true, apiVersion: null, authentication: { headerName: 'x-key' }, lastSuccess: null });
    expect(JSON.stringify(created.body)).not.toContain(SECRET);
    expect((await a.call('POST', '/webhooks', { url: 'https://example.test/hook', secret: SECRET })).status).toBe(400);
    expect((await a.call('POST', '/webhooks', { url: 'https://example.test/other' })).status).toBe(400);
    expect((await a.call('POST', '/webhooks', { url: 'nope', secret: SECRET })).status).toBe(400);
    expect((await a.call('POST', '/webhooks', { url: 'https://example.test/x', secret: SECRET, events: ['user:bogus'] })).status).toBe(400);

    await a.call('POST', '/webhooks', { url: 'https://example.test/second', secret: SECRET });
    const list = await a.call('GET', '/webhooks?pageSize=1');
    expect(list.body.data[0].url).toBe('https://example.test/second');
    expect(list.body.pagination.after).not.toBeNull();

    const patched = await a.call('PATCH', `/webhooks/${created.body.id}`, { events: ['user:vehicle:updated'], authentication: null });
    expect(patched.body).toMatchObject({ events: ['user:vehicle:updated'], authentication: null });
    expect((await a.call('GET', `/webhooks/${created.body.id}`)).body.events).toEqual(['user:vehicle:updated']);
    expect((await a.call('DELETE', `/webhooks/${created.body.id}`)).status).toBe(204);
    expect((await a.call('GET', `/webhooks/${created.body.id}`)).status).toBe(404);
    expect((await a.call('DELETE', `/webhooks/${created.body.id}`)).status).toBe(404);
  });
});
