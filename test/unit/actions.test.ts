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
  it('writes the first version seen', () => {
    expect(mergeAction(undefined, version('PENDING', '2026-01-01T00:00:00Z'))).toEqual({ write: 'version', origin: 'enode' });
  });

  it('lets a newer PENDING update replace an older PENDING one, and not the reverse', () => {
    const older = version('PENDING', '2026-01-01T00:00:00Z');
    const newer = version('PENDING', '2026-01-01T00:01:00Z');
    expect(mergeAction(older, newer)).toEqual({ write: 'version', origin: 'enode' });
    expect(mergeAction(newer, older)).toEqual({ write: 'none' });
  });

  it('never moves a terminal state back to PENDING, even when the PENDING is "newer"', () => {
    const confirmed = version('CONFIRMED', '2026-01-01T00:02:00Z');
    const latePending = version('PENDING', '2026-01-01T00:05:00Z');
    expect(mergeAction(confirmed, latePending)).toEqual({ write: 'none' });
    expect(mergeAction(latePending, confirmed)).toEqual({ write: 'version', origin: 'enode' });
  });

  it('between two terminal versions, the newer updatedAt wins', () => {
    const cancelled = version('CANCELLED', '2026-01-01T00:02:00Z');
    const failed = version('FAILED', '2026-01-01T00:03:00Z');
    expect(mergeAction(cancelled, failed).write).toBe('version');
    expect(mergeAction(failed, cancelled).write).toBe('none');
  });

  it('breaks exact ties by content hash, so either arrival order keeps the same version', () => {
    const a = version('PENDING', '2026-01-01T00:00:00Z', 'aaa');
    const b = version('PENDING', '2026-01-01T00:00:00Z', 'bbb');
    expect(mergeAction(a, b).write).toBe('version');
    expect(mergeAction(b, a).write).toBe('none');
  });

  it('treats the identical version as no change', () => {
    const v = version('CONFIRMED', '2026-01-01T00:02:00Z');
    expect(mergeAction(v, { ...v })).toEqual({ write: 'none' });
  });

  it('keeps origin "gateway" once the gateway created the action, whatever reports later', () => {
    const ours = version('PENDING', '2026-01-01T00:00:00Z', 'x', 'gateway');
    const fromWebhook = version('CONFIRMED', '2026-01-01T00:02:00Z', 'y', 'enode');
    expect(mergeAction(ours, fromWebhook)).toEqual({ write: 'version', origin: 'gateway' });
    // The gateway learns of an action Enode already reported: the stored version stays, now ours.
    expect(mergeAction(fromWebhook, ours)).toEqual({ write: 'origin', origin: 'gateway' });
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
