/**
 * What `/ui/events` shows for its query: the filters read as the API reads them, a page of the
 * newest matching events before `before`, the links to older and newest pages, and on the newest
 * page the URL of its live tail.
 */
import { presentEvent } from '../api/events-routes.js';
import { AppError } from '../errors.js';
import { decodeEventCursor, encodeEventCursor } from '../events/cursor.js';
import { EVENT_TYPES } from '../events/types.js';
import type { EventReads } from '../store/events-read.js';
import { newestEvents, parseTypeFilter } from './events-query.js';
import { query } from './layout.js';
import type { EventsPageData } from './pages/events.js';

/** Rows per page: each carries its envelope (a device event holds the whole device), so pages stay small. */
export const EVENTS_PER_PAGE = 50;

/** Every type, then each prefix that groups more than one, for the type field's suggestions. */
const TYPE_CHOICES = (() => {
  const heads = EVENT_TYPES.map((t) => t.split('.')[0] as string);
  const shared = [...new Set(heads.filter((h, i) => heads.indexOf(h) !== i))].map((h) => `${h}.*`);
  return [...shared, ...EVENT_TYPES];
})();

function idFilter(name: string, raw: string | undefined): string | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  if (value.length > 200) throw new AppError('BAD_REQUEST', `Invalid "${name}": at most 200 characters`);
  return value;
}

/** The position a `before` cursor stops at (exclusive), or undefined for the newest page. */
function beforePosition(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const position = decodeEventCursor(raw);
  if (position === undefined || position < 1) throw new AppError('BAD_REQUEST', 'Invalid "before" cursor: follow the "older events" link as it is');
  return position;
}

/** The events page's data for the query parameters `param` returns. */
export async function eventsPage(read: Pick<EventReads, 'events' | 'eventsPrunedThrough' | 'lastEventPosition'>, param: (name: string) => string | undefined): Promise<EventsPageData> {
  const types = parseTypeFilter(param('type'));
  const filter = { type: types?.join(','), deviceId: idFilter('deviceId', param('deviceId')), userId: idFilter('userId', param('userId')) };
  const before = beforePosition(param('before'));
  // The newest page reads where the log ends first: its live tail starts there, so an event
  // committed while the page is read shows once, in the tail, and none falls between the two.
  const head = before === undefined ? await read.lastEventPosition() : undefined;
  const page = await newestEvents(read, { types, deviceId: filter.deviceId, userId: filter.userId }, head ?? (before as number) - 1, EVENTS_PER_PAGE);
  const oldest = page.events[page.events.length - 1];
  return {
    events: page.events.map(presentEvent),
    filter,
    older: page.hasOlder && oldest ? `/ui/events${query({ ...filter, before: encodeEventCursor(oldest.position) })}` : null,
    newest: head === undefined ? `/ui/events${query(filter)}` : null,
    stream: head !== undefined ? `/ui/events/stream${query({ ...filter, after: encodeEventCursor(head) })}` : null,
    typeChoices: TYPE_CHOICES,
    pruned: (await read.eventsPrunedThrough()) > 0,
  };
}
