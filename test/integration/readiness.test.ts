/**
 * /readyz on both engines: a real write proves the database writable, a database that refuses
 * writes or is gone makes the daemon unready, and so does an apply loop that keeps failing.
 */
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { createApp } from '../../src/app.js';
import { ManualClock } from '../../src/clock.js';
import { createIngestRepo, type IngestRepo } from '../../src/db/ingest-repo.js';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { createDeps, depsOver, type Deps } from '../../src/deps.js';
import { signEnodeBody } from '../../src/ingest/signature.js';
import { createLogger, silentLogger, type Logger } from '../../src/logger.js';
import { createPostgresReader, postgresEngineReads } from '../../src/store/postgres/reader.js';
import { createPostgresStore } from '../../src/store/postgres/store.js';
import { createReadStore } from '../../src/store/read.js';
import { createSqliteReader } from '../../src/store/sqlite/reader.js';
import { APPLY_STALLED_AFTER_MS } from '../../src/store/sqlite/ingestor.js';
import { createInlineStore, PROBE_REUSE_MS } from '../../src/store/sqlite/store.js';
import { makeApp, NOW, SECRET, testConfig, testEngine, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { captureLogs } from '../support/logs.js';
import { freshPostgresSchema } from '../support/postgres.js';
import { refuseWrites } from '../support/refuse-writes.js';

afterEach(() => {
  vi.useRealTimers();
});

const probeRow = (t: EngineApp) => t.rows('SELECT id, at_ms AS "atMs" FROM health_probe');

/** Prometheus text → `name{labels}` → value. */
async function scrape(app: { request: (path: string) => Response | Promise<Response> }): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await (await app.request('/metrics')).text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Lets the SQLite writer's loop (setImmediate turns) run. */
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** An app whose applying of stored deliveries fails with a storage error while `broken.on` is set. */
interface FailingApplyApp {
  app: ReturnType<typeof createApp>;
  deps: Deps;
  clock: ManualClock;
  broken: { on: boolean };
  /** Error lines the store logged. */
  lines: Array<{ msg: string }>;
  /** Every row of a query written for both engines (no placeholders). */
  rows(query: string): Promise<unknown[]>;
  /** Lets the first attempt at applying the stored delivery run, and waits until it has failed. */
  firstAttempt(): Promise<void>;
  /** Lets the store retry once, and waits until that attempt has failed (or, healed, applied). */
  retry(): Promise<void>;
}

function errorLines(lines: Array<{ msg: string }>): Logger {
  return createLogger('error', { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
}

/** A storage error as the engine raises it when its disk is full. */
const diskFull = (engine: 'sqlite' | 'postgres') =>
  engine === 'sqlite'
    ? Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' })
    : Object.assign(new Error('could not extend file: No space left on device'), { code: '53100' });

/**
 * SQLite: the writer's apply transactions fail while storing (and the readiness probe) still
 * works, as with corrupt pages under the projections. Its retries run on fake timers, one per
 * `retry()`.
 */
function sqliteFailingApply(): FailingApplyApp {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  const config = testConfig();
  const db = openDatabase(':memory:');
  runMigrations(db);
  const clock = new ManualClock(NOW);
  const real = createIngestRepo(db.$client);
  const broken = { on: true };
  const repo = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'derivedTransaction' && broken.on) {
        return () => {
          throw diskFull('sqlite');
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  }) as IngestRepo;
  const lines: Array<{ msg: string }> = [];
  const writer = createInlineStore(repo, clock, errorLines(lines), config);
  const deps = createDeps({ config, db, logger: silentLogger(), clock }, writer);
  onTestFinished(async () => {
    await writer.close();
    db.$client.close();
  });
  const reader = createSqliteReader(db.$client);
  return {
    app: createApp(deps),
    deps,
    clock,
    broken,
    lines,
    rows: (q) => reader.all(q),
    firstAttempt: () => turns(),
    retry: async () => {
      vi.advanceTimersByTime(1_000);
      await turns();
    },
  };
}

/**
 * Postgres: the store's apply transaction fails after claiming its deliveries (the store's own
 * test seam) while storing and the probe still work. The store retries on real timers, about
 * once a second; each attempt waits at the seam until the test lets it go, so that the test
 * decides how many have failed, as with SQLite's fake timers.
 */
async function postgresFailingApply(): Promise<FailingApplyApp> {
  const config = testConfig();
  const clock = new ManualClock(NOW);
  const schema = await freshPostgresSchema({ max: 6 });
  const broken = { on: true };
  const gate = { allowed: 0, started: 0 };
  const lines: Array<{ msg: string }> = [];
  const store = await createPostgresStore({
    pool: schema.pool,
    clock,
    logger: errorLines(lines),
    config,
    hooks: {
      afterClaim: async () => {
        const attempt = ++gate.started;
        while (attempt > gate.allowed) await sleep(10);
        if (broken.on) throw diskFull('postgres');
      },
    },
  });
  onTestFinished(async () => {
    gate.allowed = Number.POSITIVE_INFINITY;
    await store.close();
    await schema.drop();
  });
  const read = createReadStore(createPostgresReader(schema.pool), postgresEngineReads(schema.pool));
  const deps = depsOver({ config, logger: silentLogger(), clock }, { engine: 'postgres', store, read, where: schema.schema, shared: true, close: () => store.close() });
  const rows = async (q: string) => (await schema.pool.query(q)).rows as unknown[];
  /** Lets one more attempt through and waits until it has failed, or applied the delivery once healed. */
  const attempt = async () => {
    const errors = (await store.health()).applyStorageErrors;
    gate.allowed++;
    await until(async () => (await store.health()).applyStorageErrors > errors || (!broken.on && (await rows(`SELECT 1 FROM deliveries WHERE status = 'pending'`)).length === 0));
  };
  return { app: createApp(deps), deps, clock, broken, lines, rows, firstAttempt: attempt, retry: attempt };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('GET /readyz proves a real write', () => {
  it('upserts the single health_probe row at the clock time, once per probe interval', async () => {
    const t = await makeApp();
    expect(await probeRow(t)).toEqual([]);
    expect((await t.app.request('/readyz')).status).toBe(200);
    expect(await probeRow(t)).toEqual([{ id: 1, atMs: NOW.getTime() }]);
    // A probe within PROBE_REUSE_MS reuses the last write (a /readyz flood costs no commits).
    // Both engines reuse a probe for the same second.
    t.clock.advance(PROBE_REUSE_MS - 1);
    expect((await t.app.request('/readyz')).status).toBe(200);
    expect(await probeRow(t)).toEqual([{ id: 1, atMs: NOW.getTime() }]);
    t.clock.advance(1);
    expect((await t.app.request('/readyz')).status).toBe(200);
    expect(await probeRow(t)).toEqual([{ id: 1, atMs: NOW.getTime() + PROBE_REUSE_MS }]);
  });

  it('answers 503 "database not writable" once the database refuses writes (read-only)', async () => {
    const t = await makeApp();
    expect((await t.app.request('/readyz')).status).toBe(200);
    t.clock.advance(PROBE_REUSE_MS);
    // Reads still work, as with a file made read-only under the daemon or a Postgres server
    // that turned read-only: a write does not.
    const writable = await refuseWrites(t);
    try {
      const res = await t.app.request('/readyz');
      expect(res.status).toBe(503);
      const body = (await res.json()) as { status: string; error: { code: string; message: string } };
      expect(body.status).toBe('unavailable');
      expect(body.error.code).toBe('SERVICE_UNAVAILABLE');
      expect(body.error.message).toBe('database not writable (see the log)');
    } finally {
      await writable();
    }
  });

  it('a flood of probes while unwritable: every one 503, one write tried per probe interval, one log line with the detail', async () => {
    const { lines, logger } = captureLogs('warn');
    const t = await makeApp({}, { logger });
    const writable = await refuseWrites(t);
    try {
      for (let i = 0; i < 50; i++) expect((await t.app.request('/readyz')).status).toBe(503);
    } finally {
      await writable();
    }
    const logged = lines.filter((l) => l['msg'] === 'readiness check: database not writable');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.['err']).toBeDefined();
  });

  it('answers 503 when the database is gone (SQLite: its connection closed; Postgres: the server unreachable)', async () => {
    const t = await makeApp();
    expect((await t.app.request('/readyz')).status).toBe(200);
    await t.loseDatabase();
    t.clock.advance(PROBE_REUSE_MS);
    const res = await t.app.request('/readyz');
    expect(res.status).toBe(503);
    const body = (await res.json()) as { status: string; error: { message: string } };
    expect(body.status).toBe('unavailable');
    // Postgres also says "database not readable"; SQLite's closed connection reads as "migrations pending".
    expect(body.error.message).toContain('database not writable (see the log)');
  });
});

describe('a persistently failing apply loop', () => {
  it(`is not ready after ${APPLY_STALLED_AFTER_MS / 1000} s of storage errors: 503, apply_failing 1, one apply.stalled alert; ready again once applying works`, async () => {
    const t = testEngine() === 'postgres' ? await postgresFailingApply() : sqliteFailingApply();
    const body = JSON.stringify([vehicleEvent('vehicle-1', 0, { charging: false })]);
    const res = await t.app.request('/webhooks/enode', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-enode-delivery': 'd1', 'x-enode-signature': signEnodeBody(body, SECRET) },
      body,
    });
    // Stored durably and acknowledged; applying it fails.
    expect(res.status).toBe(200);
    await t.firstAttempt();
    expect((await t.deps.store.health()).applyFailingSinceMs).toBe(NOW.getTime());

    // Failing, but not for long: still ready (a disk briefly full heals by the retries).
    t.clock.advance(APPLY_STALLED_AFTER_MS - 1_000);
    expect((await t.app.request('/readyz')).status).toBe(200);
    expect((await scrape(t.app)).get('enode_sync_apply_failing')).toBe(0);

    t.clock.advance(1_000);
    const notReady = await t.app.request('/readyz');
    expect(notReady.status).toBe(503);
    expect(((await notReady.json()) as { error: { message: string } }).error.message).toBe(
      `applying stored deliveries has failed for ${APPLY_STALLED_AFTER_MS / 1000} s (1 waiting; see the log)`,
    );
    let m = await scrape(t.app);
    expect(m.get('enode_sync_apply_failing')).toBe(1);
    expect(m.get('enode_sync_apply_failing_seconds')).toBe(APPLY_STALLED_AFTER_MS / 1000);
    expect(m.get('enode_sync_apply_storage_errors_total')).toBe(1);

    // The next retries raise apply.stalled once for this episode.
    for (let i = 0; i < 3; i++) await t.retry();
    const alerts = await t.rows('SELECT type, dedupe_key AS "dedupeKey" FROM alerts');
    expect(alerts).toEqual([{ type: 'apply.stalled', dedupeKey: `apply.stalled:${NOW.getTime()}` }]);
    expect((await scrape(t.app)).get('enode_sync_apply_storage_errors_total')).toBe(4);
    // Four failures in the same minute: logged once, not at every retry.
    expect(t.lines.filter((l) => l.msg.startsWith('could not apply stored deliveries'))).toHaveLength(1);

    // The storage heals: the next retry applies the delivery and readiness comes back.
    t.broken.on = false;
    await t.retry();
    expect(await t.rows(`SELECT status, error FROM deliveries WHERE id = 'd1'`)).toEqual([{ status: 'applied', error: null }]);
    t.clock.advance(PROBE_REUSE_MS);
    expect((await t.app.request('/readyz')).status).toBe(200);
    m = await scrape(t.app);
    expect(m.get('enode_sync_apply_failing')).toBe(0);
    expect(m.get('enode_sync_apply_failing_seconds')).toBe(0);
    expect((await t.deps.store.health()).applyFailingSinceMs).toBeNull();
  });
});
