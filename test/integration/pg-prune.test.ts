/**
 * Retention on Postgres (store/postgres/prune.ts): from the same rows (built by the SQLite app
 * and copied), it deletes what SQLite's prune deletes and keeps the rest; it works in batches
 * within a time box and says when more is left.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { prunePostgres } from '../../src/store/postgres/prune.js';
import { actionEvent, makeTestApp, NOW, postWebhook, vehicleEvent } from '../support/fixtures.js';
import { describeIfPostgres, freshPostgresSchema, type FreshSchema } from '../support/postgres.js';
import { bothTables, copyTable, pgContext } from './pg-feature-support.js';

const DAY = 86_400_000;

/** The event with every ISO time in it moved by `deltaMs`. */
function shifted<T>(event: T, deltaMs: number): T {
  return JSON.parse(JSON.stringify(event), (_key, value: unknown) =>
    typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(value) ? new Date(Date.parse(value) + deltaMs).toISOString() : value,
  ) as T;
}

/** Every table prune touches or must keep, with the columns that identify a row. */
const TABLES: Record<string, string> = {
  deliveries: 'id, status',
  delivery_bodies: 'id',
  observations: 'id',
  transitions: 'device_id, at_ms, field, finding_id',
  system_events: 'id',
  alerts: 'id',
  alert_deliveries: 'alert_id, sink, status',
  findings: 'id',
  devices: 'id',
  actions: 'id',
  events: 'position, type, fact_key',
};

describeIfPostgres('retention on Postgres', () => {
  let schema: FreshSchema;
  beforeEach(async () => {
    schema = await freshPostgresSchema();
  });
  afterEach(async () => {
    await schema.drop();
  });

  it('deletes what SQLite deletes from the same rows, and keeps the rest', async () => {
    const t = makeTestApp();
    const sinks = [{ name: 'hook', types: ['interference.detected', 'device.fault'] }];
    // 40 days ago: an interference episode, an action, a heartbeat, a delivery that failed, a delivered alert and a pending one.
    t.clock.set(NOW.getTime() - 40 * DAY);
    const aged = [vehicleEvent('vehicle-1', 0, { charging: true }), vehicleEvent('vehicle-1', 5, { charging: false }), actionEvent('a1', 'CONFIRMED', 1)];
    await postWebhook(t, aged.map((e) => shifted(e, -40 * DAY)));
    await postWebhook(t, [{ event: 'system:heartbeat', createdAt: new Date(NOW.getTime() - 40 * DAY).toISOString(), version: '2024-10-01', pendingEvents: 3 }]);
    await postWebhook(t, [{ event: 'user:vehicle:updated', vehicle: 'not an object' }], { deliveryId: 'bad' });
    for (let i = 0; i < 30; i++) await postWebhook(t, [shifted(vehicleEvent(`old-${i}`, i, { charging: i % 2 === 0 }), -40 * DAY)]);
    t.clock.advance(61_000);
    await t.deps.store.reconcile({});
    const oldNow = t.clock.now().getTime();
    await t.deps.store.alerts.raise({ type: 'device.fault', dedupeKey: 'old-fault', deviceId: 'vehicle-1', userId: null, data: {}, createdAtMs: oldNow });
    const claimed = await t.deps.store.alerts.claim({ nowMs: oldNow, sinks, sink: 'hook', limit: 1, leaseMs: 1_000 });
    await t.deps.store.alerts.record({
      nowMs: oldNow,
      sink: 'hook',
      results: claimed.map((c) => ({ alertId: c.alertId, status: 'delivered' as const, counted: true, nextAttemptAtMs: oldNow, lastStatus: 200, lastError: null })),
    });
    await t.deps.store.alerts.claim({ nowMs: oldNow, sinks, sink: 'hook', limit: 0, leaseMs: 1_000 });
    // Now: recent deliveries and a recent alert.
    t.clock.set(NOW);
    await postWebhook(t, [vehicleEvent('vehicle-2', 0, { charging: false })]);
    await t.deps.store.alerts.raise({ type: 'device.fault', dedupeKey: 'new-fault', deviceId: 'vehicle-2', userId: null, data: {}, createdAtMs: NOW.getTime() });

    for (const table of ['delivery_bodies', ...Object.keys(TABLES).filter((x) => x !== 'delivery_bodies')]) await copyTable(t.db.$client, schema.pool, table);
    // On Postgres the log's counter row exists once anything was appended (postgres/events.ts).
    await schema.pool.query(`INSERT INTO event_log (id, last_position, pruned_through) SELECT 1, coalesce(max(position), 0), 0 FROM events ON CONFLICT (id) DO NOTHING`);
    const before = await bothTables(t.db.$client, schema.pool, 'observations', 'id');
    expect(before.postgres).toEqual(before.sqlite);

    const cutoffMs = NOW.getTime() - 30 * DAY;
    const sqlite = await t.deps.store.prune({ cutoffMs });
    const postgres = await prunePostgres(pgContext(schema.pool, t), { cutoffMs });
    expect(postgres).toEqual(sqlite);
    expect(Object.values(postgres.deleted).reduce((a, b) => a + b, 0)).toBeGreaterThan(30);
    expect(postgres.deleted).toMatchObject({ observations: 32, deliveries: 32, system_events: 1, alert_deliveries: 1 });
    for (const [table, columns] of Object.entries(TABLES)) {
      const rows = await bothTables(t.db.$client, schema.pool, table, columns);
      expect(rows.postgres, table).toEqual(rows.sqlite);
    }
    // A pruned delivery's body went with it; the failed delivery and the finding's transition stay.
    const bodies = await schema.pool.query(`SELECT count(*)::int AS n FROM delivery_bodies b WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.body_id = b.id)`);
    expect(bodies.rows[0].n).toBe(0);
    expect((await schema.pool.query(`SELECT id FROM deliveries WHERE status = 'failed'`)).rows).toEqual([{ id: 'bad' }]);
    // A second pass finds nothing more.
    const again = await prunePostgres(pgContext(schema.pool, t), { cutoffMs });
    expect(Object.values(again.deleted).every((n) => n === 0)).toBe(true);
  });

  it('works in time-boxed batches of 2,000 rows and reports when more is left', async () => {
    const t = makeTestApp();
    const old = NOW.getTime() - 40 * DAY;
    await schema.pool.query(
      `INSERT INTO observations (device_id, device_type, user_id, event, source, observed_at_ms, received_at, controlled, context, stale, hash)
       SELECT 'd' || (i % 50), 'vehicle', 'u', 'user:vehicle:updated', 'poll', i, $1::int8 + i, '{}', '{}', false, 'h' || i FROM generate_series(1, 4500) AS i`,
      [old],
    );
    const ctx = pgContext(schema.pool, t);
    const cutoffMs = NOW.getTime() - 30 * DAY;
    const first = await prunePostgres(ctx, { cutoffMs, budgetMs: 0 });
    expect(first).toMatchObject({ more: true, deleted: { observations: 2000 } });
    const second = await prunePostgres(ctx, { cutoffMs, budgetMs: 0 });
    expect(second).toMatchObject({ more: true, deleted: { observations: 2000 } });
    const third = await prunePostgres(ctx, { cutoffMs, budgetMs: 0 });
    expect(third).toMatchObject({ more: false, deleted: { observations: 500 } });
    expect((await schema.pool.query(`SELECT count(*)::int AS n FROM observations`)).rows[0].n).toBe(0);
  });
});
