/**
 * The funnel on Postgres (store/postgres/funnel.ts, a unit of work) decides as SQLite's does:
 * the same deliveries fed to an inline SQLite store and to the Postgres store leave the same
 * projections, read with plain SQL from both; shuffled and duplicated deliveries leave the state
 * of in-order application; and a batch costs the same number of statements whatever its size.
 */
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { PgContext } from '../../src/store/postgres/context.js';
import { applyPendingBatch, submitDelivery } from '../../src/store/postgres/intake.js';
import { actionEvent, vehicleEvent } from '../support/fixtures.js';
import { describeIfPostgres, freshPostgresSchema, type FreshSchema } from '../support/postgres.js';
import { NOW, pgContext, pgReader, pgStore, projections, received, sqliteStore, truncateIntake, type Delivery } from './pg-intake-support.js';

type Event = Record<string, unknown>;

// Few ids and minutes on purpose: collisions and ties are where merge bugs live.
const actionArb: fc.Arbitrary<Event> = fc
  .record({
    id: fc.constantFrom('a1', 'a2'),
    state: fc.constantFrom('PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED'),
    minute: fc.integer({ min: 0, max: 4 }),
    kind: fc.constantFrom('START' as const, 'STOP' as const),
    target: fc.constantFrom('v1', 'v2'),
  })
  .map((a) => actionEvent(a.id, a.state, a.minute, { kind: a.kind, targetId: a.target }));

const deviceArb: fc.Arbitrary<Event> = fc
  .record({
    id: fc.constantFrom('v1', 'v2'),
    minute: fc.integer({ min: 0, max: 4 }),
    charging: fc.boolean(),
    batteryLevel: fc.integer({ min: 0, max: 100 }),
    verb: fc.constantFrom('updated' as const, 'updated' as const, 'discovered' as const, 'deleted' as const),
  })
  .map((d) => vehicleEvent(d.id, d.minute, { charging: d.charging, batteryLevel: d.batteryLevel }, d.verb));

const systemArb: fc.Arbitrary<Event> = fc.oneof(
  fc.integer({ min: 0, max: 3 }).map((n) => ({ event: 'system:heartbeat', createdAt: NOW.toISOString(), pendingEvents: n })),
  fc.constantFrom('u1', 'u2').map((u) => ({ event: 'user:credentials:invalidated', user: { id: u }, vendor: 'TESLA', createdAt: NOW.toISOString() })),
  fc.constant({ event: 'enode:something:new', createdAt: NOW.toISOString() }),
);

/** An event the funnel refuses: its whole delivery fails (with a delivery.failed alert), others are unaffected. */
const invalidArb: fc.Arbitrary<Event> = fc.constant({ event: 'user:vehicle:updated', vehicle: { nope: true } });

const eventArb = fc.oneof({ arbitrary: actionArb, weight: 3 }, { arbitrary: deviceArb, weight: 4 }, { arbitrary: systemArb, weight: 1 }, { arbitrary: invalidArb, weight: 1 });

/** Deliveries of 1–4 events; some reuse an earlier id (same or other bytes), some repeat bytes under a new id, some are not JSON. */
const deliveriesArb: fc.Arbitrary<Delivery[]> = fc
  .array(
    fc.record({
      events: fc.array(eventArb, { minLength: 1, maxLength: 4 }),
      kind: fc.constantFrom('new', 'new', 'new', 'new', 'reuse-id', 'redeliver', 'same-body', 'no-id', 'not-json'),
      pick: fc.nat(),
    }),
    { minLength: 1, maxLength: 12 },
  )
  .map((specs) => {
    const out: Delivery[] = [];
    specs.forEach((s, i) => {
      const earlier = out.length > 0 ? out[s.pick % out.length]! : undefined;
      const at = NOW.getTime() + i * 1_000;
      if (s.kind === 'reuse-id' && earlier?.id) out.push({ id: earlier.id, body: s.events, receivedAt: at });
      else if (s.kind === 'redeliver' && earlier) out.push({ ...earlier, receivedAt: at });
      else if (s.kind === 'same-body' && earlier) out.push({ id: `d${i}`, body: earlier.body, receivedAt: at });
      else if (s.kind === 'no-id') out.push({ id: null, body: s.events, receivedAt: at });
      else if (s.kind === 'not-json') out.push({ id: `d${i}`, body: `{"not": "an array"`, receivedAt: at });
      else out.push({ id: `d${i}`, body: s.events, receivedAt: at });
    });
    return out;
  });

