/**
 * The library's events() under retention: an iterator started without a cursor reads from the
 * oldest kept event and follows retention when it prunes ahead of it; one given a cursor throws
 * EventCursorExpiredError (the 410 of the HTTP feed) once retention passed that cursor.
 */
import { expect, it } from 'vitest';
import { EventCursorExpiredError, createEventLog } from '../../src/embed/events.js';
import { encodeEventCursor } from '../../src/events/cursor.js';
import type { StoredEvent } from '../../src/events/types.js';
import type { EventFilter } from '../../src/store/events-read.js';

function logOf(n: number) {
  const state = { prunedThrough: 0 };
  const rows: StoredEvent[] = Array.from({ length: n }, (_, i) => ({
    position: i + 1,
    type: 'device.updated',
    occurredAtMs: 0,
    recordedAtMs: 0,
    deviceId: `d${i + 1}`,
    userId: null,
    // A payload as the log writes it (every event read in tests is checked against its schema).
    data: JSON.stringify({
      device: { id: `d${i + 1}`, type: 'vehicle', userId: 'u1', vendor: null, lastSeen: null, isReachable: null, controlled: {}, snapshot: {}, deletedAt: null },
      changes: [],
    }),
  }));
  return {
    state,
    read: {
      async events(f: EventFilter) {
        return rows.filter((r) => r.position > (f.after ?? 0) && r.position > state.prunedThrough).slice(0, f.limit + 1);
      },
      async eventsPrunedThrough() {
        return state.prunedThrough;
      },
    },
  };
}

it('without a cursor it follows retention: a prune ahead of the iterator skips what it deleted, without an error', async () => {
  const { state, read } = logOf(300);
  const log = createEventLog(read, 10);
  const seen: string[] = [];
  for await (const e of log.events()) {
    seen.push(e.deviceId!);
    // Retention runs while the consumer is on the first page: it deletes through event 150.
    if (e.deviceId === 'd2') state.prunedThrough = 150;
    if (e.deviceId === 'd300') break;
  }
  await log.close();
  // The first page (100 events) was read before the prune; the next read starts past the mark.
  expect(seen.slice(0, 100)).toEqual(Array.from({ length: 100 }, (_, i) => `d${i + 1}`));
  expect(seen.slice(100)).toEqual(Array.from({ length: 150 }, (_, i) => `d${i + 151}`));
});

it('with a cursor, a prune past it is EventCursorExpiredError naming the oldest cursor kept', async () => {
  const { state, read } = logOf(300);
  const log = createEventLog(read, 10);
  const seen: string[] = [];
  const reading = (async () => {
    for await (const e of log.events({ after: encodeEventCursor(0) })) {
      seen.push(e.deviceId!);
      if (e.deviceId === 'd2') state.prunedThrough = 150;
    }
  })();
  const err = await reading.then(
    () => undefined,
    (e: unknown) => e,
  );
  await log.close();
  expect(err).toBeInstanceOf(EventCursorExpiredError);
  expect((err as EventCursorExpiredError).oldestCursor).toBe(encodeEventCursor(150));
  expect(seen).toHaveLength(100);
});
