import { copyFileSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { addSplits, cpuSplit, threadCpu, type CpuSplit } from './cpu.js';
import { freePort, sendAll, startProcess, waitHealthy, type LoadResult } from './harness.js';
import { makeDeliveries } from './payloads.js';

const SECRET = 'bench-webhook-secret';
const ADMIN = 'bench-admin-token-0123456789';

export interface IngestBenchOptions {
  /** Deliveries per burst. */
  deliveries: number;
  /** Bursts, each with its own reference run just before it (medians are compared). */
  rounds: number;
  /** Offered load for the latency measurement (deliveries/s), below saturation. */
  steadyRate: number;
  steadyDeliveries: number;
  warmup: number;
  connections: number;
  eventsPerDelivery: number;
}

type Deliveries = ReturnType<typeof makeDeliveries>;

/** CPU (ms) of a measured run: the server's threads and this process (the load generator). */
interface RunCpu {
  server: CpuSplit;
  loadGenerator: number;
}

/** Runs `fn` and measures the CPU the server process `pid` and this process used meanwhile. */
async function measured<T>(pid: number | undefined, fn: () => Promise<T>): Promise<{ result: T; cpu: RunCpu }> {
  const before = threadCpu(pid);
  const own = process.cpuUsage();
  const result = await fn();
  const used = process.cpuUsage(own);
  return { result, cpu: { server: cpuSplit(pid, before, threadCpu(pid)), loadGenerator: (used.user + used.system) / 1000 } };
}

async function runBare(deliveries: Deliveries, warm: Deliveries, connections: number): Promise<{ result: LoadResult; cpu: RunCpu }> {
  const port = await freePort();
  const proc = startProcess(process.execPath, ['--import', 'tsx', 'test/bench/bare-server.ts'], { BENCH_SECRET: SECRET, BENCH_PORT: String(port) });
  try {
    await waitForPort(port);
    await sendAll(`http://127.0.0.1:${port}/webhooks/enode`, warm, connections);
    return await measured(proc.child.pid, () => sendAll(`http://127.0.0.1:${port}/webhooks/enode`, deliveries, connections));
  } finally {
    await proc.stop();
  }
}

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : Number.NaN;
}

/**
 * Polls until every stored delivery is applied; returns the seconds that took. Then waits (not
 * counted) until the reconciler has caught up too, so the next measurement runs on a quiet machine.
 */
