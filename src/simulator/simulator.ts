import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { ActionEngine } from './actions.js';
import { Automation, seedAutomation } from './automation.js';
import { SimClock } from './clock.js';
import type { SimServices, SimStateSummary } from './http/context.js';
import { createSimulatorApp } from './http/app.js';
import { interfere, maybeInterfere } from './interference.js';
import { TokenStore } from './oauth.js';
import { fleetSize, resolveOptions, type SimulatorOptions } from './options.js';
import { setPlugged, stepDevice } from './physics.js';
import { deriveRng } from './random.js';
import { TruthLog, type TruthSnapshot } from './truth.js';
import { DEVICE_TYPES, silentSimLogger, type DeviceType } from './types.js';
import { WebhookHub } from './webhooks.js';
import { World, type DeviceRecord } from './world.js';

export interface ListeningSimulator {
  /** Base URL of the fake API, e.g. `http://127.0.0.1:7070`; the token endpoint is `${url}/oauth2/token`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface Simulator {
  /** The fake Enode API (use `app.request(...)` in tests, or `listen`). */
  app: Hono;
  world: World;
  clock: SimClock;
  actions: ActionEngine;
  /** Enode Schedules, smart charging plans and overrides run for this client. */
  automation: Automation;
  webhooks: WebhookHub;
  options: SimulatorOptions;
  /** Id of the webhook created from `webhookUrl`/`webhookSecret`, if any. */
  defaultWebhookId: string | null;
  /** Moves sim time forward, firing every due timer in order; starts due deliveries (not awaited). */
  advance(ms: number): void;
  /** Like `advance`, but waits for webhook deliveries after each timer: deterministic, retry-aware. */
  runFor(ms: number): Promise<void>;
  /** Waits until every delivery due at the current sim time has been attempted. */
  flushWebhooks(): Promise<void>;
  /** Ground truth: every real change with its cause, every action, dropped events, deliveries. */
  truth(): TruthSnapshot;
  state(): SimStateSummary;
  /** Direct pokes for tests and demos (the same as the /_sim endpoints). */
  control: {
    /** Plugs a vehicle (or an unlinked car at a charger) in or out; throws when not possible. */
    setPlugged(deviceId: string, pluggedIn: boolean): void;
    /** Makes one third-party change to the device now; false when nothing applies. */
    interfere(deviceId: string): boolean;
    addDevice(type: DeviceType, userId?: string): DeviceRecord;
    removeDevice(deviceId: string): boolean;
  };
  /** Issues an access token directly (test convenience; same as the token endpoint). */
  issueToken(): string;
  /** Real-time mode: advances sim time by wall time × `timeScale` on an interval. */
  start(): void;
  stop(): void;
  readonly running: boolean;
  /** Serves the app over HTTP (port 0 picks a free port). */
  listen(port?: number, host?: string): Promise<ListeningSimulator>;
  /** Stops real-time mode and closes every server `listen` opened. */
  close(): Promise<void>;
}

