/**
 * Fencing through the store, on the engine of this run: a job told to stop (its lease lost, or
 * the daemon stopping) makes no further call to Enode and no further batch of writes, and what it
 * had claimed but not done is left for the replica that holds the lease now. The jobs' signals
 * are aborted by hand here, at a chosen unit of work; the scheduler's part (when it aborts them)
 * is in test/unit/scheduler-fencing.test.ts, and with the real leases at the end of this file.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { alertJobs, createAlertDispatcher, sinkSetKey } from '../../src/alerts/dispatcher.js';
import { webhookSinkName } from '../../src/alerts/sinks/index.js';
import { startScheduler, type JobSpec, type Scheduler } from '../../src/jobs/scheduler.js';
import { silentLogger } from '../../src/logger.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import { runPendingActions } from '../../src/sync/pending-actions.js';
import type { SyncDeps, SyncEnodeApi } from '../../src/sync/types.js';
import { runWebhookHealth } from '../../src/sync/webhook-health.js';
import { captureLogs } from '../support/logs.js';
import { actionEvent, api, makeApp, postWebhook, vehicleSnapshot, type EngineApp } from '../support/fixtures.js';
import { ALERT_SECRET, failAction, startReceiver, type Receiver } from './alerts-support.js';

const MIN = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function syncDeps(t: EngineApp, enode: Partial<SyncEnodeApi>): SyncDeps {
  return {
    config: t.config,
    logger: silentLogger(),
    clock: t.clock,
    enode: enode as SyncEnodeApi,
    store: t.deps.store,
    read: t.deps.read,
    state: { startedAt: t.clock.now().getTime(), lastFullResyncAt: null },
  };
}

/** `count` PENDING actions on as many vehicles, stored through the webhook route and applied. */
async function pendingActions(t: EngineApp, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `act-${i}`);
  const events = ids.map((id, i) => actionEvent(id, 'PENDING', 1, { targetId: `vehicle-${i}` }));
  expect((await postWebhook(t, events, { deliveryId: 'd-pending' })).status).toBe(200);
  await t.deps.store.idle();
  return ids;
}

describe('the pending-actions poller told to stop', () => {
  it('polls no further action once aborted; the polls it made are recorded, so the next holder does not repeat them', async () => {
    const t = await makeApp();
    const ids = await pendingActions(t, 12);
    t.clock.advance(10 * MIN);
    const controller = new AbortController();
    const requested: string[] = [];
    const enode: Partial<SyncEnodeApi> = {
      getAction: async (_type, id) => {
        requested.push(id);
        // The lease is lost during the second request.
        if (requested.length === 2) controller.abort();
        return actionEvent(id, 'PENDING', 1, { targetId: `vehicle-${ids.indexOf(id)}` }).vendorAction as never;
      },
    };

    const report = await runPendingActions(syncDeps(t, enode), t.clock.now(), controller.signal);

    // Each poll looks at the signal before its request: none is asked after the abort.
    expect(requested).toEqual(['act-0', 'act-1']);
    expect(report).toMatchObject({ due: 12, polled: 2 });
    const polledAt = new Map((await t.deps.read.pendingActions()).map((a) => [a.id, a.lastPolledAt]));
    expect(requested.map((id) => polledAt.get(id))).toEqual(requested.map(() => t.clock.now().getTime()));

    // The replica that holds the lease now polls only the actions not polled yet.
    const first = [...requested];
    const next: string[] = [];
    await runPendingActions(syncDeps(t, { getAction: async (type, id) => (next.push(id), enode.getAction!(type, id)) }), t.clock.now());
    expect(next.sort()).toEqual(ids.filter((id) => !first.includes(id)).sort());
  });
});

describe('the device resync told to stop', () => {
  it('fetches no further page and writes no further batch, and does not count as a full resync', async () => {
    const t = await makeApp();
    const controller = new AbortController();
    const pages: string[] = [];
    const enode: Partial<SyncEnodeApi> = {
      listDevices: async function* (type, opts) {
        const pageSize = opts?.pageSize ?? 100;
        for (let page = 0; page < 3; page++) {
          pages.push(`${type}#${page}`);
          for (let i = 0; i < pageSize; i++) yield vehicleSnapshot(`${type}-${page}-${i}`, 5) as never;
        }
      },
    };
    const deps = syncDeps(t, enode);
    let batches = 0;
    deps.store = {
      ...t.deps.store,
      applyEvents: async (events, source) => {
        batches++;
        controller.abort();
        return t.deps.store.applyEvents(events, source);
      },
    };

    const report = await runDeviceResync(deps, t.clock.now(), 'scheduled', controller.signal);

    expect(pages).toEqual(['vehicle#0']);
    expect(batches).toBe(1);
    expect(report.devices).toBe(100);
    expect(deps.state.lastFullResyncAt).toBeNull();
  });
});

