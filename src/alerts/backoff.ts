/**
 * When to try an alert delivery again. Pure: `now` and the random source are passed in, so the
 * schedule is tested exactly.
 */
import { retryAfterMs } from '../enode/backoff.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Delay before retry n (index n-1) after a failed attempt: the Standard Webhooks / Svix-style
 * schedule, about 33 hours in all. After the last retry fails the delivery is dead.
 */
export const RETRY_SCHEDULE_MS: readonly number[] = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];

/** Attempts in all: the first one and one per scheduled retry. */
export const MAX_ATTEMPTS = RETRY_SCHEDULE_MS.length + 1;

/** Each delay is spread by up to ±10 %, so that alerts failed together do not return together. */
export const JITTER_RATIO = 0.1;

/** The longest `Retry-After` a receiver may impose. */
export const MAX_RETRY_AFTER_MS = 24 * HOUR;

export type RetryPlan = { status: 'pending'; nextAttemptAtMs: number } | { status: 'dead' };

export interface RetryInput {
  /** Attempts made so far, the failed one included (1 after the first failure). */
  attempts: number;
  /** When the failed attempt ended. */
  nowMs: number;
  /** Uniform in [0, 1): `Math.random` in production. */
  random: () => number;
  /** The receiver's `Retry-After`, already parsed (see `parseRetryAfter`). */
  retryAfterMs?: number | undefined;
}

/**
 * Plans what follows a failed attempt: the next try on the schedule, jittered, and never sooner
 * than the receiver's `Retry-After` (it knows its own state; the schedule is our floor); or
 * `dead` once every attempt is spent.
 */
export function planRetry(input: RetryInput): RetryPlan {
  const attempts = Math.max(1, Math.floor(input.attempts));
  const base = RETRY_SCHEDULE_MS[attempts - 1];
  if (base === undefined) return { status: 'dead' };
  const r = Math.min(1, Math.max(0, input.random()));
  const jittered = Math.round(base * (1 + JITTER_RATIO * (2 * r - 1)));
  const wait = Math.max(jittered, Math.min(MAX_RETRY_AFTER_MS, input.retryAfterMs ?? 0));
  return { status: 'pending', nextAttemptAtMs: input.nowMs + wait };
}

/** Parses a `Retry-After` header (seconds or an HTTP-date), capped at MAX_RETRY_AFTER_MS. */
export function parseRetryAfter(header: string | null | undefined, now: Date): number | undefined {
  return retryAfterMs(header, now, MAX_RETRY_AFTER_MS);
}
