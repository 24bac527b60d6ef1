/**
 * The reconciler on Postgres (store/postgres/reconcile.ts) against SQLite's: the same applied
 * deliveries (applied by the SQLite app, their rows copied) judged by both at the same instants
 * give the same transitions, findings (ids included), alerts and queue; several replicas on one
 * schema judge each due device once; a device the funnel holds is left for later; a device that
 * fails is logged and retried a minute later.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Logger } from '../../src/logger.js';
import { runPendingActions } from '../../src/sync/pending-actions.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import { openPostgres } from '../../src/store/postgres/connect.js';
import { lockKeys, deviceLockKey } from '../../src/store/postgres/context.js';
import { reconcilePostgres } from '../../src/store/postgres/reconcile.js';
import type { PgContext } from '../../src/store/postgres/context.js';
import type { ReconcileRun } from '../../src/store/port.js';
import { makeTestApp, postWebhook, type TestApp } from '../support/fixtures.js';
import { describeIfPostgres, freshPostgresSchema, type FreshSchema } from '../support/postgres.js';
import { sendCommand, setupSyncHarness } from '../support/sync-harness.js';
import { action, BASE_MS, vehicle } from '../support/episodes.js';
import { bothTables, pgContext, reconcileInputs } from './pg-feature-support.js';


/** Reconciles until nothing due is left (the job's loop). */
async function drain(reconcile: () => Promise<ReconcileRun>): Promise<ReconcileRun> {
  const total: ReconcileRun = { devices: 0, findings: [], errors: 0, more: false, deferred: false };
  for (let more = true; more; ) {
    const r = await reconcile();
    total.devices += r.devices;
    total.findings.push(...r.findings);
    total.errors += r.errors;
    more = r.more;
  }
  return total;
}

const OUTPUTS = ['transitions', 'findings', 'alerts', 'reconcile_queue'] as const;

/** Both engines' reconcile outputs, table by table, for one toEqual. */
async function outputs(t: TestApp, pool: FreshSchema['pool']) {
  const sqlite: Record<string, unknown> = {};
  const postgres: Record<string, unknown> = {};
  for (const table of OUTPUTS) {
    // The funnel's alerts (action.failed, …) are SQLite's alone: only the reconciler's are compared.
    const both =
      table === 'alerts'
        ? await bothTables(t.db.$client, pool, `alerts WHERE type IN ('interference.detected', 'device.fault')`, 'id, type, dedupe_key, device_id, user_id, data, created_at_ms')
        : await bothTables(t.db.$client, pool, table);
    sqlite[table] = both.sqlite;
    postgres[table] = both.postgres;
  }
  return { sqlite, postgres };
}

