/**
 * Scale on Postgres: the fleet of scale.ts (its generator: 9 vehicle snapshots per device and an
 * action for half of them, 10 events to a delivery) on a fresh Postgres database.
 *
 * 1. The deliveries are stored `pending`, as the webhook route leaves them (not measured). A child
 *    process (the built code) opens the Postgres store as a replica does: its apply loop claims
 *    and applies every pending delivery (batches of 100, FOR UPDATE SKIP LOCKED), then the
 *    reconciler drains its queue in 50 ms calls.
 *    Reference: the same observation, device and action rows written without logic, in
 *    transactions of 1,000 events, each one multi-row statement per table (`unnest` arrays; the
 *    devices and actions of a transaction deduplicated, last write wins, since one upsert may not
 *    touch a row twice), committed durably as the funnel's are; the values computed before the
 *    clock runs. Row by row it would be a round trip per row, which no one writing Postgres for
 *    speed does, so the reference is the multi-row form.
 * 2. The child's resident memory: peak (sampled every 100 ms) and after a GC.
 * 3. Start-up of `node dist/main.js serve` on that database until /readyz (vs an empty one), and
 *    the admin API's list latency on it, against GET /healthz on the same daemon.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type pg from 'pg';
import { encodeCursor } from '../../src/api/pagination.js';
import { controlledState, deviceTimeMs, observedContext } from '../../src/domain/devices.js';
import { openPostgres } from '../../src/store/postgres/connect.js';
import { runPostgresMigrations } from '../../src/store/postgres/migrate.js';
import { freePort, startProcess, type Proc } from './harness.js';
import { freshDatabase, type BenchDatabase } from './pg-support.js';
import { ADMIN, deliveryIdOf, deviceIdOf, fleetDeliveries, latency, receivedAtOf, SECRET, SNAPSHOTS_PER_DEVICE, type Latency } from './scale.js';

const REFERENCE_TX_EVENTS = 1_000;
const STORE_BATCH = 1_000;
/** Sequential requests per admin API figure. */
const API_REQUESTS = 200;

