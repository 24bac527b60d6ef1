import { describe, expect, it } from 'vitest';
import { DEFAULT_INTERFERENCE_SETTINGS, reconcileDevice, type ActionInput, type ObservationInput } from '../../src/domain/interference.js';

/**
 * One episode, one finding (issue 17): a change that moves several controlled fields of a device
 * at once is one finding listing every field, keyed by its first field in the type's order.
 */

const T0 = Date.parse('2026-03-01T10:00:00Z');
const SEC = 1_000;
const MIN = 60 * SEC;
const at = (minutes: number) => T0 + minutes * MIN;
const GRACE = DEFAULT_INTERFERENCE_SETTINGS.graceMs;

function hvac(minute: number, mode: string, holdType: string, heat: number | null, cool: number | null, receivedMinute = minute): ObservationInput {
  return {
    atMs: at(minute),
    receivedAtMs: at(receivedMinute) + 2 * SEC,
    controlled: { hvacMode: mode, holdType, heatSetpoint: heat, coolSetpoint: cool },
    context: { isReachable: true },
  };
}

function car(minute: number, charging: boolean, maxCurrent: number): ObservationInput {
  return {
    atMs: at(minute),
    receivedAtMs: at(minute) + 2 * SEC,
    controlled: { charging, maxCurrent },
    context: { isReachable: true, isPluggedIn: true, powerDeliveryState: charging ? 'PLUGGED_IN:CHARGING' : 'PLUGGED_IN:STOPPED', batteryLevel: 50, chargeLimit: 80, isFullyCharged: false },
  };
}

function act(a: Partial<ActionInput> & Pick<ActionInput, 'id' | 'state' | 'createdAtMs'>): ActionInput {
  return { targetId: 'd1', kind: null, target: null, failureReasonType: null, updatedAtMs: a.completedAtMs ?? a.createdAtMs, completedAtMs: null, origin: 'gateway', ...a };
}

const judge = (deviceType: string, observations: ObservationInput[], nowMs: number, actions: ActionInput[] = []) =>
  reconcileDevice({ deviceId: 'd1', deviceType, userId: 'u1', observations, actions, nowMs });

