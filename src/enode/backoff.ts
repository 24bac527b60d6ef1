/**
 * Retry timing rules, pure: no clock, no randomness of their own (both are passed in) so that the
 * schedules can be tested exactly.
 */

export interface BackoffOptions {
  /** Ceiling of the first retry's delay, ms. */
  baseMs: number;
  /** No delay ever exceeds this, ms. */
  maxMs: number;
  /** Uniform source in [0, 1); `Math.random` in production, a constant in tests. */
  random: () => number;
}

/**
 * Delay before retry number `attempt` (1 = the first retry): exponential growth with "full jitter"
 * — uniform in [0, min(maxMs, baseMs · 2^(attempt-1))]. Full jitter spreads the retries of many
 * callers hit by the same outage instead of having them return in lockstep (AWS architecture blog,
 * "Exponential Backoff And Jitter").
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions): number {
  const { baseMs, maxMs, random } = options;
  const n = Math.max(1, Math.floor(attempt));
  // 2 ** large → Infinity, which Math.min then caps: no overflow handling needed.
  const ceiling = Math.max(0, Math.min(maxMs, baseMs * 2 ** (n - 1)));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(r * ceiling);
}

/** Longest wait a `Retry-After` header may impose unless the caller says otherwise. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, relative to
 * `now`. Undefined when absent or unparsable; never negative; clamped to `maxMs` so that a server
 * (or a bug) cannot park a job for hours.
 */
export function retryAfterMs(header: string | null | undefined, now: Date, maxMs: number = DEFAULT_MAX_RETRY_AFTER_MS): number | undefined {
  if (header === null || header === undefined) return undefined;
  const value = header.trim();
  if (value === '') return undefined;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(value)) {
    ms = Number(value) * 1000;
  } else {
    // Date.parse reads nearly anything ("-5" becomes a date in 2001); every HTTP-date form names
    // its month, so demand letters before trusting it.
    if (!/[a-z]{3}/i.test(value)) return undefined;
    const at = Date.parse(value);
    if (Number.isNaN(at)) return undefined;
    ms = at - now.getTime();
  }
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(maxMs, Math.max(0, Math.round(ms)));
}

/** Statuses worth another attempt: the server is overloaded or broken, not the request. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

export interface RetryDelayInput extends BackoffOptions {
  /** Retry number, 1 = the first retry. */
  attempt: number;
  /** The `Retry-After` header of the failed response, if any. */
  retryAfterHeader?: string | null;
  now: Date;
  maxRetryAfterMs?: number;
}

/**
 * How long to wait before the next attempt: the server's `Retry-After` when it gave one (it knows
 * its own load better than we do), otherwise jittered exponential backoff.
 */
export function retryDelayMs(input: RetryDelayInput): number {
  const fromServer = retryAfterMs(input.retryAfterHeader, input.now, input.maxRetryAfterMs);
  return fromServer ?? backoffDelayMs(input.attempt, input);
}
