import { copyFileSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { freePort, sendAll, startProcess, waitHealthy, type LoadResult } from './harness.js';
import { makeDeliveries } from './payloads.js';

const SECRET = 'bench-webhook-secret';
const ADMIN = 'bench-admin-token-0123456789';

export interface IngestBenchOptions {
  deliveries: number;
  /** Offered load for the latency measurement (deliveries/s), below saturation. */
  steadyRate: number;
  steadyDeliveries: number;
  warmup: number;
  connections: number;
  eventsPerDelivery: number;
}

async function runBare(deliveries: ReturnType<typeof makeDeliveries>, warm: ReturnType<typeof makeDeliveries>, connections: number): Promise<LoadResult> {
  const port = await freePort();
  const proc = startProcess(process.execPath, ['--import', 'tsx', 'test/bench/bare-server.ts'], { BENCH_SECRET: SECRET, BENCH_PORT: String(port) });
  try {
    await waitHealthy(`http://127.0.0.1:${port}/`, 20_000).catch(() => undefined);
    await waitForPort(port);
    await sendAll(`http://127.0.0.1:${port}/webhooks/enode`, warm, connections);
    return await sendAll(`http://127.0.0.1:${port}/webhooks/enode`, deliveries, connections);
  } finally {
    await proc.stop();
  }
}

/** Polls the admin API until no delivery is pending (stored, not yet applied). */
async function waitDrained(base: string): Promise<void> {
  for (;;) {
    const res = await fetch(`${base}/api/v1/deliveries?status=pending&limit=1`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const body = (await res.json()) as { data: unknown[] };
    if (body.data.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`port ${port} never opened`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Ingest throughput of `node dist/main.js serve` (durable, on disk) vs a bare Hono HMAC+parse handler. */
export async function ingestBench(o: IngestBenchOptions) {
  const warm = makeDeliveries(o.warmup, SECRET, { eventsPerDelivery: o.eventsPerDelivery, seed: 'warm' });
  const main = makeDeliveries(o.deliveries, SECRET, { eventsPerDelivery: o.eventsPerDelivery, seed: 'main' });
  const steady = makeDeliveries(o.steadyDeliveries, SECRET, { eventsPerDelivery: o.eventsPerDelivery, seed: 'steady' });
  const bodyBytes = Math.round(main.reduce((s, d) => s + d.body.length, 0) / main.length);

  const bareBefore = await runBare(main, warm, o.connections);

  const dir = mkdtempSync(join(tmpdir(), 'enode-sync-bench-'));
  const dbPath = join(dir, 'bench.db');
  const port = await freePort();
  const logFd = openSync(join(dir, 'daemon.log'), 'a');
  const daemon = startProcess(
    process.execPath,
    ['dist/main.js', 'serve'],
    { PORT: String(port), HOST: '127.0.0.1', DATABASE_PATH: dbPath, ENODE_WEBHOOK_SECRET: SECRET, ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'info' },
    logFd,
  );
  let target: LoadResult;
  let steadyResult: LoadResult;
  let drainSeconds = 0;
  let stored: { deliveries: number; applied: number; observations: number; actions: number; journal: string };
  try {
    await waitHealthy(`http://127.0.0.1:${port}/healthz`);
    await sendAll(`http://127.0.0.1:${port}/webhooks/enode`, warm, o.connections);
    target = await sendAll(`http://127.0.0.1:${port}/webhooks/enode`, main, o.connections);
    // Applying follows the acknowledgement: time until the backlog left by the burst is applied.
    const drainStarted = process.hrtime.bigint();
    await waitDrained(`http://127.0.0.1:${port}`);
    drainSeconds = Number(process.hrtime.bigint() - drainStarted) / 1e9;
    steadyResult = await sendAll(`http://127.0.0.1:${port}/webhooks/enode`, steady, o.connections, o.steadyRate);
  } finally {
    await daemon.stop();
  }
  {
    const db = new Database(dbPath, { readonly: true });
    const n = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    stored = {
      deliveries: n('SELECT count(*) AS n FROM deliveries'),
      applied: n("SELECT count(*) AS n FROM deliveries WHERE status = 'applied'"),
      observations: n('SELECT count(*) AS n FROM observations'),
      actions: n('SELECT count(*) AS n FROM actions'),
      journal: String(db.pragma('journal_mode', { simple: true })),
    };
    db.close();
  }
  const bareAfter = await runBare(main, warm, o.connections);
  // BENCH_DAEMON_LOG=<file> keeps the daemon's log of the run, for looking into a figure.
  if (process.env.BENCH_DAEMON_LOG) copyFileSync(join(dir, 'daemon.log'), process.env.BENCH_DAEMON_LOG);
  rmSync(dir, { recursive: true, force: true });

  const bareRps = (bareBefore.rps + bareAfter.rps) / 2;
  return {
    machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}`,
    bodyBytes,
    eventsPerDelivery: o.eventsPerDelivery,
    connections: o.connections,
    bare: { before: bareBefore, after: bareAfter, rps: bareRps },
    target,
    steady: { rate: o.steadyRate, result: steadyResult },
    apply: {
      drainSeconds,
      // Deliveries of the burst applied per second, from its first request to the last applied.
      deliveriesPerSecond: o.deliveries / (target.seconds + drainSeconds),
    },
    ratio: target.rps / bareRps,
    eventsPerSecond: target.rps * o.eventsPerDelivery,
    stored,
    expectedDeliveries: o.warmup + o.deliveries + o.steadyDeliveries,
  };
}
