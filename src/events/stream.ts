/**
 * The live feed behind `GET /api/v1/events/stream`: one poller per process reads the log for
 * every connected client, so that a stream shows events written by any replica (the log is the
 * source of truth; nothing is pushed from this process's own writes).
 *
 * Each tick reads what was appended since the feed's `head` (unfiltered, once for all clients)
 * and hands each client the events that match its filter. A client that is behind — it resumed
 * from an older cursor, or its buffer was too full to take more — is caught up from the log with
 * its own filtered reads, a page at a time while its buffer has room, until it reaches the head.
 *
 * Why a client's catch-up may then join the shared reads: every read of the log sees a prefix of
 * it (positions are handed out in commit order on both engines, store/postgres/events.ts), and a
 * catch-up read starts after the tick's shared read has finished, so it sees at least every
 * event up to `head`. A catch-up page that comes back short has therefore covered the log
 * through `head` (and through its own last row, if later), and from there on the shared reads
 * carry the client. Each client remembers that position (`scanned`), not only the last event it
 * was sent, so events its filter skips are not read again.
 *
 * Memory is bounded per client: at most `bufferEvents` events wait to be written. Catch-up reads
 * only while the buffer is at most half full. When live events would overflow it (a burst, or a
 * client reading slower than the log grows), the client stops taking shared events where its
 * buffer filled and is caught up from the log at its own pace: a fast log never disconnects a
 * client that keeps reading. A client whose waiting events stay untaken for `slowAfterMs` (it
 * stopped reading, or its socket does not drain) is ended as `slow` (it resumes with
 * Last-Event-ID, from the log). A catch-up that finds the log pruned past its position ends the
 * client as `expired`.
 */
import type { Logger } from '../logger.js';
import type { EventReads } from '../store/events-read.js';
import type { StoredEvent } from './types.js';

/** What a client asked for: events after `after` that match `types` (exact or `x.*`), `deviceId`, `userId`. */
export interface StreamFilter {
  after: number;
  types?: readonly string[] | undefined;
  deviceId?: string | undefined;
  userId?: string | undefined;
}

/**
 * Why a subscription ended: the client left, the process stops, it read too slowly, retention
 * passed its position, or the dashboard session it was opened with ended (logout, expiry).
 */
export type StreamEnd =
  | { reason: 'closed' }
  | { reason: 'shutdown' }
  | { reason: 'slow'; buffered: number }
  | { reason: 'expired'; prunedThrough: number }
  | { reason: 'logout' };

/** The `reason` label of `enode_sync_event_stream_disconnects_total` for each end. */
export const DISCONNECT_REASONS = { closed: 'client', shutdown: 'shutdown', slow: 'slow_consumer', expired: 'cursor_expired', logout: 'logout' } as const satisfies Record<
  StreamEnd['reason'],
  string
>;

export type DisconnectReason = (typeof DISCONNECT_REASONS)[StreamEnd['reason']];

/** What the writer of one stream gets next: events to write, nothing for a while (write a keep-alive), or the end. */
export type StreamNext = { events: StoredEvent[] } | { idle: true } | { end: StreamEnd };

export interface StreamSubscription {
  /** The next events (all that wait), `idle` after `idleMs` without any, or the end. */
  next(idleMs: number): Promise<StreamNext>;
  /** The client left: stop feeding it. */
  close(): void;
  /** Ends the subscription for `why` (a writer that learnt it must stop, e.g. its session ended). */
  end(why: StreamEnd): void;
  /**
   * Resolves when the subscription ends, whatever the writer is doing: a writer blocked on a
   * client that stopped reading races its write against it, so that the end is not lost behind it.
   */
  readonly ended: Promise<StreamEnd>;
}

export interface EventFeedOptions {
  read: Pick<EventReads, 'events' | 'eventsPrunedThrough' | 'lastEventPosition'>;
  /** How often the log is read while clients are connected. */
  pollMs: number;
  /** Events waiting to be written to one client, at most; past it the client catches up from the log. */
  bufferEvents: number;
  /** A client whose waiting events stay untaken this long is ended as slow (EVENTS_STREAM_SLOW_SECONDS). */
  slowAfterMs: number;
  logger: Logger;
}

