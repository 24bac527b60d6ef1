/**
 * The events page's reads: the newest events first, paged backwards, over the store's one read of
 * the log (`events`, oldest first after a position). The store has no backward read, and the
 * dashboard must not grow SQL of its own (SQL lives in the adapters), so a page of the newest
 * events is found by probing windows `(lo, through]` with forward reads: each probe reads at most
 * `limit + 1` rows, and the number of probes grows with the logarithm of the log's length.
 */
import { AppError } from '../errors.js';
import { EVENT_TYPES, type StoredEvent } from '../events/types.js';
import type { EventReads } from '../store/events-read.js';

/** The filters of the page, as the API's `GET /events` takes them. */
export interface EventsPageFilter {
  types?: readonly string[] | undefined;
  deviceId?: string | undefined;
  userId?: string | undefined;
}

export interface NewestEvents {
  /** At most `limit` events at or before `through`, newest first. */
  events: StoredEvent[];
  /** True when older matching events are still kept (the next page has something to show). */
  hasOlder: boolean;
}

type Reads = Pick<EventReads, 'events' | 'eventsPrunedThrough'>;

const TYPE_SHAPE = /^[a-z]+(\.[a-z][a-z_]*)*(\.\*)?$/;

/**
 * The `type` filter as the API reads it: a comma list of known types and prefixes (`device.*`).
 * Anything else is a 400, so that a typo shows an error rather than an empty page.
 */
export function parseTypeFilter(text: string | undefined): string[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  if (text.length > 2000) throw new AppError('BAD_REQUEST', '"type" is too long');
  const types = [...new Set(text.split(',').map((t) => t.trim()).filter((t) => t !== ''))];
  for (const t of types) {
    const known = t.endsWith('.*') ? EVENT_TYPES.some((e) => e.startsWith(t.slice(0, -1))) : (EVENT_TYPES as readonly string[]).includes(t);
    if (!TYPE_SHAPE.test(t) || !known) throw new AppError('BAD_REQUEST', `Unknown event type "${t}": one of ${EVENT_TYPES.join(', ')}, or a prefix such as device.*`);
  }
  return types;
}

/** The matching events in `(lo, through]`: all of them (`complete`), or more than `limit` (`tooMany`). */
async function probe(read: Reads, f: EventsPageFilter, lo: number, through: number, limit: number) {
  const rows = await read.events({ after: lo, types: f.types, deviceId: f.deviceId, userId: f.userId, limit });
  const within = rows.filter((e) => e.position <= through);
  // A full read that ends inside the window may have stopped short of the window's end.
  return { within, tooMany: within.length > limit };
}

/**
 * The newest `limit` events matching `f` at positions up to `through`, newest first.
 *
 * Windows `(lo, through]` are widened (×4) until they hold at least `limit` events or reach
 * what retention kept. A window holding more than `limit` is then narrowed by bisection on `lo`:
 * moving `lo` by one position changes the window's count by at most one, so between a `lo` with
 * more than `limit` events and one with fewer there is a `lo` with exactly `limit`, and bisection
 * finds it. On a log without filters positions are dense, so the first window is usually exact.
 */
export async function newestEvents(read: Reads, f: EventsPageFilter, through: number, limit: number): Promise<NewestEvents> {
  const floor = await read.eventsPrunedThrough();
  const done = async (within: StoredEvent[]): Promise<NewestEvents> => {
    const oldest = within[0];
    if (!oldest) return { events: [], hasOlder: false };
    const first = await read.events({ after: floor, types: f.types, deviceId: f.deviceId, userId: f.userId, limit: 0 });
    return { events: [...within].reverse(), hasOlder: first[0] !== undefined && first[0].position < oldest.position };
  };
  if (through <= floor) return { events: [], hasOlder: false };

  // Widen: `fewer` is a `lo` whose window is known to hold fewer than `limit` events.
  let fewer = through;
  let span = limit;
  let tooMany: number | undefined;
  for (;;) {
    const lo = Math.max(floor, through - span);
    const p = await probe(read, f, lo, through, limit);
    if (p.tooMany) {
      tooMany = lo;
      break;
    }
    if (p.within.length === limit || lo === floor) return done(p.within);
    fewer = lo;
    span *= 4;
  }

  // Narrow: the window after `tooMany` holds more than `limit` events, the one after `fewer` fewer.
  while (fewer - tooMany > 1) {
    const mid = Math.floor((tooMany + fewer) / 2);
    const p = await probe(read, f, mid, through, limit);
    if (p.tooMany) tooMany = mid;
    else if (p.within.length === limit) return done(p.within);
    else fewer = mid;
  }
  // Unreachable by the argument above; kept so a store that breaks it shows a page, not a loop.
  const p = await probe(read, f, fewer, through, limit);
  return done(p.within);
}