export interface PgScaleOptions {
  adminUrl: string;
  devices: number;
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** Stores the fleet's deliveries as `pending` in their rows, as the Postgres intake does (not measured). */
async function storeBacklog(pool: pg.Pool, devices: number, t0: number): Promise<{ deliveries: number; events: number; seconds: number }> {
  const started = performance.now();
  const out = { deliveries: 0, events: 0, seconds: 0 };
  let rows: Array<[string, number, string, Buffer, string, number]> = [];
  // Loading the backlog is not measured: its commits need not wait for the disk.
  const client = await pool.connect();
  await client.query('SET synchronous_commit = off');
  const flush = async () => {
    await client.query(
      `INSERT INTO deliveries (id, received_at, headers, body, body_sha256, status, error, event_count, applied_at, attempts, body_id)
       SELECT id, received_at, headers, body, body_sha256, 'pending', NULL, event_count, NULL, 1, NULL
       FROM unnest($1::text[], $2::int8[], $3::json[], $4::bytea[], $5::text[], $6::int4[]) AS u(id, received_at, headers, body, body_sha256, event_count)`,
      [0, 1, 2, 3, 4, 5].map((k) => rows.map((r) => r[k])),
    );
    rows = [];
  };
  try {
    for (const batch of fleetDeliveries(devices, t0)) {
      const body = Buffer.from(JSON.stringify(batch.map((b) => b.event)));
      const id = deliveryIdOf(out.deliveries);
      const headers = JSON.stringify({ 'content-type': 'application/json', 'x-enode-delivery': id });
      rows.push([id, receivedAtOf(batch), headers, body, createHash('sha256').update(body).digest('hex'), batch.length]);
      out.deliveries++;
      out.events += batch.length;
      if (rows.length === STORE_BATCH) await flush();
    }
    if (rows.length > 0) await flush();
    await client.query('VACUUM ANALYZE deliveries');
  } finally {
    client.release();
  }
  out.seconds = (performance.now() - started) / 1000;
  return out;
}

/** What the funnel child prints as its last stdout line. */
interface PgFunnelResult {
  applySeconds: number;
  reconcileSeconds: number;
  devicesReconciled: number;
  findings: number;
  reconcileErrors: number;
  reconcileCalls: number;
  rssBeforeBytes: number;
  rssAfterGcBytes: number;
  peakRssBytes: { apply: number; reconcile: number };
  retries: Record<string, number>;
}

/** The child: the Postgres store of the built code, as a replica opens it; applies, then reconciles. */
const FUNNEL_CHILD = `
const m = JSON.parse(process.env.SCALE_MODULES);
const { loadConfig } = await import(m.config);
const { createLogger } = await import(m.logger);
const { openPostgres } = await import(m.connect);
const { createPostgresStore } = await import(m.store);
const { systemClock } = await import(m.clock);
const { readFileSync } = await import('node:fs');
const config = loadConfig({ ENODE_WEBHOOK_SECRET: ${JSON.stringify(SECRET)}, ADMIN_TOKEN: ${JSON.stringify(ADMIN)}, DATABASE_URL: process.env.SCALE_DB_URL, LOG_LEVEL: 'warn' });
const logger = createLogger('warn', process.stderr);
const rss = () => { try { return Number(/^VmRSS:\\s+(\\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024; } catch { return NaN; } };
const peak = { apply: 0, reconcile: 0 };
let phase = 'apply';
const sampler = setInterval(() => { peak[phase] = Math.max(peak[phase], rss()); }, 100);
globalThis.gc?.();
const rssBeforeBytes = process.memoryUsage().rss;
const pool = openPostgres(process.env.SCALE_DB_URL, {});
const started = performance.now();
const store = await createPostgresStore({ pool, clock: systemClock, logger, config });
await store.idle();
const applied = performance.now();
phase = 'reconcile';
let reconcileCalls = 0, devicesReconciled = 0, findings = 0, reconcileErrors = 0;
for (;;) {
  const r = await store.reconcile({ budgetMs: 50 });
  reconcileCalls++;
  devicesReconciled += r.devices;
  findings += r.findings.length;
  reconcileErrors += r.errors;
  if (!r.more && !r.deferred && r.devices === 0) break;
}
const reconciled = performance.now();
clearInterval(sampler);
globalThis.gc?.();
const m2 = process.memoryUsage();
const health = await store.health();
await store.close();
await pool.end();
process.stdout.write(JSON.stringify({
  applySeconds: (applied - started) / 1000, reconcileSeconds: (reconciled - applied) / 1000,
  devicesReconciled, findings, reconcileErrors, reconcileCalls,
  rssBeforeBytes, rssAfterGcBytes: m2.rss, peakRssBytes: peak, retries: {}, backlog: health.backlog,
}) + '\\n');
`;

function runFunnel(dbUrl: string, dir: string): Promise<PgFunnelResult> {
  const dist = (p: string) => pathToFileURL(resolve('dist', p)).href;
  const modules = {
    config: dist('config.js'),
    logger: dist('logger.js'),
    connect: dist('store/postgres/connect.js'),
    store: dist('store/postgres/store.js'),
    clock: dist('clock.js'),
  };
  const script = join(dir, 'pg-funnel-child.mjs');
  writeFileSync(script, FUNNEL_CHILD);
  const logPath = join(dir, 'pg-funnel.log');
  return new Promise((resolveResult, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', script], {
      env: { ...process.env, SCALE_DB_URL: dbUrl, SCALE_MODULES: JSON.stringify(modules) },
      stdio: ['ignore', 'pipe', openSync(logPath, 'a')],
    });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`postgres scale bench: the funnel child exited with ${code}: ${readFileSync(logPath, 'utf8').slice(-2000)}`));
        return;
      }
      resolveResult(JSON.parse(last) as PgFunnelResult);
    });
  });
}

/** One transaction's rows of the reference, as unnest arrays. */
interface ReferenceChunk {
  observations: unknown[][];
  devices: Map<string, unknown[]>;
  actions: Map<string, unknown[]>;
}

