/**
 * Payload versions (README "Payload versions"), through the webhook route on the engine of this
 * run: an event of a version this build does not understand is applied only where its shape is
 * complete, a partial snapshot never replaces the stored full one, and one `webhook.version_mismatch`
 * alert is raised per webhook and version whatever is redelivered; the metric counts the events;
 * the webhook-health job checks the watched webhook's apiVersion against the simulator.
 */
import { describe, expect, it } from 'vitest';
import { alertId } from '../../src/alerts/types.js';
import { runWebhookHealth } from '../../src/sync/webhook-health.js';
import { actionEvent, api, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { engineSyncHarness } from './poller-support.js';

const NEXT = '2025-06-01';

/** A vehicle event of API version `version` whose chargeState lacks isCharging and maxCurrent. */
function partialVehicleEvent(id: string, atMinute: number, version: string | undefined) {
  const e = vehicleEvent(id, atMinute, { charging: false });
  const { isCharging: _c, maxCurrent: _m, ...chargeState } = e.vehicle.chargeState;
  const { version: _v, ...rest } = e;
  return { ...rest, ...(version === undefined ? {} : { version }), vehicle: { ...e.vehicle, chargeState } };
}

function grown(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [v, n] of Object.entries(after)) if (n !== (before[v] ?? 0)) out[v] = n - (before[v] ?? 0);
  return out;
}

function withVersion<T extends object>(e: T, version: string): T & { version: string } {
  return { ...e, version };
}

async function mismatchAlerts(t: EngineApp): Promise<Array<{ id: string; dedupe_key: string; data: string }>> {
  return t.rows(`SELECT id, dedupe_key, data FROM alerts WHERE type = 'webhook.version_mismatch' ORDER BY dedupe_key`);
}

