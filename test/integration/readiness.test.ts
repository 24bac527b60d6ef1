import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/app.js';
import { ManualClock } from '../../src/clock.js';
import { createIngestRepo, type IngestRepo } from '../../src/db/ingest-repo.js';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { createDeps } from '../../src/deps.js';
import { APPLY_STALLED_AFTER_MS } from '../../src/store/sqlite/ingestor.js';
import { signEnodeBody } from '../../src/ingest/signature.js';
import { createInlineStore, PROBE_REUSE_MS } from '../../src/store/sqlite/store.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { makeTestApp, NOW, SECRET, testConfig, vehicleEvent } from '../support/fixtures.js';
import { captureLogs } from '../support/logs.js';

afterEach(() => {
  vi.useRealTimers();
});

const probeRow = (t: { db: ReturnType<typeof openDatabase> }) => t.db.$client.prepare('SELECT id, at_ms AS atMs FROM health_probe').all();

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

/**
 * An app whose writer's apply transactions fail with a storage error while `broken.on` is set:
 * storing (and the readiness probe) still works, as with corrupt pages under the projections.
 */
function appWithFailingApply() {
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
          throw Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' });
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
  }) as IngestRepo;
  const lines: Array<{ msg: string }> = [];
  const writer = createInlineStore(repo, clock, createLogger('error', { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) }), config);
  const deps = createDeps({ config, db, logger: silentLogger(), clock }, writer);
  return { app: createApp(deps), deps, db, clock, broken, lines };
}

/** Lets the writer's loop (setImmediate turns) run. */
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('GET /readyz proves a real write', () => {
  it('upserts the single health_probe row at the clock time, once per probe interval', async () => {
    const t = makeTestApp();
    expect(probeRow(t)).toEqual([]);
    expect((await t.app.request('/readyz')).status).toBe(200);
    expect(probeRow(t)).toEqual([{ id: 1, atMs: NOW.getTime() }]);
    // A probe within PROBE_REUSE_MS reuses the last write (a /readyz flood costs no fsyncs).
    t.clock.advance(PROBE_REUSE_MS - 1);
    expect((await t.app.request('/readyz')).status).toBe(200);
    expect(probeRow(t)).toEqual([{ id: 1, atMs: NOW.getTime() }]);
    t.clock.advance(1);
    expect((await t.app.request('/readyz')).status).toBe(200);
    expect(probeRow(t)).toEqual([{ id: 1, atMs: NOW.getTime() + PROBE_REUSE_MS }]);
  });

  it('answers 503 "database not writable" once the database refuses writes (read-only)', async () => {
    const t = makeTestApp();
    expect((await t.app.request('/readyz')).status).toBe(200);
    t.clock.advance(PROBE_REUSE_MS);
    // Reads still work, as with a file made read-only under the daemon: BEGIN IMMEDIATE; ROLLBACK
    // succeeded here, a write does not.
    t.db.$client.pragma('query_only = ON');
    const res = await t.app.request('/readyz');
    expect(res.status).toBe(503);
    const body = (await res.json()) as { status: string; error: { code: string; message: string } };
    expect(body.status).toBe('unavailable');
    expect(body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(body.error.message).toContain('database not writable');
  });

  it('a flood of probes while unwritable: every one 503, one write tried per probe interval, one log line with the detail', async () => {
    const { lines, logger } = captureLogs('warn');
    const t = makeTestApp({}, { logger });
    t.db.$client.pragma('query_only = ON');
    for (let i = 0; i < 50; i++) expect((await t.app.request('/readyz')).status).toBe(503);
    const logged = lines.filter((l) => l['msg'] === 'readiness check: database not writable');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.['err']).toBeDefined();
  });
});

describe('a persistently failing apply loop', () => {
  it(`is not ready after ${APPLY_STALLED_AFTER_MS / 1000} s of storage errors: 503, apply_failing 1, one apply.stalled alert; ready again once applying works`, async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const t = appWithFailingApply();
    const body = JSON.stringify([vehicleEvent('vehicle-1', 0, { charging: false })]);
    const res = await t.app.request('/webhooks/enode', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-enode-delivery': 'd1', 'x-enode-signature': signEnodeBody(body, SECRET) },
      body,
    });
    // Stored durably and acknowledged; applying it fails.
    expect(res.status).toBe(200);
    await turns();
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
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(1_000);
      await turns();
    }
    const alerts = t.db.$client.prepare('SELECT type, dedupe_key AS dedupeKey FROM alerts').all();
    expect(alerts).toEqual([{ type: 'apply.stalled', dedupeKey: `apply.stalled:${NOW.getTime()}` }]);
    expect((await scrape(t.app)).get('enode_sync_apply_storage_errors_total')).toBe(4);
    // Four failures in the same minute: logged once, not at every retry.
    expect(t.lines.filter((l) => l.msg.startsWith('could not apply stored deliveries'))).toHaveLength(1);

    // The storage heals: the next retry applies the delivery and readiness comes back.
    t.broken.on = false;
    vi.advanceTimersByTime(1_000);
    await turns();
    expect(t.db.$client.prepare(`SELECT status FROM deliveries WHERE id = 'd1'`).pluck().get()).toBe('applied');
    t.clock.advance(PROBE_REUSE_MS);
    expect((await t.app.request('/readyz')).status).toBe(200);
    m = await scrape(t.app);
    expect(m.get('enode_sync_apply_failing')).toBe(0);
    expect(m.get('enode_sync_apply_failing_seconds')).toBe(0);
    expect((await t.deps.store.health()).applyFailingSinceMs).toBeNull();
  });
});
