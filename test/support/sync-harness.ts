import { createSimulator, inProcessFetch, pickDevices, canControlCharging, SimApiClient, type Simulator } from '../../src/simulator/index.js';
import type { VendorAction } from '../../src/simulator/types.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import { runPendingActions } from '../../src/sync/pending-actions.js';
import type { SyncDeps } from '../../src/sync/types.js';
import { makeEnodeClient } from './enode.js';
import { api, makeTestApp, SECRET, type TestApp } from './fixtures.js';

export interface SyncHarnessOptions {
  /** The daemon's logger (app, writer, jobs, Enode client); default silent. */
  logger?: Logger;
}

/** What the harness needs of an app: the in-process app on either engine (makeTestApp or makeApp). */
export interface HarnessApp {
  app: TestApp['app'];
  clock: TestApp['clock'];
  config: TestApp['config'];
  deps: Pick<TestApp['deps'], 'store' | 'read'>;
}

/** Daemon (in-process app, :memory:) fed by an in-process simulator; the client counts its requests. */
export function setupSyncHarness(simOptions: Parameters<typeof createSimulator>[0], env: Record<string, string> = {}, options: SyncHarnessOptions = {}) {
  const logger = options.logger ?? silentLogger();
  return harnessOver(makeTestApp(env, { logger }), simOptions, logger);
}