/** The reference's rows for the fleet, chunked by REFERENCE_TX_EVENTS events, computed up front. */
function referenceChunks(devices: number, t0: number): { chunks: ReferenceChunk[]; rows: number } {
  const chunks: ReferenceChunk[] = [];
  let chunk: ReferenceChunk = { observations: [], devices: new Map(), actions: new Map() };
  let events = 0;
  let rows = 0;
  let delivery = 0;
  for (const batch of fleetDeliveries(devices, t0)) {
    const deliveryId = deliveryIdOf(delivery++);
    const receivedAt = receivedAtOf(batch);
    batch.forEach(({ event }, index) => {
      if (event.event === 'user:vehicle:updated') {
        const v = event.vehicle as Record<string, unknown> & { id: string; userId: string; vendor: string; lastSeen: string };
        const text = JSON.stringify(v);
        const controlled = JSON.stringify(controlledState('vehicle', v));
        const context = JSON.stringify(observedContext('vehicle', v));
        const createdAt = event.createdAt as string;
        const hash = sha(`${event.event}\n${createdAt}\n${text}`);
        const atMs = deviceTimeMs(v);
        chunk.observations.push([v.id, v.userId, event.event, deliveryId, index, atMs, createdAt, receivedAt, JSON.stringify(event.updatedFields), controlled, context, hash]);
        chunk.devices.set(v.id, [v.id, v.userId, v.vendor, v.lastSeen, text, controlled, atMs, Date.parse(createdAt), hash, receivedAt]);
        rows += 2;
      } else {
        const a = event.vendorAction as Record<string, string | null>;
        const raw = JSON.stringify(a);
        const updatedAt = a.updatedAt as string;
        chunk.actions.set(a.id!, [a.id, a.userId, a.targetId, a.kind, a.state, a.createdAt, updatedAt, Date.parse(updatedAt), a.completedAt, raw, sha(raw), receivedAt]);
        rows += 1;
      }
      if (++events % REFERENCE_TX_EVENTS === 0) {
        chunks.push(chunk);
        chunk = { observations: [], devices: new Map(), actions: new Map() };
      }
    });
  }
  if (chunk.observations.length + chunk.actions.size > 0) chunks.push(chunk);
  return { chunks, rows };
}

const columns = (rows: unknown[][], n: number) => Array.from({ length: n }, (_, k) => rows.map((r) => r[k]));

async function runReference(pool: pg.Pool, devices: number, t0: number): Promise<{ seconds: number; rows: number }> {
  const { chunks, rows } = referenceChunks(devices, t0);
  const client = await pool.connect();
  let seconds = 0;
  try {
    for (const c of chunks) {
      const started = performance.now();
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO observations (device_id, device_type, user_id, event, source, delivery_id, event_index, observed_at_ms,
           event_created_at, received_at, updated_fields, snapshot, controlled, context, stale, hash)
         SELECT device_id, 'vehicle', user_id, event, 'webhook', delivery_id, event_index, observed_at_ms, event_created_at, received_at,
           updated_fields, NULL, controlled, context, false, hash
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::int8[], $7::text[], $8::int8[], $9::json[], $10::json[], $11::json[], $12::text[])
           AS u(device_id, user_id, event, delivery_id, event_index, observed_at_ms, event_created_at, received_at, updated_fields, controlled, context, hash)`,
        columns(c.observations, 12),
      );
      if (c.devices.size > 0) {
        await client.query(
          `INSERT INTO devices (id, type, user_id, vendor, last_seen, is_reachable, snapshot, controlled, snapshot_at_ms, snapshot_rank,
             snapshot_event_at_ms, snapshot_hash, first_seen_at, updated_at, deleted_at_ms)
           SELECT id, 'vehicle', user_id, vendor, last_seen, true, snapshot, controlled, at_ms, 1, event_at_ms, hash, received_at, received_at, NULL
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::json[], $6::json[], $7::int8[], $8::int8[], $9::text[], $10::int8[])
             AS u(id, user_id, vendor, last_seen, snapshot, controlled, at_ms, event_at_ms, hash, received_at)
           ON CONFLICT (id) DO UPDATE SET vendor = excluded.vendor, last_seen = excluded.last_seen, is_reachable = excluded.is_reachable,
             snapshot = excluded.snapshot, controlled = excluded.controlled, snapshot_at_ms = excluded.snapshot_at_ms,
             snapshot_rank = excluded.snapshot_rank, snapshot_event_at_ms = excluded.snapshot_event_at_ms,
             snapshot_hash = excluded.snapshot_hash, updated_at = excluded.updated_at`,
          columns([...c.devices.values()], 10),
        );
      }
      if (c.actions.size > 0) {
        await client.query(
          `INSERT INTO actions (id, user_id, target_id, target_type, kind, target, state, failure_reason, created_at, updated_at,
             updated_at_ms, completed_at, origin, raw, raw_hash, first_seen_at, last_news_at)
           SELECT id, user_id, target_id, 'vehicle', kind, NULL, state, NULL, created_at, updated_at, updated_at_ms, completed_at, 'enode',
             raw, raw_hash, received_at, received_at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[], $9::text[], $10::json[], $11::text[], $12::int8[])
             AS u(id, user_id, target_id, kind, state, created_at, updated_at, updated_at_ms, completed_at, raw, raw_hash, received_at)
           ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, updated_at_ms = excluded.updated_at_ms,
             completed_at = excluded.completed_at, raw = excluded.raw, raw_hash = excluded.raw_hash, last_news_at = excluded.last_news_at`,
          columns([...c.actions.values()], 12),
        );
      }
      await client.query('COMMIT');
      seconds += (performance.now() - started) / 1000;
    }
  } finally {
    client.release();
  }
  return { seconds, rows };
}

interface Daemon {
  url: string;
  proc: Proc;
  startupMs: number;
}

/** Spawns `node dist/main.js serve` on the database; resolves when /readyz first answers 200. */
async function startDaemon(dbUrl: string, logPath: string): Promise<Daemon> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const proc = startProcess(
    process.execPath,
    ['dist/main.js', 'serve'],
    { PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: dbUrl, ENODE_WEBHOOK_SECRET: SECRET, ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'info' },
    openSync(logPath, 'a'),
  );
  const deadline = started + 120_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) return { url, proc, startupMs: performance.now() - started };
    } catch {
      // not listening yet
    }
    if (proc.child.exitCode !== null) throw new Error(`postgres scale bench: the daemon exited with ${proc.child.exitCode}; its log: ${logPath}`);
    if (performance.now() > deadline) {
      await proc.stop();
      throw new Error(`postgres scale bench: the daemon was not ready within 120 s; its log: ${logPath}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs the Postgres scale benchmark; see the file's comment. */
