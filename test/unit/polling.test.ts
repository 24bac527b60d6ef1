import { describe, expect, it } from 'vitest';
import { isPollDue, isStale, pollStepMs, POLL_STEPS_MS, resyncReasonFromHeartbeats, STALE_AFTER_MS } from '../../src/domain/polling.js';

const MIN = 60_000;
const T0 = Date.parse('2026-03-01T12:00:00Z');

describe('pending-action poll backoff', () => {
  it('waits 2 minutes after the last news before the first poll, so webhooks get their chance', () => {
    expect(isPollDue({ lastNewsAt: T0, lastPolledAt: null, pollAttempts: 0 }, T0 + 2 * MIN - 1)).toBe(false);
    expect(isPollDue({ lastNewsAt: T0, lastPolledAt: null, pollAttempts: 0 }, T0 + 2 * MIN)).toBe(true);
  });

  it('doubles the wait after each poll that found nothing new, up to 30 minutes', () => {
    expect([0, 1, 2, 3, 4, 5, 9].map(pollStepMs)).toEqual([2, 4, 8, 15, 30, 30, 30].map((m) => m * MIN));
    expect(isPollDue({ lastNewsAt: T0, lastPolledAt: T0 + 2 * MIN, pollAttempts: 1 }, T0 + 5 * MIN)).toBe(false);
    expect(isPollDue({ lastNewsAt: T0, lastPolledAt: T0 + 2 * MIN, pollAttempts: 1 }, T0 + 6 * MIN)).toBe(true);
  });

  it('counts from the later of the last news and the last poll', () => {
    expect(isPollDue({ lastNewsAt: T0 + 10 * MIN, lastPolledAt: T0, pollAttempts: 0 }, T0 + 11 * MIN)).toBe(false);
  });

  it('never polls in a tight loop: every step is at least a minute', () => {
    expect(Math.min(...POLL_STEPS_MS)).toBeGreaterThanOrEqual(MIN);
  });

  it('flags PENDING actions far past Enode’s 30-minute horizon as stale', () => {
    expect(isStale(T0, T0 + STALE_AFTER_MS - 1)).toBe(false);
    expect(isStale(T0, T0 + STALE_AFTER_MS)).toBe(true);
    expect(STALE_AFTER_MS).toBeGreaterThan(30 * MIN);
  });
});

describe('full resync from heartbeats', () => {
  it('asks for a resync when Enode reports a backlog of queued events', () => {
    expect(resyncReasonFromHeartbeats({ lastHeartbeatAt: T0, pendingEvents: 800 }, T0 + MIN, T0)).toMatch(/800 pending events/);
  });

  it('asks for a resync when heartbeats stop arriving', () => {
    expect(resyncReasonFromHeartbeats({ lastHeartbeatAt: T0, pendingEvents: 0 }, T0 + 31 * MIN, T0)).toMatch(/no heartbeat for 31 minutes/);
    expect(resyncReasonFromHeartbeats({ lastHeartbeatAt: null, pendingEvents: null }, T0 + 31 * MIN, T0)).toBe('no heartbeat since start');
  });

  it('stays quiet while heartbeats come with a small queue', () => {
    expect(resyncReasonFromHeartbeats({ lastHeartbeatAt: T0, pendingEvents: 3 }, T0 + 10 * MIN, T0)).toBeNull();
  });
});