async function device(t: EngineApp, id: string) {
  const res = await api(t, `/devices/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { snapshot: { chargeState: Record<string, unknown> }; controlled: Record<string, unknown> };
}

/**
 * The metric's series. On SQLite the counters are the writer's (one per process, shared by the
 * apps of this file), so tests compare before and after.
 */
async function mismatchMetric(t: EngineApp): Promise<Record<string, number>> {
  const text = await (await t.app.request('/metrics')).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^enode_sync_webhook_version_mismatch_total\{version="([^"]*)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe('payload versions through the webhook', () => {
  it('a partial snapshot of an unknown version does not replace the stored full one; it is kept as a system event', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v-1', 0, { charging: true })], { deliveryId: 'full' });
    const before = await device(t, 'v-1');
    expect(before.controlled).toMatchObject({ charging: true, maxCurrent: 16 });

    const res = await postWebhook(t, [partialVehicleEvent('v-1', 5, NEXT)], { deliveryId: 'next-1' });
    expect(res.status).toBe(200);
    const delivery = await (await api(t, '/deliveries/next-1')).json();
    expect(delivery).toMatchObject({ status: 'applied', versions: [NEXT] });
    expect(await device(t, 'v-1')).toEqual(before);
    expect(await t.column(`SELECT event FROM system_events WHERE delivery_id = 'next-1'`)).toEqual(['user:vehicle:updated']);
    expect(Number((await t.column(`SELECT count(*) AS n FROM observations WHERE delivery_id = 'next-1'`))[0])).toBe(0);
  });

  it('a complete snapshot of an unknown version is applied as usual', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v-1', 0, { charging: true })]);
    await postWebhook(t, [withVersion(vehicleEvent('v-1', 5, { charging: false, batteryLevel: 61 }), NEXT)], { deliveryId: 'next-full' });
    const after = await device(t, 'v-1');
    expect(after.controlled).toMatchObject({ charging: false });
    expect(after.snapshot.chargeState.batteryLevel).toBe(61);
    expect((await mismatchAlerts(t)).map((a) => a.dedupe_key)).toEqual([`webhook.version_mismatch:-:${NEXT}`]);
  });

  it('an action of an unknown version: applied when complete; an incomplete one is kept and does not fail its delivery', async () => {
    const t = await makeApp();
    await postWebhook(t, [withVersion(actionEvent('act-1', 'PENDING', 1), NEXT)], { deliveryId: 'a-1' });
    expect((await (await api(t, '/actions/act-1')).json()).state).toBe('PENDING');
    const incomplete = { event: 'user:vendor-action:updated', createdAt: '2026-03-01T10:02:00.000Z', version: NEXT, vendorAction: { id: 'act-2' } };
    await postWebhook(t, [incomplete], { deliveryId: 'a-2' });
    expect((await (await api(t, '/deliveries/a-2')).json()).status).toBe('applied');
    expect((await api(t, '/actions/act-2')).status).toBe(404);
    expect(await t.column(`SELECT event FROM system_events WHERE delivery_id = 'a-2'`)).toEqual(['user:vendor-action:updated']);
    // The same incomplete action in the understood version fails its delivery, as before.
    await postWebhook(t, [{ ...incomplete, version: '2024-10-01' }], { deliveryId: 'a-3' });
    expect((await (await api(t, '/deliveries/a-3')).json()).status).toBe('failed');
  });

  it('one alert per webhook and version, whatever is redelivered; the metric counts the events; the alert is an event of the log', async () => {
    const t = await makeApp({ ENODE_WEBHOOK_ID: 'wh-1' });
    const metricBefore = await mismatchMetric(t);
    await postWebhook(t, [vehicleEvent('v-1', 0)]);
    const body = [partialVehicleEvent('v-1', 5, NEXT), partialVehicleEvent('v-2', 5, NEXT)];
    await postWebhook(t, body, { deliveryId: 'n-1' });
    await postWebhook(t, body, { deliveryId: 'n-1' }); // the same delivery again
    await postWebhook(t, [body[1], body[0]], { deliveryId: 'n-2' }); // the same events in another delivery
    await postWebhook(t, [partialVehicleEvent('v-1', 6, NEXT)], { deliveryId: 'n-3' });
    expect((await api(t, '/deliveries/n-2/replay', { method: 'POST' })).status).toBe(200);
    const alerts = await mismatchAlerts(t);
    expect(alerts.map((a) => [a.id, a.dedupe_key])).toEqual([[alertId(`webhook.version_mismatch:wh-1:${NEXT}`), `webhook.version_mismatch:wh-1:${NEXT}`]]);
    expect(JSON.parse(alerts[0]!.data)).toMatchObject({
      webhook: { id: 'wh-1' },
      version: NEXT,
      understoodVersion: '2024-10-01',
      seenIn: 'event',
      event: 'user:vehicle:updated',
      deliveryId: 'n-1',
      links: { delivery: '/api/v1/deliveries/n-1' },
    });
    // Three distinct events of that version were kept; redeliveries of them are duplicates, not counted.
    expect(grown(metricBefore, await mismatchMetric(t))).toEqual({ [NEXT]: 3 });

    await postWebhook(t, [partialVehicleEvent('v-1', 7, '2026-01-01')], { deliveryId: 'n-4' });
    expect((await mismatchAlerts(t)).map((a) => a.dedupe_key)).toEqual([`webhook.version_mismatch:wh-1:${NEXT}`, 'webhook.version_mismatch:wh-1:2026-01-01']);
    expect(grown(metricBefore, await mismatchMetric(t))).toEqual({ [NEXT]: 3, '2026-01-01': 1 });

    const events = (await (await api(t, '/events?type=webhook.version_mismatch')).json()).data as Array<{ type: string; data: { version: string } }>;
    expect(events.map((e) => [e.type, e.data.version])).toEqual([
      ['webhook.version_mismatch', NEXT],
      ['webhook.version_mismatch', '2026-01-01'],
    ]);
  });

  it('a missing version counts as understood: applied as before, no alert, no metric', async () => {
    const t = await makeApp();
    const metricBefore = await mismatchMetric(t);
    await postWebhook(t, [vehicleEvent('v-1', 0, { charging: true })]);
    await postWebhook(t, [partialVehicleEvent('v-1', 5, undefined)], { deliveryId: 'old' });
    expect((await device(t, 'v-1')).snapshot.chargeState).not.toHaveProperty('isCharging');
    expect((await (await api(t, '/deliveries/old')).json()).versions).toEqual([]);
    expect(await mismatchAlerts(t)).toEqual([]);
    expect(grown(metricBefore, await mismatchMetric(t))).toEqual({});
  });
});

describe('webhook health checks the watched webhook’s apiVersion (simulator)', () => {
  it('a webhook pinned to another version raises the same alert once, keyed on it; 2024-10-01 or none raises nothing', async () => {
    const s = await engineSyncHarness({});
    const id = s.sim.defaultWebhookId;
    expect(id).not.toBeNull();
    s.t.config.enode.webhookId = id!;
    await runWebhookHealth(s.deps, s.t.clock.now());
    expect(await mismatchAlerts(s.t)).toEqual([]);
    s.sim.webhooks.update(id!, { apiVersion: '2024-10-01' });
    await runWebhookHealth(s.deps, s.t.clock.now());
    expect(await mismatchAlerts(s.t)).toEqual([]);

    s.sim.webhooks.update(id!, { apiVersion: NEXT });
    expect((await s.deps.enode.getWebhook(id!)).apiVersion).toBe(NEXT);
    await runWebhookHealth(s.deps, s.t.clock.now());
    s.t.clock.advance(60_000);
    await runWebhookHealth(s.deps, s.t.clock.now());
    const alerts = await mismatchAlerts(s.t);
    expect(alerts.map((a) => a.dedupe_key)).toEqual([`webhook.version_mismatch:${id}:${NEXT}`]);
    expect(JSON.parse(alerts[0]!.data)).toMatchObject({ webhook: { id }, version: NEXT, seenIn: 'webhook', event: null, deliveryId: null, links: {} });
  });
});
