/**
 * The alert outbox on Postgres (store/postgres/alerts.ts): the same calls give the same answers
 * and rows as SQLite's outbox; replicas claiming one sink at once never get the same attempt; a
 * claim not recorded comes back only when its lease ends, with the same alert id; NUL escaped.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { NewAlert } from '../../src/alerts/types.js';
import { DEFAULT_ALERT_TYPES, SINK_GONE } from '../../src/alerts/types.js';
import type { AlertOutbox, SinkSpec } from '../../src/store/port.js';
import { openPostgres } from '../../src/store/postgres/connect.js';
import { alertsPostgres } from '../../src/store/postgres/alerts.js';
import { makeTestApp, NOW } from '../support/fixtures.js';
import { describeIfPostgres, freshPostgresSchema, type FreshSchema } from '../support/postgres.js';
import { bothTables, pgContext } from './pg-feature-support.js';

const T0 = NOW.getTime();
const SINKS: SinkSpec[] = [
  { name: 'hook', types: [...DEFAULT_ALERT_TYPES] },
  { name: 'slack', types: ['interference.detected'] },
];

function alert(n: number, type: NewAlert['type'] = 'interference.detected'): NewAlert {
  return { type, dedupeKey: `fact:${n}`, deviceId: `dev-${n}`, userId: `user-${n % 3}`, data: { n, text: 'ünïcode ✓' }, createdAtMs: T0 + n };
}

/**
 * One script of outbox calls; returns every answer, so two outboxes can be compared call by call.
 * Assertions that hold on either engine are made on the way.
 */
async function script(outbox: AlertOutbox): Promise<unknown[]> {
  const answers: unknown[] = [];
  const say = <T>(x: T) => {
    answers.push(x);
    return x;
  };
  for (let n = 1; n <= 6; n++) say(await outbox.raise(alert(n, n === 4 ? 'action.cancelled' : n === 5 ? 'device.fault' : 'interference.detected')));
  expect(say(await outbox.raise(alert(1)))).toMatchObject({ inserted: false });
  const claim = (sink: string, nowMs: number, limit = 3) => outbox.claim({ nowMs, sinks: SINKS, sink, limit, leaseMs: 30_000 });
  const first = say(await claim('hook', T0, 3));
  expect(first).toHaveLength(3);
  // Leased: not claimable again before the lease ends.
  const rest = say(await claim('hook', T0, 10));
  expect(rest.map((a) => a.alertId)).not.toContain(first[0]!.alertId);
  const [a, b, c] = first;
  say(
    await outbox.record({
      nowMs: T0 + 1_000,
      sink: 'hook',
      results: [
        { alertId: a!.alertId, status: 'delivered', counted: true, nextAttemptAtMs: T0 + 1_000, lastStatus: 200, lastError: null },
        { alertId: b!.alertId, status: 'pending', counted: true, nextAttemptAtMs: T0 + 10_000, lastStatus: 500, lastError: 'HTTP 500' },
        { alertId: c!.alertId, status: 'dead', counted: true, nextAttemptAtMs: T0 + 1_000, lastStatus: 400, lastError: 'HTTP 400' },
      ],
    }),
  );
  // An attempt no longer pending is left alone.
  expect(say(await outbox.record({ nowMs: T0 + 2_000, sink: 'hook', results: [{ alertId: a!.alertId, status: 'dead', counted: true, nextAttemptAtMs: 0, lastStatus: 500, lastError: 'late' }] }))).toBe(0);
  say(await claim('hook', T0 + 10_000, 10));
  say(await claim('slack', T0 + 10_000, 10));
  expect(say(await outbox.retry({ alertId: c!.alertId, nowMs: T0 + 20_000, configured: ['hook', 'slack'] }))).toEqual({ found: true, sinks: ['hook'] });
  expect(say(await outbox.retry({ alertId: 'alr_unknown', nowMs: T0 + 20_000, configured: ['hook'] }))).toEqual({ found: false, sinks: [] });
  // The slack sink is removed from the configuration: its pending attempts die with the reason.
  expect(say(await outbox.retireSinks({ nowMs: T0 + 30_000, configured: ['hook'] }))).toBeGreaterThan(0);
  say(await outbox.retry({ alertId: first[0]!.alertId, nowMs: T0 + 31_000, configured: ['hook'] }));
  say(await claim('hook', T0 + 60_000, 10));
  // A disabled sink (410): held, not counted.
  const held = say(await claim('hook', T0 + 200_000, 1));
  say(await outbox.record({ nowMs: T0 + 200_000, sink: 'hook', results: held.map((h) => ({ alertId: h.alertId, status: 'pending' as const, counted: false, nextAttemptAtMs: T0 + 300_000, lastStatus: 410, lastError: 'gone' })) }));
  return answers;
}

