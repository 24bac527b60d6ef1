/**
 * Logs repeated failures (bad signatures, wrong tokens) in aggregate, so hostile traffic cannot
 * flood the log: the first failure of a key in a window is logged at once with its details, the
 * rest are counted and reported as one summary line per key when the window ends.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';

export interface AggregateLogOptions {
  logger: Logger;
  clock: Clock;
  /** The log message of both the first line and the summary (e.g. "rejected webhook delivery"). */
  message: string;
  /** Length of one window; a summary line per key at most this often. */
  windowMs?: number;
  /** Keys tracked at once; failures past it are counted under the key `other`. */
  maxKeys?: number;
}

export interface AggregateLog {
  /** Records one failure under `key` (e.g. the client address); `fields` are logged with the first one. */
  record(key: string, fields?: Record<string, unknown>): void;
  /** Writes the summary lines of every window that has ended (called by `record` and by the timer). */
  flush(): void;
  /** Writes every pending summary now and stops the timer. */
  stop(): void;
}

interface Window {
  startedMs: number;
  suppressed: number;
}

const DEFAULT_WINDOW_MS = 60_000;
const DEFAULT_MAX_KEYS = 1_000;

/** Creates an aggregate log; its timer is unref'd, so it never keeps the process alive. */
export function createAggregateLog(options: AggregateLogOptions): AggregateLog {
  const { logger, clock, message } = options;
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  const windows = new Map<string, Window>();

  const summarize = (key: string, w: Window) => {
    if (w.suppressed > 0) logger.warn({ key, suppressed: w.suppressed, windowSeconds: windowMs / 1000 }, `${message} (repeated)`);
  };

  const flush = () => {
    const nowMs = clock.now().getTime();
    // Insertion order is start order (an ended window is deleted, a new one appended): stop at
    // the first still running, so a failure costs no scan of every tracked key.
    for (const [key, w] of windows) {
      if (nowMs - w.startedMs < windowMs) break;
      summarize(key, w);
      windows.delete(key);
    }
  };

  const timer = setInterval(flush, windowMs);
  timer.unref();

  return {
    record(key, fields = {}) {
      flush();
      const tracked = windows.has(key) || windows.size < maxKeys ? key : 'other';
      const w = windows.get(tracked);
      if (w) {
        w.suppressed += 1;
        return;
      }
      windows.set(tracked, { startedMs: clock.now().getTime(), suppressed: 0 });
      logger.warn({ key: tracked, ...fields }, message);
    },
    flush,
    stop() {
      clearInterval(timer);
      for (const [key, w] of windows) summarize(key, w);
      windows.clear();
    },
  };
}
