import { describe, expect, it } from 'vitest';
import {
  DEFAULT_INTERFERENCE_SETTINGS,
  didNothing,
  explainTransition,
  mayPrecedeCreation,
  pendingAt,
  reconcileDevice,
  type ActionInput,
  type ObservationInput,
} from '../../src/domain/interference.js';
import { findTransitions } from '../../src/domain/transitions.js';

/**
 * Which outcomes of an own action can account for a change (issue 17): an action created after
 * the change can have caused it only if Enode saw the device reach the value after creating it
 * (CONFIRMED) or may still do so (PENDING), the device's clock running behind Enode's. Every other
 * outcome says the change came first and from elsewhere; UNNECESSARY says nothing was sent at all.
 */

const T0 = Date.parse('2026-03-01T10:00:00Z');
const SEC = 1_000;
const MIN = 60 * SEC;
const s = DEFAULT_INTERFERENCE_SETTINGS;

/** A plugged-in car below its limit, charging or stopped at `ms`: a stop here has no natural cause. */
function car(ms: number, charging: boolean): ObservationInput {
  return {
    atMs: ms,
    receivedAtMs: ms + 2 * SEC,
    controlled: { charging, maxCurrent: 16 },
    context: { isReachable: true, isPluggedIn: true, powerDeliveryState: charging ? 'PLUGGED_IN:CHARGING' : 'PLUGGED_IN:STOPPED', batteryLevel: 50, chargeLimit: 80, isFullyCharged: false },
  };
}

/** An own STOP created at `createdMs`, in `state` (with `reason`) from `completedMs` on. */
function stop(state: string, reason: string | null, createdMs: number, completedMs: number | null): ActionInput {
  return {
    id: `stop-${state}-${reason ?? 'none'}`,
    targetId: 'v1',
    kind: 'STOP',
    target: null,
    state,
    failureReasonType: reason,
    createdAtMs: createdMs,
    updatedAtMs: completedMs ?? createdMs,
    completedAtMs: completedMs,
    origin: 'gateway',
  };
}

/** Every terminal outcome Enode documents (states and failure reasons of the 2024-10-01 action). */
const FAILED_OUTCOMES: Array<[string, string | null]> = [
  ['FAILED', 'NO_RESPONSE'],
  ['FAILED', null],
  ['CANCELLED', 'UNNECESSARY'],
  ['CANCELLED', 'CONFLICT'],
  ['CANCELLED', 'FAILED_PRECONDITION'],
  ['CANCELLED', 'REQUESTED_CANCELLATION'],
  ['CANCELLED', 'NOT_FOUND'],
];

const CHANGE_MS = T0 + 5 * MIN;
const observations = [car(T0, true), car(CHANGE_MS, false)];
const [change] = findTransitions('vehicle', observations);

function explain(a: ActionInput) {
  if (!change) throw new Error('no transition');
  return explainTransition('vehicle', change, [a], s, observations);
}

describe('own action outcomes: an action created 30 s after the change it matches', () => {
  const created = CHANGE_MS + 30 * SEC;

  it.each([
    ['PENDING', null, null],
    ['CONFIRMED', null, created + 20 * SEC],
  ] as const)('%s may still be the change’s cause (the device’s clock behind Enode’s): explained', (state, reason, completed) => {
    expect(explain(stop(state, reason, created, completed))).toEqual({ kind: 'own_action', actionId: `stop-${state}-none` });
  });

  it.each(FAILED_OUTCOMES)('%s %s did not cause it: unexplained', (state, reason) => {
    expect(explain(stop(state, reason, created, created + 20 * SEC))).toEqual({ kind: 'unexplained' });
  });

  it('CANCELLED UNNECESSARY leaves the change a finding after the grace, not an own action', () => {
    const result = reconcileDevice({
      deviceId: 'v1',
      deviceType: 'vehicle',
      userId: 'u1',
      observations,
      actions: [stop('CANCELLED', 'UNNECESSARY', created, created)],
      nowMs: CHANGE_MS + 2 * SEC + s.graceMs,
    });
    expect(result.transitions).toMatchObject([{ field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } }]);
    expect(result.findings).toMatchObject([{ kind: 'UNEXPECTED_CHANGE', field: 'charging', actionId: null, observedAtMs: CHANGE_MS }]);
  });
});

