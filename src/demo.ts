import { randomBytes } from 'node:crypto';
import { systemClock } from './clock.js';
import type { Config } from './config.js';
import { startDaemon } from './daemon.js';
import type { Logger } from './logger.js';
import { Rng } from './simulator/random.js';
import { canControlCharging, createSimulator, parseSimulatorOptions, pickDevices, type Simulator } from './simulator/index.js';

/** How often the demo retailer sends a command (wall clock). */
const RETAILER_INTERVAL_MS = 4_000;

export interface DemoOptions {
  config: Config;
  /** Extra simulator flags (`--seed 7 --drop-rate 0.1` …); the demo's own defaults come first. */
  simulatorArgs: string[];
  env: Record<string, string | undefined>;
  logger: Logger;
}

export interface RunningDemo {
  daemonUrl: string;
  simulatorUrl: string;
  adminToken: string;
  webhookSecret: string;
  simulator: Simulator;
  /** One line: what the daemon holds and what the simulator did so far. */
  summary(): string;
  close(): Promise<void>;
}

/** A random token for a demo run when none is configured (never logged; printed once for the user). */
export function demoToken(bytes = 24): string {
  return randomBytes(bytes).toString('hex');
}

/**
 * `enode-sync demo`: the daemon and the simulator wired together on the embedded SQLite
 * database. The simulator delivers signed webhooks to the daemon; a demo retailer sends
 * commands through the daemon's command gateway (which asks the simulated Enode), and simulated
 * third parties interfere.
 */
export async function startDemo(o: DemoOptions): Promise<RunningDemo> {
  const { logger } = o;
  if (o.config.port === 0) throw new Error('the demo needs a fixed PORT: the simulator must know where to send webhooks');
  const webhookSecret = o.config.webhookSecrets[0] as string;
  const shownHost = o.config.host === '0.0.0.0' || o.config.host === '::' ? '127.0.0.1' : o.config.host;

  // One simulated hour per wall minute, a small mixed fleet, third parties active.
  const simOptions = parseSimulatorOptions(
    [
      '--port', '0',
      '--time-scale', '60',
      '--devices', '16',
      '--interference-rate', '0.15',
      '--action-delay-seconds', '30-180',
      '--webhook-url', `http://${shownHost}:${o.config.port}/webhooks/enode`,
      '--webhook-secret', webhookSecret,
      ...o.simulatorArgs,
    ],
    o.env,
  );
  const simulator = createSimulator({ ...simOptions, logger: logger.child({ component: 'simulator' }) });
  const listening = await simulator.listen(simOptions.port, simOptions.host);

  // The daemon uses the simulator as its Enode: the poller and webhook watch run against it.
  const config: Config = {
    ...o.config,
    // The demo's simulated world never goes into a real Postgres: it runs on its own SQLite file.
    databaseUrl: undefined,
    enode: {
      ...o.config.enode,
      apiUrl: listening.url,
      oauthUrl: `${listening.url}/oauth2/token`,
      clientId: simOptions.clientId,
      clientSecret: simOptions.clientSecret,
      webhookId: simulator.defaultWebhookId ?? undefined,
    },
  };
  const daemon = await startDaemon(config, logger, systemClock, 'demo');
  const server = daemon.server;
  const db = daemon.deps.db;
  if (!db) throw new Error('the demo runs on SQLite (DATABASE_PATH)');
  simulator.world.announceAll();
  simulator.start();

  const retailer = startDemoRetailer(simulator, gatewayClient(server.url, o.config.adminToken as string), simOptions.seed, logger.child({ component: 'demo-retailer' }));

  return {
    daemonUrl: server.url,
    simulatorUrl: listening.url,
    adminToken: o.config.adminToken as string,
    webhookSecret,
    simulator,
    summary: () => {
      const n = (sql: string) => (db.$client.prepare(sql).get() as { n: number }).n;
      return (
        `devices ${n('SELECT count(*) AS n FROM devices')}, actions ${n('SELECT count(*) AS n FROM actions')} ` +
        `(${n("SELECT count(*) AS n FROM actions WHERE state = 'PENDING'")} pending), ` +
        `commands ${n("SELECT count(*) AS n FROM commands WHERE outcome = 'sent'")} sent / ${n("SELECT count(*) AS n FROM commands WHERE outcome = 'collapsed'")} collapsed, ` +
        `deliveries ${n('SELECT count(*) AS n FROM deliveries')}, findings ${n('SELECT count(*) AS n FROM findings')}; ` +
        `simulator: ${simulator.truth().changes.length} state changes`
      );
    },
    close: async () => {
      retailer.stop();
      await simulator.close();
      await daemon.close();
    },
  };
}

