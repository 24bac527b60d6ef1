/**
 * Exactly once, whatever the delivery: the same deliveries redelivered and regrouped give the same
 * event log (up to cursor values), and in any order they give a log that ends in the same state,
 * raises the same alerts and never logs a fact twice or an action backwards.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { actionEvent, api, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';

type Event = Record<string, unknown>;
interface Logged {
  type: string;
  deviceId: string | null;
  data: Record<string, any>;
}

/**
 * Each action resolves one way (as Enode's do): PENDING versions and one terminal state. Two
 * different terminal states of one action would raise action.failed or action.cancelled depending
 * on which arrives first, an order dependence of the alerts that is theirs, not the log's.
 */
const TERMINAL: Record<string, string> = { a1: 'FAILED', a2: 'CANCELLED', a3: 'CONFIRMED' };

// Few ids and minutes on purpose: collisions and exact ties are where ordering bugs live.
const actionArb: fc.Arbitrary<Event> = fc
  .record({ id: fc.constantFrom('a1', 'a2', 'a3'), terminal: fc.boolean(), minute: fc.integer({ min: 0, max: 4 }) })
  .map((a) => actionEvent(a.id, a.terminal ? TERMINAL[a.id]! : 'PENDING', a.minute, { targetId: a.id === 'a2' ? 'v2' : 'v1' }));

const deviceArb: fc.Arbitrary<Event> = fc
  .record({
    id: fc.constantFrom('v1', 'v2'),
    minute: fc.integer({ min: 0, max: 4 }),
    batteryLevel: fc.integer({ min: 0, max: 3 }),
    verb: fc.constantFrom('updated' as const, 'updated' as const, 'discovered' as const, 'deleted' as const),
  })
  .map((d) => vehicleEvent(d.id, d.minute, { batteryLevel: d.batteryLevel }, d.verb));

const eventsArb = fc.array(fc.oneof(actionArb, deviceArb), { minLength: 1, maxLength: 10 });
const cutsArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 20, maxLength: 20 });

async function logOf(t: EngineApp): Promise<Logged[]> {
  const body = await (await api(t, '/events?limit=500')).json();
  return body.data.map((e: Logged) => ({ type: e.type, deviceId: e.deviceId, data: e.data }));
}

async function deliver(t: EngineApp, events: Event[], cuts: number[]): Promise<void> {
  for (let i = 0, c = 0; i < events.length; ) {
    const size = cuts[c++ % cuts.length]!;
    expect((await postWebhook(t, events.slice(i, i + size))).status).toBe(200);
    i += size;
  }
}

/**
 * What any order must agree on: each device's last logged state (= the API's), each action's last
 * logged state, and which alerts were raised. Not the versions inside action events and alerts:
 * those are the version that first reached the state, which depends on arrival order by design.
 */
async function outcome(t: EngineApp, log: Logged[]) {
  const lastDevice = new Map<string, unknown>();
  const lastAction = new Map<string, unknown>();
  for (const e of log) {
    if (e.type.startsWith('device.')) lastDevice.set(e.deviceId!, e.data['device']);
    if (e.type === 'action.updated') lastAction.set(e.data['action'].id, e.data['action'].state);
  }
  for (const [id, device] of lastDevice) expect(device).toEqual(await (await api(t, `/devices/${id}`)).json());
  const alerts = log.filter((e) => !e.type.startsWith('device.') && e.type !== 'action.updated').map((e) => `${e.type} ${e.deviceId} ${e.data['action']?.id}`);
  return { devices: Object.fromEntries([...lastDevice].sort()), actions: Object.fromEntries([...lastAction].sort()), alerts: alerts.sort() };
}

/**
 * No state logged twice for a device; an action's states never go back to PENDING nor repeat.
 *
 * One exception, by the merge rules: a `:discovered` snapshot ranks below every `:updated` one
 * (Enode's carry no state), so an older `:updated` snapshot replaces it and a later `:updated`
 * one with the same body as the discovered one shows the same device again. Those are two facts
 * (two stored states, ranked differently) that look alike; a device shown twice is accepted only
 * when its snapshot is the body of a `:discovered` delivery of the run.
 */
