import { decodeCursor, encodeCursor } from '../api/pagination.js';
import { AppError } from '../errors.js';
import { timelineCursor, timelinePage, type TimelineEntry } from '../reconcile/timeline.js';
import type { ReadStore } from '../store/read.js';
import type { TimelineWindow } from './timeline-svg.js';

/** Entries on one dashboard device page: a long history is paged, never drawn whole. */
export const DEVICE_PAGE_ENTRIES = 500;

/** One page of a device's timeline for the dashboard. */
export interface DeviceTimelineSlice {
  entries: TimelineEntry[];
  /** What the drawing spans: the window, ending at the page's last entry when later entries follow. */
  drawWindow: TimelineWindow;
  /** `after` of the next page (opaque, as the API's `pagination.after`); null on the last. */
  next: string | null;
}

/**
 * The device page's entries within `window`, `DEVICE_PAGE_ENTRIES` at a time after `after` (the
 * previous page's `next`); a bad cursor is a 400. Bounded whatever the device's history holds.
 */
export async function deviceTimelineSlice(
  read: Pick<ReadStore, 'timelinePage'>,
  deviceId: string,
  window: TimelineWindow,
  after: string | undefined,
  limit = DEVICE_PAGE_ENTRIES,
): Promise<DeviceTimelineSlice> {
  if (after !== undefined && after.length > 2000) throw new AppError('BAD_REQUEST', 'Invalid "after" cursor: pass back the link as it is');
  const cursor = timelineCursor(after ? decodeCursor(after) : undefined);
  const fromMs = cursor ? Math.max(window.fromMs, cursor[0]) : window.fromMs;
  const page = await timelinePage(read, deviceId, { sinceMs: window.fromMs, untilMs: window.untilMs, after: cursor, limit });
  const lastMs = page.next ? page.next[0] : window.untilMs;
  return {
    entries: page.entries.map((e) => e.entry),
    drawWindow: { fromMs, untilMs: Math.max(lastMs, fromMs + 1) },
    next: page.next ? encodeCursor(page.next) : null,
  };
}
