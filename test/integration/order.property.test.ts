import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { actionEvent, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';

type Event = Record<string, unknown>;

// Few ids and few minutes on purpose: collisions and exact ties are where ordering bugs live.
const actionArb: fc.Arbitrary<Event> = fc
  .record({
    id: fc.constantFrom('a1', 'a2'),
    state: fc.constantFrom('PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED'),
    minute: fc.integer({ min: 0, max: 4 }),
    kind: fc.constantFrom('START' as const, 'STOP' as const),
  })
  .map((a) => actionEvent(a.id, a.state, a.minute, { kind: a.kind }));

const deviceArb: fc.Arbitrary<Event> = fc
  .record({
    id: fc.constantFrom('v1', 'v2'),
    minute: fc.integer({ min: 0, max: 4 }),
    charging: fc.boolean(),
    batteryLevel: fc.integer({ min: 0, max: 100 }),
    verb: fc.constantFrom('updated' as const, 'updated' as const, 'updated' as const, 'discovered' as const, 'deleted' as const),
  })
  .map((d) => vehicleEvent(d.id, d.minute, { charging: d.charging, batteryLevel: d.batteryLevel }, d.verb));

/** Events, then the same events shuffled with some repeated, cut into deliveries of 1–4 events. */
const scenarioArb = fc.array(fc.oneof(actionArb, deviceArb), { minLength: 1, maxLength: 14 }).chain((events) =>
  fc.record({
    events: fc.constant(events),
    shuffled: fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
    repeats: fc.array(fc.record({ index: fc.nat(events.length - 1), at: fc.nat() }), { maxLength: 8 }),
    cuts: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 30, maxLength: 30 }),
  }),
);

type Row = Record<string, unknown>;
const byKey = (key: string) => (a: Row, b: Row) => String(a[key]).localeCompare(String(b[key]));

async function finalState(t: EngineApp) {
  return {
    devices: (await t.rows('SELECT * FROM devices')).sort(byKey('id')),
    actions: (await t.rows('SELECT * FROM actions')).sort(byKey('id')),
    // Which snapshots were kept matters; whether each was stale on arrival depends on order by design.
    observations: (await t.rows('SELECT * FROM observations'))
      .map(({ id: _id, stale: _stale, delivery_id: _d, event_index: _i, ...rest }) => rest)
      .sort(byKey('hash')),
  };
}

describe('projections are independent of delivery order and duplication', () => {
  it('any permutation with duplicates, in any grouping, gives the state of in-order application', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ events, shuffled, repeats, cuts }) => {
        const inOrder = await makeApp();
        for (const event of events) expect((await postWebhook(inOrder, [event])).status).toBe(200);

        const messy = [...shuffled];
        for (const r of repeats) messy.splice(r.at % (messy.length + 1), 0, events[r.index] as Event);
        const chaotic = await makeApp();
        let i = 0;
        let c = 0;
        while (i < messy.length) {
          const size = cuts[c++ % cuts.length] as number;
          const res = await postWebhook(chaotic, messy.slice(i, i + size));
          expect(res.status).toBe(200);
          i += size;
        }
        expect(await chaotic.column("SELECT id FROM deliveries WHERE status <> 'applied'")).toEqual([]);
        expect(await finalState(chaotic)).toEqual(await finalState(inOrder));
        // Each run's apps are closed here, not at the end of the test: on Postgres each holds a schema.
        await Promise.all([inOrder.close(), chaotic.close()]);
      }),
      { numRuns: 150 },
    );
    // A delivery costs ~20 ms on Postgres (its own transaction, applied in the background): ~30 s for 150 runs there, near the default timeout.
  }, 180_000);
});
