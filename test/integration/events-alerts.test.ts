/**
 * Alerts raised outside the funnel and the reconciler are events of the log too, written in the
 * alert's transaction, once: the Enode webhook's health (webhook.inactive/reactivated), a stalled
 * apply loop (apply.stalled, through the outbox's `raise`), and on Postgres a delivery failed
 * alone after its batch was taken apart (markDeliveryFailed writes its alert with its own SQL).
 */
import { onTestFinished, expect, it } from 'vitest';
import { applyStalledAlert } from '../../src/alerts/facts.js';
import { silentLogger } from '../../src/logger.js';
import { createPostgresStore } from '../../src/store/postgres/store.js';
import { submitDelivery } from '../../src/store/postgres/intake.js';
import type { SyncDeps, SyncEnodeApi } from '../../src/sync/types.js';
import { runWebhookHealth } from '../../src/sync/webhook-health.js';
import { itOn } from '../support/engines.js';
import { api, makeApp, NOW, testConfig, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { freshPostgresSchema } from '../support/postgres.js';
import { ManualClock } from '../../src/clock.js';
import { pgContext, received } from './pg-intake-support.js';

interface Envelope {
  id: string;
  type: string;
  deviceId: string | null;
  userId: string | null;
  data: Record<string, unknown>;
}

async function logOf(t: EngineApp): Promise<Envelope[]> {
  const res = await api(t, '/events?limit=100');
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Envelope[] }).data;
}

async function alertData(t: EngineApp, type: string): Promise<unknown[]> {
  return (await t.column<string>(`SELECT data FROM alerts WHERE type = ? ORDER BY created_at_ms, id`, [type])).map((d) => JSON.parse(d));
}

/** The webhook-health job's deps over `t`, with an Enode whose webhook reports `state` and tests as `result`. */
function healthDeps(t: EngineApp, webhook: { state: { isActive: boolean; lastSuccess: string }; result: string }): SyncDeps {
  const enode = {
    getWebhook: async (id: string) => ({ id, url: 'https://x.example/webhooks/enode', ...webhook.state }),
    testWebhook: async () => ({ status: webhook.result, description: 'test' }),
    listDevices: async function* () {},
  } as unknown as SyncEnodeApi;
  return {
    config: { ...t.config, enode: { ...t.config.enode, webhookId: 'wh-1' } },
    logger: silentLogger(),
    clock: t.clock,
    enode,
    store: t.deps.store,
    read: t.deps.read,
    state: { startedAt: t.clock.now().getTime(), lastFullResyncAt: null },
  };
}

it('webhook.inactive and webhook.reactivated are logged once per outage, with the alert’s payload', async () => {
  const t = await makeApp();
  const webhook = { state: { isActive: false, lastSuccess: '2026-03-01T08:00:00.000Z' }, result: 'FAILURE' };
  const deps = healthDeps(t, webhook);
  await runWebhookHealth(deps, t.clock.now());
  await runWebhookHealth(deps, t.clock.now());
  expect((await logOf(t)).map((e) => e.type)).toEqual(['webhook.inactive']);
  webhook.result = 'SUCCESS';
  t.clock.advance(300_000);
  await runWebhookHealth(deps, t.clock.now());
  await runWebhookHealth(deps, t.clock.now());
  const log = await logOf(t);
  expect(log.map((e) => e.type)).toEqual(['webhook.inactive', 'webhook.reactivated']);
  expect(log.map((e) => e.data)).toEqual([...(await alertData(t, 'webhook.inactive')), ...(await alertData(t, 'webhook.reactivated'))]);
});

it('apply.stalled raised through the outbox is logged once, in the alert’s transaction', async () => {
  const t = await makeApp();
  const fact = { sinceMs: NOW.getTime() - 60_000, error: 'SQLITE_FULL: database or disk is full', backlog: 3 };
  expect((await t.deps.store.alerts.raise(applyStalledAlert(fact, NOW.getTime()))).inserted).toBe(true);
  // The same episode raised again by the next retry: neither a second alert nor a second event.
  expect((await t.deps.store.alerts.raise(applyStalledAlert(fact, NOW.getTime() + 1_000))).inserted).toBe(false);
  const log = await logOf(t);
  expect(log.map((e) => [e.type, e.deviceId, e.userId])).toEqual([['apply.stalled', null, null]]);
  expect(log[0]!.data).toEqual((await alertData(t, 'apply.stalled'))[0]);
});

itOn('postgres', 'SQLite fails the delivery through the funnel repo, whose enqueueAlert logs the event (events.test.ts)', 'a delivery failed alone after its batch broke is logged as delivery.failed once (markDeliveryFailed)', async () => {
  const schema = await freshPostgresSchema({ max: 4 });
  const ctx = pgContext(schema.pool);
  for (let i = 0; i < 4; i++) await submitDelivery(ctx, received({ id: `b${i}`, body: [vehicleEvent(`v${i}`, 1)] }));
  const store = await createPostgresStore({
    pool: schema.pool,
    clock: new ManualClock(NOW),
    logger: silentLogger(),
    config: testConfig(),
    hooks: {
      afterClaim: async (_client, ids) => {
        if (ids.includes('b2')) throw new Error('this delivery breaks whatever batch it is in');
      },
    },
  });
  onTestFinished(async () => {
    await store.close();
    await schema.drop();
  });
  await store.idle();
  const { rows } = await schema.pool.query<{ type: string; fact_key: string; data: string }>(`SELECT type, fact_key, data FROM events WHERE type NOT LIKE 'device.%' ORDER BY position`);
  expect(rows.map((r) => [r.type, r.fact_key])).toEqual([['delivery.failed', 'alert:delivery.failed:b2']]);
  const { rows: alerts } = await schema.pool.query<{ data: string }>(`SELECT data FROM alerts`);
  expect(JSON.parse(rows[0]!.data)).toEqual(JSON.parse(alerts[0]!.data));
  const devices = await schema.pool.query(`SELECT count(*)::int AS n FROM events WHERE type = 'device.discovered'`);
  expect(devices.rows[0].n).toBe(3);
});