describe('own action outcomes: an action pending when the device changed', () => {
  const created = CHANGE_MS - 20 * SEC;
  const completed = CHANGE_MS + 10 * MIN;

  it.each([['CONFIRMED', null] as [string, string | null], ...FAILED_OUTCOMES.filter(([, r]) => r !== 'UNNECESSARY')])(
    '%s %s: Enode was sending its command while the device changed: explained',
    (state, reason) => {
      expect(explain(stop(state, reason, created, completed))).toMatchObject({ kind: 'own_action' });
    },
  );

  it('CANCELLED UNNECESSARY sent nothing, so no change during its life is its doing', () => {
    expect(explain(stop('CANCELLED', 'UNNECESSARY', created, completed))).toEqual({ kind: 'unexplained' });
  });

  it('an action created after the change and the grace explains nothing, whatever its outcome', () => {
    const late = CHANGE_MS + s.graceMs + SEC;
    for (const [state, reason] of [['PENDING', null], ['CONFIRMED', null], ...FAILED_OUTCOMES] as Array<[string, string | null]>) {
      expect(explain(stop(state, reason, late, state === 'PENDING' ? null : late + SEC)), `${state} ${reason}`).toEqual({ kind: 'unexplained' });
    }
  });
});

describe('own action outcomes: a change first seen after an own action resolved', () => {
  // Snapshots between were lost: charging at 0, then stopped at 8; our STOP was created at 5.
  const history = [car(T0, true), car(T0 + 8 * MIN, false)];
  const judge = (a: ActionInput) =>
    reconcileDevice({ deviceId: 'v1', deviceType: 'vehicle', userId: 'u1', observations: history, actions: [a], nowMs: T0 + 30 * MIN });

  it('a CONFIRMED STOP is the late first sight of our own command: explained', () => {
    const result = judge(stop('CONFIRMED', null, T0 + 5 * MIN, T0 + 5 * MIN + 20 * SEC));
    expect(result.transitions).toMatchObject([{ status: 'explained', explanation: { kind: 'own_action' } }]);
    expect(result.findings).toEqual([]);
  });

  it('a STOP CANCELLED as UNNECESSARY found the car already stopped: the stop was someone else’s (a finding)', () => {
    const result = judge(stop('CANCELLED', 'UNNECESSARY', T0 + 5 * MIN, T0 + 5 * MIN));
    expect(result.transitions).toMatchObject([{ status: 'finding', explanation: { kind: 'unexplained' } }]);
    // Its intent (stopped) is what the car shows, so nothing was overridden: an unexpected change.
    expect(result.findings).toMatchObject([{ kind: 'UNEXPECTED_CHANGE', field: 'charging', actionId: null }]);
  });
});

describe('own action outcome rules', () => {
  it('only CANCELLED with UNNECESSARY did nothing', () => {
    expect(didNothing({ state: 'CANCELLED', failureReasonType: 'UNNECESSARY' })).toBe(true);
    for (const [state, reason] of FAILED_OUTCOMES.filter(([, r]) => r !== 'UNNECESSARY')) expect(didNothing({ state, failureReasonType: reason }), `${state} ${reason}`).toBe(false);
    expect(didNothing({ state: 'CONFIRMED', failureReasonType: null })).toBe(false);
    expect(didNothing({ state: 'FAILED', failureReasonType: 'UNNECESSARY' })).toBe(false);
  });

  it('only PENDING and CONFIRMED actions may account for a change dated before their creation', () => {
    expect(['PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED', 'SOMETHING_NEW'].filter((state) => mayPrecedeCreation({ state }))).toEqual(['PENDING', 'CONFIRMED']);
  });

  it('pendingAt bounds: the skew allowance before creation, the end at completion (PENDING: Enode’s give-up time)', () => {
    const created = T0 + 10 * MIN;
    const failed = stop('FAILED', 'NO_RESPONSE', created, created + 5 * MIN);
    expect(pendingAt(failed, created - SEC, s)).toBe(false);
    expect(pendingAt(failed, created, s)).toBe(true);
    expect(pendingAt(failed, created + 5 * MIN, s)).toBe(true);
    expect(pendingAt(failed, created + 5 * MIN + 1, s)).toBe(false);
    const confirmed = stop('CONFIRMED', null, created, created + 5 * MIN);
    expect(pendingAt(confirmed, created - s.graceMs, s)).toBe(true);
    expect(pendingAt(confirmed, created - s.graceMs - 1, s)).toBe(false);
  });
});