export async function pgScaleBench(o: PgScaleOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'enode-sync-pg-scale-'));
  const dbs: BenchDatabase[] = [];
  const t0 = Date.now() - 3 * 3_600_000;
  try {
    const fleet = await freshDatabase(o.adminUrl, 'scale');
    dbs.push(fleet);
    const refDb = await freshDatabase(o.adminUrl, 'scale_ref');
    dbs.push(refDb);
    const emptyDb = await freshDatabase(o.adminUrl, 'scale_empty');
    dbs.push(emptyDb);
    const pool = openPostgres(fleet.url, { max: 2, statementTimeoutMs: 0 });
    let backlog: Awaited<ReturnType<typeof storeBacklog>>;
    try {
      await runPostgresMigrations(pool);
      backlog = await storeBacklog(pool, o.devices, t0);
    } finally {
      await pool.end();
    }
    const funnel = await runFunnel(fleet.url, dir);
    const refPool = openPostgres(refDb.url, { max: 2, statementTimeoutMs: 0 });
    let reference: { seconds: number; rows: number };
    try {
      await runPostgresMigrations(refPool);
      reference = await runReference(refPool, o.devices, t0);
    } finally {
      await refPool.end();
    }
    const dbBytes = await fleet.sizeBytes();

    // Start-up: once on the empty database (it migrates), then on each, alternately.
    const first = await startDaemon(emptyDb.url, join(dir, 'daemon-empty.log'));
    await first.proc.stop();
    const empty = await startDaemon(emptyDb.url, join(dir, 'daemon-empty.log'));
    await empty.proc.stop();
    const daemon = await startDaemon(fleet.url, join(dir, 'daemon-fleet.log'));
    try {
      await new Promise((r) => setTimeout(r, 3_000));
      const ids = Array.from({ length: o.devices }, (_, d) => deviceIdOf(d)).sort();
      const deep = encodeCursor([ids[Math.floor(ids.length * 0.9)] as string]);
      const api: Record<string, Latency> = {
        healthz: await latency(daemon.url, '/healthz', API_REQUESTS),
        devicesFirst: await latency(daemon.url, '/api/v1/devices?limit=50', API_REQUESTS),
        devicesDeep: await latency(daemon.url, `/api/v1/devices?limit=50&after=${deep}`, API_REQUESTS),
        actions: await latency(daemon.url, '/api/v1/actions?limit=50', API_REQUESTS),
        interference: await latency(daemon.url, '/api/v1/interference?limit=50', API_REQUESTS),
      };
      const funnelSeconds = funnel.applySeconds + funnel.reconcileSeconds;
      return {
        devices: o.devices,
        kind: fleet.kind,
        backlog,
        dbBytes,
        funnel,
        funnelEventsPerSecond: backlog.events / funnelSeconds,
        applyEventsPerSecond: backlog.events / funnel.applySeconds,
        reference: { ...reference, eventsPerSecond: backlog.events / reference.seconds },
        ratio: reference.seconds / funnelSeconds,
        startup: { emptyMs: empty.startupMs, fleetMs: daemon.startupMs },
        api,
      };
    } finally {
      await daemon.proc.stop();
    }
  } finally {
    for (const db of dbs) await db.drop().catch((err: unknown) => process.stderr.write(`bench: could not drop ${db.name}: ${(err as Error).message}\n`));
    if (!process.env.BENCH_PG_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  }
}

