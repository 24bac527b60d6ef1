import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { systemClock } from './clock.js';
import type { Config } from './config.js';
import { startDaemon } from './daemon.js';
import { acquireInstanceLock } from './db/instance-lock.js';
import type { Db } from './db/open.js';
import type { Logger } from './logger.js';
import { Rng } from './simulator/random.js';
import { canControlCharging, createSimulator, parseSimulatorOptions, pickDevices, type Simulator } from './simulator/index.js';

/** How often the demo retailer sends a command (wall clock). */
const RETAILER_INTERVAL_MS = 4_000;
/** The demo's own database: the only file a fresh start ever deletes. */
export const DEMO_DATABASE_PATH = './data/demo.db';
/** When the demo stages its first third-party change (wall clock after start): a finding shows within a minute. */
const OPENING_ACT_MS = 6_000;
/** How often the console looks for new findings and third-party changes; how often it sums up webhooks. */
const CONSOLE_POLL_MS = 2_000;
const CONSOLE_WEBHOOKS_EVERY_MS = 10_000;

/**
 * The demo's world in real time (one simulated second per second, so every stamp the daemon shows
 * is a real time): a mixed fleet of 24, the physics stepped every 5 s, devices that act on a
 * command within 3–20 s, and third parties busy enough (6 changes per device per hour, about one
 * every 25 s across the fleet) that findings keep coming. A few devices run Enode's other levels of
 * control — a fifth under an Enode Schedule, a third of the vehicles with smart charging — so the
 * dashboard shows their changes explained as own automation, and the gateway refuses basic
 * commands to them with a 409 that names the schedule or plan (Enode would answer 422).
 */
export const DEMO_SIMULATOR_ARGS = [
  '--time-scale', '1',
  '--tick-seconds', '5',
  '--devices', '24',
  '--interference-rate', '6',
  '--action-delay-seconds', '3-20',
  '--heartbeat-seconds', '60',
  '--schedules-share', '0.2',
  '--smart-charging-share', '0.3',
] as const;

export interface DemoOptions {
  config: Config;
  /** Extra simulator flags (`--seed 7 --drop-rate 0.1` …); the demo's own defaults come first. */
  simulatorArgs: string[];
  env: Record<string, string | undefined>;
  logger: Logger;
  /** The console: one readable line per notable thing (webhooks, third-party changes, findings, commands). */
  say?: (line: string) => void;
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

/** The simulator flags the demo refuses: its clock must stay the real one (no "in the future" stamps). */
export function refusedDemoFlag(args: readonly string[], env: Record<string, string | undefined>): string | undefined {
  const scale = args.find((a) => a === '--time-scale' || a.startsWith('--time-scale='));
  const scaleEnv = env['SIM_TIME_SCALE'];
  const value = scale?.includes('=') ? scale.split('=')[1] : scale ? args[args.indexOf(scale) + 1] : scaleEnv;
  if (value !== undefined && value !== '' && Number(value) !== 1) {
    return `the demo runs in real time (--time-scale 1), so that every time the dashboard shows is a real one; got ${value}. Run "enode-sync simulate --time-scale ${value}" for a faster world`;
  }
  const start = args.find((a) => a === '--start-time' || a.startsWith('--start-time=')) ?? (env['SIM_START_TIME'] ? 'SIM_START_TIME' : undefined);
  if (start) return 'the demo starts its world now (real time); --start-time is for "enode-sync simulate"';
  return undefined;
}

/** Whether `path` is the demo's own database (the default, however it is spelled). */
export function isDemoDatabase(path: string, cwd = process.cwd()): boolean {
  return resolve(cwd, path) === resolve(cwd, DEMO_DATABASE_PATH);
}

/**
 * Deletes the demo's previous database (and its -wal, -shm and -journal files) for a fresh start,
 * under its instance lock so that a demo still running on it is never pulled from under it (that
 * is an InstanceLockedError naming the holder). Only ever the demo's own file: anything else throws.
 * Returns whether there was something to delete.
 */
export function clearDemoDatabase(path: string, cwd = process.cwd()): boolean {
  if (!isDemoDatabase(path, cwd)) throw new Error(`refusing to delete ${path}: the demo clears only its own ${DEMO_DATABASE_PATH}`);
  const file = resolve(cwd, path);
  const files = [file, `${file}-wal`, `${file}-shm`, `${file}-journal`];
  if (!files.some((f) => existsSync(f))) return false;
  const lock = acquireInstanceLock(file, 'demo (clearing its previous data)');
  try {
    for (const f of files) rmSync(f, { force: true });
  } finally {
    lock?.release();
  }
  return true;
}

/**
 * `enode-sync demo`: the daemon and the simulator wired together on the embedded SQLite
 * database, in real time. The simulator delivers signed webhooks to the daemon; a demo retailer
 * sends commands through the daemon's command gateway (which asks the simulated Enode), and
 * simulated third parties interfere — the first a few seconds after start.
 */
export async function startDemo(o: DemoOptions): Promise<RunningDemo> {
  const { logger } = o;
  const say = o.say ?? (() => {});
  if (o.config.port === 0) throw new Error('the demo needs a fixed PORT: the simulator must know where to send webhooks');
  const refused = refusedDemoFlag(o.simulatorArgs, o.env);
  if (refused) throw new Error(refused);
  const webhookSecret = o.config.webhookSecrets[0] as string;
  const shownHost = o.config.host === '0.0.0.0' || o.config.host === '::' ? '127.0.0.1' : o.config.host;

  const simOptions = parseSimulatorOptions(
    [...DEMO_SIMULATOR_ARGS, '--port', '0', '--webhook-url', `http://${shownHost}:${o.config.port}/webhooks/enode`, '--webhook-secret', webhookSecret, ...o.simulatorArgs],
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
  let daemon;
  try {
    daemon = await startDaemon(config, logger, systemClock, 'demo');
  } catch (err) {
    await simulator.close();
    throw err;
  }
  const server = daemon.server;
  const db = daemon.deps.db;
  if (!db) throw new Error('the demo runs on SQLite (DATABASE_PATH)');
  simulator.world.announceAll();
  simulator.start();

  const retailer = startDemoRetailer(simulator, gatewayClient(server.url, o.config.adminToken as string), simOptions.seed, say);
  const consoleFeed = startDemoConsole(simulator, db, server.url, say);
  const openingAct = setTimeout(() => stageThirdParty(simulator, new Rng(simOptions.seed + 202)), OPENING_ACT_MS);

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
        `commands ${n("SELECT count(*) AS n FROM commands WHERE outcome = 'sent'")} sent / ${n("SELECT count(*) AS n FROM commands WHERE outcome = 'refused'")} refused, ` +
        `deliveries ${n('SELECT count(*) AS n FROM deliveries')}, findings ${n('SELECT count(*) AS n FROM findings')}; ` +
        `simulator: ${simulator.truth().changes.length} state changes`
      );
    },
    close: async () => {
      clearTimeout(openingAct);
      retailer.stop();
      consoleFeed.stop();
      await simulator.close();
      await daemon.close();
    },
  };
}

