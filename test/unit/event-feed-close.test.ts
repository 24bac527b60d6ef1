/**
 * The shared event feed's close(): it ends every client as `shutdown` and resolves only once the
 * read in flight has finished, and no read of the log follows it (the storage under the feed may
 * close right after).
 */
import { expect, it } from 'vitest';
import { createEventFeed } from '../../src/events/stream.js';
import type { StoredEvent } from '../../src/events/types.js';
import { silentLogger } from '../../src/logger.js';

it('close() waits for the tick in flight, and no query follows it', async () => {
  const queries: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const read = {
    async lastEventPosition() {
      queries.push('lastEventPosition');
      await held;
      return 0;
    },
    async events(): Promise<StoredEvent[]> {
      queries.push('events');
      return [];
    },
    async eventsPrunedThrough() {
      queries.push('eventsPrunedThrough');
      return 0;
    },
  };
  const feed = createEventFeed({ read, pollMs: 5, bufferEvents: 10, slowAfterMs: 60_000, logger: silentLogger() });
  const sub = feed.subscribe({ after: 0 });
  await expect.poll(() => queries).toEqual(['lastEventPosition']);

  let closed = false;
  const closing = feed.close().then(() => (closed = true));
  expect(await sub.next(1_000)).toEqual({ end: { reason: 'shutdown' } });
  await new Promise((r) => setTimeout(r, 20));
  expect(closed).toBe(false);
  release();
  await closing;
  // The tick stopped after its read: nothing was asked of the log after close().
  expect(queries).toEqual(['lastEventPosition']);
  await new Promise((r) => setTimeout(r, 30));
  expect(queries).toEqual(['lastEventPosition']);
  expect(feed.disconnects()).toMatchObject({ shutdown: 1, client: 0 });
});

it('counts each ending once by its reason', async () => {
  const read = { events: async () => [], eventsPrunedThrough: async () => 0, lastEventPosition: async () => 0 };
  const feed = createEventFeed({ read, pollMs: 5, bufferEvents: 10, slowAfterMs: 60_000, logger: silentLogger() });
  const a = feed.subscribe({ after: 0 });
  const b = feed.subscribe({ after: 0 });
  a.close();
  a.close();
  b.end({ reason: 'logout' });
  expect(await b.ended).toEqual({ reason: 'logout' });
  expect(feed.size).toBe(0);
  await feed.close();
  expect(feed.disconnects()).toEqual({ client: 1, shutdown: 0, slow_consumer: 0, cursor_expired: 0, logout: 1 });
});
