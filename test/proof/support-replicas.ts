/**
 * The multi-replica suite's machinery (test/proof/replicas.test.ts): daemon replicas on one
 * Postgres database, the simulated Enode served with a request log, a TCP proxy that can cut a
 * replica off from Postgres, a few deliveries that raise interference findings whatever their
 * order, and the admin API's view of a daemon's state (what two daemons fed alike must agree on).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import pg from 'pg';
import { signEnodeBody } from '../../src/ingest/signature.js';
import type { Simulator } from '../../src/simulator/index.js';
import { allPages, E2E_ADMIN, E2E_SECRET } from '../support/daemon.js';
import { vehicleAt } from '../support/fixtures.js';
import { spawnDaemon, type CrashDaemon } from './support-crash.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** POSTs a signed delivery; the caller judges the answer (and a thrown fetch: not acknowledged). */
export function postDelivery(url: string, id: string, body: string, timeoutMs = 15_000): Promise<Response> {
  return fetch(`${url}/webhooks/enode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-enode-delivery': id, 'x-enode-signature': signEnodeBody(body, E2E_SECRET) },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
}

/** An admin API request with the e2e token. */
export function adminFetch(url: string, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${E2E_ADMIN}`);
  if (init.body !== undefined) headers.set('content-type', 'application/json');
  return fetch(`${url}/api/v1${path}`, { ...init, headers, signal: AbortSignal.timeout(40_000) });
}

/** A daemon process on a shared Postgres database; its pid is in the holder id of the leases it takes. */
export interface Replica extends CrashDaemon {
  name: string;
  pid: number;
}

/** Starts a replica (`tsx src/main.ts serve` with DATABASE_URL); its log goes to `dir`. */
export async function spawnReplica(dir: string, name: string, databaseUrl: string, env: Record<string, string> = {}): Promise<Replica> {
  mkdirSync(dir, { recursive: true });
  const d = await spawnDaemon(dir, { DATABASE_URL: databaseUrl, ...env });
  return { ...d, name, pid: d.proc.child.pid ?? -1 };
}

export const isAlive = (d: CrashDaemon) => d.proc.child.exitCode === null && d.proc.child.signalCode === null;

