/**
 * The poller tests' harness on the engine of this run (fixtures.ts `makeApp`): the daemon's app
 * fed by an in-process simulator, as test/support/sync-harness.ts builds it over SQLite, with the
 * tables read through portable SQL so that the same assertions hold on SQLite and Postgres.
 */
import { silentLogger } from '../../src/logger.js';
import { createSimulator, inProcessFetch, SimApiClient } from '../../src/simulator/index.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import { runPendingActions } from '../../src/sync/pending-actions.js';
import type { SyncDeps } from '../../src/sync/types.js';
import { makeEnodeClient } from '../support/enode.js';
import { makeApp, SECRET } from '../support/fixtures.js';
import { sendCommand, type ActionOutcome } from '../support/sync-harness.js';

/** Daemon (in-process app on this run's engine) fed by an in-process simulator; the client counts its action GETs. */
export async function engineSyncHarness(simOptions: Parameters<typeof createSimulator>[0], env: Record<string, string> = {}) {
  const logger = silentLogger();
  const t = await makeApp(env, { logger });
  let deliveriesDown = false;
  const sim = createSimulator({
    seed: 5,
    devices: 30,
    actionDelaySeconds: [10, 90],
    webhookUrl: 'http://daemon.test/webhooks/enode',
    webhookSecret: SECRET,
    fetch: (async (url: string, init?: RequestInit) => {
      if (deliveriesDown) throw new TypeError('fetch failed: connection refused');
      return t.app.request(url, init);
    }) as typeof fetch,
    ...simOptions,
  });
  t.clock.set(sim.clock.nowMs());
  const actionGets = new Map<string, number>();
  const simFetch = inProcessFetch(sim.app);
  const enode = makeEnodeClient({
    baseUrl: 'http://sim.local',
    clock: t.clock,
    logger,
    fetch: async (url, init) => {
      const m = /\/actions\/([^/?]+)$/.exec(new URL(url).pathname);
      if (m && (init?.method ?? 'GET') === 'GET') actionGets.set(m[1] as string, (actionGets.get(m[1] as string) ?? 0) + 1);
      return simFetch(url, init);
    },
  });
  const deps: SyncDeps = {
    config: t.config,
    logger,
    clock: t.clock,
    enode,
    store: t.deps.store,
    read: t.deps.read,
    state: { startedAt: t.clock.now().getTime(), lastFullResyncAt: null },
  };
  const retailer = new SimApiClient({ baseUrl: 'http://sim.local', clientId: sim.options.clientId, clientSecret: sim.options.clientSecret, fetch: simFetch });
  return {
    t,
    sim,
    deps,
    retailer,
    actionGets,
    setDeliveriesDown: (down: boolean) => {
      deliveriesDown = down;
    },
    /** Moves the simulator and the daemon's clock together, then lets the daemon apply what arrived. */
    async step(ms: number) {
      await sim.runFor(ms);
      t.clock.set(sim.clock.nowMs());
      await t.deps.store.idle();
    },
  };
}

export type EngineSyncHarness = Awaited<ReturnType<typeof engineSyncHarness>>;

/** The `controlled` column of a device as parsed JSON, or null when the daemon has no such device. */
export async function controlledOf(s: EngineSyncHarness, id: string): Promise<unknown> {
  const row = await s.t.row<{ controlled: string }>('SELECT controlled FROM devices WHERE id = ?', [id]);
  return row ? JSON.parse(row.controlled) : null;
}

/**
 * The 20 %-drops scenario of sync-harness.ts `runDropScenario` on this run's engine: a command
 * every 5 simulated minutes for `hours`, the poller every 30 s, then `settleHours` without
 * commands so every action resolves; what happened to each action, from the simulator's truth
 * and the daemon's tables.
 */
export async function runEngineDropScenario(s: EngineSyncHarness, o: { hours: number; settleHours: number }): Promise<ActionOutcome[]> {
  const resolvedAt = new Map<string, number>();
  const noteResolved = async () => {
    const ids = await s.t.column<string>("SELECT id FROM actions WHERE state IN ('CONFIRMED', 'FAILED', 'CANCELLED')");
    for (const id of ids) if (!resolvedAt.has(id)) resolvedAt.set(id, s.t.clock.now().getTime());
  };
  await runDeviceResync(s.deps, s.t.clock.now(), 'start');
  const ticks = (o.hours + o.settleHours) * 120;
  for (let tick = 0; tick < ticks; tick++) {
    if (tick < o.hours * 120 && tick % 10 === 0) await sendCommand(s.sim, s.retailer, tick / 10, s.t.deps.store);
    await s.step(30_000);
    await noteResolved();
    await runPendingActions(s.deps, s.t.clock.now());
    await noteResolved();
  }
  const truth = s.sim.truth();
  const droppedActionEvents = truth.droppedEvents.filter((e) => e.event === 'user:vendor-action:updated');
  const states = new Map((await s.t.rows<{ id: string; state: string }>('SELECT id, state FROM actions')).map((r) => [r.id, r.state]));
  return truth.actions.map((a) => ({
    id: a.id,
    trueState: a.state,
    daemonState: states.get(a.id),
    missedResolution: droppedActionEvents.some((e) => e.subject === a.id && a.completedAt !== null && e.createdAt >= a.completedAt),
    gets: s.actionGets.get(a.id) ?? 0,
    createdAtMs: Date.parse(a.createdAt),
    completedAtMs: a.completedAt === null ? null : Date.parse(a.completedAt),
    daemonResolvedAtMs: resolvedAt.get(a.id) ?? null,
  }));
}
