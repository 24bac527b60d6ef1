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
import type { Leases } from '../../src/store/leases.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import { runPendingActions } from '../../src/sync/pending-actions.js';
import type { SyncDeps, SyncEnodeApi } from '../../src/sync/types.js';
import { runHeartbeatWatch, runWebhookHealth } from '../../src/sync/webhook-health.js';
import { HEARTBEAT_SILENCE_MS } from '../../src/domain/polling.js';
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
    expect(report.finished).toBe(false);
    expect(deps.state.lastFullResyncAt).toBeNull();
  });

  it('looks at the signal after each device: with pages smaller than a batch, no page is fetched after the abort', async () => {
    const t = await makeApp();
    const controller = new AbortController();
    const pages: string[] = [];
    const enode: Partial<SyncEnodeApi> = {
      // Enode answers 30 devices a page, whatever was asked; the lease is lost at the 10th device.
      listDevices: async function* (type) {
        for (let page = 0; page < 5; page++) {
          pages.push(`${type}#${page}`);
          for (let i = 0; i < 30; i++) {
            if (page === 0 && i === 9) controller.abort();
            yield vehicleSnapshot(`${type}-${page}-${i}`, 5) as never;
          }
        }
      },
    };
    const deps = syncDeps(t, enode);
    let batches = 0;
    deps.store = { ...t.deps.store, applyEvents: async (events, source) => (batches++, t.deps.store.applyEvents(events, source)) };

    const report = await runDeviceResync(deps, t.clock.now(), 'scheduled', controller.signal);

    expect(pages).toEqual(['vehicle#0']);
    expect(batches).toBe(0);
    expect(report).toMatchObject({ devices: 10, finished: false });
    expect(await t.column('SELECT id FROM devices')).toEqual([]);
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

  it('leaves the resync it owes after the reactivation to the next run, on any replica, which finds the webhook active', async () => {
    const t = await makeApp();
    t.config.enode.webhookId = 'wh-1';
    const webhook = { id: 'wh-1', isActive: false, lastSuccess: '2026-03-01T08:00:00.000Z' };
    let listings = 0;
    let stopDuringListing: AbortController | null = null;
    const enode: Partial<SyncEnodeApi> = {
      getWebhook: async () => ({ ...webhook }) as never,
      testWebhook: async () => {
        webhook.isActive = true;
        return { status: 'SUCCESS' } as never;
      },
      listDevices: async function* (type) {
        listings++;
        stopDuringListing?.abort();
        yield vehicleSnapshot(`${type}-1`, 5) as never;
      },
    };

    // Replica A reactivates the webhook, and is told to stop (a deploy's SIGTERM) as Enode answers.
    const a = new AbortController();
    const stopped = await runWebhookHealth(syncDeps(t, { ...enode, testWebhook: async (id) => (a.abort(), enode.testWebhook!(id)) }), t.clock.now(), a.signal);
    expect(stopped).toEqual({ checked: true, isActive: false, reactivated: true, resynced: false });
    expect(listings).toBe(0);
    expect(await t.column('SELECT type FROM alerts ORDER BY type')).toEqual(['webhook.inactive', 'webhook.reactivated']);

    // Replica B's run finds the webhook active, resyncs, and is told to stop during the listing: still owed.
    t.clock.advance(5 * MIN);
    const b = new AbortController();
    stopDuringListing = b;
    expect(await runWebhookHealth(syncDeps(t, enode), t.clock.now(), b.signal)).toMatchObject({ isActive: true, resynced: false });
    expect(listings).toBe(1);
    stopDuringListing = null;

    // Replica C's run makes it to the end; after that nothing is owed.
    t.clock.advance(5 * MIN);
    expect(await runWebhookHealth(syncDeps(t, enode), t.clock.now())).toEqual({ checked: true, isActive: true, reactivated: false, resynced: true });
    expect(listings).toBeGreaterThan(1);
    const after = listings;
    t.clock.advance(5 * MIN);
    expect(await runWebhookHealth(syncDeps(t, enode), t.clock.now())).toEqual({ checked: true, isActive: true, reactivated: false, resynced: false });
    expect(listings).toBe(after);
  });

  it('owes nothing when the webhook has stayed active, and a resync that ran to the end settles what was owed', async () => {
    const t = await makeApp();
    t.config.enode.webhookId = 'wh-1';
    const webhook = { id: 'wh-1', isActive: true, lastSuccess: null };
    let listings = 0;
    const enode: Partial<SyncEnodeApi> = {
      getWebhook: async () => ({ ...webhook }) as never,
      testWebhook: async () => ((webhook.isActive = true), { status: 'SUCCESS' }) as never,
      listDevices: async function* () {
        listings++;
      },
    };
    expect(await runWebhookHealth(syncDeps(t, enode), t.clock.now())).toMatchObject({ isActive: true, resynced: false });
    expect(listings).toBe(0);

    webhook.isActive = false;
    expect(await runWebhookHealth(syncDeps(t, enode), t.clock.now())).toEqual({ checked: true, isActive: false, reactivated: true, resynced: true });
    const resynced = listings;
    expect(resynced).toBeGreaterThan(0);
    expect(await runWebhookHealth(syncDeps(t, enode), t.clock.now())).toMatchObject({ isActive: true, resynced: false });
    expect(listings).toBe(resynced);
  });
});