describeIfPostgres('the Postgres funnel decides as the SQLite one', () => {
  let schema: FreshSchema;
  beforeAll(async () => {
    schema = await freshPostgresSchema();
  }, 60_000);
  afterAll(async () => schema?.drop());

  it('the same deliveries in the same order: equal projections, deliveries and outcomes on both engines', async () => {
    await fc.assert(
      fc.asyncProperty(deliveriesArb, async (deliveries) => {
        await truncateIntake(schema.pool);
        const lite = sqliteStore();
        const ctx = pgContext(schema.pool);
        for (const d of deliveries) {
          const [a, b] = [await lite.store.submit(received(d)), await submitDelivery(ctx, received(d))];
          // A duplicate answers with the stored delivery's status and error: before or after applying, by timing.
          const timeless = (o: typeof a) => (o.duplicate ? { ...o, status: 'by timing', error: 'by timing' } : o);
          expect(timeless(b)).toEqual(timeless(a));
        }
        // Everything is pending when the Postgres store starts: its loop applies them in one batch,
        // each delivery seeing the writes of those before it (the unit of work's buffer).
        const pgs = await pgStore(schema.pool);
        try {
          await Promise.all([lite.store.idle(), pgs.idle()]);
          expect(await projections(pgReader(schema.pool))).toEqual(await projections(lite.read));
        } finally {
          await pgs.close();
          await lite.store.close();
        }
      }),
      { numRuns: 50 },
    );
  }, 300_000);

  it('shuffled and duplicated deliveries leave the state of in-order application', async () => {
    const scenario = fc.array(fc.oneof(actionArb, deviceArb, systemArb), { minLength: 1, maxLength: 14 }).chain((events) =>
      fc.record({
        events: fc.constant(events),
        shuffled: fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
        repeats: fc.array(fc.record({ index: fc.nat(events.length - 1), at: fc.nat() }), { maxLength: 8 }),
        cuts: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 30, maxLength: 30 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(scenario, async ({ events, shuffled, repeats, cuts }) => {
        await truncateIntake(schema.pool);
        const lite = sqliteStore();
        for (const [i, e] of events.entries()) await lite.store.submit(received({ id: `in-order-${i}`, body: [e] }));
        await lite.store.idle();
        const messy = [...shuffled];
        for (const r of repeats) messy.splice(r.at % (messy.length + 1), 0, events[r.index] as Event);
        const pgs = await pgStore(schema.pool);
        try {
          let c = 0;
          for (let i = 0; i < messy.length; ) {
            const size = cuts[c++ % cuts.length]!;
            await pgs.submit(received({ id: `messy-${i}`, body: messy.slice(i, i + size) }));
            i += size;
          }
          await pgs.idle();
          const { rows } = await schema.pool.query(`SELECT count(*)::int AS n FROM deliveries WHERE status <> 'applied'`);
          expect(rows[0].n).toBe(0);
          expect(await projections(pgReader(schema.pool), { orderFree: true })).toEqual(await projections(lite.read, { orderFree: true }));
        } finally {
          await pgs.close();
          await lite.store.close();
        }
      }),
      { numRuns: 40 },
    );
  }, 300_000);

  it('polled and gateway events, and replays, decide as on SQLite', async () => {
    await truncateIntake(schema.pool);
    const lite = sqliteStore();
    const pgs = await pgStore(schema.pool);
    try {
      const batches: Array<[unknown[], 'poll' | 'gateway']> = [
        [[vehicleEvent('v1', 1), actionEvent('a1', 'PENDING', 1), { event: 'user:vehicle:updated', vehicle: { bad: 1 } }], 'poll'],
        [[actionEvent('a1', 'CONFIRMED', 2), vehicleEvent('v1', 1), vehicleEvent('v1', 0)], 'gateway'],
        [[], 'poll'],
      ];
      for (const [events, source] of batches) {
        expect(await pgs.applyEvents(events, source)).toEqual(await lite.store.applyEvents(events, source));
      }
      const d: Delivery = { id: 'r1', body: [vehicleEvent('v2', 3), actionEvent('a2', 'FAILED', 3)] };
      await lite.store.submit(received(d));
      await pgs.submit(received(d));
      await Promise.all([lite.store.idle(), pgs.idle()]);
      expect(await pgs.replay('r1')).toEqual(await lite.store.replay('r1'));
      expect(await pgs.replay('unknown')).toBeUndefined();
      await pgs.recordActionPolls([
        { id: 'a1', polledAt: 5, upstream: null },
        { id: 'a1', polledAt: 6, upstream: 'stale' },
        { id: 'a2', polledAt: 7, upstream: null },
        { id: 'nope', polledAt: 8, upstream: 'not_found' },
      ]);
      await lite.store.recordActionPolls([
        { id: 'a1', polledAt: 5, upstream: null },
        { id: 'a1', polledAt: 6, upstream: 'stale' },
        { id: 'a2', polledAt: 7, upstream: null },
        { id: 'nope', polledAt: 8, upstream: 'not_found' },
      ]);
      expect(await projections(pgReader(schema.pool))).toEqual(await projections(lite.read));
    } finally {
      await pgs.close();
      await lite.store.close();
    }
  }, 60_000);

  it('a batch costs the same statements whatever its size (round trips stay constant)', async () => {
    await truncateIntake(schema.pool);
    const pgs = await pgStore(schema.pool);
    await pgs.close(); // its loop must not take the deliveries this test applies by hand
    let statements = 0;
    const counting = {
      connect: async () => {
        const client = await schema.pool.connect();
        const query = client.query.bind(client) as (...args: unknown[]) => unknown;
        return Object.assign(Object.create(client) as pg.PoolClient, {
          query: (...args: unknown[]) => {
            statements++;
            return query(...args);
          },
          release: (err?: Error | boolean) => client.release(err),
        });
      },
    } as unknown as pg.Pool;
    const ctx: PgContext = { ...pgContext(schema.pool), pool: counting };
    const perBatch: number[] = [];
    for (const size of [1, 40]) {
      for (let i = 0; i < size; i++) {
        await submitDelivery(ctx, received({
          id: `size${size}-${i}`,
          body: [vehicleEvent(`v${i}`, 1), actionEvent(`a${size}-${i}`, 'FAILED', 2, { targetId: `v${i}` }), vehicleEvent(`v${i}`, 2, {}, 'deleted')],
        }));
      }
      statements = 0;
      const batch = await applyPendingBatch(ctx, 100);
      expect(batch.claimed).toBe(size);
      perBatch.push(statements);
    }
    // BEGIN, claim, lock, load, one flush, the event log's append (last, postgres/events.ts), COMMIT.
    expect(perBatch).toEqual([7, 7]);
  }, 60_000);
});
