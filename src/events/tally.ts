/**
 * Counts the events appended to the log by type, for `enode_sync_events_appended_total`: at each
 * scrape it reads what was appended since the last one (a bounded number of pages; the rest
 * follows at the next scrape). Reading the log counts only committed events, by any writer — on
 * Postgres every replica sees the same log, so each replica's counter counts every replica's
 * events. It starts at the end of the log at the first scrape, as a counter starts at zero.
 */
import { EVENT_TYPES } from './types.js';
import type { EventReads } from '../store/events-read.js';

export interface EventTally {
  /** Reads what was appended since the last call (bounded), then the counts since the first call, by type. */
  counts(): Promise<ReadonlyMap<string, number>>;
}

const KNOWN: ReadonlySet<string> = new Set(EVENT_TYPES);

export function createEventTally(read: Pick<EventReads, 'eventTypes' | 'lastEventPosition'>, options: { pageSize?: number; maxPages?: number } = {}): EventTally {
  const pageSize = options.pageSize ?? 500;
  const maxPages = options.maxPages ?? 20;
  const counts = new Map<string, number>();
  let position: number | undefined;
  let reading: Promise<void> | undefined;

  async function advance(): Promise<void> {
    if (position === undefined) {
      position = await read.lastEventPosition();
      return;
    }
    for (let i = 0; i < maxPages; i++) {
      // Position and type only: the events' data (and the snapshots they reference) is not read.
      const rows = await read.eventTypes(position, pageSize);
      for (const row of rows) {
        // Types come from our own writers; anything else (a newer writer's type) is one label, not many.
        const type = KNOWN.has(row.type) ? row.type : 'other';
        counts.set(type, (counts.get(type) ?? 0) + 1);
        position = row.position;
      }
      if (rows.length < pageSize) return;
    }
  }

  return {
    async counts() {
      // Concurrent scrapes share one read.
      reading ??= advance().finally(() => {
        reading = undefined;
      });
      await reading;
      return counts;
    },
  };
}
