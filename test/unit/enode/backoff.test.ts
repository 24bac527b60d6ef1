import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, isRetryableStatus, retryAfterMs, retryDelayMs } from '../../../src/enode/backoff.js';

const NOW = new Date('2025-03-01T12:00:00.000Z');

describe('backoffDelayMs', () => {
  it('doubles the ceiling per attempt, starting at baseMs', () => {
    const top = { baseMs: 100, maxMs: 10_000, random: () => 1 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, top))).toEqual([100, 200, 400, 800, 1600]);
  });

  it('never exceeds maxMs, even for absurd attempt numbers', () => {
    const top = { baseMs: 100, maxMs: 1_000, random: () => 1 };
    expect(backoffDelayMs(5, top)).toBe(1_000);
    expect(backoffDelayMs(10_000, top)).toBe(1_000);
  });

  it('applies full jitter: the random draw scales the ceiling', () => {
    expect(backoffDelayMs(3, { baseMs: 100, maxMs: 10_000, random: () => 0 })).toBe(0);
    expect(backoffDelayMs(3, { baseMs: 100, maxMs: 10_000, random: () => 0.25 })).toBe(100);
    expect(backoffDelayMs(3, { baseMs: 100, maxMs: 10_000, random: () => 0.5 })).toBe(200);
  });

  it('stays within [0, min(maxMs, baseMs·2^(n-1))] for any attempt and draw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (n, r) => {
        const d = backoffDelayMs(n, { baseMs: 250, maxMs: 20_000, random: () => r });
        return d >= 0 && d <= Math.min(20_000, 250 * 2 ** (n - 1));
      }),
    );
  });

  it('treats attempt 0 or below as the first retry', () => {
    expect(backoffDelayMs(0, { baseMs: 100, maxMs: 1_000, random: () => 1 })).toBe(100);
  });
});

describe('retryAfterMs', () => {
  it('reads delay-seconds', () => {
    expect(retryAfterMs('3', NOW)).toBe(3_000);
    expect(retryAfterMs(' 0 ', NOW)).toBe(0);
    expect(retryAfterMs('1.5', NOW)).toBe(1_500);
  });

  it('reads an HTTP-date relative to now', () => {
    expect(retryAfterMs('Sat, 01 Mar 2025 12:00:10 GMT', NOW)).toBe(10_000);
  });

  it('never returns a negative delay for a date in the past', () => {
    expect(retryAfterMs('Sat, 01 Mar 2025 11:59:00 GMT', NOW)).toBe(0);
  });

  it('is undefined when the header is absent, empty or unparsable', () => {
    expect(retryAfterMs(null, NOW)).toBeUndefined();
    expect(retryAfterMs(undefined, NOW)).toBeUndefined();
    expect(retryAfterMs('', NOW)).toBeUndefined();
    expect(retryAfterMs('soon', NOW)).toBeUndefined();
    expect(retryAfterMs('-5', NOW)).toBeUndefined();
  });

  it('clamps to 60 s by default and to a given maximum', () => {
    expect(retryAfterMs('3600', NOW)).toBe(60_000);
    expect(retryAfterMs('Sun, 02 Mar 2025 12:00:00 GMT', NOW)).toBe(60_000);
    expect(retryAfterMs('30', NOW, 5_000)).toBe(5_000);
  });
});

describe('retry policy', () => {
  it("prefers the server's Retry-After over backoff", () => {
    const base = { attempt: 4, now: NOW, baseMs: 100, maxMs: 10_000, random: () => 1 };
    expect(retryDelayMs({ ...base, retryAfterHeader: '2' })).toBe(2_000);
    expect(retryDelayMs({ ...base, retryAfterHeader: null })).toBe(800);
    expect(retryDelayMs({ ...base, retryAfterHeader: 'garbage' })).toBe(800);
  });

  it('retries 429 and 5xx only', () => {
    expect([429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([200, 204, 400, 401, 403, 404, 409, 422].some(isRetryableStatus)).toBe(false);
  });
});