describe('the heartbeat watch’s resync told to stop', () => {
  /** Replica `holder`'s sync deps with silent heartbeats since start (a resync for lost events is due). */
  function replica(t: EngineApp, holder: string, enode: Partial<SyncEnodeApi>): SyncDeps {
    const deps = syncDeps(t, enode);
    deps.state.startedAt = t.clock.now().getTime() - 2 * HEARTBEAT_SILENCE_MS;
    deps.fleet = { leases: t.deps.store.leases, holder };
    return deps;
  }

  it('gives the lost-events lease back, so the next heartbeat watch, on another replica, resyncs at once', async () => {
    const t = await makeApp();
    const controller = new AbortController();
    const listedBy: string[] = [];
    const listing = (holder: string, stop?: AbortController): Partial<SyncEnodeApi> => ({
      listDevices: async function* () {
        listedBy.push(holder);
        stop?.abort();
      },
    });

    expect(await runHeartbeatWatch(replica(t, 'replica-a', listing('replica-a', controller)), t.clock.now(), controller.signal)).not.toBeNull();
    expect(listedBy).toEqual(['replica-a']);

    expect(await runHeartbeatWatch(replica(t, 'replica-b', listing('replica-b')), t.clock.now())).not.toBeNull();
    expect(listedBy.filter((h) => h === 'replica-b').length).toBeGreaterThan(0);
    // B's resync ran to the end: its lease holds the others off for the 30 minutes.
    expect(await runHeartbeatWatch(replica(t, 'replica-c', listing('replica-c')), t.clock.now())).toBeNull();
    expect(listedBy).not.toContain('replica-c');
  });

  it('gives it back too when the resync fails', async () => {
    const t = await makeApp();
    const failing = replica(t, 'replica-a', {
      listDevices: async function* () {
        yield vehicleSnapshot('vehicle-1', 5) as never;
      },
    });
    failing.store = { ...t.deps.store, applyEvents: async () => Promise.reject(new Error('connection terminated unexpectedly')) };

    await expect(runHeartbeatWatch(failing, t.clock.now())).rejects.toThrow('connection terminated unexpectedly');

    let listed = 0;
    const listing: Partial<SyncEnodeApi> = {
      listDevices: async function* () {
        listed++;
      },
    };
    expect(await runHeartbeatWatch(replica(t, 'replica-b', listing), t.clock.now())).not.toBeNull();
    expect(listed).toBeGreaterThan(0);
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

  it('a run that joins one in progress stops it when its own signal aborts, though the run it joined was never told to', async () => {
    const { t, sink } = await dispatchApp();
    for (let i = 0; i < 12; i++) await failAction(t, `act-${i}`);
    const controller = new AbortController();
    receiver!.answer(() => {
      controller.abort();
      return { status: 200 };
    });
    const dispatcher = createAlertDispatcher({ store: t.deps.store, config: t.config.alerts, clock: t.clock, logger: silentLogger(), random: () => 0.5 });

    // runAll (no signal) starts the drain; the job's run (the scheduler's signal) joins it.
    const all = dispatcher.runAll(t.clock.now());
    const joined = dispatcher.runSink(sink, t.clock.now(), controller.signal);

    const [report] = await all;
    expect(await joined).toBe(report);
    // One round of SINK_CONCURRENCY, not the three rounds the 12 alerts would take.
    expect(report).toMatchObject({ attempted: 4, delivered: 4 });
    expect(receiver!.requests).toHaveLength(4);
  });
});

describe('the scheduler over the store’s leases', () => {
  let schedulers: Scheduler[] = [];
  afterEach(async () => {
    await Promise.all(schedulers.map((s) => s.stop()));
    schedulers = [];
  });

  /**
   * Replica A runs a long job under the store's lease (750 ms by the lease clock, renewed every
   * 375 ms). The lease clock is not advanced: A never reaches its own expiry, so only the
   * renewal's answer (refused, or another token) can stop the run. `holdRenewals` keeps A's
   * renewals waiting (none in flight) while another replica acts, until the function it returns.
   */
  async function longRun(t: EngineApp) {
    let gate: Promise<void> = Promise.resolve();
    let inStore = 0;
    const leases: Leases = {
      acquire: async (args) => {
        await gate;
        inStore++;
        try {
          return await t.deps.store.leases.acquire(args);
        } finally {
          inStore--;
        }
      },
      release: (args) => t.deps.store.leases.release(args),
    };
    const holdRenewals = async () => {
      let open!: () => void;
      gate = new Promise((resolve) => (open = resolve));
      // A renewal past the old gate reaches the store within this turn; then wait for its answer.
      await sleep(0);
      await expect.poll(() => inStore, { timeout: 2_000, interval: 5 }).toBe(0);
      return open;
    };
    const { lines, logger } = captureLogs('warn');
    const seen = { units: 0, ended: false, token: null as number | null, runs: 0 };
    const job: JobSpec = {
      name: 'long',
      everySeconds: 1,
      runAtStart: true,
      run: async (_now, ctx) => {
        if (++seen.runs > 1) return;
        seen.token = ctx.token;
        for (; seen.units < 200 && !ctx.signal.aborted; seen.units++) await sleep(20);
        seen.ended = true;
      },
    };
    schedulers.push(startScheduler([job], t.clock, logger, { leases, holder: 'replica-a' }));
    await expect.poll(() => seen.units, { timeout: 2_000, interval: 10 }).toBeGreaterThan(2);
    const lost = () => lines.filter((l) => l['msg'] === 'job lost its lease: stopping this run, another replica may be running the job');
    return { seen, lost, holdRenewals };
  }

  it('stops a run whose renewal is refused: another replica took the lease (its clock ahead), with a higher token', async () => {
    const t = await makeApp();
    const { seen, lost } = await longRun(t);

    // Replica B's clock is 800 ms ahead: by it, A's lease has lapsed, and B takes it.
    const taken = await t.deps.store.leases.acquire({ name: 'job:long', holder: 'replica-b', ttlMs: 750, nowMs: t.clock.now().getTime() + 800, extend: false });
    expect(taken?.token).toBeGreaterThan(seen.token!);

    await expect.poll(() => seen.ended, { timeout: 2_000, interval: 10 }).toBe(true);
    expect(seen.units).toBeLessThan(100);
    expect(lost()).toEqual([expect.objectContaining({ job: 'long', lease: 'job:long', token: seen.token, why: 'another replica holds its lease now (renewal refused)' })]);
  });

  it('stops a run whose renewal answers another token: the lease was taken anew and given back in between', async () => {
    const t = await makeApp();
    const { seen, lost, holdRenewals } = await longRun(t);

    // Replica B takes it (its clock ahead) and gives it back, between two renewals of A: A's next renewal takes it anew.
    const resume = await holdRenewals();
    const taken = await t.deps.store.leases.acquire({ name: 'job:long', holder: 'replica-b', ttlMs: 750, nowMs: t.clock.now().getTime() + 800, extend: false });
    await t.deps.store.leases.release({ name: 'job:long', holder: 'replica-b', nowMs: t.clock.now().getTime() - 1 });
    resume();

    await expect.poll(() => seen.ended, { timeout: 2_000, interval: 10 }).toBe(true);
    expect(seen.units).toBeLessThan(100);
    const why = `its lease lapsed and was taken anew in between (token ${seen.token}, now ${taken!.token + 1})`;
    expect(lost()).toEqual([expect.objectContaining({ job: 'long', lease: 'job:long', why })]);
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
