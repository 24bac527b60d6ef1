import type { Clock } from '../clock.js';

export interface TimerHandle {
  readonly id: number;
}

interface Timer extends TimerHandle {
  at: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Simulated time. Nothing in the simulator reads the wall clock for world behaviour: timers are
 * kept in sim milliseconds and fire, in order, only when someone advances the clock — tests by
 * hand, the CLI from a wall-clock interval multiplied by the time scale.
 */
export class SimClock implements Clock {
  private ms: number;
  private timers: Timer[] = [];
  private nextId = 1;

  constructor(start: Date | string | number) {
    this.ms = new Date(start).getTime();
    if (!Number.isFinite(this.ms)) throw new Error(`SimClock: invalid start time ${String(start)}`);
  }

  now(): Date {
    return new Date(this.ms);
  }

  nowMs(): number {
    return this.ms;
  }

  iso(): string {
    return new Date(this.ms).toISOString();
  }

  /** Runs `fn` when sim time reaches `at` (ms since epoch); a past `at` fires on the next advance. */
  at(at: number, fn: () => void): TimerHandle {
    const timer: Timer = { id: this.nextId++, at: Math.max(at, this.ms), fn, cancelled: false };
    // Keep sorted by (at, id): insert after every timer due at or before `at`.
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.timers[mid] as Timer).at <= timer.at) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, timer);
    return timer;
  }

  after(ms: number, fn: () => void): TimerHandle {
    return this.at(this.ms + ms, fn);
  }

  /** Runs `fn` every `intervalMs` of sim time, first after one interval. */
  every(intervalMs: number, fn: () => void): { cancel(): void } {
    if (!(intervalMs > 0)) throw new Error('SimClock.every: interval must be > 0');
    let handle: TimerHandle | null = null;
    let stopped = false;
    const arm = (at: number) => {
      handle = this.at(at, () => {
        if (stopped) return;
        arm(at + intervalMs);
        fn();
      });
    };
    arm(this.ms + intervalMs);
    return {
      cancel: () => {
        stopped = true;
        if (handle) this.cancel(handle);
      },
    };
  }

  cancel(handle: TimerHandle | null | undefined): void {
    if (!handle) return;
    const timer = handle as Timer;
    timer.cancelled = true;
    const i = this.timers.indexOf(timer);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /** Sim time of the next timer, if any. */
  nextTimerAt(): number | undefined {
    return this.timers[0]?.at;
  }

  pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward to `target`, firing every due timer at its own time, in order. */
  advanceTo(target: number): void {
    if (target < this.ms) return;
    for (;;) {
      const first = this.timers[0];
      if (!first || first.at > target) break;
      this.timers.shift();
      this.ms = Math.max(this.ms, first.at);
      if (!first.cancelled) first.fn();
    }
    this.ms = target;
  }

  advance(ms: number): void {
    if (ms < 0) throw new Error('SimClock.advance: negative duration');
    this.advanceTo(this.ms + ms);
  }
}
