/**
 * The events page's backward paging over the store's forward read: against a model of the log
 * (sparse positions, filters, a pruned prefix), every page is the newest `limit` matching events
 * at or before its bound, newest first, and following the pages visits each matching event once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../src/events/types.js';
import type { EventFilter } from '../../src/store/events-read.js';
import { newestEvents, parseTypeFilter } from '../../src/ui/events-query.js';

const TYPES = ['device.updated', 'device.discovered', 'action.updated', 'command.sent'];

function modelLog(log: StoredEvent[], prunedThrough: number) {
  let reads = 0;
  const matches = (f: Omit<EventFilter, 'after' | 'limit'>, e: StoredEvent) =>
    (!f.deviceId || e.deviceId === f.deviceId) && (!f.types || f.types.some((t) => (t.endsWith('.*') ? e.type.startsWith(t.slice(0, -1)) : e.type === t)));
  return {
    get reads() {
      return reads;
    },
    async events(f: EventFilter) {
      reads += 1;
      return log.filter((e) => e.position > (f.after ?? 0) && e.position > prunedThrough && matches(f, e)).slice(0, f.limit + 1);
    },
    async eventsPrunedThrough() {
      return prunedThrough;
    },
    kept: (f: Omit<EventFilter, 'after' | 'limit'>) => log.filter((e) => e.position > prunedThrough && matches(f, e)),
  };
}

const event = (position: number, i: number): StoredEvent => ({
  position,
  type: TYPES[i % TYPES.length]!,
  occurredAtMs: position,
  recordedAtMs: position,
  deviceId: `d${i % 3}`,
  userId: null,
  data: '{}',
});

const arbLog = fc
  .uniqueArray(fc.integer({ min: 1, max: 5_000 }), { maxLength: 300 })
  .map((ps) => ps.sort((a, b) => a - b).map((p, i) => event(p, i * 7 + p)));

describe('newestEvents', () => {
  it('pages backwards through exactly the kept matching events, newest first, each once', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbLog,
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 3_000 }),
        fc.option(fc.integer({ min: 0, max: 5_200 })),
        fc.constantFrom({}, { types: ['device.*'] }, { deviceId: 'd1' }, { types: ['action.updated', 'command.sent'], deviceId: 'd2' }),
        async (log, limit, pruned, start, f) => {
          const store = modelLog(log, pruned);
          // A start at a random position (often an event's own), or a log position of the model.
          let through = start ?? log[Math.floor(log.length / 2)]?.position ?? 6_000;
          const expected = store.kept(f).filter((e) => e.position <= through).reverse();
          const seen: StoredEvent[] = [];
          for (let pages = 0; ; pages++) {
            const page = await newestEvents(store, f, through, limit);
            expect(page.events).toEqual(expected.slice(seen.length, seen.length + limit));
            seen.push(...page.events);
            expect(page.hasOlder).toBe(seen.length < expected.length);
            if (!page.hasOlder) break;
            through = page.events[page.events.length - 1]!.position - 1;
            expect(pages).toBeLessThan(expected.length);
          }
          expect(seen).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads a dense unfiltered log in two reads, and a sparse one in a logarithmic number', async () => {
    const dense = modelLog(Array.from({ length: 10_000 }, (_, i) => event(i + 1, i)), 0);
    const page = await newestEvents(dense, {}, 10_000, 50);
    expect(page.events.map((e) => e.position)).toEqual(Array.from({ length: 50 }, (_, i) => 10_000 - i));
    expect(dense.reads).toBe(2);

    // One device's events spread over a million positions, the newest in a burst.
    const sparse = [...Array.from({ length: 30 }, (_, i) => event(1 + i * 30_000, 0)), ...Array.from({ length: 100 }, (_, i) => event(999_000 + i, 0))];
    const model = modelLog(sparse, 0);
    const burst = await newestEvents(model, { deviceId: 'd0' }, 1_000_000, 50);
    expect(burst.events[0]!.position).toBe(999_099);
    expect(burst.events).toHaveLength(50);
    expect(model.reads).toBeLessThan(30);
  });

  it('returns nothing at or below what retention deleted', async () => {
    const store = modelLog([event(5, 0), event(9, 1)], 8);
    expect(await newestEvents(store, {}, 8, 10)).toEqual({ events: [], hasOlder: false });
    expect((await newestEvents(store, {}, 20, 10)).events.map((e) => e.position)).toEqual([9]);
  });
});

describe('parseTypeFilter', () => {
  it('reads types and prefixes as the API does, and refuses what matches no type', () => {
    expect(parseTypeFilter(' device.*, action.updated ,')).toEqual(['device.*', 'action.updated']);
    expect(parseTypeFilter('')).toBeUndefined();
    expect(() => parseTypeFilter('device.updatd')).toThrow(/Unknown event type "device.updatd"/);
    expect(() => parseTypeFilter('nothing.*')).toThrow(/Unknown event type/);
    expect(() => parseTypeFilter("device.%'")).toThrow(/Unknown event type/);
  });
});