describe('the webhook health check told to stop', () => {
  it('neither raises the alert nor reactivates the webhook after the check that found it inactive', async () => {
    const t = await makeApp();
    t.config.enode.webhookId = 'wh-1';
    const controller = new AbortController();
    let tests = 0;
    const enode: Partial<SyncEnodeApi> = {
      getWebhook: async () => {
        controller.abort();
        return { id: 'wh-1', isActive: false, lastSuccess: null } as never;
      },
      testWebhook: async () => {
        tests++;
        return { status: 'SUCCESS' } as never;
      },
    };

    const report = await runWebhookHealth(syncDeps(t, enode), t.clock.now(), controller.signal);

    expect(report).toEqual({ checked: true, isActive: false, reactivated: false, resynced: false });
    expect(tests).toBe(0);
    expect(await t.column('SELECT id FROM alerts')).toEqual([]);
  });
});

describe('alert dispatch told to stop', () => {
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
  });

  async function dispatchApp() {
    receiver = await startReceiver();
    const t = await makeApp({ ALERT_WEBHOOK_SECRET: ALERT_SECRET, ALERT_WEBHOOK_URLS: receiver.url, ALERT_TIMEOUT_SECONDS: '2' });
    return { t, sink: webhookSinkName(receiver.url) };
  }
  const deliveryOf = async (t: EngineApp, alertId: string) => ((await (await api(t, `/alerts/${alertId}`)).json()) as { deliveries: unknown[] }).deliveries[0];

  it('sends none of the alerts claimed as the signal aborted, marks none sent, and another run sends them once the claim runs out', async () => {
    const { t, sink } = await dispatchApp();
    const alerts = [await failAction(t, 'act-1'), await failAction(t, 'act-2')];
    const controller = new AbortController();
    const store = { alerts: { ...t.deps.store.alerts, claim: async (args: Parameters<typeof t.deps.store.alerts.claim>[0]) => {
      const claimed = await t.deps.store.alerts.claim(args);
      controller.abort();
      return claimed;
    } } };
    const stopped = createAlertDispatcher({ store, config: t.config.alerts, clock: t.clock, logger: silentLogger(), random: () => 0.5 });

    expect(await stopped.runSink(sink, t.clock.now(), controller.signal)).toMatchObject({ attempted: 0, delivered: 0 });
    expect(receiver!.requests).toHaveLength(0);
    for (const id of alerts) expect(await deliveryOf(t, id)).toMatchObject({ status: 'pending', attempts: 0 });

    // The claim holds them for the attempt's timeout plus a minute; then any replica sends them.
    const next = createAlertDispatcher({ store: t.deps.store, config: t.config.alerts, clock: t.clock, logger: silentLogger(), random: () => 0.5 });
    expect(await next.runSink(sink, t.clock.now())).toMatchObject({ attempted: 0 });
    t.clock.advance(2_000 + MIN + 1);
    expect(await next.runSink(sink, t.clock.now())).toMatchObject({ attempted: 2, delivered: 2 });
    expect(receiver!.requests.map((r) => r.headers['webhook-id']).sort()).toEqual([...alerts].sort());
  });

  it('records what it sent before the abort and starts no further round', async () => {
    const { t, sink } = await dispatchApp();
    const alerts: string[] = [];
    for (let i = 0; i < 6; i++) alerts.push(await failAction(t, `act-${i}`));
    const controller = new AbortController();
    receiver!.answer(() => {
      controller.abort();
      return { status: 200 };
    });
    const dispatcher = createAlertDispatcher({ store: t.deps.store, config: t.config.alerts, clock: t.clock, logger: silentLogger(), random: () => 0.5 });

    expect(await dispatcher.runSink(sink, t.clock.now(), controller.signal)).toMatchObject({ attempted: 4, delivered: 4 });

    const sent = new Set(receiver!.requests.map((r) => String(r.headers['webhook-id'])));
    expect(sent.size).toBe(4);
    for (const id of alerts) expect(await deliveryOf(t, id)).toMatchObject(sent.has(id) ? { status: 'delivered', attempts: 1 } : { status: 'pending', attempts: 0 });
  });
});