describe('one episode, one finding', () => {
  // An owner's COOL hold: mode, hold type and cool setpoint move in one step (heat goes unknown).
  const owner = [hvac(0, 'HEAT', 'SCHEDULED', 20, 26), hvac(5, 'COOL', 'PERMANENT', null, 23)];
  const fields = [
    { field: 'hvacMode', from: 'HEAT', to: 'COOL' },
    { field: 'holdType', from: 'SCHEDULED', to: 'PERMANENT' },
    { field: 'coolSetpoint', from: 26, to: 23 },
  ];

  it('an HVAC hold moving three fields is one UNEXPECTED_CHANGE listing them all, keyed by its first field', () => {
    const result = judge('hvac', owner, at(30));
    expect(result.findings).toHaveLength(1);
    expect(result.findings[0]).toMatchObject({
      key: `d1:hvacMode:${at(5)}`,
      kind: 'UNEXPECTED_CHANGE',
      field: 'hvacMode',
      from: 'HEAT',
      to: 'COOL',
      fields,
      observedAtMs: at(5),
      evidence: { fields, before: { atMs: at(0) }, after: { atMs: at(5) } },
    });
    // Every transition of the episode points at the one finding.
    expect(result.transitions.map((t) => [t.field, t.status, t.findingKey])).toEqual(fields.map((f) => [f.field, 'finding', `d1:hvacMode:${at(5)}`]));
  });

  it('the fields wait together and become the finding together: due at the grace after the first evidence of any of them', () => {
    // The mode's change is first evidenced by a later snapshot received early (reordered); the
    // cool setpoint's only by its own, late one. The episode is due from the earlier receipt.
    const observations = [hvac(0, 'HEAT', 'SCHEDULED', 20, 26), hvac(5, 'COOL', 'PERMANENT', null, 23, 9), hvac(6, 'COOL', 'PERMANENT', null, 24, 7)];
    const dueMs = at(7) + 2 * SEC + GRACE;
    const waiting = judge('hvac', observations, dueMs - 1).transitions.filter((t) => t.atMs === at(5));
    expect(waiting.map((t) => [t.field, t.status, t.dueAtMs])).toEqual([
      ['hvacMode', 'waiting', dueMs],
      ['holdType', 'waiting', dueMs],
      ['coolSetpoint', 'waiting', dueMs],
    ]);
    const due = judge('hvac', observations, dueMs);
    expect(due.transitions.filter((t) => t.atMs === at(5)).map((t) => t.status)).toEqual(['finding', 'finding', 'finding']);
    expect(due.findings.filter((f) => f.observedAtMs === at(5))).toMatchObject([{ field: 'hvacMode', fields }]);
    // The setpoint's next move at minute 6 is its own episode.
    expect(due.findings.filter((f) => f.observedAtMs === at(6))).toMatchObject([{ field: 'coolSetpoint', fields: [{ field: 'coolSetpoint', from: 23, to: 24 }] }]);
  });

  it('the same key and fields on every later run, with duplicates and in any order', () => {
    const first = judge('hvac', owner, at(30)).findings;
    const again = judge('hvac', [...owner].reverse().concat(owner), at(600)).findings;
    expect(again).toEqual(first.map((f) => ({ ...f })));
  });

  it('a field an own action explains is left out; the rest is one finding', () => {
    // Our max-current command explains 16 → 32 A; the stop in the same snapshot is someone else's.
    const observations = [car(0, true, 16), car(5, false, 32)];
    const ours = act({ id: 'mc1', target: { maxCurrent: 32 }, state: 'CONFIRMED', createdAtMs: at(4), completedAtMs: at(5) });
    const result = judge('vehicle', observations, at(30), [ours]);
    expect(result.transitions.map((t) => [t.field, t.status])).toEqual([
      ['charging', 'finding'],
      ['maxCurrent', 'explained'],
    ]);
    expect(result.findings).toMatchObject([{ field: 'charging', fields: [{ field: 'charging', from: true, to: false }] }]);
    // Without our command both fields are one finding.
    expect(judge('vehicle', observations, at(30)).findings).toMatchObject([
      { key: `d1:charging:${at(5)}`, fields: [{ field: 'charging' }, { field: 'maxCurrent', from: 16, to: 32 }] },
    ]);
  });

  it('an owner leaving our confirmed hold in one step (hold type and setpoint) is one ACTION_OVERRIDDEN naming our action', () => {
    const hold = act({ id: 'hold1', target: { mode: 'HEAT', heatSetpoint: 22, holdType: 'PERMANENT' }, state: 'CONFIRMED', createdAtMs: at(4), completedAtMs: at(5) });
    const observations = [hvac(0, 'HEAT', 'SCHEDULED', 20, null), hvac(5, 'HEAT', 'PERMANENT', 22, null), hvac(60, 'HEAT', 'SCHEDULED', 19, null)];
    const result = judge('hvac', observations, at(120), [hold]);
    expect(result.findings).toHaveLength(1);
    expect(result.findings[0]).toMatchObject({
      kind: 'ACTION_OVERRIDDEN',
      actionId: 'hold1',
      field: 'holdType',
      fields: [
        { field: 'holdType', from: 'PERMANENT', to: 'SCHEDULED' },
        { field: 'heatSetpoint', from: 22, to: 19 },
      ],
      evidence: { action: { id: 'hold1' } },
    });
  });

  it('changes at different device times stay different episodes', () => {
    const observations = [hvac(0, 'HEAT', 'PERMANENT', 20, 26), hvac(5, 'COOL', 'PERMANENT', 20, 26), hvac(10, 'COOL', 'SCHEDULED', 20, 23)];
    expect(judge('hvac', observations, at(60)).findings.map((f) => [f.field, f.fields.map((c) => c.field)])).toEqual([
      ['hvacMode', ['hvacMode']],
      ['holdType', ['holdType', 'coolSetpoint']],
    ]);
  });
});
