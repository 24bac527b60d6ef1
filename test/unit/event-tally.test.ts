import { describe, expect, it } from 'vitest';
import { createEventTally } from '../../src/events/tally.js';

/** A log in memory: positions 1.., types as given; reads count how many rows they returned. */
function log(types: string[]) {
  const rows = types.map((type, i) => ({ position: i + 1, type }));
  const reads: number[] = [];
  return {
    rows,
    reads,
    read: {
      lastEventPosition: async () => rows.length,
      eventTypes: async (after: number, limit: number) => {
        const page = rows.filter((r) => r.position > after).slice(0, limit);
        reads.push(page.length);
        return page;
      },
    },
  };
}

describe('event tally (enode_sync_events_appended_total)', () => {
  it('starts at the end of the log, then counts each appended event once across pages, and unknown types as other', async () => {
    const l = log(['device.updated', 'device.updated']);
    const tally = createEventTally(l.read, { pageSize: 2, maxPages: 10 });
    expect([...(await tally.counts())]).toEqual([]);
    l.rows.push(...['device.updated', 'action.updated', 'device.updated', 'x.future', 'device.updated'].map((type, i) => ({ position: 3 + i, type })));
    expect(Object.fromEntries(await tally.counts())).toEqual({ 'device.updated': 3, 'action.updated': 1, other: 1 });
    // Pages of 2, 2 and 1: the short page ends the read.
    expect(l.reads).toEqual([2, 2, 1]);
    expect(Object.fromEntries(await tally.counts())).toEqual({ 'device.updated': 3, 'action.updated': 1, other: 1 });
  });

  it('reads at most maxPages a scrape; the rest is counted at the next one', async () => {
    const l = log([]);
    const tally = createEventTally(l.read, { pageSize: 2, maxPages: 2 });
    await tally.counts();
    l.rows.push(...Array.from({ length: 7 }, (_, i) => ({ position: i + 1, type: 'device.updated' })));
    expect((await tally.counts()).get('device.updated')).toBe(4);
    expect((await tally.counts()).get('device.updated')).toBe(7);
  });
});