async function waitSettled(base: string): Promise<number> {
  const started = process.hrtime.bigint();
  for (;;) {
    const res = await fetch(`${base}/api/v1/deliveries?status=pending&limit=1`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const body = (await res.json()) as { data: unknown[] };
    if (body.data.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const drained = Number(process.hrtime.bigint() - started) / 1e9;
  const deadline = Date.now() + 120_000;
  // The reconciler runs every 2 s: due devices at 0 twice in a row, 2.5 s apart, means it is done.
  for (let quiet = 0; quiet < 2 && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 2_500));
    quiet = (await metric(base, 'enode_sync_reconcile_queue_due')) === 0 ? quiet + 1 : 0;
  }
  return drained;
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

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface IngestRound {
  bare: LoadResult;
  target: LoadResult;
  /** Seconds from the burst's last acknowledgement until all of it was applied. */
  drainSeconds: number;
  /** Deliveries of the burst applied per second, from its first request to the last applied. */
  appliedPerSecond: number;
  /** CPU used during the reference run and during the burst. */
  cpu: { bare: RunCpu; target: RunCpu };
}

/**
 * Ingest throughput of `node dist/main.js serve` (durable, on disk) vs a bare Hono HMAC+parse
 * handler. The machine's speed drifts (±15 % between runs of the same server here), so rounds
 * alternate: a fresh reference run, then a burst at the daemon (kept running, its database
 * growing), and medians are compared.
 */
export async function ingestBench(o: IngestBenchOptions) {
  const warm = makeDeliveries(o.warmup, SECRET, { eventsPerDelivery: o.eventsPerDelivery, seed: 'warm' });
  const bursts = Array.from({ length: o.rounds }, (_, i) => makeDeliveries(o.deliveries, SECRET, { eventsPerDelivery: o.eventsPerDelivery, seed: `burst${i}` }));
  const steady = makeDeliveries(o.steadyDeliveries, SECRET, { eventsPerDelivery: o.eventsPerDelivery, seed: 'steady' });
  const bodyBytes = Math.round(bursts[0]!.reduce((s, d) => s + d.body.length, 0) / o.deliveries);

  const dir = mkdtempSync(join(tmpdir(), 'enode-sync-bench-'));
  const dbPath = join(dir, 'bench.db');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logFd = openSync(join(dir, 'daemon.log'), 'a');
  // BENCH_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the daemon (every thread) for a run.
  const nodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const daemon = startProcess(
    process.execPath,
    [...nodeArgs, 'dist/main.js', 'serve'],
    { PORT: String(port), HOST: '127.0.0.1', DATABASE_PATH: dbPath, ENODE_WEBHOOK_SECRET: SECRET, ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'info' },
    logFd,
  );
  const rounds: IngestRound[] = [];
  let steadyResult: LoadResult;
  let stored: { deliveries: number; applied: number; observations: number; actions: number; journal: string };
  try {
    await waitHealthy(`${base}/healthz`);
    await sendAll(`${base}/webhooks/enode`, warm, o.connections);
    await waitSettled(base);
    for (const burst of bursts) {
      const bare = await runBare(burst, warm, o.connections);
      const target = await measured(daemon.child.pid, () => sendAll(`${base}/webhooks/enode`, burst, o.connections));
      const drainSeconds = await waitSettled(base);
      rounds.push({ bare: bare.result, target: target.result, drainSeconds, appliedPerSecond: o.deliveries / (target.result.seconds + drainSeconds), cpu: { bare: bare.cpu, target: target.cpu } });
    }
    steadyResult = await sendAll(`${base}/webhooks/enode`, steady, o.connections, o.steadyRate);
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
  // BENCH_DAEMON_LOG=<file> keeps the daemon's log of the run, for looking into a figure.
  if (process.env.BENCH_DAEMON_LOG) copyFileSync(join(dir, 'daemon.log'), process.env.BENCH_DAEMON_LOG);
  rmSync(dir, { recursive: true, force: true });

  // CPU per request over all rounds, in µs (Linux; zeros elsewhere).
  const perRequest = (pick: (r: IngestRound) => RunCpu) => {
    const total = rounds.reduce(
      (acc, r) => ({ server: addSplits(acc.server, pick(r).server), loadGenerator: acc.loadGenerator + pick(r).loadGenerator }),
      { server: { main: 0, busiest: 0, others: 0 }, loadGenerator: 0 } as RunCpu,
    );
    const n = o.deliveries * rounds.length;
    const us = (ms: number) => (ms * 1000) / n;
    return { main: us(total.server.main), busiest: us(total.server.busiest), others: us(total.server.others), loadGenerator: us(total.loadGenerator) };
  };
  const seconds = (pick: (r: IngestRound) => LoadResult) => rounds.reduce((s, r) => s + pick(r).seconds, 0);
  const cpu = {
    bare: perRequest((r) => r.cpu.bare),
    target: perRequest((r) => r.cpu.target),
    // Cores busy on average (server and load generator): 2 = the machine was saturated.
    bareCores: rounds.reduce((s, r) => s + r.cpu.bare.server.main + r.cpu.bare.server.busiest + r.cpu.bare.server.others + r.cpu.bare.loadGenerator, 0) / 1000 / seconds((r) => r.bare),
    targetCores: rounds.reduce((s, r) => s + r.cpu.target.server.main + r.cpu.target.server.busiest + r.cpu.target.server.others + r.cpu.target.loadGenerator, 0) / 1000 / seconds((r) => r.target),
  };
  const bareRps = median(rounds.map((r) => r.bare.rps));
  const targetRps = median(rounds.map((r) => r.target.rps));
  return {
    machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}`,
    bodyBytes,
    eventsPerDelivery: o.eventsPerDelivery,
    connections: o.connections,
    rounds,
    bare: { rps: bareRps, p50: median(rounds.map((r) => r.bare.p50)), p99: median(rounds.map((r) => r.bare.p99)) },
    target: {
      rps: targetRps,
      p50: median(rounds.map((r) => r.target.p50)),
      p99: median(rounds.map((r) => r.target.p99)),
      non2xx: rounds.reduce((s, r) => s + r.target.non2xx, 0),
      errors: rounds.reduce((s, r) => s + r.target.errors, 0),
    },
    steady: { rate: o.steadyRate, result: steadyResult },
    apply: {
      drainSeconds: median(rounds.map((r) => r.drainSeconds)),
      deliveriesPerSecond: median(rounds.map((r) => r.appliedPerSecond)),
    },
    ratio: targetRps / bareRps,
    cpu,
    eventsPerSecond: targetRps * o.eventsPerDelivery,
    stored,
    expectedDeliveries: o.warmup + o.deliveries * o.rounds + o.steadyDeliveries,
  };
}
