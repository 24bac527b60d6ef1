/**
 * The library's `events()`: async iterators over the event log, paged by cursor like
 * `GET /api/v1/events` (same envelope, same type filter with `x.*` prefixes), that wait for new
 * events by reading the log every `pollMs`. Every read sees a prefix of the log (positions are
 * handed out in commit order on both engines), so paging after the last event read misses none.
 */
import { presentEvent } from '../api/events-routes.js';
import { decodeEventCursor, encodeEventCursor } from '../events/cursor.js';
import { EVENT_TYPES } from '../events/types.js';
import type { ReadStore } from '../store/read.js';
import type { EnodeSyncEvent } from './event-types.js';

export interface EventsOptions {
  /**
   * Resume after this event (its `id`, a cursor): if retention deletes events after it before they
   * are read, the iterator throws EventCursorExpiredError. Omitted: from the oldest event
   * retention keeps, following retention (events it deletes before they are read are skipped).
   */
  after?: string | undefined;
  /** Exact types and prefixes such as `device.*`; omitted or empty: every type. */
  types?: readonly string[] | undefined;
  /** Only the events of this device. */
  deviceId?: string | undefined;
  /** Only the events of this Enode user. */
  userId?: string | undefined;
}

/** Retention deleted events after the cursor: resume from `oldestCursor` and resync what was missed. */
export class EventCursorExpiredError extends Error {
  override name = 'EventCursorExpiredError';
  readonly code = 'CURSOR_EXPIRED';
  constructor(readonly oldestCursor: string) {
    super(`Events after this cursor were deleted by retention (retentionDays); resume from ${oldestCursor} and resync what was missed`);
  }
}

export interface EventLog {
  /** An iterator over the log; it waits for new events and ends when the log is closed or the consumer breaks out. */
  events(options?: EventsOptions): AsyncIterableIterator<EnodeSyncEvent>;
  /** Ends every iterator (a pending `next()` resolves as done) and waits for the reads in flight. */
  close(): Promise<void>;
}

const TYPE_FILTER = /^[a-z]+(\.[a-z][a-z_]*)*(\.\*)?$/;
/** Events read per query. */
const PAGE = 100;

/** The types to filter on, each a known type or a prefix of one; anything else throws (a typo must not silently match nothing). */
function checkTypes(types: readonly string[] | undefined): string[] | undefined {
  if (types === undefined || types.length === 0) return undefined;
  for (const t of types) {
    const known = t.endsWith('.*') ? EVENT_TYPES.some((e) => e.startsWith(t.slice(0, -1))) : (EVENT_TYPES as readonly string[]).includes(t);
    if (!TYPE_FILTER.test(t) || !known) throw new TypeError(`Unknown event type "${t}" in types: one of ${EVENT_TYPES.join(', ')}, or a prefix such as device.*`);
  }
  return [...types];
}

function checkCursor(after: string | undefined): number | undefined {
  if (after === undefined || after === '') return undefined;
  const position = decodeEventCursor(after);
  if (position === undefined) throw new TypeError(`Invalid cursor "${after}" in after: pass the id of the last event read unchanged`);
  return position;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The event log over `read`, polled every `pollMs` while an iterator waits. */
export function createEventLog(read: Pick<ReadStore, 'events' | 'eventsPrunedThrough'>, pollMs: number): EventLog {
  const closing = new AbortController();
  const inFlight = new Set<Promise<unknown>>();

  /** A read that close() waits for before the storage under it goes away. */
  const tracked = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    const forget = () => inFlight.delete(p);
    p.then(forget, forget);
    return p;
  };

  /** Throws when retention has deleted events after `position` (the mark only moves forward, so a check after a read covers it). */
  const assertKept = async (position: number) => {
    const prunedThrough = await tracked(read.eventsPrunedThrough());
    if (position < prunedThrough) throw new EventCursorExpiredError(encodeEventCursor(prunedThrough));
  };

  /** A read, or undefined when close() cut it short (its storage is closing): the iterator then ends quietly. */
  const unlessClosed = async <T>(reading: () => Promise<T>): Promise<T | undefined> => {
    if (closing.signal.aborted) return undefined;
    try {
      return await reading();
    } catch (err) {
      if (closing.signal.aborted) return undefined;
      throw err;
    }
  };

  async function* iterate(start: number | undefined, filter: Omit<EventsOptions, 'after'>): AsyncGenerator<EnodeSyncEvent, void, undefined> {
    // From the oldest kept (no cursor given), the iterator follows retention: what it deletes
    // before being read is simply not there to read. From a cursor, a prune past it is an error:
    // the consumer asked for every event after it.
    const follow = start === undefined;
    let position = await unlessClosed(async () => {
      if (start === undefined) return tracked(read.eventsPrunedThrough());
      await assertKept(start);
      return start;
    });
    while (position !== undefined) {
      const after: number = position;
      const rows = await unlessClosed(async () => {
        const page = await tracked(read.events({ after, types: filter.types, deviceId: filter.deviceId, userId: filter.userId, limit: PAGE }));
        if (!follow) await assertKept(after);
        return page;
      });
      if (rows === undefined) return;
      for (const row of rows.slice(0, PAGE)) {
        if (closing.signal.aborted) return;
        position = row.position;
        yield presentEvent(row) as EnodeSyncEvent;
      }
      if (rows.length <= PAGE) await pause(pollMs, closing.signal);
      if (closing.signal.aborted) return;
    }
  }

  return {
    events(options = {}) {
      // Checked here, so that a bad argument throws at the call rather than at the first next().
      const types = checkTypes(options.types);
      const start = checkCursor(options.after);
      return iterate(start, { types, deviceId: options.deviceId, userId: options.userId });
    },
    async close() {
      closing.abort();
      await Promise.allSettled([...inFlight]);
    },
  };
}
