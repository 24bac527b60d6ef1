/**
 * The shared event feed (src/events/stream.ts) over an in-memory log that writers append to
 * between any two reads: every client gets each matching event once, in order, whether it
 * starts live or far behind, with a filter or not, and with a buffer smaller than its backlog.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventFilter } from '../../src/store/events-read.js';
import { createEventFeed, type StreamSubscription } from '../../src/events/stream.js';
import type { StoredEvent } from '../../src/events/types.js';
import { silentLogger } from '../../src/logger.js';

const TYPES = ['device.updated', 'action.updated', 'device.deleted'];

/** A log whose reads each let `appendsPerRead()` new events commit first (another replica writing). */
function growingLog(appendsPerRead: () => number) {
  const log: StoredEvent[] = [];
  let prunedThrough = 0;
  const append = () => {
    const position = log.length + 1;
    log.push({ position, type: TYPES[position % 3]!, occurredAtMs: position, recordedAtMs: position, deviceId: `d${position % 2}`, userId: null, data: '{}' });
  };
  const grow = () => {
    for (let i = appendsPerRead(); i > 0; i--) append();
  };
  return {
    log,
    append,
    prune: (through: number) => (prunedThrough = through),
    read: {
      async events(f: EventFilter) {
        grow();
        return log
          .filter((e) => e.position > (f.after ?? 0) && e.position > prunedThrough)
          .filter((e) => !f.types || f.types.some((t) => (t.endsWith('.*') ? e.type.startsWith(t.slice(0, -1)) : e.type === t)))
          .filter((e) => f.deviceId === undefined || e.deviceId === f.deviceId)
          .slice(0, f.limit + 1);
      },
      async eventsPrunedThrough() {
        return prunedThrough;
      },
      async lastEventPosition() {
        grow();
        return log.length;
      },
    },
  };
}

/** Reads the subscription until `n` events came, or it ended. */
async function take(sub: StreamSubscription, n: number): Promise<{ positions: number[]; end?: string }> {
  const positions: number[] = [];
  while (positions.length < n) {
    const next = await sub.next(2_000);
    if ('end' in next) return { positions, end: next.end.reason };
    if ('events' in next) positions.push(...next.events.map((e) => e.position));
    else throw new Error(`idle after ${positions.length} of ${n} events`);
  }
  return { positions: positions.slice(0, n) };
}

describe('event feed', () => {
  it('each client gets every matching event once, in order, while writers append between reads', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 50, maxLength: 50 }),
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 10, max: 40 }),
        fc.constantFrom(undefined, ['device.*'], ['action.updated']),
        async (appends, backlog, buffer, types) => {
          let call = 0;
          // At least one append every other read, so that every client's 20 events come.
          const g = growingLog(() => appends[call % appends.length]! + (call++ % 2 === 0 ? 1 : 0));
          for (let i = 0; i < backlog; i++) g.append();
          const feed = createEventFeed({ read: g.read, pollMs: 1, bufferEvents: buffer, slowAfterMs: 60_000, logger: silentLogger() });
          const after = Math.floor(backlog / 2);
          const sub = feed.subscribe({ after, types });
          const behind = feed.subscribe({ after: 0, deviceId: 'd1' });
          // Both read as they come (a client that stops reading is ended as slow: another test).
          const [a, b] = await Promise.all([take(sub, 20), take(behind, 20)]);
          feed.close();
          const matching = (e: StoredEvent) => !types || types.some((t) => (t.endsWith('.*') ? e.type.startsWith(t.slice(0, -1)) : e.type === t));
          expect(a).toEqual({ positions: g.log.filter((e) => e.position > after && matching(e)).slice(0, 20).map((e) => e.position) });
          expect(b).toEqual({ positions: g.log.filter((e) => e.deviceId === 'd1').slice(0, 20).map((e) => e.position) });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a burst far larger than the buffer does not end a client that keeps reading: the rest comes from the log, in order', async () => {
    let burst = 0;
    const g = growingLog(() => {
      const n = burst;
      burst = 0;
      return n;
    });
    const feed = createEventFeed({ read: g.read, pollMs: 1, bufferEvents: 10, slowAfterMs: 60_000, logger: silentLogger() });
    const sub = feed.subscribe({ after: 0 });
    await new Promise((r) => setTimeout(r, 20));
    // 300 events commit between two polls: 30 buffers' worth for a live client.
    burst = 300;
    const positions: number[] = [];
    while (positions.length < 300) {
      const next = await sub.next(2_000);
      if ('end' in next) throw new Error(`ended (${next.end.reason}) after ${positions.length} events`);
      if ('events' in next) positions.push(...next.events.map((e) => e.position));
      // A reader slower than the poll: the buffer fills between its reads.
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(positions).toEqual(g.log.map((e) => e.position));
    expect(feed.disconnects().slow_consumer).toBe(0);
    await feed.close();
  });

  it('a client that takes nothing while its buffer is full is ended as slow after slowAfterMs, not before', async () => {
    const g = growingLog(() => 0);
    for (let i = 0; i < 50; i++) g.append();
    const feed = createEventFeed({ read: g.read, pollMs: 5, bufferEvents: 10, slowAfterMs: 300, logger: silentLogger() });
    const sub = feed.subscribe({ after: 0 });
    const started = performance.now();
    await new Promise((r) => setTimeout(r, 100));
    expect(feed.size).toBe(1);
    const ended = await sub.ended;
    expect(ended).toMatchObject({ reason: 'slow', buffered: 10 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect(feed.disconnects().slow_consumer).toBe(1);
    await feed.close();
  });

  it('a client that stops reading with its buffer between half and full is ended as slow too (no catch-up page fits, no live event either)', async () => {
    const g = growingLog(() => 0);
    for (let i = 0; i < 5_000; i++) g.append();
    // Catch-up pages of 500 fill a buffer of 2,000 to 1,500: more than half (no room for a page), not full.
    const feed = createEventFeed({ read: g.read, pollMs: 5, bufferEvents: 2_000, slowAfterMs: 200, logger: silentLogger() });
    const sub = feed.subscribe({ after: 0 });
    const ended = await Promise.race([sub.ended, new Promise((r) => setTimeout(() => r('still connected'), 5_000))]);
    expect(ended).toMatchObject({ reason: 'slow', buffered: 1_500 });
    expect(feed.size).toBe(0);
    await feed.close();
  });

  it('a client still catching up when retention passes its position is ended as expired', async () => {
    const g = growingLog(() => 0);
    for (let i = 0; i < 50; i++) g.append();
    const feed = createEventFeed({ read: g.read, pollMs: 1, bufferEvents: 10, slowAfterMs: 60_000, logger: silentLogger() });
    const sub = feed.subscribe({ after: 0 });
    // Its first page (5 events, half its buffer) is read; then retention deletes up to 30.
    const first = await sub.next(2_000);
    expect('events' in first && first.events.map((e) => e.position)).toEqual([1, 2, 3, 4, 5]);
    g.prune(30);
    expect(await take(sub, 50)).toMatchObject({ end: 'expired' });
    expect(feed.size).toBe(0);
    feed.close();
  });
});