/** The retailer's side of the command gateway: `POST /api/v1/...` with the admin token. */
function gatewayClient(daemonUrl: string, adminToken: string) {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${daemonUrl}/api/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json().catch(() => ({}))) as { action?: { state?: string }; outcome?: string; error?: { code?: string } };
    return { status: res.status, body: { state: json.action?.state ?? json.error?.code ?? json.outcome } };
  };
  return {
    charging: (type: 'vehicle' | 'charger', id: string, action: 'START' | 'STOP') => post(`/${type}s/${encodeURIComponent(id)}/charging`, { action }),
    permanentHold: (id: string, target: { mode: 'HEAT'; heatSetpoint: number }) => post(`/hvacs/${encodeURIComponent(id)}/permanent-hold`, target),
    operationMode: (id: string, operationMode: string) => post(`/batteries/${encodeURIComponent(id)}/operation-mode`, { operationMode }),
  };
}

/**
 * Plays an energy retailer: every few seconds sends one command through the daemon's command
 * gateway — start or stop charging, an HVAC hold, a battery mode — as a real integration would.
 */
function startDemoRetailer(simulator: Simulator, api: ReturnType<typeof gatewayClient>, seed: number, logger: Logger): { stop(): void } {
  const rng = new Rng(seed + 101);
  const send = async () => {
    const choice = rng.int(0, 3);
    try {
      if (choice <= 1) {
        const type = choice === 0 ? 'vehicle' : 'charger';
        const candidates = pickDevices(simulator.world, type, (d) => canControlCharging(d) && d.chargeState.isPluggedIn === true);
        const device = candidates.length > 0 ? candidates[rng.int(0, candidates.length - 1)] : undefined;
        if (!device) return;
        const action = device.chargeState.isCharging ? 'STOP' : 'START';
        const res = await api.charging(type, device.id, action);
        logger.info({ deviceId: device.id, command: `${type} ${action}`, status: res.status, state: res.body.state }, 'demo retailer sent a command');
      } else if (choice === 2) {
        const hvacs = pickDevices(simulator.world, 'hvac', (d) => d.capabilities.setPermanentHold.isCapable);
        const hvac = hvacs.length > 0 ? hvacs[rng.int(0, hvacs.length - 1)] : undefined;
        if (!hvac) return;
        const heatSetpoint = 18 + rng.int(0, 4);
        const res = await api.permanentHold(hvac.id, { mode: 'HEAT', heatSetpoint });
        logger.info({ deviceId: hvac.id, command: `hvac HEAT ${heatSetpoint}`, status: res.status, state: res.body.state }, 'demo retailer sent a command');
      } else {
        const batteries = pickDevices(simulator.world, 'battery');
        const battery = batteries.length > 0 ? batteries[rng.int(0, batteries.length - 1)] : undefined;
        if (!battery) return;
        const modes = ['IMPORT_FOCUS', 'EXPORT_FOCUS', 'SELF_RELIANCE', 'TIME_OF_USE'] as const;
        const mode = modes[rng.int(0, modes.length - 1)] as (typeof modes)[number];
        const res = await api.operationMode(battery.id, mode);
        logger.info({ deviceId: battery.id, command: `battery ${mode}`, status: res.status, state: res.body.state }, 'demo retailer sent a command');
      }
    } catch (err) {
      logger.warn({ err }, 'demo retailer command failed');
    }
  };
  const timer = setInterval(() => void send(), RETAILER_INTERVAL_MS);
  void send();
  return { stop: () => clearInterval(timer) };
}
