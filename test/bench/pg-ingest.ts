/**
 * Ingest on Postgres: `node dist/main.js serve` with DATABASE_URL, one replica and two replicas
 * on one database, against a bare Hono handler that checks the HMAC, parses the body and INSERTs
 * it into the same server (pg-bare-server.ts: one durable commit, one round trip).
 *
 * Each target has a database of its own, made fresh for this run and dropped after. Rounds
 * alternate on the shared, drifting machine: a fresh reference process (its table growing across
 * rounds, as the daemons' do), then a burst at the single replica and one at the pair (their
 * order swapped every round), each with the same payloads (payloads.ts). After each daemon burst
 * the bench polls the database until no delivery is pending: that gives applied deliveries/s end
 * to end (stored and applied, from the burst's first request), as the SQLite figure does. It then
 * waits, unmeasured, until the reconcile queue has nothing due, so the next run is quiet.
 */
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSplit, threadCpu, type CpuSplit } from './cpu.js';
import { freePort, sendAll, startProcess, waitHealthy, type LoadResult, type Proc } from './harness.js';
import { makeDeliveries } from './payloads.js';
import { cpuBetween, freshDatabase, postgresCpu, queryOnce, type BenchDatabase } from './pg-support.js';

const SECRET = 'bench-webhook-secret';
const ADMIN = 'bench-admin-token-0123456789';

export interface PgIngestOptions {
  adminUrl: string;
  deliveries: number;
  rounds: number;
  warmup: number;
  connections: number;
  eventsPerDelivery: number;
}

type Deliveries = ReturnType<typeof makeDeliveries>;

/** CPU (ms) during one measured burst: the server processes' threads, the Postgres server, the load generator. */
export interface BurstCpu {
  servers: CpuSplit;
  postgres: number;
  loadGenerator: number;
}

export interface Burst {
  load: LoadResult;
  cpu: BurstCpu;
  /** Seconds from the last acknowledgement until nothing was pending (daemons only). */
  drainSeconds: number;
  /** Deliveries stored and applied per second, from the first request to the last applied (daemons only). */
  appliedPerSecond: number;
}

/** Runs `fn` and the CPU that the processes `pids`, the Postgres server and this process used meanwhile. */
async function measured(pids: Array<number | undefined>, fn: () => Promise<LoadResult>): Promise<{ load: LoadResult; cpu: BurstCpu }> {
  const before = pids.map((pid) => threadCpu(pid));
  const pgBefore = postgresCpu();
  const own = process.cpuUsage();
  const load = await fn();
  const used = process.cpuUsage(own);
  const pgUsed = cpuBetween(pgBefore, postgresCpu());
  const servers = pids
    .map((pid, i) => cpuSplit(pid, before[i]!, threadCpu(pid)))
    .reduce((a, b) => ({ main: a.main + b.main, busiest: a.busiest + b.busiest, others: a.others + b.others }), { main: 0, busiest: 0, others: 0 });
  return { load, cpu: { servers, postgres: pgUsed, loadGenerator: (used.user + used.system) / 1000 } };
}