export type PgScaleResult = Awaited<ReturnType<typeof pgScaleBench>>;

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
const mb = (bytes: number) => fmt(bytes / 1024 / 1024, 0);

/** The section's lines, and what is wrong with the run (non-empty fails it). */
export function pgScaleReport(r: PgScaleResult, defaultDevices: number): { lines: string[]; problems: string[] } {
  const f = r.funnel;
  const a = r.api as Record<'healthz' | 'devicesFirst' | 'devicesDeep' | 'actions' | 'interference', Latency>;
  const ms = (x: number) => fmt(x, x < 10 ? 2 : 1);
  const lat = (name: string, l: Latency) =>
    `${name}: p50 ${ms(l.p50)} ms (${fmt(l.p50 / a.healthz.p50, 1)}× ref.), p99 ${ms(l.p99)} ms (${fmt(l.p99 / a.healthz.p99, 1)}× ref.), ${l.items} items`;
  const actionEvents = r.backlog.events - r.devices * SNAPSHOTS_PER_DEVICE;
  const size =
    r.devices === 100_000
      ? 'the full size'
      : `not the full 100,000 devices / 1 M events${r.devices === defaultDevices ? ' (the default on Postgres, which takes far longer than SQLite on this machine; BENCH_PG_SCALE_DEVICES=100000 runs it)' : ''}`;
  const lines = [
    '',
    `### Postgres scale (on a ${r.kind} of its own): ${fmt(r.devices)} devices, ${fmt(r.backlog.events)} events (${fmt(r.devices * SNAPSHOTS_PER_DEVICE)} vehicle snapshots, ${fmt(actionEvents)} action events) in ${fmt(r.backlog.deliveries)} deliveries, ${size}; its tables and indexes ${fmt(r.dbBytes / 1e9, 2)} GB`,
    `reference (the same observation/device/action rows, one multi-row INSERT or upsert per table per transaction of ${fmt(REFERENCE_TX_EVENTS)} events, no logic): ${fmt(r.reference.eventsPerSecond)} events/s (${fmt(r.reference.seconds, 1)} s, ${fmt(r.reference.rows)} row writes)`,
    `enode-sync on Postgres (one replica's apply loop, then reconcile until drained): ${fmt(r.funnelEventsPerSecond)} events/s (apply ${fmt(f.applySeconds, 1)} s = ${fmt(r.applyEventsPerSecond)} events/s; reconcile ${fmt(f.reconcileSeconds, 1)} s for ${fmt(f.devicesReconciled)} devices in ${fmt(f.reconcileCalls)} calls, ${fmt(f.findings)} findings)`,
    `ratio funnel / reference: ${fmt(r.ratio, 2)}`,
    `resident memory of the process that applied and reconciled: peak ${mb(f.peakRssBytes.apply)} MB applying, ${mb(f.peakRssBytes.reconcile)} MB reconciling (sampled every 100 ms); ${mb(f.rssAfterGcBytes)} MB after, GC run; ${mb(f.rssBeforeBytes)} MB before the store opened`,
    `start-up (spawn of node dist/main.js serve → /readyz 200, one start each): ${fmt(r.startup.fleetMs)} ms on this database vs ${fmt(r.startup.emptyMs)} ms on an empty (migrated) one; ratio ${fmt(r.startup.fleetMs / r.startup.emptyMs, 2)}`,
    `admin API, ${API_REQUESTS} sequential requests each after 20 unmeasured; reference GET /healthz on the same daemon: p50 ${ms(a.healthz.p50)} ms, p99 ${ms(a.healthz.p99)} ms`,
    lat('  GET /api/v1/devices?limit=50', a.devicesFirst),
    lat('  GET /api/v1/devices?limit=50&after=<cursor 90 % deep>', a.devicesDeep),
    lat('  GET /api/v1/actions?limit=50', a.actions),
    lat('  GET /api/v1/interference?limit=50', a.interference),
  ];
  const problems: string[] = [];
  const expectedFindings = Math.floor((r.devices + 18) / 20);
  if (f.reconcileErrors > 0) problems.push(`${f.reconcileErrors} devices failed to reconcile`);
  if (f.devicesReconciled < r.devices) problems.push(`only ${f.devicesReconciled} of ${r.devices} devices reconciled`);
  if (f.findings !== expectedFindings) problems.push(`${f.findings} findings, expected ${expectedFindings}`);
  for (const name of ['devicesFirst', 'devicesDeep', 'actions', 'interference'] as const) if (a[name].items === 0) problems.push(`${name}: the list was empty`);
  return { lines, problems };
}
