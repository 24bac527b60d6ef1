/**
 * The crash suite's workload (test/proof/crash.test.ts): deterministic deliveries whose expected
 * effects are known in advance, and a daemon process that can be killed at any moment, startup
 * included.
 */
import { openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { E2E_ADMIN, E2E_SECRET } from '../support/daemon.js';
import { vehicleAt } from '../support/fixtures.js';
import { freePort, startProcess, waitHealthy, type Proc } from '../support/process.js';
import { seededRandom } from './support-fuzz.js';

export const VEHICLES = 40;
export const VEHICLE_EVENTS_PER_DELIVERY = 3;
/** Deliveries 3b, 3b+1 and 3b+2 carry the three versions of action b, in a seeded random order. */
const VERSIONS_PER_ACTION = 3;
const BASE_MS = Date.parse('2026-03-01T00:00:00.000Z');
const TERMINAL = ['CONFIRMED', 'FAILED', 'CANCELLED'] as const;
const iso = (ms: number) => new Date(ms).toISOString();

export const deliveryId = (i: number) => `crash-${i}`;

interface ActionPlan {
  /** Version carried by each of the block's deliveries (index = i % 3). */
  order: number[];
  terminal: (typeof TERMINAL)[number];
}

function actionPlan(seed: number, block: number): ActionPlan {
  const rnd = seededRandom(seed * 7_919 + block);
  const order = [0, 1, 2];
  for (let k = order.length - 1; k > 0; k--) {
    const j = Math.floor(rnd() * (k + 1));
    [order[k], order[j]] = [order[j] as number, order[k] as number];
  }
  return { order, terminal: TERMINAL[Math.floor(rnd() * TERMINAL.length)] as (typeof TERMINAL)[number] };
}

/** Version v of action `ca-<block>`: PENDING, PENDING a minute later, then its terminal state. */
function actionVersion(block: number, version: number, terminal: string) {
  const id = `ca-${block}`;
  const createdMs = BASE_MS + block * 1_000;
  const updatedMs = createdMs + version * 60_000;
  const state = version === 2 ? terminal : 'PENDING';
  const targetId = `cv-${block % VEHICLES}`;
  const vendorAction = {
    id,
    userId: `user-of-${targetId}`,
    createdAt: iso(createdMs),
    updatedAt: iso(updatedMs),
    completedAt: version === 2 ? iso(updatedMs) : null,
    state,
    targetId,
    targetType: 'vehicle',
    kind: block % 2 ? 'START' : 'STOP',
    failureReason: state === 'FAILED' ? { type: 'NO_RESPONSE', detail: 'The vehicle did not respond' } : null,
  };
  return { event: 'user:vendor-action:updated', createdAt: iso(updatedMs + 100), version: '2024-10-01', user: { id: vendorAction.userId }, vendorAction, updatedFields: ['state'] };
}

/** Device time of vehicle event k of delivery i: unique per event, so each is a distinct observation. */
export const vehicleEventMs = (i: number, k: number) => BASE_MS + i * 1_000 + k;
export const vehicleOf = (i: number, k: number) => `cv-${(i * VEHICLE_EVENTS_PER_DELIVERY + k) % VEHICLES}`;

/** The body of delivery i: three vehicle snapshots, one version of an action, one heartbeat. */
export function deliveryBody(seed: number, i: number): string {
  const events: unknown[] = [];
  for (let k = 0; k < VEHICLE_EVENTS_PER_DELIVERY; k++) {
    const id = vehicleOf(i, k);
    const atMs = vehicleEventMs(i, k);
    events.push({ event: 'user:vehicle:updated', createdAt: iso(atMs + 500), version: '2024-10-01', user: { id: `user-of-${id}` }, vehicle: vehicleAt(id, atMs, { charging: (i + k) % 2 === 0 }), updatedFields: ['chargeState.isCharging'] });
  }
  const block = Math.floor(i / VERSIONS_PER_ACTION);
  const plan = actionPlan(seed, block);
  events.push(actionVersion(block, plan.order[i % VERSIONS_PER_ACTION] as number, plan.terminal));
  events.push({ event: 'system:heartbeat', createdAt: iso(BASE_MS + i), version: '2024-10-01', pendingEvents: i });
  return JSON.stringify(events);
}

export const EVENTS_PER_DELIVERY = VEHICLE_EVENTS_PER_DELIVERY + 2;

/** What the database must hold once deliveries 0…n-1 are all stored and applied. */
export function expectedState(seed: number, n: number) {
  const actions = new Map<string, { state: string; updatedAt: string }>();
  for (let block = 0; block * VERSIONS_PER_ACTION < n; block++) {
    const plan = actionPlan(seed, block);
    let best = -1;
    for (let j = 0; j < VERSIONS_PER_ACTION && block * VERSIONS_PER_ACTION + j < n; j++) best = Math.max(best, plan.order[j] as number);
    const v = actionVersion(block, best, plan.terminal).vendorAction;
    actions.set(v.id, { state: v.state, updatedAt: v.updatedAt });
  }
  const lastSeen = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < VEHICLE_EVENTS_PER_DELIVERY; k++) lastSeen.set(vehicleOf(i, k), iso(vehicleEventMs(i, k)));
  }
  return { actions, lastSeen, observations: n * VEHICLE_EVENTS_PER_DELIVERY, heartbeats: n };
}

