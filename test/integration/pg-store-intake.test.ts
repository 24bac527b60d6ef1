/**
 * Intake on Postgres with several replicas (stores over their own pools on one schema): every
 * delivery stored once and applied once, whichever replica received it and however often; a
 * replica that dies mid-batch loses nothing; storage failures are told apart from bad data.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { isStorageError } from '../../src/ingest/deliveries.js';
import type { Store } from '../../src/store/port.js';
import { openPostgres } from '../../src/store/postgres/connect.js';
import { submitDelivery } from '../../src/store/postgres/intake.js';
import { actionEvent, vehicleEvent } from '../support/fixtures.js';
import { describeIfPostgres, freshPostgresSchema, postgresAvailable, type FreshSchema } from '../support/postgres.js';
import { NOW, pgContext, pgReader, pgStore, projections, received, sqliteStore, totalApplied, type Delivery } from './pg-intake-support.js';

describe('isStorageError tells "could not store" from bad data', () => {
  const withCode = (code: string) => Object.assign(new Error(`failed (${code})`), { code });
  it.each(['08006', '08001', '53100', '53300', '57P01', '57P02', '57P03', '57P05', '55P03', '25P03', '58030', 'XX000', 'XX001', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'SQLITE_FULL'])(
    '%s is a storage error',
    (code) => expect(isStorageError(withCode(code))).toBe(true),
  );
  it.each(['22P05', '23505', '22021', '42P01', '23502', 'SQLITE_CONSTRAINT', 'SQLITE_MISMATCH'])('%s is not', (code) => {
    expect(isStorageError(withCode(code))).toBe(false);
  });
  it("pg's code-less connection failures and wrapped ones are", () => {
    expect(isStorageError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isStorageError(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isStorageError(new Error('query failed', { cause: withCode('57P01') }))).toBe(true);
    expect(isStorageError(new Error('InvalidEventError: vehicle: id missing'))).toBe(false);
    expect(isStorageError(null)).toBe(false);
  });
});

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describeIfPostgres('Postgres intake across replicas', () => {
  let schema: FreshSchema;
  let pools: pg.Pool[];
  let stores: Store[];

  /** Another replica: its own pool on the same schema. */
  const replica = async (extra: Parameters<typeof pgStore>[1] = {}): Promise<{ store: Store; pool: pg.Pool }> => {
    const a = postgresAvailable();
    if ('skip' in a) throw new Error(a.skip);
    const pool = openPostgres(a.url, { searchPath: schema.schema, max: 6, applicationName: 'enode-sync-tests' });
    pools.push(pool);
    const store = await pgStore(pool, extra);
    stores.push(store);
    return { store, pool };
  };

  beforeEach(async () => {
    schema = await freshPostgresSchema({ max: 6 });
    pools = [];
    stores = [];
  }, 60_000);
  afterEach(async () => {
    for (const s of stores) await s.close().catch(() => {});
    for (const p of pools) await p.end().catch(() => {});
    await schema.drop();
  }, 60_000);

  it('a delivery id or body stored by another replica is a duplicate; a reused id with new bytes is kept under a derived id', async () => {
    const [{ store: a }, { store: b }] = [await replica(), await replica()];
    const body1: Delivery = { id: 'X', body: [vehicleEvent('v1', 1)] };
    const body2: Delivery = { id: 'X', body: [vehicleEvent('v1', 2)] };
    expect(await a.submit(received(body1))).toMatchObject({ deliveryId: 'X', duplicate: false, status: 'pending' });
    expect(await b.submit(received(body1))).toMatchObject({ deliveryId: 'X', duplicate: true });
    const derived = `X~${sha(JSON.stringify(body2.body)).slice(0, 16)}`;
    expect(await b.submit(received(body2))).toMatchObject({ deliveryId: derived, duplicate: false });
    expect(await a.submit(received(body2))).toMatchObject({ deliveryId: derived, duplicate: true });
    expect(await a.submit(received({ ...body1, id: 'Y' }))).toMatchObject({ deliveryId: 'X', duplicate: true });
    expect(await b.submit(received({ id: null, body: body1.body }))).toMatchObject({ deliveryId: 'X', duplicate: true });
    expect(await a.submit(received({ id: 'Q', body: 'not json' }))).toMatchObject({ deliveryId: 'Q', status: 'quarantined', duplicate: false });
    await Promise.all([a.idle(), b.idle()]);
    const { rows } = await schema.pool.query(`SELECT id, status FROM deliveries ORDER BY id`);
    expect(rows).toEqual([
      { id: 'Q', status: 'quarantined' },
      { id: 'X', status: 'applied' },
      { id: derived, status: 'applied' },
    ]);
  }, 60_000);

  it.each([
    ['on', 'standard_conforming_strings on (every supported default)'],
    ['off', 'standard_conforming_strings off (a role or pooler setting)'],
  ])('stores quotes, backslashes and every byte value byte for byte, whatever the quoting setting (%s)', async (setting) => {
    // Intake sends its values as quoted literals (two round trips): nothing in them may change the SQL.
    const pool = new pg.Pool({ connectionString: process.env['POSTGRES_TEST_URL'], max: 1, options: `-c search_path=${schema.schema} -c standard_conforming_strings=${setting}` });
    pools.push(pool);
    const ctx = { ...pgContext(pool) };
    const hostile = [`it's`, 'back\\slash', "E'x\\'y", "'); DROP TABLE deliveries; --", '\\x41', '$$dollar$$', 'ünï 🚗'];
    const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (const [i, id] of hostile.entries()) {
      const r = received({ id, body: [vehicleEvent(`v${i}`, 1)] });
      r.headers = { 'x-quote': id, 'x-json': '{"a":"\\"}' };
      expect(await submitDelivery(ctx, r)).toMatchObject({ deliveryId: id, duplicate: false });
      expect(await submitDelivery(ctx, r)).toMatchObject({ deliveryId: id, duplicate: true });
    }
    const raw = { ...received({ id: "raw'\\", body: '' }), body: allBytes };
    expect(await submitDelivery(ctx, raw)).toMatchObject({ status: 'quarantined', duplicate: false });
    const { rows } = await schema.pool.query<{ id: string; headers: string; body: Buffer }>(`SELECT id, headers::text AS headers, body FROM deliveries ORDER BY id`);
    expect(rows.map((r) => r.id).sort()).toEqual([...hostile, "raw'\\"].sort());
    for (const row of rows) {
      if (row.id === "raw'\\") expect(Buffer.compare(row.body, allBytes)).toBe(0);
      else expect(JSON.parse(row.headers)).toEqual({ 'x-quote': row.id, 'x-json': '{"a":"\\"}' });
    }
    expect((await schema.pool.query(`SELECT count(*)::int AS n FROM deliveries`)).rows[0].n).toBe(hostile.length + 1);
  });

  it('racing replicas: the same id, or the same bytes under several ids, is stored once', async () => {
    const [{ store: a }, { store: b }] = [await replica(), await replica()];
    const same = [vehicleEvent('v1', 3)];
    const byId = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).submit(received({ id: 'Z', body: same }))));
    expect(byId.filter((o) => !o.duplicate)).toHaveLength(1);
    const other = [vehicleEvent('v2', 3)];
    const byBody = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).submit(received({ id: `W${i}`, body: other }))));
    expect(byBody.filter((o) => !o.duplicate)).toHaveLength(1);
    expect(new Set(byBody.map((o) => o.deliveryId)).size).toBe(1);
    const { rows } = await schema.pool.query(`SELECT count(*)::int AS n FROM deliveries`);
    expect(rows[0].n).toBe(2);
  }, 60_000);

  it('8 concurrent senders over two replicas, overlapping devices and duplicate ids: stored once, applied once, the state of a serial run', async () => {
    const [{ store: a }, { store: b }] = [await replica(), await replica()];
    const senders = Array.from({ length: 8 }, (_, s) =>
      Array.from({ length: 12 }, (_, i): Delivery => ({
        id: `s${s}-${i}`,
        body: [
          vehicleEvent(`v${(s + i) % 5}`, i % 7, { charging: (s + i) % 2 === 0, batteryLevel: (s * 7 + i) % 100 }),
          actionEvent(`a${i % 4}`, ['PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED'][(s + i) % 4]!, i % 5, { targetId: `v${i % 5}` }),
          vehicleEvent(`v${(s + 2 * i) % 5}`, (i + 3) % 7, {}, i % 5 === 4 ? 'deleted' : 'updated'),
        ],
      })),
    );
    const all = senders.flat();
    await Promise.all(
      senders.map(async (list, s) => {
        for (const [i, d] of list.entries()) {
          await (s % 2 ? a : b).submit(received(d));
          // Every third delivery is sent again, to the other replica, and another sender's too.
          if (i % 3 === 0) await (s % 2 ? b : a).submit(received(d));
          if (i % 4 === 1) await (s % 2 ? b : a).submit(received(senders[(s + 1) % 8]![i]!));
        }
      }),
    );
    await Promise.all([a.idle(), b.idle()]);
    const read = pgReader(schema.pool);
    expect(await read(`SELECT status, count(*)::int AS n FROM deliveries GROUP BY status`)).toEqual([{ status: 'applied', n: all.length }]);
    // Applied exactly once: every event of every delivery counted once across both replicas.
    expect(await totalApplied([a, b])).toBe(all.length * 3);
    expect(await read(`SELECT count(*)::int AS n FROM observations GROUP BY delivery_id, event_index HAVING count(*) > 1`)).toEqual([]);
    for (const s of [a, b]) expect(await s.health()).toMatchObject({ applyStorageErrors: 0, lastApplyError: null, backlog: 0 });

    const lite = sqliteStore();
    for (const d of all) await lite.store.submit(received(d));
    await lite.store.idle();
    expect(await projections(read, { orderFree: true })).toEqual(await projections(lite.read, { orderFree: true }));
    await lite.store.close();
  }, 120_000);

  it('a replica whose apply transaction dies mid-batch loses nothing: another applies its deliveries exactly once', async () => {
    const ctx = pgContext(schema.pool);
    const deliveries = Array.from({ length: 20 }, (_, i): Delivery => ({ id: `k${i}`, body: [vehicleEvent(`v${i % 3}`, i), actionEvent(`a${i % 2}`, 'PENDING', i)] }));
    for (const d of deliveries) await submitDelivery(ctx, received(d));

    let claimed!: (ids: string[]) => void;
    const claimedNow = new Promise<string[]>((resolve) => (claimed = resolve));
    let abandon!: () => void;
    const abandoned = new Promise<void>((resolve) => (abandon = resolve));
    let first = true;
    const { store: dying } = await replica({
      hooks: {
        afterClaim: async (client, ids) => {
          if (!first) return;
          first = false;
          claimed(ids);
          await abandoned;
          // The process "dies": its connection goes away with the transaction open.
          client.on('error', () => {});
          (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
          await client.query('SELECT 1');
        },
      },
    });
    expect(await claimedNow).toHaveLength(20);
    const { store: survivor } = await replica();
    // While the dying replica holds them, the survivor skips them (SKIP LOCKED) instead of waiting or doubling.
    await new Promise((r) => setTimeout(r, 400));
    const { rows: held } = await schema.pool.query(`SELECT count(*)::int AS n FROM deliveries WHERE status = 'pending'`);
    expect(held[0].n).toBe(20);
    abandon();
    await survivor.idle();
    const { rows } = await schema.pool.query(`SELECT status, attempts, count(*)::int AS n FROM deliveries GROUP BY status, attempts`);
    expect(rows).toEqual([{ status: 'applied', attempts: 1, n: 20 }]);
    expect(await totalApplied([dying])).toBe(0);
    expect(await totalApplied([survivor])).toBe(40);
    expect((await dying.health()).applyStorageErrors).toBe(1);
  }, 60_000);

  it('a bad event fails its delivery alone; NUL characters neither crash the store nor reach a text column', async () => {
    const ctx = pgContext(schema.pool);
    const nulVendor = vehicleEvent('v9', 1);
    nulVendor.vehicle.vendor = 'TES\u0000LA';
    await submitDelivery(ctx, received({ id: 'good-1', body: [vehicleEvent('v1', 1)] }));
    await submitDelivery(ctx, received({ id: 'nul', body: [vehicleEvent('v2', 1), nulVendor] }));
    await submitDelivery(ctx, received({ id: 'bad', body: [{ event: 'user:vehicle:updated', vehicle: { nope: 1 } }] }));
    await submitDelivery(ctx, received({ id: 'good-2', body: [vehicleEvent('v3', 1)] }));
    const headers = { ...received({ id: 'h', body: [] }), headers: { 'x-odd': 'a\u0000b' } };
    expect(await submitDelivery(ctx, headers)).toMatchObject({ status: 'pending', duplicate: false });
    const nulBody = await submitDelivery(ctx, received({ id: 'nul-body', body: '[\u0000' }));
    expect(nulBody.status).toBe('quarantined');
    await expect(submitDelivery(ctx, received({ id: 'a\u0000b', body: [] }))).rejects.toSatisfy((err: unknown) => !isStorageError(err) && /NUL/.test(String(err)));

    const { store } = await replica();
    await store.idle();
    const { rows } = await schema.pool.query(`SELECT id, status, error FROM deliveries ORDER BY id`);
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(byId['good-1'].status).toBe('applied');
    expect(byId['good-2'].status).toBe('applied');
    expect(byId.h.status).toBe('applied');
    expect(byId.nul).toMatchObject({ status: 'failed', error: expect.stringContaining('NUL character') });
    expect(byId.bad.status).toBe('failed');
    expect(byId['nul-body'].status).toBe('quarantined');
    // The failed delivery's other event was rolled back with it; its alert was raised.
    const { rows: devices } = await schema.pool.query(`SELECT id FROM devices ORDER BY id`);
    expect(devices.map((d) => d.id)).toEqual(['v1', 'v3']);
    const { rows: alerts } = await schema.pool.query(`SELECT dedupe_key FROM alerts ORDER BY dedupe_key`);
    expect(alerts.map((r) => r.dedupe_key)).toEqual(['delivery.failed:bad', 'delivery.failed:nul']);
    const { rows: h } = await schema.pool.query(`SELECT headers::text AS t FROM deliveries WHERE id = 'h'`);
    expect(JSON.parse(h[0].t)).toEqual({ 'x-odd': 'a\u0000b' });
  }, 60_000);

  it('a batch that fails for another reason than the storage is taken apart: only the culprit is failed, with its alert', async () => {
    const ctx = pgContext(schema.pool);
    for (let i = 0; i < 6; i++) await submitDelivery(ctx, received({ id: `b${i}`, body: [vehicleEvent(`v${i}`, 1)] }));
    const { store } = await replica({
      hooks: {
        afterClaim: async (_client, ids) => {
          if (ids.includes('b3')) throw new Error('this delivery breaks whatever batch it is in');
        },
      },
    });
    await store.idle();
    const { rows } = await schema.pool.query(`SELECT id, status FROM deliveries WHERE status <> 'applied'`);
    expect(rows).toEqual([{ id: 'b3', status: 'failed' }]);
    const { rows: alerts } = await schema.pool.query(`SELECT dedupe_key FROM alerts`);
    expect(alerts).toEqual([{ dedupe_key: 'delivery.failed:b3' }]);
    expect(await totalApplied([store])).toBe(5);
  }, 60_000);

  it('a storage error that only big batches meet (a statement timeout) stops holding deliveries up: after three in a row, one delivery at a time', async () => {
    const ctx = pgContext(schema.pool);
    for (let i = 0; i < 4; i++) await submitDelivery(ctx, received({ id: `s${i}`, body: [vehicleEvent(`v${i}`, 1)] }));
    const sizes: number[] = [];
    const { store } = await replica({
      hooks: {
        afterClaim: async (_client, ids) => {
          sizes.push(ids.length);
          if (ids.length > 1) throw Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' });
        },
      },
    });
    await store.idle();
    const { rows } = await schema.pool.query(`SELECT count(*)::int AS n FROM deliveries WHERE status = 'applied'`);
    expect(rows).toEqual([{ n: 4 }]);
    expect(sizes.slice(0, 3)).toEqual([4, 4, 4]);
    expect(sizes.filter((n) => n === 1)).toHaveLength(4);
  }, 60_000);

  it('storage errors while applying keep deliveries pending, report the episode, and raise apply.stalled once when writes work again', async () => {
    const clock = new ManualClock(NOW);
    let failing = true;
    const { store } = await replica({
      clock,
      hooks: {
        afterClaim: async () => {
          if (failing) throw Object.assign(new Error('the database system is shutting down'), { code: '57P01' });
        },
      },
    });
    await store.submit(received({ id: 'p1', body: [vehicleEvent('v1', 1)] }));
    await new Promise((r) => setTimeout(r, 300));
    const since = clock.now().getTime();
    expect(await store.health()).toMatchObject({ applyFailingSinceMs: since, applyStalled: false, backlog: 1 });
    clock.advance(31_000);
    expect(await store.ping()).toMatchObject({ applyStalled: true });
    failing = false;
    await store.idle();
    expect(await store.health()).toMatchObject({ applyFailingSinceMs: null, applyStalled: false, backlog: 0 });
    const { rows } = await schema.pool.query(`SELECT dedupe_key FROM alerts WHERE type = 'apply.stalled'`);
    expect(rows).toEqual([{ dedupe_key: `apply.stalled:${since}` }]);
    const { rows: d } = await schema.pool.query(`SELECT status FROM deliveries`);
    expect(d).toEqual([{ status: 'applied' }]);
  }, 60_000);

  it('submit and ping against an unreachable Postgres reject with a storage error (the route answers 503)', async () => {
    const pool = openPostgres('postgres://bench:bench@127.0.0.1:1/bench', { connectionTimeoutMs: 2_000, max: 1 });
    pools.push(pool);
    const store = await pgStore(pool);
    stores.push(store);
    const err = await store.submit(received({ id: 'u1', body: [vehicleEvent('v1', 1)] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(isStorageError(err)).toBe(true);
    await expect(store.ping()).rejects.toSatisfy(isStorageError);
    // Waiting for the backlog to drain ends with the error once the database stayed away for 10 s.
    const started = Date.now();
    await expect(store.idle()).rejects.toSatisfy(isStorageError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(10_000);
  }, 40_000);
});