export interface EventFeed {
  subscribe(filter: StreamFilter): StreamSubscription;
  /** Clients connected now. */
  readonly size: number;
  /** Subscriptions ended since start, by reason (metrics). */
  disconnects(): Record<DisconnectReason, number>;
  /** Ends every subscription (`shutdown`), stops polling and resolves once the read in flight is done (no read follows). */
  close(): Promise<void>;
}

/** Events read per query: shared pages, and a catch-up page (at most half a buffer). */
const PAGE = 500;
/** Shared pages read in one tick at most; the rest follows at the next tick. */
const MAX_PAGES_PER_TICK = 20;

function matches(f: StreamFilter, e: StoredEvent): boolean {
  if (f.deviceId !== undefined && e.deviceId !== f.deviceId) return false;
  if (f.userId !== undefined && e.userId !== f.userId) return false;
  if (!f.types || f.types.length === 0) return true;
  return f.types.some((t) => (t.endsWith('.*') ? e.type.startsWith(t.slice(0, -1)) : e.type === t));
}

/** One client's state: its filter, how far the log has been scanned for it, its bounded buffer. */
class Subscriber implements StreamSubscription {
  scanned: number;
  private queue: StoredEvent[] = [];
  /** performance.now() when the oldest event waiting was queued (the writer takes all that wait at once). */
  waitingSince = 0;
  endedWhy: StreamEnd | undefined;
  readonly ended: Promise<StreamEnd>;
  private resolveEnded!: (why: StreamEnd) => void;
  private wake: (() => void) | undefined;

