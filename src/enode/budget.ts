import type { Clock } from '../clock.js';

export interface TokenBucketOptions {
  /** Most requests that may go out in a burst. */
  capacity: number;
  /** Sustained rate, requests per second. */
  refillPerSecond: number;
}

/** Sleeps for the given milliseconds; injected so tests never wait for real. */
export type Sleep = (ms: number) => Promise<void>;

// Float arithmetic on refills leaves crumbs like 150.00000000000003 ms; ignore anything this small.
const EPSILON = 1e-9;

/**
 * A token bucket on an injected clock: the request budget that every job calling Enode shares, so
 * that a resync walking thousands of devices cannot starve the gateway or trip Enode's limits.
 * Starts full. Time read from the clock; nothing happens between calls.
 */
export class TokenBucket {
  private tokens: number;
  private lastRefillMs: number;
  readonly capacity: number;
  readonly refillPerSecond: number;

  constructor(
    options: TokenBucketOptions,
    private readonly clock: Clock,
  ) {
    if (!(options.capacity >= 1) || !Number.isFinite(options.capacity)) throw new Error('TokenBucket capacity must be a finite number ≥ 1');
    if (!(options.refillPerSecond > 0) || !Number.isFinite(options.refillPerSecond)) {
      throw new Error('TokenBucket refillPerSecond must be a finite number > 0');
    }
    this.capacity = options.capacity;
    this.refillPerSecond = options.refillPerSecond;
    this.tokens = options.capacity;
    this.lastRefillMs = clock.now().getTime();
  }

  private refill(): void {
    const now = this.clock.now().getTime();
    // A clock stepping backwards (NTP) must neither mint nor burn tokens.
    if (now <= this.lastRefillMs) return;
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.lastRefillMs) * this.refillPerSecond) / 1000);
    this.lastRefillMs = now;
  }

  /** Takes one token if there is one; never waits. */
  tryTake(): boolean {
    this.refill();
    if (this.tokens + EPSILON < 1) return false;
    this.tokens = Math.max(0, this.tokens - 1);
    return true;
  }

  /** Milliseconds until one token is available (0 when one is available now). */
  msUntilAvailable(): number {
    this.refill();
    const missing = 1 - this.tokens;
    if (missing <= EPSILON) return 0;
    return Math.ceil((missing * 1000) / this.refillPerSecond - EPSILON);
  }

  /**
   * Takes one token, sleeping until the bucket has refilled enough. Each wait is exactly as long as
   * the refill needs (at least 1 ms), so waiting callers never spin.
   */
  async take(sleep: Sleep): Promise<void> {
    while (!this.tryTake()) {
      await sleep(Math.max(1, this.msUntilAvailable()));
    }
  }
}
