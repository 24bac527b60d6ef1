import { describe, expect, it } from 'vitest';
import { mergeAction, toActionRecord, type ActionRecord, type EnodeActionInput } from '../../src/domain/actions.js';

function version(state: string, updatedAt: string, hash = `h-${state}-${updatedAt}`, origin: 'enode' | 'gateway' = 'enode'): ActionRecord {
  const input: EnodeActionInput = {
    id: 'a1',
    userId: 'u1',
    targetId: 'v1',
    targetType: 'vehicle',
    state,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt,
    completedAt: state === 'PENDING' ? null : updatedAt,
    kind: 'START',
    failureReason: null,
  };
  return toActionRecord(input, origin, hash);
}

describe('mergeAction', () => {
  it('takes the first version seen', () => {
    const v = version('PENDING', '2026-01-01T00:00:00Z');
    expect(mergeAction(undefined, v)).toEqual({ next: v, changed: true });
  });

  it('lets a newer PENDING update replace an older PENDING one', () => {
    const older = version('PENDING', '2026-01-01T00:00:00Z');
    const newer = version('PENDING', '2026-01-01T00:01:00Z');
    expect(mergeAction(older, newer)).toEqual({ next: newer, changed: true });
    expect(mergeAction(newer, older)).toEqual({ next: newer, changed: false });
  });

  it('never moves a terminal state back to PENDING, even when the PENDING is "newer"', () => {
    const confirmed = version('CONFIRMED', '2026-01-01T00:02:00Z');
    const latePending = version('PENDING', '2026-01-01T00:05:00Z');
    expect(mergeAction(confirmed, latePending)).toEqual({ next: confirmed, changed: false });
    expect(mergeAction(latePending, confirmed).next.state).toBe('CONFIRMED');
  });

  it('between two terminal versions, the newer updatedAt wins', () => {
    const cancelled = version('CANCELLED', '2026-01-01T00:02:00Z');
    const failed = version('FAILED', '2026-01-01T00:03:00Z');
    expect(mergeAction(cancelled, failed).next.state).toBe('FAILED');
    expect(mergeAction(failed, cancelled).next.state).toBe('FAILED');
  });

  it('breaks exact ties by content hash, so either arrival order gives the same result', () => {
    const a = version('PENDING', '2026-01-01T00:00:00Z', 'aaa');
    const b = version('PENDING', '2026-01-01T00:00:00Z', 'bbb');
    expect(mergeAction(a, b).next).toEqual(b);
    expect(mergeAction(b, a).next).toBe(b);
  });

  it('treats the identical version as no change', () => {
    const v = version('CONFIRMED', '2026-01-01T00:02:00Z');
    expect(mergeAction(v, { ...v })).toEqual({ next: v, changed: false });
  });

  it('keeps origin "gateway" once the gateway created the action, whatever reports later', () => {
    const ours = version('PENDING', '2026-01-01T00:00:00Z', 'x', 'gateway');
    const fromWebhook = version('CONFIRMED', '2026-01-01T00:02:00Z', 'y', 'enode');
    expect(mergeAction(ours, fromWebhook).next.origin).toBe('gateway');
    expect(mergeAction(fromWebhook, ours)).toMatchObject({ changed: true, next: { origin: 'gateway', state: 'CONFIRMED' } });
  });

  it('keeps an unknown state value as text instead of rejecting it', () => {
    expect(version('QUEUED_AT_VENDOR', '2026-01-01T00:00:00Z').state).toBe('QUEUED_AT_VENDOR');
  });

  it('refuses an action whose updatedAt is not a date', () => {
    expect(() => version('PENDING', 'yesterday')).toThrow(/updatedAt/);
  });

  it('takes target from `target` (HVAC) or `targetState` (battery, max current)', () => {
    const base = { id: 'a', userId: 'u', targetId: 't', state: 'PENDING', createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };
    expect(toActionRecord({ ...base, targetType: 'hvac', target: { mode: 'HEAT', heatSetpoint: 21, holdType: 'PERMANENT' } }, 'enode', 'h').target).toEqual({
      mode: 'HEAT',
      heatSetpoint: 21,
      holdType: 'PERMANENT',
    });
    expect(toActionRecord({ ...base, targetType: 'battery', targetState: { operationMode: 'IDLE' } }, 'enode', 'h').target).toEqual({ operationMode: 'IDLE' });
    expect(toActionRecord({ ...base, targetType: 'vehicle', kind: 'STOP' }, 'enode', 'h')).toMatchObject({ kind: 'STOP', target: null });
  });
});