/** Sends `deliveries` spread evenly over `urls` at once (half the connections each for two); one combined result. */
async function sendSpread(urls: string[], deliveries: Deliveries, connections: number): Promise<LoadResult> {
  if (urls.length === 1) return sendAll(urls[0]!, deliveries, connections);
  const parts = urls.map((_, i) => deliveries.filter((_, j) => j % urls.length === i));
  const results = await Promise.all(urls.map((u, i) => sendAll(u, parts[i]!, Math.max(1, Math.round(connections / urls.length)))));
  const requests = results.reduce((s, r) => s + r.requests, 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  // Latency quantiles cannot be merged from autocannon's summaries: the worse replica's is reported.
  return {
    requests,
    seconds,
    rps: requests / seconds,
    p50: Math.max(...results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
    non2xx: results.reduce((s, r) => s + r.non2xx, 0),
    errors: results.reduce((s, r) => s + r.errors, 0),
  };
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

/** A group of daemon replicas on one fresh database. */
interface Replicas {
  db: BenchDatabase;
  urls: string[];
  procs: Proc[];
}

async function startReplicas(adminUrl: string, n: number, dir: string, label: string): Promise<Replicas> {
  const db = await freshDatabase(adminUrl, label);
  const urls: string[] = [];
  const procs: Proc[] = [];
  const nodeArgs = (process.env.BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // Started together: the migrations at start are serialised by their advisory lock.
  for (let i = 0; i < n; i++) {
    const port = await freePort();
    urls.push(`http://127.0.0.1:${port}`);
    procs.push(
      startProcess(
        process.execPath,
        [...nodeArgs, 'dist/main.js', 'serve'],
        { PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: db.url, ENODE_WEBHOOK_SECRET: SECRET, ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'info' },
        openSync(join(dir, `${label}-${i}.log`), 'a'),
      ),
    );
  }
  await Promise.all(urls.map((u) => waitHealthy(`${u}/readyz`, 60_000)));
  return { db, urls, procs };
}

async function stopReplicas(r: Replicas): Promise<void> {
  await Promise.all(r.procs.map((p) => p.stop()));
  await r.db.drop();
}

/**
 * Polls the database until no delivery is pending; returns the seconds that took. Then waits
 * (not counted) until nothing is due in the reconcile queue twice, 2.5 s apart.
 */
async function waitApplied(dbUrl: string): Promise<number> {
  const started = process.hrtime.bigint();
  for (;;) {
    const [row] = await queryOnce<{ n: number }>(dbUrl, `SELECT count(*)::int AS n FROM deliveries WHERE status = 'pending'`);
    if (row!.n === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const drained = Number(process.hrtime.bigint() - started) / 1e9;
  const deadline = Date.now() + 120_000;
  for (let quiet = 0; quiet < 2 && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 2_500));
    const [due] = await queryOnce<{ n: number }>(dbUrl, `SELECT count(*)::int AS n FROM reconcile_queue WHERE due_at_ms <= $1`, [Date.now()]);
    quiet = due!.n === 0 ? quiet + 1 : 0;
  }
  return drained;
}

async function daemonBurst(r: Replicas, burst: Deliveries, connections: number): Promise<Burst> {
  const { load, cpu } = await measured(
    r.procs.map((p) => p.child.pid),
    () => sendSpread(r.urls.map((u) => `${u}/webhooks/enode`), burst, connections),
  );
  const drainSeconds = await waitApplied(r.db.url);
  return { load, cpu, drainSeconds, appliedPerSecond: burst.length / (load.seconds + drainSeconds) };
}

async function referenceBurst(db: BenchDatabase, burst: Deliveries, warm: Deliveries, connections: number): Promise<Burst> {
  const port = await freePort();
  const proc = startProcess(process.execPath, ['--import', 'tsx', 'test/bench/pg-bare-server.ts'], {
    BENCH_SECRET: SECRET,
    BENCH_PORT: String(port),
    BENCH_DATABASE_URL: db.url,
  });
  try {
    await waitForPort(port);
    await sendAll(`http://127.0.0.1:${port}/webhooks/enode`, warm, connections);
    const { load, cpu } = await measured([proc.child.pid], () => sendAll(`http://127.0.0.1:${port}/webhooks/enode`, burst, connections));
    return { load, cpu, drainSeconds: 0, appliedPerSecond: Number.NaN };
  } finally {
    await proc.stop();
  }
}

export interface PgIngestRound {
  reference: Burst;
  one: Burst;
  two: Burst;
}

interface StoredCounts {
  deliveries: number;
  applied: number;
  observations: number;
  actions: number;
}

async function storedCounts(dbUrl: string): Promise<StoredCounts> {
  const [row] = await queryOnce<StoredCounts>(
    dbUrl,
    `SELECT (SELECT count(*)::int FROM deliveries) AS deliveries,
            (SELECT count(*)::int FROM deliveries WHERE status = 'applied') AS applied,
            (SELECT count(*)::int FROM observations) AS observations,
            (SELECT count(*)::int FROM actions) AS actions`,
  );
  return row!;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Runs the Postgres ingest benchmark; see the file's comment. */
export async function pgIngestBench(o: PgIngestOptions) {
  const ev = { eventsPerDelivery: o.eventsPerDelivery };
  const warm = makeDeliveries(o.warmup, SECRET, { ...ev, seed: 'warm' });
  const bursts = Array.from({ length: o.rounds }, (_, i) => makeDeliveries(o.deliveries, SECRET, { ...ev, seed: `burst${i}` }));
  const refDb = await freshDatabase(o.adminUrl, 'reference');
  const dir = mkdtempSync(join(tmpdir(), 'enode-sync-pg-bench-'));
  let one: Replicas | undefined;
  let two: Replicas | undefined;
  const rounds: PgIngestRound[] = [];
  let stored: { one: StoredCounts; two: StoredCounts };
  try {
    one = await startReplicas(o.adminUrl, 1, dir, 'one');
    two = await startReplicas(o.adminUrl, 2, dir, 'two');
    for (const r of [one, two]) {
      await sendSpread(r.urls.map((u) => `${u}/webhooks/enode`), warm, o.connections);
      await waitApplied(r.db.url);
    }
    for (const [i, burst] of bursts.entries()) {
      const reference = await referenceBurst(refDb, burst, warm, o.connections);
      // The pair first in odd rounds: neither target always runs right after the reference.
      const order = i % 2 === 0 ? ([one, two] as const) : ([two, one] as const);
      const a = await daemonBurst(order[0], burst, o.connections);
      const b = await daemonBurst(order[1], burst, o.connections);
      rounds.push(i % 2 === 0 ? { reference, one: a, two: b } : { reference, one: b, two: a });
    }
    stored = { one: await storedCounts(one.db.url), two: await storedCounts(two.db.url) };
  } finally {
    for (const r of [one, two]) if (r) await stopReplicas(r).catch((err: unknown) => process.stderr.write(`bench: could not drop ${r.db.name}: ${(err as Error).message}\n`));
    await refDb.drop().catch((err: unknown) => process.stderr.write(`bench: could not drop ${refDb.name}: ${(err as Error).message}\n`));
    if (!process.env.BENCH_PG_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  }
  const pick = (f: (r: PgIngestRound) => number) => median(rounds.map(f));
  const summary = (which: 'reference' | 'one' | 'two') => ({
    rps: pick((r) => r[which].load.rps),
    p50: pick((r) => r[which].load.p50),
    p99: pick((r) => r[which].load.p99),
    appliedPerSecond: pick((r) => r[which].appliedPerSecond),
    drainSeconds: pick((r) => r[which].drainSeconds),
    non2xx: rounds.reduce((s, r) => s + r[which].load.non2xx, 0),
    errors: rounds.reduce((s, r) => s + r[which].load.errors, 0),
    cpu: cpuPerDelivery(rounds.map((r) => r[which]), o.deliveries),
  });
  return {
    kind: refDb.kind,
    rounds,
    reference: summary('reference'),
    one: summary('one'),
    two: summary('two'),
    stored,
    expected: o.warmup + o.deliveries * o.rounds,
    logs: process.env.BENCH_PG_KEEP_LOGS ? dir : undefined,
  };
}

/** CPU per delivery (µs) over all rounds, and the cores busy on average during the bursts. */
function cpuPerDelivery(bursts: Burst[], deliveries: number) {
  const n = deliveries * bursts.length;
  const sum = (f: (b: Burst) => number) => bursts.reduce((s, b) => s + f(b), 0);
  const seconds = sum((b) => b.load.seconds);
  const us = (ms: number) => (ms * 1000) / n;
  const all = sum((b) => b.cpu.servers.main + b.cpu.servers.busiest + b.cpu.servers.others + b.cpu.postgres + b.cpu.loadGenerator);
  return {
    main: us(sum((b) => b.cpu.servers.main)),
    otherThreads: us(sum((b) => b.cpu.servers.busiest + b.cpu.servers.others)),
    postgres: us(sum((b) => b.cpu.postgres)),
    loadGenerator: us(sum((b) => b.cpu.loadGenerator)),
    cores: all / 1000 / seconds,
  };
}

export type PgIngestResult = Awaited<ReturnType<typeof pgIngestBench>>;