/** The harness over an app already built (on either engine): the simulator feeds it, the client counts its requests. */
export function harnessOver<A extends HarnessApp>(t: A, simOptions: Parameters<typeof createSimulator>[0], logger: Logger = silentLogger()) {
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
  let requests = 0;
  const simFetch = inProcessFetch(sim.app);
  const enode = makeEnodeClient({
    baseUrl: 'http://sim.local',
    clock: t.clock,
    logger: logger.child({ component: 'enode' }),
    fetch: async (url, init) => {
      requests++;
      const m = /\/actions\/([^/?]+)$/.exec(new URL(url).pathname);
      if (m && (init?.method ?? 'GET') === 'GET') actionGets.set(m[1] as string, (actionGets.get(m[1] as string) ?? 0) + 1);
      return simFetch(url, init);
    },
  });
  const deps: SyncDeps = {
    config: t.config,
    logger: logger.child({ component: 'sync' }),
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
    /** The daemon's Enode client (counts requests); hand it to the gateway with `t.deps.enode = enode`. */
    enode,
    actionGets,
    requests: () => requests,
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

/**
 * One command from the retailer to a controllable device. The action Enode returns is applied
 * with origin `gateway`, as the command gateway does: the daemon knows every action it created,
 * even when all of that action's webhooks are lost (Enode has no endpoint listing actions).
 * Returns Enode's HTTP status, or undefined when no device fits.
 */
export async function sendCommand(sim: Simulator, retailer: SimApiClient, i: number, store: TestApp['deps']['store']): Promise<number | undefined> {
  const result = await sendRaw(sim, retailer, i);
  if (result && result.status === 200) await store.applyEvents([{ event: 'user:vendor-action:updated', vendorAction: result.body }], 'gateway');
  return result?.status;
}

/** A command of the retailer: Enode's path (the gateway's route is the same under /api/v1) and body. */
export interface PlannedCommand {
  deviceType: 'vehicle' | 'charger' | 'hvac' | 'battery';
  deviceId: string;
  path: string;
  body: Record<string, unknown>;
}

/**
 * The i-th command of a scenario, chosen from the simulator's true state: charging toggles of
 * plugged-in vehicles and chargers, HVAC holds, battery modes in turn. Undefined when no device fits.
 */
export function planCommand(sim: Simulator, i: number): PlannedCommand | undefined {
  switch (i % 4) {
    case 0: {
      const vehicles = pickDevices(sim.world, 'vehicle', (d) => canControlCharging(d) && d.chargeState.isPluggedIn === true);
      const v = vehicles[i % Math.max(1, vehicles.length)];
      return v && { deviceType: 'vehicle', deviceId: v.id, path: `/vehicles/${v.id}/charging`, body: { action: v.chargeState.isCharging ? 'STOP' : 'START' } };
    }
    case 1: {
      const chargers = pickDevices(sim.world, 'charger', (d) => canControlCharging(d) && d.chargeState.isPluggedIn === true);
      const c = chargers[i % Math.max(1, chargers.length)];
      return c && { deviceType: 'charger', deviceId: c.id, path: `/chargers/${c.id}/charging`, body: { action: c.chargeState.isCharging ? 'STOP' : 'START' } };
    }
    case 2: {
      const hvacs = pickDevices(sim.world, 'hvac', (d) => d.capabilities.setPermanentHold.isCapable);
      const h = hvacs[i % Math.max(1, hvacs.length)];
      return h && { deviceType: 'hvac', deviceId: h.id, path: `/hvacs/${h.id}/permanent-hold`, body: { mode: 'HEAT', heatSetpoint: 18 + (i % 5) } };
    }
    default: {
      const batteries = pickDevices(sim.world, 'battery');
      const b = batteries[i % Math.max(1, batteries.length)];
      return b && { deviceType: 'battery', deviceId: b.id, path: `/batteries/${b.id}/operation-mode`, body: { operationMode: (['IMPORT_FOCUS', 'SELF_RELIANCE', 'TIME_OF_USE'] as const)[i % 3]! } };
    }
  }
}

async function sendRaw(sim: Simulator, retailer: SimApiClient, i: number) {
  const c = planCommand(sim, i);
  return c ? retailer.request<VendorAction>('POST', c.path, c.body) : undefined;
}

/**
 * The i-th command sent through the daemon's own command gateway (`POST /api/v1/...`), guards and
 * all; needs `t.deps.enode`. Returns the HTTP status and the outcome (`sent`, `collapsed`) or the
 * error code, or undefined when no device fits.
 */
export async function sendGatewayCommand(sim: Simulator, t: Pick<TestApp, 'app'>, i: number): Promise<{ status: number; outcome: string } | undefined> {
  const c = planCommand(sim, i);
  if (!c) return undefined;
  const res = await api(t, c.path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(c.body) });
  const body = (await res.json()) as { outcome?: string; error?: { code?: string } };
  return { status: res.status, outcome: body.outcome ?? body.error?.code ?? `HTTP ${res.status}` };
}

export interface ActionOutcome {
  id: string;
  trueState: string;
  daemonState: string | undefined;
  /** True when the event that resolved it in Enode was dropped: only polling could learn it. */
  missedResolution: boolean;
  /** GET /{type}/actions/{id} requests the poller spent on it. */
  gets: number;
  createdAtMs: number;
  completedAtMs: number | null;
  /** When the daemon first held the final state (sim time), or null. */
  daemonResolvedAtMs: number | null;
}

/**
 * The 20 %-drops scenario of the poller issue: a command every 5 simulated minutes for `hours`,
 * the poller every 30 s, then `settleHours` without commands so every action resolves. Returns
 * what happened to each action, from the simulator's ground truth and the daemon's database.
 */
export async function runDropScenario(s: ReturnType<typeof setupSyncHarness>, o: { hours: number; settleHours: number }): Promise<ActionOutcome[]> {
  const resolvedAt = new Map<string, number>();
  const terminal = s.t.db.$client.prepare("SELECT id FROM actions WHERE state IN ('CONFIRMED', 'FAILED', 'CANCELLED')").pluck();
  const noteResolved = () => {
    for (const id of terminal.all() as string[]) if (!resolvedAt.has(id)) resolvedAt.set(id, s.t.clock.now().getTime());
  };
  await runDeviceResync(s.deps, s.t.clock.now(), 'start');
  const ticks = (o.hours + o.settleHours) * 120;
  for (let tick = 0; tick < ticks; tick++) {
    if (tick < o.hours * 120 && tick % 10 === 0) await sendCommand(s.sim, s.retailer, tick / 10, s.t.deps.store);
    await s.step(30_000);
    noteResolved();
    await runPendingActions(s.deps, s.t.clock.now());
    noteResolved();
  }
  const truth = s.sim.truth();
  const droppedActionEvents = truth.droppedEvents.filter((e) => e.event === 'user:vendor-action:updated');
  const state = s.t.db.$client.prepare('SELECT state FROM actions WHERE id = ?').pluck();
  return truth.actions.map((a) => ({
    id: a.id,
    trueState: a.state,
    daemonState: state.get(a.id) as string | undefined,
    missedResolution: droppedActionEvents.some((e) => e.subject === a.id && a.completedAt !== null && e.createdAt >= a.completedAt),
    gets: s.actionGets.get(a.id) ?? 0,
    createdAtMs: Date.parse(a.createdAt),
    completedAtMs: a.completedAt === null ? null : Date.parse(a.completedAt),
    daemonResolvedAtMs: resolvedAt.get(a.id) ?? null,
  }));
}