/** One third-party change now, on a battery or thermostat first (their changes are never natural): the demo's opening act. */
function stageThirdParty(simulator: Simulator, rng: Rng): void {
  const devices = simulator.world.all().map((r) => ({ id: r.data.id, type: r.type }));
  const order = [...devices.filter((d) => d.type === 'battery' || d.type === 'hvac'), ...devices.filter((d) => d.type !== 'battery' && d.type !== 'hvac')];
  const start = order.length > 0 ? rng.int(0, order.length - 1) : 0;
  for (let i = 0; i < order.length; i++) {
    const d = order[(start + i) % order.length];
    if (d && simulator.control.interfere(d.id)) return;
  }
}

const clockTime = () => new Date().toTimeString().slice(0, 8);
const shortValue = (v: unknown) => (v === null || v === undefined ? 'unknown' : typeof v === 'string' ? v : JSON.stringify(v));

/**
 * The console's story, read from the simulator's ground truth and the daemon's database: each
 * third-party change as it happens, each finding as the daemon raises it (with its device page),
 * and every 10 s how many webhooks came in.
 */
function startDemoConsole(simulator: Simulator, db: Db, daemonUrl: string, say: (line: string) => void): { stop(): void } {
  let changesSeen = simulator.truth().changes.length;
  let findingRowid = 0;
  let deliveriesSeen = 0;
  let lastWebhookLine = Date.now();
  const findings = db.$client.prepare(
    'SELECT rowid AS r, id, device_id AS deviceId, device_type AS deviceType, kind, field, from_value AS fromValue, to_value AS toValue FROM findings WHERE rowid > ? ORDER BY rowid LIMIT 20',
  );
  const deliveries = db.$client.prepare('SELECT count(*) AS n FROM deliveries');
  const tick = () => {
    try {
      const changes = simulator.truth().changes;
      const fresh = changes.slice(changesSeen).filter((c) => c.cause === 'interference');
      changesSeen = changes.length;
      const byEpisode = new Map<string, typeof fresh>();
      for (const c of fresh) byEpisode.set(`${c.deviceId}@${c.at}`, [...(byEpisode.get(`${c.deviceId}@${c.at}`) ?? []), c]);
      for (const group of byEpisode.values()) {
        const first = group[0];
        if (!first) continue;
        const fields = group.map((c) => `${c.field} ${shortValue(c.from)} → ${shortValue(c.to)}`).join(', ');
        say(`${clockTime()}  third party  ${first.deviceType} ${first.deviceId}: ${first.detail} (${fields})`);
      }
      for (const f of findings.all(findingRowid) as Array<{ r: number; id: string; deviceId: string; deviceType: string; kind: string; field: string | null; fromValue: string; toValue: string }>) {
        findingRowid = f.r;
        const change = f.field ? `: ${f.field} ${shortValue(JSON.parse(f.fromValue))} → ${shortValue(JSON.parse(f.toValue))}` : '';
        say(`${clockTime()}  FINDING      ${f.kind} on ${f.deviceType} ${f.deviceId}${change}  ${daemonUrl}/ui/devices/${encodeURIComponent(f.deviceId)}`);
      }
      if (Date.now() - lastWebhookLine >= CONSOLE_WEBHOOKS_EVERY_MS) {
        const total = (deliveries.get() as { n: number }).n;
        if (total > deliveriesSeen) say(`${clockTime()}  webhooks     ${total - deliveriesSeen} received in the last ${Math.round((Date.now() - lastWebhookLine) / 1000)} s (${total} in all)`);
        deliveriesSeen = total;
        lastWebhookLine = Date.now();
      }
    } catch {
      // The console is a view: a read that fails (the database closing at shutdown) skips a beat.
    }
  };
  const timer = setInterval(tick, CONSOLE_POLL_MS);
  return { stop: () => clearInterval(timer) };
}