describeIfPostgres('alert outbox on Postgres', () => {
  let schema: FreshSchema;
  beforeEach(async () => {
    schema = await freshPostgresSchema({ max: 6 });
  });
  afterEach(async () => {
    await schema.drop();
  });

  it('answers and stores as the SQLite outbox does: fan-out, claims with leases, results, retries, retired sinks', async () => {
    const t = makeTestApp();
    const sqlite = await script(t.deps.store.alerts);
    const postgres = await script(alertsPostgres(pgContext(schema.pool, t)));
    expect(postgres).toEqual(sqlite);
    const deliveries = await bothTables(t.db.$client, schema.pool, 'alert_deliveries');
    expect(deliveries.postgres).toEqual(deliveries.sqlite);
    expect(deliveries.postgres).toContainEqual(expect.objectContaining({ sink: 'slack', status: 'dead', last_error: SINK_GONE }));
    const alerts = await bothTables(t.db.$client, schema.pool, 'alerts');
    expect(alerts.postgres).toEqual(alerts.sqlite);
  });

  it('two replicas claiming one sink at once never get the same attempt, and together get them all', async () => {
    const t = makeTestApp();
    const second = openPostgres(schema.url, { max: 3 });
    const replicas = [schema.pool, second].map((pool) => alertsPostgres(pgContext(pool, t)));
    for (let n = 0; n < 300; n++) await replicas[0]!.raise(alert(n));
    const claimed: string[][] = [[], []];
    // Both fan out and claim concurrently, in small batches, until nothing is due.
    await Promise.all(
      replicas.map(async (outbox, i) => {
        for (;;) {
          const got = await outbox.claim({ nowMs: T0, sinks: SINKS, sink: 'hook', limit: 7, leaseMs: 60_000 });
          if (got.length === 0) break;
          claimed[i]!.push(...got.map((g) => g.alertId));
        }
      }),
    );
    const all = [...claimed[0]!, ...claimed[1]!];
    expect(new Set(all).size).toBe(all.length);
    expect(all).toHaveLength(300);
    expect(claimed[0]!.length).toBeGreaterThan(0);
    expect(claimed[1]!.length).toBeGreaterThan(0);
    // Each alert fanned out once: one attempt per sink that takes it.
    const rows = await schema.pool.query(`SELECT sink, count(*)::int AS n FROM alert_deliveries GROUP BY sink ORDER BY sink`);
    expect(rows.rows).toEqual([
      { sink: 'hook', n: 300 },
      { sink: 'slack', n: 300 },
    ]);
    await second.end();
  });

  it('a claim not recorded is claimable again only when its lease ends, with the same alert id', async () => {
    const t = makeTestApp();
    const other = openPostgres(schema.url, { max: 2 });
    try {
      const a = alertsPostgres(pgContext(schema.pool, t));
      const b = alertsPostgres(pgContext(other, t));
      await a.raise(alert(1));
      const args = { sinks: SINKS, sink: 'hook', limit: 10, leaseMs: 30_000 };
      const first = await a.claim({ ...args, nowMs: T0 });
      expect(first.map((x) => x.alertId)).toHaveLength(1);
      // The replica that claimed it dies after sending: nobody records it.
      expect(await b.claim({ ...args, nowMs: T0 + 29_999 })).toEqual([]);
      const again = await b.claim({ ...args, nowMs: T0 + 30_000 });
      expect(again).toEqual([{ ...first[0], attempts: 0 }]);
      expect(await a.record({ nowMs: T0 + 30_001, sink: 'hook', results: [{ alertId: again[0]!.alertId, status: 'delivered', counted: true, nextAttemptAtMs: T0, lastStatus: 200, lastError: null }] })).toBe(1);
      expect(await a.claim({ ...args, nowMs: T0 + 99_000 })).toEqual([]);
    } finally {
      await other.end();
    }
  });

  it('escapes NUL in error texts (Postgres text cannot hold one)', async () => {
    const t = makeTestApp();
    const outbox = alertsPostgres(pgContext(schema.pool, t));
    await outbox.raise(alert(1));
    const [claimed] = await outbox.claim({ nowMs: T0, sinks: SINKS, sink: 'hook', limit: 1, leaseMs: 1_000 });
    const changed = await outbox.record({
      nowMs: T0,
      sink: 'hook',
      results: [{ alertId: claimed!.alertId, status: 'pending', counted: true, nextAttemptAtMs: T0 + 5_000, lastStatus: null, lastError: 'bad\u0000byte' }],
    });
    expect(changed).toBe(1);
    const row = await schema.pool.query(`SELECT last_error FROM alert_deliveries WHERE sink = 'hook'`);
    expect(row.rows[0].last_error).toBe('bad\\u0000byte');
  });
});