function assertNeverTwice(log: Logged[], delivered: Event[]): void {
  const discovered = new Set(delivered.filter((e) => String(e['event']).endsWith(':discovered')).map((e) => JSON.stringify(e['vehicle'])));
  const devices = log.filter((e) => e.type.startsWith('device.')).map((e) => e.data['device']);
  const seen = new Set<string>();
  for (const device of devices) {
    const shown = JSON.stringify(device);
    if (seen.has(shown)) expect(discovered, `${shown} logged twice`).toContain(JSON.stringify(device['snapshot']));
    seen.add(shown);
  }
  // Only changes are logged: a device never shows the same state in two events in a row.
  const last = new Map<string, string>();
  for (const device of devices) {
    expect(last.get(device['id'])).not.toBe(JSON.stringify(device));
    last.set(device['id'], JSON.stringify(device));
  }
  const byAction = new Map<string, string[]>();
  for (const e of log.filter((x) => x.type === 'action.updated')) byAction.set(e.data['action'].id, [...(byAction.get(e.data['action'].id) ?? []), e.data['action'].state]);
  for (const states of byAction.values()) {
    expect(new Set(states).size).toBe(states.length);
    expect(states.slice(1)).not.toContain('PENDING');
  }
}

/**
 * `events` with a copy of `events[r.index]` inserted for each repeat, anywhere after where its
 * original now stands. The position is searched in the list being built, not taken from
 * `events`: copies inserted earlier shift the originals to the right, and a copy placed at the
 * original's old index could land before it (or before an event that came between), which
 * changes the order of the deliveries, not just their number.
 */
function withCopies(events: Event[], repeats: Array<{ index: number; later: number }>): Event[] {
  const messy = events.map((event, origin) => ({ event, origin, copy: false }));
  for (const r of repeats) {
    const index = r.index % events.length;
    const original = messy.findIndex((m) => m.origin === index && !m.copy);
    // A copy anywhere after its original: re-applied, it must change nothing.
    const at = original + 1 + (r.later % (messy.length - original));
    messy.splice(at, 0, { event: events[index]!, origin: index, copy: true });
  }
  return messy.map((m) => m.event);
}

/**
 * Two copies of the first event shift the others right by two: placed by its index in `events`,
 * the copy of the last snapshot landed before the snapshot it follows, which then read as stale
 * (2 events logged instead of 3).
 */
const COPY_SHIFT = {
  events: [actionEvent('a1', 'PENDING', 0, { targetId: 'v1' }), vehicleEvent('v1', 0, { batteryLevel: 0 }), vehicleEvent('v1', 1, { batteryLevel: 1 })],
  repeats: [
    { index: 0, later: 0 },
    { index: 0, later: 0 },
    { index: 2, later: 0 },
  ],
  cuts: Array.from({ length: 20 }, () => 4),
};

const DISCOVERED_OVERTAKEN = (() => {
  const events = [vehicleEvent('v1', 2, { batteryLevel: 0 }, 'discovered'), vehicleEvent('v1', 0, { batteryLevel: 0 }), vehicleEvent('v1', 2, { batteryLevel: 0 }), actionEvent('a1', 'PENDING', 0, { targetId: 'v1' })];
  return { events, shuffled: [events[2]!, events[1]!, events[0]!, events[3]!] };
})();

describe('event log: exactly once under redelivery, regrouping and reordering', () => {
  it('duplicates (after their original) and any grouping give the same log as one delivery per event', async () => {
    await fc.assert(
      fc.asyncProperty(eventsArb, fc.array(fc.record({ index: fc.nat(), later: fc.nat() }), { maxLength: 6 }), cutsArb, async (events, repeats, cuts) => {
        const single = await makeApp();
        await deliver(single, events, [1]);
        const messy = withCopies(events, repeats);
        const grouped = await makeApp();
        await deliver(grouped, messy, cuts);
        expect(await logOf(grouped)).toEqual(await logOf(single));
        await Promise.all([single.close(), grouped.close()]);
      }),
      // Always also the case that once put the copy of the last snapshot ahead of the one before it.
      { numRuns: 30, examples: [[COPY_SHIFT.events, COPY_SHIFT.repeats, COPY_SHIFT.cuts]] },
    );
  }, 180_000);

  it('any permutation ends in the same logged state and alerts, and logs no fact twice', async () => {
    await fc.assert(
      fc.asyncProperty(
        eventsArb.chain((events) => fc.record({ events: fc.constant(events), shuffled: fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }) })),
        cutsArb,
        async ({ events, shuffled }, cuts) => {
          const inOrder = await makeApp();
          await deliver(inOrder, events, [1]);
          const reordered = await makeApp();
          await deliver(reordered, shuffled, cuts);
          const [a, b] = [await logOf(inOrder), await logOf(reordered)];
          assertNeverTwice(a, events);
          assertNeverTwice(b, events);
          expect(await outcome(reordered, b)).toEqual(await outcome(inOrder, a));
          await Promise.all([inOrder.close(), reordered.close()]);
        },
      ),
      // Always also the case where an older :updated snapshot replaces a :discovered one and a newer one shows it again.
      { numRuns: 30, examples: [[DISCOVERED_OVERTAKEN, Array.from({ length: 20 }, () => 1)]] },
    );
  }, 180_000);
});