/** The retailer's side of the command gateway: `POST /api/v1/...` with the admin token. */
function gatewayClient(daemonUrl: string, adminToken: string) {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${daemonUrl}/api/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json().catch(() => ({}))) as { action?: { state?: string }; outcome?: string; error?: { code?: string; message?: string } };
    return { status: res.status, body: { state: json.action?.state ?? json.error?.code ?? json.outcome, message: json.error?.message } };
  };
  return {
    charging: (type: 'vehicle' | 'charger', id: string, action: 'START' | 'STOP') => post(`/${type}s/${encodeURIComponent(id)}/charging`, { action }),
    permanentHold: (id: string, target: { mode: 'HEAT'; heatSetpoint: number }) => post(`/hvacs/${encodeURIComponent(id)}/permanent-hold`, target),
    operationMode: (id: string, operationMode: string) => post(`/batteries/${encodeURIComponent(id)}/operation-mode`, { operationMode }),
  };
}

/**
 * Plays an energy retailer: every few seconds sends one command through the daemon's command
 * gateway — start or stop charging, an HVAC hold, a battery mode — as a real integration would,
 * and says on the console what became of it (sent, refused by the guards, refused by Enode).
 */
function startDemoRetailer(simulator: Simulator, api: ReturnType<typeof gatewayClient>, seed: number, say: (line: string) => void): { stop(): void } {
  const rng = new Rng(seed + 101);
  const report = (device: string, command: string, res: { status: number; body: { state: string | undefined; message: string | undefined } }) => {
    const what = res.status < 300 ? `sent (action ${res.body.state ?? 'created'})` : res.status >= 400 && res.status < 500 ? `refused: ${res.body.state ?? res.status}${res.body.message ? ` — ${res.body.message}` : ''}` : `failed: HTTP ${res.status} ${res.body.state ?? ''}`.trimEnd();
    say(`${clockTime()}  command      ${command} ${device} → ${what}`);
  };
  const send = async () => {
    const choice = rng.int(0, 3);
    try {
      if (choice <= 1) {
        const type = choice === 0 ? 'vehicle' : 'charger';
        const candidates = pickDevices(simulator.world, type, (d) => canControlCharging(d) && d.chargeState.isPluggedIn === true);
        const device = candidates.length > 0 ? candidates[rng.int(0, candidates.length - 1)] : undefined;
        if (!device) return;
        const action = device.chargeState.isCharging ? 'STOP' : 'START';
        report(device.id, `${type} ${action} charging`, await api.charging(type, device.id, action));
      } else if (choice === 2) {
        const hvacs = pickDevices(simulator.world, 'hvac', (d) => d.capabilities.setPermanentHold.isCapable);
        const hvac = hvacs.length > 0 ? hvacs[rng.int(0, hvacs.length - 1)] : undefined;
        if (!hvac) return;
        const heatSetpoint = 18 + rng.int(0, 4);
        report(hvac.id, `hvac HEAT ${heatSetpoint}°`, await api.permanentHold(hvac.id, { mode: 'HEAT', heatSetpoint }));
      } else {
        const batteries = pickDevices(simulator.world, 'battery');
        const battery = batteries.length > 0 ? batteries[rng.int(0, batteries.length - 1)] : undefined;
        if (!battery) return;
        const modes = ['IMPORT_FOCUS', 'EXPORT_FOCUS', 'SELF_RELIANCE', 'TIME_OF_USE'] as const;
        const mode = modes[rng.int(0, modes.length - 1)] as (typeof modes)[number];
        report(battery.id, `battery ${mode}`, await api.operationMode(battery.id, mode));
      }
    } catch (err) {
      say(`${clockTime()}  command      could not reach the daemon: ${(err as Error).message}`);
    }
  };
  const timer = setInterval(() => void send(), RETAILER_INTERVAL_MS);
  void send();
  return { stop: () => clearInterval(timer) };
}