describeIfPostgres('reconcile on Postgres', () => {
  let schema: FreshSchema;
  beforeEach(async () => {
    schema = await freshPostgresSchema({ max: 6 });
  });
  afterEach(async () => {
    await schema.drop();
  });

  /** One SQLite app and a Postgres context over the same inputs, reconciled side by side. */
  function sideBySide(t: TestApp, logger?: Logger) {
    const ctx = pgContext(schema.pool, t, logger);
    const sync = reconcileInputs(t.db.$client, schema.pool);
    return {
      ctx,
      /** Copies the inputs, reconciles both at the clock's now, and checks the runs agree. */
      async reconcileBoth(): Promise<ReconcileRun> {
        await sync();
        const nowMs = t.clock.now().getTime();
        const a = await drain(() => t.deps.store.reconcile({ nowMs, budgetMs: 10_000 }));
        const b = await drain(() => reconcilePostgres(ctx, { nowMs }));
        expect({ devices: b.devices, findings: [...b.findings].sort(), errors: b.errors }).toEqual({ devices: a.devices, findings: [...a.findings].sort(), errors: 0 });
        return b;
      },
    };
  }

  it('judges hand-made episodes as SQLite does: overrides, late snapshots, conflicts, explained changes', async () => {
    const t = makeTestApp();
    const warnings: string[] = [];
    const logger = { warn: (_obj: unknown, msg: string) => warnings.push(msg), error: () => {}, info: () => {}, debug: () => {} } as unknown as Logger;
    const side = sideBySide(t, logger);
    let raised = 0;
    const after = async (seconds = 61) => {
      t.clock.advance(seconds * 1000);
      raised += (await side.reconcileBoth()).findings.length;
    };
    // v1: a stop with no action (a finding), then a late snapshot that moves it earlier.
    await postWebhook(t, [vehicle('v1', 0, { charging: true }), vehicle('v1', 10, { charging: false })]);
    // v2: our confirmed START explains charging; v3: charging resumes after our confirmed STOP.
    await postWebhook(t, [vehicle('v2', 0, { charging: false }), action('a2', 'v2', 'START', 'CONFIRMED', 1, 2), vehicle('v2', 3, { charging: true })]);
    await postWebhook(t, [vehicle('v3', 0, { charging: true }), action('a3', 'v3', 'STOP', 'CONFIRMED', 1, 2), vehicle('v3', 3, { charging: false }), vehicle('v3', 8, { charging: true })]);
    // v4: a foreign command cancels ours (ACTION_CONFLICT); v5: our own newer command does (none).
    await postWebhook(t, [vehicle('v4', 0, { charging: false }), vehicle('v5', 0, { charging: false })]);
    await postWebhook(t, [action('a4', 'v4', 'START', 'CANCELLED', 1, 2, 'CONFLICT')]);
    await postWebhook(t, [action('b1', 'v5', 'START', 'CANCELLED', 1, 2, 'CONFLICT'), action('b2', 'v5', 'STOP', 'PENDING', 2, 2)]);
    raised += (await side.reconcileBoth()).findings.length;
    await after();
    await postWebhook(t, [vehicle('v1', 6, { charging: false }), vehicle('v6', 0, { charging: true }), vehicle('v6', 4, { charging: false, pluggedIn: false })]);
    await after(5);
    await after();
    // Redelivered and re-judged: nothing new on either side.
    await postWebhook(t, [vehicle('v1', 0, { charging: true }), vehicle('v1', 10, { charging: false })]);
    await after();
    const o = await outputs(t, schema.pool);
    expect(o.postgres).toEqual(o.sqlite);
    expect((o.postgres.findings as unknown[]).length).toBeGreaterThanOrEqual(3);
    const v1 = (o.postgres.findings as Array<{ device_id: string; observed_at_ms: number }>).filter((f) => f.device_id === 'v1');
    expect(v1).toEqual([expect.objectContaining({ observed_at_ms: BASE_MS + 6 * 60_000 })]);
    // Logged once per finding, whatever runs judging took: only the run that stands is logged.
    expect(warnings.filter((m) => m === 'interference detected')).toHaveLength(raised);
    expect(raised).toBe((o.postgres.findings as unknown[]).length);
  });

  it('judges a simulated fleet (interference, dropped, duplicated and reordered webhooks, chargers with their cars) as SQLite does', async () => {
    const s = setupSyncHarness({ seed: 11, devices: 30, interferenceRate: 1, dropRate: 0.1, duplicateRate: 0.05, reorderRate: 0.05, heartbeatSeconds: 0 });
    const side = sideBySide(s.t);
    await runDeviceResync(s.deps, s.t.clock.now(), 'start');
    let judged = 0;
    let raised = 0;
    for (let step = 0; step < 240; step++) {
      if (step % 6 === 0) await sendCommand(s.sim, s.retailer, step / 6, s.t.deps.store);
      await s.step(30_000);
      await runPendingActions(s.deps, s.t.clock.now());
      const r = await side.reconcileBoth();
      judged += r.devices;
      raised += r.findings.length;
      if (step % 60 === 59) {
        const o = await outputs(s.t, schema.pool);
        expect(o.postgres).toEqual(o.sqlite);
      }
    }
    s.t.clock.advance((s.t.config.interferenceGraceSeconds + 1) * 1000);
    await side.reconcileBoth();
    const o = await outputs(s.t, schema.pool);
    expect(o.postgres).toEqual(o.sqlite);
    console.info(`pg-reconcile parity: ${judged} device judgments, ${raised} findings, ${(o.postgres.transitions as unknown[]).length} transitions`);
    expect(raised).toBeGreaterThan(5);
    expect((o.postgres.transitions as unknown[]).length).toBeGreaterThan(30);
  }, 240_000);

  it('three replicas reconciling one queue at once judge each due device once: no finding or alert doubled', async () => {
    const t = makeTestApp();
    const events = [];
    for (let i = 0; i < 60; i++) {
      events.push(vehicle(`r${i}`, 0, { charging: true }), vehicle(`r${i}`, 10 + (i % 7), { charging: i % 3 !== 0 }));
      if (i % 4 === 0) events.push(action(`act${i}`, `r${i}`, 'STOP', 'CONFIRMED', 9, 10));
    }
    await postWebhook(t, events);
    t.clock.advance(61_000);
    await reconcileInputs(t.db.$client, schema.pool)();
    const nowMs = t.clock.now().getTime();
    const queued = Number((await schema.pool.query(`SELECT count(*) AS n FROM reconcile_queue WHERE due_at_ms <= $1`, [nowMs])).rows[0].n);
    expect(queued).toBe(60);
    const sqliteRun = await drain(() => t.deps.store.reconcile({ nowMs, budgetMs: 10_000 }));

    // Each replica its own context (and pool), as separate processes have; small time boxes interleave them.
    const replicas: PgContext[] = [schema.pool, ...(await Promise.all([1, 2].map(() => extraPool(schema))))].map((pool) => pgContext(pool, t));
    const runs = await Promise.all(replicas.map((ctx) => drain(() => reconcilePostgres(ctx, { nowMs, budgetMs: 2 }))));
    const devices = runs.reduce((n, r) => n + r.devices, 0);
    const findings = runs.flatMap((r) => r.findings);
    expect(devices).toBe(60);
    expect(runs.filter((r) => r.devices > 0).length).toBeGreaterThan(1);
    expect(new Set(findings).size).toBe(findings.length);
    expect([...findings].sort()).toEqual([...sqliteRun.findings].sort());
    const o = await outputs(t, schema.pool);
    expect(o.postgres).toEqual(o.sqlite);
    const alerts = (o.postgres.alerts as Array<{ type: string }>).filter((a) => a.type === 'interference.detected');
    expect(alerts).toHaveLength(findings.length);
    for (const ctx of replicas.slice(1)) await ctx.pool.end();
  });

  it('leaves a device the funnel holds for later instead of waiting, then judges it', async () => {
    const t = makeTestApp();
    await postWebhook(t, [vehicle('held', 0, { charging: true }), vehicle('held', 10, { charging: false }), vehicle('free', 0, { charging: true }), vehicle('free', 10, { charging: false })]);
    t.clock.advance(61_000);
    await reconcileInputs(t.db.$client, schema.pool)();
    const ctx = pgContext(schema.pool, t);
    const funnel = await schema.pool.connect();
    try {
      await funnel.query('BEGIN');
      await lockKeys(funnel, [deviceLockKey('held')]);
      const started = Date.now();
      const run = await reconcilePostgres(ctx, { budgetMs: 10_000 });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(run).toMatchObject({ devices: 1, errors: 0, more: false });
      const left = await schema.pool.query(`SELECT device_id FROM reconcile_queue`);
      expect(left.rows).toEqual([{ device_id: 'held' }]);
    } finally {
      await funnel.query('COMMIT');
      funnel.release();
    }
    expect(await reconcilePostgres(ctx, {})).toMatchObject({ devices: 1, errors: 0 });
    expect((await schema.pool.query(`SELECT device_id FROM findings ORDER BY device_id`)).rows).toEqual([{ device_id: 'free' }, { device_id: 'held' }]);
  });

  it('logs a device that fails, keeps what others decided, and retries it a minute later', async () => {
    // Three devices: the first call's first batch is 'a-ok' alone, its second batch 'b-bad' and
    // 'c-ok' together, so the failure rolls a batch back and 'c-ok' is judged again without it.
    const t = makeTestApp();
    await postWebhook(t, [
      vehicle('a-ok', 0, { charging: true }),
      vehicle('a-ok', 10, { charging: false }),
      vehicle('b-bad', 0, { charging: true }),
      vehicle('c-ok', 0, { charging: true }),
      vehicle('c-ok', 10, { charging: false }),
    ]);
    t.clock.advance(61_000);
    await reconcileInputs(t.db.$client, schema.pool)();
    // A snapshot context that is JSON but not an object: judging the device throws.
    await schema.pool.query(`UPDATE observations SET context = 'null' WHERE device_id = 'b-bad'`);
    const errors: unknown[] = [];
    const logger = { error: (...args: unknown[]) => errors.push(args), warn: () => {}, info: () => {}, debug: () => {} } as unknown as Logger;
    const ctx = pgContext(schema.pool, t, logger);
    const nowMs = t.clock.now().getTime();
    const run = await reconcilePostgres(ctx, { nowMs, budgetMs: 60_000 });
    expect(run).toMatchObject({ devices: 3, errors: 1, findings: [expect.any(String), expect.any(String)] });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toEqual([expect.objectContaining({ deviceId: 'b-bad' }), expect.stringContaining('retrying later')]);
    expect((await schema.pool.query(`SELECT device_id FROM findings ORDER BY device_id`)).rows).toEqual([{ device_id: 'a-ok' }, { device_id: 'c-ok' }]);
    const queue = await schema.pool.query(`SELECT device_id, due_at_ms FROM reconcile_queue`);
    expect(queue.rows).toEqual([{ device_id: 'b-bad', due_at_ms: nowMs + 60_000 }]);
    expect(await reconcilePostgres(ctx, { nowMs: nowMs + 59_000 })).toMatchObject({ devices: 0 });
    expect(await reconcilePostgres(ctx, { nowMs: nowMs + 60_000 })).toMatchObject({ devices: 1, errors: 1 });
  });

  it('a statement failing for a batch is narrowed down to the device whose writes fail; the others are judged', async () => {
    const t = makeTestApp();
    const devices = ['a-ok', 'b-sql', 'c-ok', 'd-ok'];
    await postWebhook(t, devices.flatMap((id) => [vehicle(id, 0, { charging: true }), vehicle(id, 10, { charging: false })]));
    t.clock.advance(61_000);
    await reconcileInputs(t.db.$client, schema.pool)();
    // The database refuses b-sql's finding: an error of the batch's flush that names no device.
    await schema.pool.query(`CREATE FUNCTION refuse_b_sql() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.device_id = 'b-sql' THEN RAISE EXCEPTION 'refused by a test trigger' USING ERRCODE = '23514'; END IF; RETURN NEW; END $$`);
    await schema.pool.query(`CREATE TRIGGER refuse_b_sql BEFORE INSERT ON findings FOR EACH ROW EXECUTE FUNCTION refuse_b_sql()`);
    const errors: unknown[] = [];
    const logger = { error: (...args: unknown[]) => errors.push(args), warn: () => {}, info: () => {}, debug: () => {} } as unknown as Logger;
    const ctx = pgContext(schema.pool, t, logger);
    const nowMs = t.clock.now().getTime();
    try {
      const run = await reconcilePostgres(ctx, { nowMs, budgetMs: 60_000 });
      expect(run).toMatchObject({ devices: 4, errors: 1 });
      expect(run.findings).toHaveLength(3);
      expect(errors).toEqual([[expect.objectContaining({ deviceId: 'b-sql' }), expect.stringContaining('retrying later')]]);
      expect((await schema.pool.query(`SELECT device_id FROM findings ORDER BY device_id`)).rows).toEqual([{ device_id: 'a-ok' }, { device_id: 'c-ok' }, { device_id: 'd-ok' }]);
      expect((await schema.pool.query(`SELECT device_id, due_at_ms FROM reconcile_queue`)).rows).toEqual([{ device_id: 'b-sql', due_at_ms: nowMs + 60_000 }]);
    } finally {
      await schema.pool.query(`DROP TRIGGER refuse_b_sql ON findings; DROP FUNCTION refuse_b_sql()`);
    }
  });

  it('waits while a stored delivery has waited over 1 s to be applied', async () => {
    const t = makeTestApp();
    const ctx = pgContext(schema.pool, t);
    await schema.pool.query(`INSERT INTO reconcile_queue (device_id, due_at_ms, from_ms) VALUES ('d1', 0, 0)`);
    await schema.pool.query(
      `INSERT INTO deliveries (id, received_at, headers, body, body_sha256, status) VALUES ('late', $1, '{}', '\\x'::bytea, 'x', 'pending')`,
      [t.clock.now().getTime() - 500],
    );
    expect(await reconcilePostgres(ctx, {})).toMatchObject({ deferred: false, devices: 1 });
    await schema.pool.query(`INSERT INTO reconcile_queue (device_id, due_at_ms, from_ms) VALUES ('d1', 0, 0)`);
    t.clock.advance(1_000);
    expect(await reconcilePostgres(ctx, {})).toMatchObject({ deferred: true, devices: 0 });
    expect(await reconcilePostgres(ctx, {})).toMatchObject({ deferred: true, devices: 0 });
    await schema.pool.query(`UPDATE deliveries SET status = 'applied'`);
    expect(await reconcilePostgres(ctx, {})).toMatchObject({ deferred: false, devices: 1 });
  });
});

/** Another pool on the same schema (another replica). */
async function extraPool(schema: FreshSchema) {
  return openPostgres(schema.url, { max: 2 });
}
