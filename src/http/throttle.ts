/**
 * Throttles failures per key (a client address): after `limit` failures inside one window, the key
 * is refused until that window ends. Only failures count, so a client that authenticates is never
 * slowed down, and a guesser gets `limit` tries a minute from one address instead of thousands a
 * second.
 *
 * Memory is bounded: at most `maxKeys` keys are tracked; failures of keys past that share one
 * overflow key, so an attacker with many addresses still gets `limit` tries per window over all
 * the untracked ones together, never an unbounded map and never a fresh budget per address.
 */
import type { Clock } from '../clock.js';

export interface FailureThrottleOptions {
  clock: Clock;
  /** Failures allowed per key and window; the next attempt is refused until the window ends. */
  limit: number;
  /** Length of one window; it starts at the key's first failure. */
  windowMs?: number;
  /** Keys tracked at once; failures of keys past it share the overflow key. */
  maxKeys?: number;
}

export interface FailureThrottle {
  /** Whole seconds until `key` may try again (at least 1), or 0 when it may try now. */
  blockedForSeconds(key: string): number;
  /** Counts one failure of `key`. */
  recordFailure(key: string): void;
  /** Keys tracked now (bounded by `maxKeys` + the overflow key). */
  size(): number;
}

/** The key failures of untracked clients share once the map is full; not a possible address. */
export const OVERFLOW_KEY = '(other addresses)';
const DEFAULT_WINDOW_MS = 60_000;
const DEFAULT_MAX_KEYS = 10_000;

interface Window {
  startedMs: number;
  failures: number;
}

/** Creates a throttle over the injected clock; it holds no timer (expired windows go lazily). */
export function createFailureThrottle(options: FailureThrottleOptions): FailureThrottle {
  const { clock, limit } = options;
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  // Insertion order is window-start order (a window that ends is deleted, a new one appended), so
  // the expired windows are always at the front: sweeping costs only what it removes.
  const windows = new Map<string, Window>();

  const sweep = (nowMs: number) => {
    for (const [key, w] of windows) {
      if (nowMs - w.startedMs < windowMs) break;
      windows.delete(key);
    }
  };
  const slot = (key: string) => (windows.has(key) || windows.size < maxKeys ? key : OVERFLOW_KEY);

  return {
    blockedForSeconds(key) {
      const nowMs = clock.now().getTime();
      sweep(nowMs);
      const w = windows.get(slot(key));
      if (!w || w.failures < limit) return 0;
      return Math.max(1, Math.ceil((w.startedMs + windowMs - nowMs) / 1000));
    },
    recordFailure(key) {
      const nowMs = clock.now().getTime();
      sweep(nowMs);
      const k = slot(key);
      const w = windows.get(k);
      if (w) w.failures += 1;
      else windows.set(k, { startedMs: nowMs, failures: 1 });
    },
    size: () => windows.size,
  };
}