/** A daemon process (`tsx src/main.ts serve`) on `dir`'s database; `ready` settles when /readyz answers. */
export interface CrashDaemon {
  url: string;
  proc: Proc;
  ready: Promise<void>;
  exited: Promise<void>;
}

export async function spawnDaemon(dir: string, env: Record<string, string> = {}): Promise<CrashDaemon> {
  const port = await freePort();
  const proc = startProcess(
    process.execPath,
    ['--import', 'tsx', 'src/main.ts', 'serve'],
    {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_PATH: join(dir, 'enode-sync.db'),
      ENODE_WEBHOOK_SECRET: E2E_SECRET,
      ADMIN_TOKEN: E2E_ADMIN,
      LOG_LEVEL: 'info',
      ...env,
    },
    openSync(join(dir, `daemon-${port}.log`), 'a'),
  );
  const exited = new Promise<void>((resolve) => {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) resolve();
    else proc.child.once('exit', () => resolve());
  });
  const url = `http://127.0.0.1:${port}`;
  const logPath = join(dir, `daemon-${port}.log`);
  // Fails at once when the process exits, and says why: the log's tail and the last /readyz answer.
  const ready = Promise.race([
    waitHealthy(`${url}/readyz`, 60_000),
    exited.then(() => {
      throw new Error(`exited with ${proc.child.exitCode ?? proc.child.signalCode} before it was ready`);
    }),
  ]).catch(async (err: Error) => {
    const readyz = await fetch(`${url}/readyz`).then((r) => r.text(), (e: Error) => e.message);
    throw new Error(`daemon on ${url}: ${err.message}; /readyz: ${readyz.slice(0, 300)}; log tail:\n${readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n')}`);
  });
  ready.catch(() => {});
  return { url, proc, ready, exited };
}

/** SIGKILL, then wait until the process is gone. */
export async function kill9(d: CrashDaemon): Promise<void> {
  d.proc.child.kill('SIGKILL');
  await d.exited;
}

/** pino's `error` and `fatal`, by label (the daemon logs labels) or by number. */
export function isErrorLevel(level: unknown): boolean {
  return level === 'error' || level === 'fatal' || (typeof level === 'number' && level >= 50);
}

/** Every JSON log line at level error or above, across the daemon logs in `dir`. */
export function errorLogLines(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).filter((n) => n.startsWith('daemon-') && n.endsWith('.log'))) {
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        if (isErrorLevel((JSON.parse(line) as { level?: unknown }).level)) out.push(`${name}: ${line}`);
      } catch {
        // the last line of a killed process may be cut short
      }
    }
  }
  return out;
}