/** Builds a simulator: world, actions, webhooks and the HTTP app, all on one sim clock. */
export function createSimulator(input: Partial<SimulatorOptions> = {}): Simulator {
  const options = resolveOptions(input);
  const logger = (options.logger ?? silentSimLogger).child({ component: 'enode-simulator' });
  const clock = new SimClock(options.startTime);
  const truth = new TruthLog();
  const seed = options.seed;

  const webhooks = new WebhookHub({
    clock,
    rng: deriveRng(seed, 'webhooks'),
    ids: deriveRng(seed, 'webhook-ids'),
    truth,
    options,
    logger,
    fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
  });
  const world = new World({
    clock,
    rng: deriveRng(seed, 'world'),
    ids: deriveRng(seed, 'device-ids'),
    truth,
    incapableRate: options.incapableRate,
    emit: (e) => webhooks.publish(e),
  });
  world.populate(fleetSize(options));
  const actions = new ActionEngine({
    world,
    clock,
    rng: deriveRng(seed, 'actions'),
    ids: deriveRng(seed, 'action-ids'),
    truth,
    timing: options,
    logger,
  });
  const automation = new Automation({
    world,
    clock,
    actions,
    rng: deriveRng(seed, 'automation'),
    ids: deriveRng(seed, 'automation-ids'),
    customers: deriveRng(seed, 'automation-customers'),
    logger,
  });
  seedAutomation(world, automation, deriveRng(seed, 'automation-fleet'), options.schedulesShare, options.smartChargingShare);
  const tokens = new TokenStore(options, clock);

  const physicsRng = deriveRng(seed, 'physics');
  const interferenceRng = deriveRng(seed, 'interference');
  const tickMs = options.tickSeconds * 1000;
  clock.every(tickMs, () => {
    for (const rec of world.all()) {
      if (!world.get(rec.data.id)) continue;
      stepDevice(world, rec, tickMs, { rng: physicsRng, activity: options.userActivityRate });
      maybeInterfere(world, rec, tickMs, options.interferenceRate, interferenceRng);
    }
  });
  if (options.heartbeatSeconds > 0) clock.every(options.heartbeatSeconds * 1000, () => webhooks.heartbeat());

  let defaultWebhookId: string | null = null;
  if (options.webhookUrl && options.webhookSecret) {
    const created = webhooks.create({ url: options.webhookUrl, secret: options.webhookSecret });
    if ('error' in created) throw new Error(`Could not create the webhook: ${created.error}`);
    defaultWebhookId = created.id;
  }

  const flushWebhooks = () => webhooks.flush();
  const runFor = async (ms: number) => {
    const end = clock.nowMs() + ms;
    await webhooks.flush();
    for (;;) {
      const next = clock.nextTimerAt();
      if (next === undefined || next > end) break;
      clock.advanceTo(next);
      await webhooks.flush();
    }
    clock.advanceTo(end);
    await webhooks.flush();
  };

  const state = (): SimStateSummary => {
    const all = actions.list();
    const byState: Record<string, number> = {};
    for (const a of all) byState[a.state] = (byState[a.state] ?? 0) + 1;
    const byCause: Record<string, number> = {};
    for (const c of truth.changes) byCause[c.cause] = (byCause[c.cause] ?? 0) + 1;
    const pending = webhooks.pending();
    return {
      now: clock.iso(),
      seed,
      timeScale: options.timeScale,
      running: realtime !== null,
      users: world.users.size,
      devices: Object.fromEntries(DEVICE_TYPES.map((t) => [t, world.list(t).length])),
      actions: { total: all.length, pending: actions.pendingCount(), byState },
      webhooks: webhooks.list().map((w) => ({
        id: w.id,
        url: w.url,
        isActive: w.isActive,
        pendingEvents: pending[w.id] ?? 0,
        lastSuccess: w.lastSuccess,
      })),
      truth: { changes: truth.changes.length, byCause },
      webhookStats: { ...truth.stats },
    };
  };

  const services: SimServices = {
    world,
    actions,
    automation,
    webhooks,
    tokens,
    truth,
    clock,
    options,
    faults: deriveRng(seed, 'api-faults'),
    manualRng: deriveRng(seed, 'manual'),
    runFor,
    flushWebhooks,
    state,
  };
  const app = createSimulatorApp(services);

  let realtime: NodeJS.Timeout | null = null;
  const servers = new Set<Server>();

  const sim: Simulator = {
    app,
    world,
    clock,
    actions,
    automation,
    webhooks,
    options,
    defaultWebhookId,
    advance(ms) {
      clock.advance(ms);
      webhooks.pump();
    },
    runFor,
    flushWebhooks,
    truth: () => truth.snapshot(),
    state,
    issueToken: () => tokens.issue().access_token,
    control: {
      setPlugged(deviceId, pluggedIn) {
        const rec = world.get(deviceId);
        if (!rec) throw new Error(`No device with id ${deviceId}`);
        const error = setPlugged(world, rec, pluggedIn);
        if (error) throw new Error(error);
        webhooks.pump();
      },
      interfere(deviceId) {
        const rec = world.get(deviceId);
        if (!rec) throw new Error(`No device with id ${deviceId}`);
        const changed = interfere(world, rec, services.manualRng);
        webhooks.pump();
        return changed;
      },
      addDevice: (type, userId) => world.addDevice(type, userId),
      removeDevice: (deviceId) => world.removeDevice(deviceId),
    },
    start() {
      if (realtime) return;
      let last = Date.now();
      realtime = setInterval(() => {
        const wall = Date.now();
        const dt = (wall - last) * options.timeScale;
        last = wall;
        try {
          clock.advance(dt);
          webhooks.pump();
        } catch (err) {
          logger.error({ err }, 'simulator tick failed');
        }
      }, options.realtimeIntervalMs);
    },
    stop() {
      if (realtime) clearInterval(realtime);
      realtime = null;
    },
    get running() {
      return realtime !== null;
    },
    async listen(port = options.port, host = options.host) {
      const server = await new Promise<Server>((resolve, reject) => {
        const s = serve({ fetch: app.fetch, port, hostname: host }, () => resolve(s as Server)) as Server;
        s.once('error', reject);
      });
      servers.add(server);
      const actual = (server.address() as AddressInfo).port;
      const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
      const url = `http://${shownHost}:${actual}`;
      logger.info({ url }, 'enode simulator listening');
      return {
        url,
        port: actual,
        close: () => closeServer(server).finally(() => servers.delete(server)),
      };
    },
    async close() {
      sim.stop();
      await Promise.all([...servers].map((s) => closeServer(s)));
      servers.clear();
    },
  };
  return sim;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}