  constructor(
    readonly filter: StreamFilter,
    private readonly bufferEvents: number,
    private readonly onClose: (s: Subscriber, why: StreamEnd) => void,
  ) {
    this.scanned = filter.after;
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  get buffered(): number {
    return this.queue.length;
  }

  /** Room for a catch-up page: the buffer is at most half full. */
  get hasRoom(): boolean {
    return this.queue.length <= this.bufferEvents / 2;
  }

  /** The buffer holds `bufferEvents`: nothing more is pushed until the writer takes some. */
  get full(): boolean {
    return this.queue.length >= this.bufferEvents;
  }

  /** Queues `e` for the writer; false (nothing queued) when the buffer is full or the subscription ended. */
  push(e: StoredEvent): boolean {
    if (this.endedWhy || this.full) return false;
    if (this.queue.length === 0) this.waitingSince = performance.now();
    this.queue.push(e);
    this.signal();
    return true;
  }

  end(why: StreamEnd): void {
    if (this.endedWhy) return;
    this.endedWhy = why;
    this.queue = [];
    this.onClose(this, why);
    this.resolveEnded(why);
    this.signal();
  }

  close(): void {
    this.end({ reason: 'closed' });
  }

  async next(idleMs: number): Promise<StreamNext> {
    if (this.queue.length === 0 && !this.endedWhy) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, idleMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    if (this.endedWhy) return { end: this.endedWhy };
    if (this.queue.length === 0) return { idle: true };
    return { events: this.queue.splice(0) };
  }

  private signal(): void {
    this.wake?.();
  }
}

/** The process's feed over the log (one per app; see the top of this file). */
export function createEventFeed(o: EventFeedOptions): EventFeed {
  const subscribers = new Set<Subscriber>();
  const page = Math.max(1, Math.min(PAGE, Math.floor(o.bufferEvents / 2)));
  let head = 0;
  let started = false;
  /** No client was connected for a while: `head` is re-read rather than paged up to from where it was. */
  let stale = false;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  let again = false;
  let closed = false;

  /** Appended since `head`, for everyone; `head` moves to the last one read. */
  async function readShared(): Promise<StoredEvent[]> {
    const fresh: StoredEvent[] = [];
    for (let i = 0; i < MAX_PAGES_PER_TICK && !closed; i++) {
      const rows = await o.read.events({ after: head, limit: PAGE });
      const got = rows.slice(0, PAGE);
      fresh.push(...got);
      if (got.length > 0) head = got[got.length - 1]!.position;
      if (rows.length <= PAGE) break;
    }
    return fresh;
  }

  /** Reads `s`'s events from the log while its buffer has room, until it reaches `head`. */
  async function catchUp(s: Subscriber): Promise<void> {
    while (!s.endedWhy && s.hasRoom && !closed) {
      const from = s.scanned;
      const rows = await o.read.events({ after: from, types: s.filter.types, deviceId: s.filter.deviceId, userId: s.filter.userId, limit: page });
      // Checked after the read: a prune that removed what this read missed has committed by now.
      if (closed) return;
      const prunedThrough = await o.read.eventsPrunedThrough();
      if (prunedThrough > from) return s.end({ reason: 'expired', prunedThrough });
      const got = rows.slice(0, page);
      for (const e of got) s.push(e);
      const last = got.length > 0 ? got[got.length - 1]!.position : from;
      if (rows.length <= page) {
        s.scanned = Math.max(last, head);
        return;
      }
      s.scanned = last;
    }
  }

  async function tick(): Promise<void> {
    if (!started || stale) {
      started = true;
      stale = false;
      head = await o.read.lastEventPosition();
    }
    if (closed) return;
    const before = head;
    const fresh = await readShared();
    const now = performance.now();
    for (const s of [...subscribers]) {
      if (s.endedWhy || closed) continue;
      // Whatever the buffer holds (full, or more than half so that no catch-up page fits either):
      // events nobody took for that long mean the writer is stuck on a client that does not read.
      if (s.buffered > 0 && now - s.waitingSince > o.slowAfterMs) {
        s.end({ reason: 'slow', buffered: s.buffered });
        continue;
      }
      if (s.scanned >= before) {
        // Scanned through each event taken (or skipped by its filter); a full buffer stops it there,
        // and the rest comes by catch-up reads once the writer has taken some.
        let through = true;
        for (const e of fresh) {
          if (e.position <= s.scanned) continue;
          if (matches(s.filter, e) && !s.push(e)) {
            through = false;
            break;
          }
          s.scanned = e.position;
        }
        if (through) s.scanned = Math.max(s.scanned, head);
      } else {
        await catchUp(s);
      }
    }
  }

  /** Runs a tick now, or right after the one running; never two at once. */
  function runTick(): void {
    if (closed) return;
    if (ticking) {
      again = true;
      return;
    }
    ticking = tick()
      .catch((err: unknown) => o.logger.warn({ err }, 'event stream: reading the log failed; retrying at the next poll'))
      .finally(() => {
        ticking = undefined;
        if (again && subscribers.size > 0 && !closed) {
          again = false;
          runTick();
        } else schedule();
      });
  }

  function schedule(): void {
    if (timer || closed || subscribers.size === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      runTick();
    }, o.pollMs);
    // An open stream keeps its connection, not the process, alive.
    timer.unref();
  }

  const disconnects: Record<DisconnectReason, number> = { client: 0, shutdown: 0, slow_consumer: 0, cursor_expired: 0, logout: 0 };
  const remove = (s: Subscriber, why: StreamEnd) => {
    if (subscribers.has(s)) disconnects[DISCONNECT_REASONS[why.reason]] += 1;
    subscribers.delete(s);
    if (subscribers.size > 0) return;
    stale = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
  };

  return {
    subscribe(filter) {
      const s = new Subscriber(filter, o.bufferEvents, remove);
      if (closed) {
        s.end({ reason: 'shutdown' });
        return s;
      }
      subscribers.add(s);
      // A new client is caught up at once, not at the next poll.
      runTick();
      return s;
    },
    get size() {
      return subscribers.size;
    },
    disconnects: () => ({ ...disconnects }),
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      for (const s of [...subscribers]) s.end({ reason: 'shutdown' });
      // A tick in flight finishes its current read and stops there (each step checks `closed`).
      await ticking;
    },
  };
}