describe('the scheduler over the store’s leases', () => {
  let schedulers: Scheduler[] = [];
  afterEach(async () => {
    await Promise.all(schedulers.map((s) => s.stop()));
    schedulers = [];
  });

  it('stops a run whose lapsed lease another replica took, and the new holder has a higher token', async () => {
    const t = await makeApp();
    const { lines, logger } = captureLogs('warn');
    let units = 0;
    let ended = false;
    let token: number | null = null;
    const job: JobSpec = {
      name: 'long',
      everySeconds: 1,
      runAtStart: true,
      run: async (_now, ctx) => {
        if (token !== null) return;
        token = ctx.token;
        for (; units < 200 && !ctx.signal.aborted; units++) await sleep(20);
        ended = true;
      },
    };
    schedulers.push(startScheduler([job], t.clock, logger, { leases: t.deps.store.leases, holder: 'replica-a' }));
    await expect.poll(() => units, { timeout: 2_000, interval: 10 }).toBeGreaterThan(2);

    // Replica A's lease (750 ms) lapses by the lease clock, and replica B takes it.
    t.clock.advance(800);
    const taken = await t.deps.store.leases.acquire({ name: 'job:long', holder: 'replica-b', ttlMs: 750, nowMs: t.clock.now().getTime(), extend: false });

    await expect.poll(() => ended, { timeout: 2_000, interval: 10 }).toBe(true);
    expect(units).toBeLessThan(100);
    expect(taken?.token).toBeGreaterThan(token!);
    expect(lines.filter((l) => l['msg'] === 'job lost its lease: stopping this run, another replica may be running the job')).toEqual([
      expect.objectContaining({ job: 'long', lease: 'job:long' }),
    ]);
  });

  it('retires at start the alerts of a sink removed before a restart, though the fleet checked a day’s worth ago; once per fleet per configuration', async () => {
    const kept = 'http://127.0.0.1:9/kept';
    const removed = 'http://127.0.0.1:9/removed';
    const t = await makeApp({ ALERT_WEBHOOK_SECRET: ALERT_SECRET, ALERT_WEBHOOK_URLS: kept });
    const id = await failAction(t, 'act-1');
    const names = [webhookSinkName(kept), webhookSinkName(removed)];
    // Before the restart both sinks were configured: the alert fanned out to both, and the daily check ran.
    await t.deps.store.alerts.claim({ nowMs: t.clock.now().getTime(), sinks: names.map((name) => ({ name, types: ['action.failed'] })), sink: names[0]!, limit: 0, leaseMs: 1 });
    const nowMs = t.clock.now().getTime();
    await t.deps.store.leases.acquire({ name: `job:alert-sinks-check:${sinkSetKey(names)}`, holder: 'before-restart', ttlMs: 86_399_000, nowMs, extend: false });
    await t.deps.store.leases.acquire({ name: 'job:alert-sinks-check', holder: 'before-restart', ttlMs: 86_399_000, nowMs, extend: false });

    let retireCalls = 0;
    const store = { ...t.deps.store, alerts: { ...t.deps.store.alerts, retireSinks: (a: { nowMs: number; configured: string[] }) => (retireCalls++, t.deps.store.alerts.retireSinks(a)) } };
    const checkOn = (holder: string) => {
      const jobs = alertJobs({ store, config: t.config.alerts, clock: t.clock, logger: silentLogger() }).filter((j) => j.name === 'alert-sinks-check');
      schedulers.push(startScheduler(jobs, t.clock, silentLogger(), { leases: t.deps.store.leases, holder }));
    };

    checkOn('after-restart');
    await expect.poll(async () => ((await (await api(t, `/alerts/${id}`)).json()) as { deliveries: Array<{ sink: string; status: string }> }).deliveries.find((d) => d.sink === names[1])?.status).toBe('dead');
    expect(retireCalls).toBe(1);

    // A second replica configured alike, started now, leaves it to the daily run.
    checkOn('second-replica');
    await sleep(200);
    expect(retireCalls).toBe(1);
  });
});
