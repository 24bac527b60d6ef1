import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JITTER_RATIO, MAX_ATTEMPTS, MAX_RETRY_AFTER_MS, parseRetryAfter, planRetry, RETRY_SCHEDULE_MS } from '../../src/alerts/backoff.js';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const S = 1_000;
const M = 60 * S;
const H = 60 * M;
/** random() = 0.5 is the middle of the jitter band: no jitter. */
const middle = () => 0.5;

describe('alert retry schedule', () => {
  it('retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, then gives up', () => {
    const waits = [1, 2, 3, 4, 5, 6, 7].map((attempts) => {
      const plan = planRetry({ attempts, nowMs: NOW, random: middle });
      return plan.status === 'pending' ? plan.nextAttemptAtMs - NOW : plan.status;
    });
    expect(waits).toEqual([5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 10 * H]);
    expect(planRetry({ attempts: 8, nowMs: NOW, random: middle })).toEqual({ status: 'dead' });
    expect(MAX_ATTEMPTS).toBe(8);
  });

  it('is dead for any count past the last attempt', () => {
    expect(planRetry({ attempts: 9, nowMs: NOW, random: middle })).toEqual({ status: 'dead' });
    expect(planRetry({ attempts: 100, nowMs: NOW, random: middle })).toEqual({ status: 'dead' });
  });

  it('spreads each wait by at most ±10 % with the random source', () => {
    expect(planRetry({ attempts: 2, nowMs: NOW, random: () => 0 })).toEqual({ status: 'pending', nextAttemptAtMs: NOW + 4.5 * M });
    expect(planRetry({ attempts: 2, nowMs: NOW, random: () => 1 })).toEqual({ status: 'pending', nextAttemptAtMs: NOW + 5.5 * M });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: RETRY_SCHEDULE_MS.length }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempts, r) => {
        const plan = planRetry({ attempts, nowMs: NOW, random: () => r });
        const base = RETRY_SCHEDULE_MS[attempts - 1]!;
        expect(plan.status).toBe('pending');
        const wait = plan.status === 'pending' ? plan.nextAttemptAtMs - NOW : -1;
        expect(wait).toBeGreaterThanOrEqual(Math.floor(base * (1 - JITTER_RATIO)));
        expect(wait).toBeLessThanOrEqual(Math.ceil(base * (1 + JITTER_RATIO)));
      }),
    );
  });

  it('never comes back before the receiver’s Retry-After, and keeps its own schedule as the floor', () => {
    expect(planRetry({ attempts: 1, nowMs: NOW, random: middle, retryAfterMs: 120 * S })).toEqual({ status: 'pending', nextAttemptAtMs: NOW + 120 * S });
    expect(planRetry({ attempts: 3, nowMs: NOW, random: middle, retryAfterMs: 1 * S })).toEqual({ status: 'pending', nextAttemptAtMs: NOW + 30 * M });
  });

  it('caps Retry-After at a day, and a Retry-After does not resurrect a spent delivery', () => {
    expect(planRetry({ attempts: 1, nowMs: NOW, random: middle, retryAfterMs: 7 * 24 * H })).toEqual({ status: 'pending', nextAttemptAtMs: NOW + MAX_RETRY_AFTER_MS });
    expect(MAX_RETRY_AFTER_MS).toBe(24 * H);
    expect(planRetry({ attempts: 8, nowMs: NOW, random: middle, retryAfterMs: 10 * S })).toEqual({ status: 'dead' });
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = new Date(NOW);
    expect(parseRetryAfter('120', now)).toBe(120 * S);
    expect(parseRetryAfter('Sun, 01 Mar 2026 12:10:00 GMT', now)).toBe(10 * M);
    expect(parseRetryAfter('999999999', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
