import { describe, expect, it } from 'vitest';
import { alertId } from '../../src/alerts/types.js';
import { silentLogger } from '../../src/logger.js';
import type { SyncDeps, SyncEnodeApi } from '../../src/sync/types.js';
import { runWebhookHealth } from '../../src/sync/webhook-health.js';
import { actionEvent, api, makeApp, postWebhook, type EngineApp } from '../support/fixtures.js';

function alertsOf(t: EngineApp): Promise<Array<{ id: string; type: string; dedupe_key: string; data: string }>> {
  return t.rows(`SELECT id, type, dedupe_key, data FROM alerts ORDER BY created_at_ms, id`);
}

const credentialsInvalidated = { event: 'user:credentials:invalidated', createdAt: '2026-03-01T11:00:00.000Z', version: '2024-10-01', user: { id: 'user-7' }, vendor: 'TESLA' };
/** An event apply() rejects: the delivery carrying it is stored as `failed`. */
const broken = { event: 'user:vendor-action:updated', createdAt: '2026-03-01T11:00:00.000Z', vendorAction: { id: 'x' } };

describe('facts raise their alerts in their own transaction, once', () => {
  it('credentials.invalidated: one alert per event, however often it is delivered', async () => {
    const t = await makeApp();
    await postWebhook(t, [credentialsInvalidated], { deliveryId: 'c-1' });
    await postWebhook(t, [credentialsInvalidated], { deliveryId: 'c-2' });
    const alerts = (await alertsOf(t));
    expect(alerts.map((a) => a.type)).toEqual(['credentials.invalidated']);
    expect(JSON.parse(alerts[0]!.data)).toMatchObject({ user: { id: 'user-7' }, vendor: 'TESLA', invalidatedAt: '2026-03-01T11:00:00.000Z' });
  });

  it('delivery.failed: once for a delivery that cannot be applied, not again when its replay fails again', async () => {
    const t = await makeApp();
    await postWebhook(t, [broken], { deliveryId: 'bad-1' });
    expect((await (await api(t, '/deliveries/bad-1')).json()).status).toBe('failed');
    const replay = await (await api(t, '/deliveries/bad-1/replay', { method: 'POST' })).json();
    expect(replay.replay.status).toBe('failed');
    const alerts = (await alertsOf(t));
    expect(alerts.map((a) => [a.id, a.type])).toEqual([[alertId('delivery.failed:bad-1'), 'delivery.failed']]);
    expect(JSON.parse(alerts[0]!.data)).toMatchObject({ delivery: { id: 'bad-1', status: 'failed', error: expect.stringContaining('InvalidEventError') }, links: { delivery: '/api/v1/deliveries/bad-1' } });
  });

  it('a FAILED action in a delivery that is not applied raises no action.failed: the alert commits with its fact', async () => {
    const t = await makeApp();
    await postWebhook(t, [actionEvent('act-1', 'FAILED', 5), broken], { deliveryId: 'mixed-1' });
    expect((await alertsOf(t)).map((a) => a.type)).toEqual(['delivery.failed']);
    expect((await api(t, '/actions/act-1')).status).toBe(404);
  });

  it('action.failed and action.cancelled only when the stored state becomes terminal that way', async () => {
    const t = await makeApp();
    await postWebhook(t, [actionEvent('act-1', 'PENDING', 1), actionEvent('act-2', 'PENDING', 1), actionEvent('act-3', 'PENDING', 1)]);
    expect((await alertsOf(t))).toEqual([]);
    await postWebhook(t, [actionEvent('act-1', 'CONFIRMED', 2), actionEvent('act-2', 'FAILED', 2), actionEvent('act-3', 'CANCELLED', 2)]);
    // A late PENDING after the failure changes nothing (terminal states never go back).
    await postWebhook(t, [actionEvent('act-2', 'PENDING', 3)]);
    expect((await alertsOf(t)).map((a) => a.dedupe_key).sort()).toEqual(['action.cancelled:act-3', 'action.failed:act-2']);
  });

  it('webhook.inactive and webhook.reactivated: one each per outage of the Enode webhook', async () => {
    const t = await makeApp();
    let state = { isActive: false, lastSuccess: '2026-03-01T08:00:00.000Z' };
    let testResult = 'FAILURE';
    const enode = {
      getWebhook: async (id: string) => ({ id, url: 'https://x.example/webhooks/enode', ...state }),
      testWebhook: async () => ({ status: testResult, description: 'test' }),
      listDevices: async function* () {},
    } as unknown as SyncEnodeApi;
    const deps: SyncDeps = {
      config: { ...t.config, enode: { ...t.config.enode, webhookId: 'wh-1' } },
      logger: silentLogger(),
      clock: t.clock,
      enode,
      store: t.deps.store,
      read: t.deps.read,
      state: { startedAt: t.clock.now().getTime(), lastFullResyncAt: null },
    };
    await runWebhookHealth(deps, t.clock.now());
    await runWebhookHealth(deps, t.clock.now());
    expect((await alertsOf(t)).map((a) => a.type)).toEqual(['webhook.inactive']);
    testResult = 'SUCCESS';
    t.clock.advance(300_000);
    expect((await runWebhookHealth(deps, t.clock.now())).reactivated).toBe(true);
    expect((await alertsOf(t)).map((a) => a.type)).toEqual(['webhook.inactive', 'webhook.reactivated']);
    expect(JSON.parse((await alertsOf(t))[0]!.data)).toMatchObject({ webhook: { id: 'wh-1', lastSuccess: '2026-03-01T08:00:00.000Z', isActive: false } });

    // Healthy: nothing. The next outage (a later lastSuccess) is a new episode.
    state = { isActive: true, lastSuccess: '2026-03-01T12:10:00.000Z' };
    await runWebhookHealth(deps, t.clock.now());
    state = { isActive: false, lastSuccess: '2026-03-01T12:10:00.000Z' };
    await runWebhookHealth(deps, t.clock.now());
    expect((await alertsOf(t)).map((a) => a.type)).toEqual(['webhook.inactive', 'webhook.reactivated', 'webhook.inactive', 'webhook.reactivated']);
  });
});