/** The last lines of a daemon's log (spawnDaemon writes `daemon-<port>.log` in its directory). */
export function logTail(dir: string, d: CrashDaemon, lines = 12): string {
  try {
    return readFileSync(join(dir, `daemon-${new URL(d.url).port}.log`), 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** An error that ends a `waitFor` at once (others only mean "not yet"). */
export class WaitAborted extends Error {}

/** Throws, with the log's tail, when the daemon has exited. */
export function assertAlive(dir: string, d: CrashDaemon, when: string): void {
  if (isAlive(d)) return;
  throw new WaitAborted(`the replica exited (${d.proc.child.exitCode ?? d.proc.child.signalCode}) ${when}; log tail:\n${logTail(dir, d)}`);
}

/** A lease's holder id is `host:pid:random` (store/leases.ts): the replica with that pid. */
export function replicaOfHolder(replicas: Replica[], holder: string): Replica | undefined {
  const pid = Number(holder.split(':').at(-2));
  return replicas.find((r) => r.pid === pid);
}

/** One query through the test's own pool (its view of the database, never a daemon's). */
export async function pgQuery<T extends pg.QueryResultRow>(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query<T>(sql, params)).rows;
}

export interface LeaseRow {
  name: string;
  holder: string;
  token: number;
  expiresAtMs: number;
}

export async function readLeases(pool: pg.Pool): Promise<LeaseRow[]> {
  return pgQuery<LeaseRow>(pool, `SELECT name, holder, token, expires_at_ms AS "expiresAtMs" FROM leases ORDER BY name`);
}

// ── the simulated Enode, served with a log of every request ──

export interface EnodeRequest {
  method: string;
  path: string;
  atMs: number;
}

export interface CountingEnode {
  url: string;
  requests: EnodeRequest[];
  /** Requests matching `method` and `path` (a RegExp on the path without its query) at or after `sinceMs`. */
  count(method: string, path: RegExp, sinceMs?: number, untilMs?: number): number;
  close(): Promise<void>;
}

/**
 * Serves `sim.app` on loopback, logging each request on the way in. The simulator itself keeps no
 * request count; wrapping its fetch handler here counts every endpoint without changing it.
 */
export async function serveCounting(sim: Simulator): Promise<CountingEnode> {
  const requests: EnodeRequest[] = [];
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve(
      {
        fetch: (req: Request) => {
          requests.push({ method: req.method, path: new URL(req.url).pathname, atMs: Date.now() });
          return sim.app.fetch(req);
        },
        port: 0,
        hostname: '127.0.0.1',
      },
      () => resolve(s as Server),
    ) as Server;
    s.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    count: (method, path, sinceMs = 0, untilMs = Number.POSITIVE_INFINITY) =>
      requests.filter((r) => r.method === method && path.test(r.path) && r.atMs >= sinceMs && r.atMs < untilMs).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** The daemon's environment for talking to the simulator (as test/e2e/daemon-simulator.test.ts does). */
export function enodeEnv(sim: Simulator, enodeUrl: string): Record<string, string> {
  return {
    ENODE_API_URL: enodeUrl,
    ENODE_OAUTH_URL: `${enodeUrl}/oauth2/token`,
    ENODE_CLIENT_ID: sim.options.clientId,
    ENODE_CLIENT_SECRET: sim.options.clientSecret,
    ...(sim.defaultWebhookId ? { ENODE_WEBHOOK_ID: sim.defaultWebhookId } : {}),
  };
}

// ── a TCP proxy between one replica and Postgres ──

export interface TcpProxy {
  port: number;
  /** Stops listening and breaks every open connection: Postgres is gone for whoever used the proxy. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: ReturnType<typeof createServer> | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(targetPort, targetHost);
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        const a = s.address();
        port = typeof a === 'object' && a ? a.port : port;
        server = s;
        resolve();
      });
    });
  const cut = async () => {
    const s = server;
    server = undefined;
    const closed = s ? new Promise<void>((resolve) => s.close(() => resolve())) : Promise.resolve();
    for (const sock of sockets) sock.destroy();
    await closed;
  };
  await listen();
  return { port, cut, restore: listen, close: cut };
}

/** `url` with its host and port replaced (the database, role and password stay). */
export function viaPort(url: string, host: string, port: number): string {
  const u = new URL(url);
  u.hostname = host;
  u.port = String(port);
  return u.toString();
}

// ── deliveries that raise findings whatever the order they arrive in ──

/** Vehicles with no action of ours: each charges, then stops at a device time five minutes later. */
export const INTERFERENCE_VEHICLES = 6;
const INTERFERENCE_BASE_MS = Date.parse('2026-03-01T06:00:00.000Z');

export const interferenceDeliveryId = (j: number, part: 'before' | 'stop') => `interference-${j}-${part}`;

/**
 * The two deliveries of vehicle `iv-<j>`: charging at minute j, then stopped at minute j + 5.
 * Observations are ordered by device time, so whichever arrives first the history is the same
 * once both are in: one unexplained stop, one UNEXPECTED_CHANGE.
 */
export function interferenceBody(j: number, part: 'before' | 'stop'): string {
  const id = `iv-${j}`;
  const atMs = INTERFERENCE_BASE_MS + (j + (part === 'stop' ? 5 : 0)) * 60_000;
  const vehicle = vehicleAt(id, atMs, { charging: part === 'before' });
  return JSON.stringify([
    { event: 'user:vehicle:updated', createdAt: new Date(atMs + 500).toISOString(), version: '2024-10-01', user: { id: vehicle.userId }, vehicle, updatedFields: ['chargeState.isCharging'] },
  ]);
}

// ── what two daemons fed alike must agree on, read through the admin API ──

export interface ApiState {
  devices: Array<Record<string, unknown>>;
  actions: Array<Record<string, unknown>>;
  /** Findings without `detectedAt` (when a reconciler judged: wall time, differs between runs). */
  findings: Array<Record<string, unknown>>;
}

const byId = (a: Record<string, unknown>, b: Record<string, unknown>) => String(a['id']).localeCompare(String(b['id']));

export async function apiState(url: string): Promise<ApiState> {
  const [devices, actions, findings] = await Promise.all([
    allPages<Record<string, unknown>>(url, '/devices'),
    allPages<Record<string, unknown>>(url, '/actions'),
    allPages<Record<string, unknown>>(url, '/interference'),
  ]);
  return {
    devices: devices.sort(byId),
    actions: actions.sort(byId),
    findings: findings.map(({ detectedAt: _detectedAt, ...f }) => f).sort(byId),
  };
}

/** Polls `probe` until it returns true or `timeoutMs` passes (then throws `what`); a probe that throws WaitAborted ends it. */
export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<number> {
  const started = Date.now();
  for (;;) {
    const done = await probe().catch((err: unknown) => {
      if (err instanceof WaitAborted) throw err;
      return false;
    });
    if (done) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
