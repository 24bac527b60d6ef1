import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { activeControls, controlsAt, InvalidControlStatusError, scheduleStatus, smartChargingStatus, type ControlStatus } from '../../src/domain/control.js';
import { DEFAULT_INTERFERENCE_SETTINGS, reconcileDevice, type ActionInput, type ObservationInput } from '../../src/domain/interference.js';

/**
 * Enode's other levels of control (issue 17): schedule and smart charging statuses parsed from
 * Enode's payloads, what they expect of a device at a time, and how the reconciler uses them —
 * a change a schedule, plan or override asked for is the retailer's own automation; a change
 * against an active one is a finding with it in the evidence.
 */

const T0 = Date.parse('2026-03-01T10:00:00Z');
const MIN = 60_000;
const at = (minutes: number) => T0 + minutes * MIN;
const iso = (minutes: number) => new Date(at(minutes)).toISOString();
const GRACE = DEFAULT_INTERFERENCE_SETTINGS.graceMs;

function chargeSchedule(minute: number, o: { state?: string; expected: boolean; upcoming?: Array<[number, boolean]>; enabled?: boolean; override?: Record<string, unknown> | null }) {
  return scheduleStatus(
    {
      scheduleId: 'sch-1',
      scheduleType: 'CHARGE',
      changedAt: iso(minute),
      state: o.state ?? 'ALIGNED',
      isCharging: !o.expected,
      isChargingExpected: o.expected,
      isChargingExpectedParts: { needsCharge: true, isPluggedIn: true, shouldCharge: o.expected },
      upcomingTransitions: (o.upcoming ?? []).map(([m, shouldCharge]) => ({ at: iso(m), shouldCharge })),
      smartOverride: o.override ?? null,
    },
    { id: 'sch-1', targetId: 'car-1', targetType: 'vehicle', locationId: null, isEnabled: o.enabled ?? true, defaultShouldCharge: false, rules: [] },
    'u1',
  );
}

function plan(minute: number, state: string, o: { startAtMinute?: number; override?: Record<string, unknown> | null } = {}) {
  return smartChargingStatus({
    updatedAt: iso(minute),
    vehicleId: 'car-1',
    userId: 'u1',
    vendor: 'TESLA',
    state,
    stateChangedAt: iso(minute),
    consideration: null,
    plan: {
      id: 'plan-1',
      vehicleId: 'car-1',
      userId: 'u1',
      locationId: null,
      vendor: 'TESLA',
      currency: 'EUR',
      nonSmartCost: 2,
      smartCost: 1,
      stopAt: iso(minute),
      startAt: o.startAtMinute === undefined ? null : iso(o.startAtMinute),
      estimatedFinishAt: iso(600),
      stopConfirmedAt: null,
      startConfirmedAt: null,
      endedAt: null,
      finalState: null,
      failureCondition: null,
    },
    smartOverride: o.override ?? null,
  });
}

function car(minute: number, charging: boolean, extra: Record<string, unknown> = {}): ObservationInput {
  return {
    atMs: at(minute),
    receivedAtMs: at(minute) + 2_000,
    controlled: { charging, maxCurrent: 16 },
    context: { isReachable: true, isPluggedIn: true, powerDeliveryState: charging ? 'PLUGGED_IN:CHARGING' : 'PLUGGED_IN:STOPPED', batteryLevel: 50, chargeLimit: 80, isFullyCharged: false, ...extra },
  };
}

function act(a: Partial<ActionInput> & Pick<ActionInput, 'id' | 'state' | 'createdAtMs'>): ActionInput {
  return { targetId: 'car-1', kind: null, target: null, failureReasonType: null, updatedAtMs: a.completedAtMs ?? a.createdAtMs, completedAtMs: null, origin: 'enode', ...a };
}

const judge = (observations: ObservationInput[], controls: ControlStatus[], actions: ActionInput[] = [], deviceType = 'vehicle') =>
  reconcileDevice({ deviceId: 'car-1', deviceType, userId: 'u1', observations, actions, controls, nowMs: at(600) });

describe('parsing Enode status payloads', () => {
  it('a CHARGE schedule status: the target device, active unless disabled or INACTIVE, charging as expected, announced flips', () => {
    const s = chargeSchedule(0, { expected: false, upcoming: [[60, true], [30, false]] });
    expect(s).toMatchObject({ source: 'schedule', id: 'sch-1', subjectId: 'sch-1', deviceId: 'car-1', userId: 'u1', state: 'ALIGNED', atMs: at(0), active: true, expected: { charging: false } });
    expect(s.upcoming.map((u) => u.atMs)).toEqual([at(30), at(60)]);
    expect(chargeSchedule(0, { expected: true, enabled: false }).active).toBe(false);
    expect(chargeSchedule(0, { expected: true, state: 'INACTIVE:AWAY' }).active).toBe(false);
  });

  it('a TEMPERATURE schedule status expects the HVAC fields of its target state', () => {
    const s = scheduleStatus(
      { scheduleId: 'sch-h', scheduleType: 'TEMPERATURE', changedAt: iso(0), state: 'ALIGNED', current: null, expected: { mode: 'HEAT', heatSetpoint: 21, holdType: 'PERMANENT' }, upcomingTransitions: [{ at: iso(60), target: { holdType: 'SCHEDULED' } }] },
      { id: 'sch-h', targetId: 'hvac-1', targetType: 'hvac', isEnabled: true, defaultTargetState: { holdType: 'SCHEDULED' }, rules: [] },
      'u1',
    );
    expect(s).toMatchObject({ deviceId: 'hvac-1', expected: { hvacMode: 'HEAT', heatSetpoint: 21, holdType: 'PERMANENT' }, upcoming: [{ atMs: at(60), expected: { holdType: 'SCHEDULED' } }] });
  });

  it('smart charging: a stopped plan expects no charging and announces its start; an override makes it inactive', () => {
    const stopped = plan(0, 'PLAN:EXECUTING:STOPPED', { startAtMinute: 90 });
    expect(stopped).toMatchObject({ source: 'smart_charging', id: 'plan-1', subjectId: 'car-1', deviceId: 'car-1', active: true, expected: { charging: false }, upcoming: [{ atMs: at(90), expected: { charging: true } }] });
    expect(plan(0, 'PLAN:EXECUTING:STARTED').expected).toEqual({ charging: true });
    for (const state of ['CONSIDERING', 'PLAN:ENDED:FINISHED', 'FULLY_CHARGED', 'DISABLED']) expect(plan(0, state)).toMatchObject({ active: false, expected: {} });
    const overridden = plan(5, 'PLAN:EXECUTING:OVERRIDDEN', { override: { createdAt: iso(5), endedAt: null, targetType: 'vehicle', targetId: 'car-1', vendorActionId: 'act-o' } });
    expect(overridden).toMatchObject({ active: false, override: { createdAtMs: at(5), endedAtMs: null, actionId: 'act-o', targetId: 'car-1' } });
  });

  it('refuses a status without the fields the rules need, naming the field', () => {
    expect(() => scheduleStatus({ scheduleType: 'CHARGE', changedAt: iso(0), state: 'ALIGNED' }, { targetId: 'x' }, 'u1')).toThrow(InvalidControlStatusError);
    expect(() => scheduleStatus({ scheduleId: 's', state: 'ALIGNED', changedAt: 'yesterday' }, { targetId: 'x' }, 'u1')).toThrow(/changedAt/);
    expect(() => smartChargingStatus({ vehicleId: 'car-1', userId: 'u1', state: 'CONSIDERING' })).toThrow(/updatedAt/);
    expect(() => smartChargingStatus(null)).toThrow(InvalidControlStatusError);
  });
});

describe('what a control expects at a time', () => {
  it('the newest status in force, moved on by the flips it announced', () => {
    const statuses = [chargeSchedule(0, { expected: false, upcoming: [[60, true]] }), chargeSchedule(120, { expected: false })];
    expect(controlsAt(statuses, at(-1))).toEqual([]);
    expect(controlsAt(statuses, at(30))[0]?.expected).toEqual({ charging: false });
    expect(controlsAt(statuses, at(60))[0]?.expected).toEqual({ charging: true });
    expect(controlsAt(statuses, at(121))[0]?.expected).toEqual({ charging: false });
  });

  it('does not depend on the order the statuses were stored in (property)', () => {
    const statuses = [
      chargeSchedule(0, { expected: false, upcoming: [[60, true]] }),
      chargeSchedule(90, { expected: true, state: 'MISALIGNED' }),
      chargeSchedule(120, { expected: false }),
      plan(10, 'PLAN:EXECUTING:STOPPED', { startAtMinute: 100 }),
      plan(100, 'PLAN:EXECUTING:STARTED'),
    ];
    fc.assert(
      fc.property(fc.shuffledSubarray(statuses, { minLength: statuses.length, maxLength: statuses.length }), fc.integer({ min: -10, max: 200 }), (shuffled, minute) => {
        expect(controlsAt(shuffled, at(minute))).toEqual(controlsAt(statuses, at(minute)));
      }),
    );
  });

  it('statuses of one instant are ordered by their content, so every reader takes the same one: the newer update, whatever the read order', () => {
    const override = { createdAt: iso(5), endedAt: null, targetType: 'vehicle', targetId: 'car-1', vendorActionId: 'act-o' };
    // Enode updated the status (an override came) without a new state: same stateChangedAt.
    const plain = plan(0, 'PLAN:EXECUTING:STOPPED');
    const overridden = { ...plan(0, 'PLAN:EXECUTING:STOPPED', { override }), updatedAtMs: at(5) };
    for (const order of [[plain, overridden], [overridden, plain]]) {
      expect(controlsAt(order, at(10)).map((c) => c.status.override?.actionId ?? null)).toEqual(['act-o']);
      expect(activeControls(order, at(10))).toEqual([]);
    }
    // Two statuses equal in every time still give one answer in either order.
    const a = chargeSchedule(0, { expected: true });
    const b = { ...chargeSchedule(0, { expected: false }) };
    expect(controlsAt([a, b], at(1))).toEqual(controlsAt([b, a], at(1)));
  });

  it('the reconciler’s verdicts, and the control each names, do not depend on the order of the statuses (property)', () => {
    const override = { createdAt: iso(95), endedAt: null, targetType: 'vehicle', targetId: 'car-1', vendorActionId: 'act-o' };
    const statuses = [
      chargeSchedule(-30, { expected: true }),
      chargeSchedule(0, { expected: false, upcoming: [[60, true]] }),
      chargeSchedule(90, { expected: true, state: 'MISALIGNED' }),
      plan(10, 'PLAN:EXECUTING:STOPPING', { startAtMinute: 100 }),
      plan(10, 'PLAN:EXECUTING:STOPPED', { startAtMinute: 100 }),
      { ...plan(10, 'PLAN:EXECUTING:STOPPED', { startAtMinute: 100, override }), updatedAtMs: at(95) },
      plan(100, 'PLAN:EXECUTING:STARTING'),
    ];
    const observations = [car(-40, true), car(1, false), car(11, false), car(45, true), car(61, true), car(70, false), car(96, true), car(101, false), car(102, true)];
    const expected = judge(observations, statuses);
    fc.assert(
      fc.property(fc.shuffledSubarray(statuses, { minLength: statuses.length, maxLength: statuses.length }), (shuffled) => {
        expect(judge(observations, shuffled)).toEqual(expected);
      }),
    );
  });

  it('the gateway sees an active control only while it asks something and no override runs', () => {
    const override = { createdAt: iso(50), endedAt: iso(70), targetType: 'vehicle', targetId: 'car-1', vendorActionId: 'act-o' };
    const statuses = [plan(0, 'PLAN:EXECUTING:STOPPED'), plan(50, 'PLAN:EXECUTING:STOPPED', { override })];
    expect(activeControls(statuses, at(10)).map((c) => c.status.id)).toEqual(['plan-1']);
    expect(activeControls(statuses, at(60))).toEqual([]);
    expect(activeControls(statuses, at(80)).map((c) => c.status.id)).toEqual(['plan-1']);
    expect(activeControls([plan(0, 'PLAN:ENDED:FINISHED')], at(10))).toEqual([]);
  });
});

describe('the reconciler and the automation', () => {
  it('a schedule execution that starts charging is enode_schedule, never a finding, even with its vendor action lost', () => {
    const statuses = [chargeSchedule(0, { expected: false, upcoming: [[60, true]] })];
    const r = judge([car(0, false), car(61, true)], statuses);
    expect(r.transitions).toMatchObject([{ field: 'charging', to: true, status: 'explained', explanation: { kind: 'automation', cause: 'enode_schedule', controlId: 'sch-1' } }]);
    expect(r.findings).toEqual([]);
  });

  it('names the vendor action Enode created for the schedule when it was seen', () => {
    const statuses = [chargeSchedule(0, { expected: false, upcoming: [[60, true]] })];
    const action = act({ id: 'act-s', state: 'CONFIRMED', kind: 'START', createdAtMs: at(60), completedAtMs: at(61) });
    const r = judge([car(0, false), car(61, true)], statuses, [action]);
    expect(r.transitions[0]?.explanation).toEqual({ kind: 'automation', cause: 'enode_schedule', controlId: 'sch-1', actionId: 'act-s' });
  });

  it('our gateway command stays own_action even where a schedule asked the same', () => {
    const statuses = [chargeSchedule(0, { expected: true })];
    const action = act({ id: 'act-g', state: 'CONFIRMED', kind: 'START', createdAtMs: at(10), completedAtMs: at(11), origin: 'gateway' });
    expect(judge([car(0, false), car(11, true)], statuses, [action]).transitions[0]?.explanation).toEqual({ kind: 'own_action', actionId: 'act-g' });
  });

  it('a start against an active schedule is a finding with the schedule in its evidence', () => {
    const statuses = [chargeSchedule(0, { expected: false })];
    const r = judge([car(0, false), car(30, true)], statuses);
    expect(r.transitions[0]).toMatchObject({ status: 'finding', explanation: { kind: 'unexplained' } });
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]?.evidence.control).toEqual({ source: 'schedule', id: 'sch-1', state: 'ALIGNED', atMs: at(0), expected: { charging: false } });
  });

  it('a disabled schedule explains nothing and is no evidence', () => {
    const r = judge([car(0, false), car(30, true)], [chargeSchedule(0, { expected: true, enabled: false })]);
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]?.evidence.control).toBeUndefined();
  });

  it('a plan stopping and later starting charging is smart_charging_plan; a third party starting it in between is a finding with the plan', () => {
    const statuses = [plan(0, 'PLAN:EXECUTING:STOPPING'), plan(1, 'PLAN:EXECUTING:STOPPED', { startAtMinute: 120 }), plan(120, 'PLAN:EXECUTING:STARTING')];
    const observations = [car(-5, true), car(1, false), car(40, true), car(45, false), car(121, true)];
    const judged = (actions: ActionInput[]) => judge(observations, statuses, actions).transitions.map((t) => [t.atMs, t.explanation.kind === 'automation' ? t.explanation.cause : t.status]);
    // The stop at 45 is long after the plan acted (minute 1): without Enode's action for it, it is anyone's.
    expect(judged([])).toEqual([
      [at(1), 'smart_charging_plan'],
      [at(40), 'finding'],
      [at(45), 'finding'],
      [at(121), 'smart_charging_plan'],
    ]);
    // Enode's own STOP seen (the plan enforcing itself): the stop is the plan's, naming the action.
    const enforce = act({ id: 'act-stop', state: 'CONFIRMED', kind: 'STOP', createdAtMs: at(44), completedAtMs: at(45) });
    expect(judged([enforce])[2]).toEqual([at(45), 'smart_charging_plan']);
    expect(judge(observations, statuses, [enforce]).transitions[2]?.explanation).toEqual({ kind: 'automation', cause: 'smart_charging_plan', controlId: 'plan-1', actionId: 'act-stop' });
    expect(judge(observations, statuses).findings[0]?.evidence.control).toMatchObject({ source: 'smart_charging', id: 'plan-1', state: 'PLAN:EXECUTING:STOPPED', expected: { charging: false } });
  });

  it('the first status we hold of a schedule is no evidence that it moved the device (only a turn, or its action, is)', () => {
    const r = judge([car(0, false), car(30, true)], [chargeSchedule(30, { expected: true })]);
    expect(r.transitions[0]?.status).toBe('finding');
    // The turn its earlier status announced (upcomingTransitions) is evidence.
    const announced = judge([car(0, false), car(30, true)], [chargeSchedule(0, { expected: false, upcoming: [[30, true]] }), chargeSchedule(30, { expected: true })]);
    expect(announced.transitions[0]?.explanation).toMatchObject({ kind: 'automation', cause: 'enode_schedule' });
  });

  it('a change towards what a schedule still asks, long after it acted, is not the schedule’s doing', () => {
    // The schedule turned charging off at 0; someone starts it at 10 and someone stops it at 40.
    const statuses = [chargeSchedule(-30, { expected: true }), chargeSchedule(0, { expected: false })];
    const r = judge([car(-1, true), car(0, false), car(10, true), car(40, false)], statuses);
    expect(r.transitions.map((t) => t.status)).toEqual(['explained', 'finding', 'finding']);
  });

  it('a smart override starting charging is smart_override, naming its vendor action', () => {
    const override = { createdAt: iso(30), endedAt: null, targetType: 'vehicle', targetId: 'car-1', vendorActionId: 'act-o' };
    const statuses = [plan(0, 'PLAN:EXECUTING:STOPPED'), plan(30, 'PLAN:EXECUTING:OVERRIDDEN', { override })];
    const r = judge([car(0, false), car(31, true)], statuses);
    expect(r.transitions[0]?.explanation).toEqual({ kind: 'automation', cause: 'smart_override', controlId: 'act-o' });
    expect(r.findings).toEqual([]);
  });

  it('known plan statuses replace the policy flag: a start against the plan is no longer "smart_charging"', () => {
    const flagged = (o: ObservationInput): ObservationInput => ({ ...o, smartChargingActive: true });
    const observations = [flagged(car(0, false)), flagged(car(30, true))];
    expect(judge(observations, []).transitions[0]?.explanation).toEqual({ kind: 'natural', cause: 'smart_charging' });
    expect(judge(observations, [plan(0, 'PLAN:EXECUTING:STOPPED')]).transitions[0]?.status).toBe('finding');
  });

  it('a restart against a plan soon after plug-in is no plug-in auto-start when the session already charged', () => {
    const unplugged = car(0, false, { isPluggedIn: false, powerDeliveryState: 'UNPLUGGED' });
    const statuses = [plan(2, 'PLAN:EXECUTING:STOPPING'), plan(3, 'PLAN:EXECUTING:STOPPED', { startAtMinute: 120 })];
    const r = judge([unplugged, car(1, true), car(3, false), car(6, true)], statuses);
    expect(r.transitions.map((t) => [t.atMs, t.explanation.kind === 'unexplained' ? t.status : (t.explanation as { cause: string }).cause])).toEqual([
      [at(1), 'plug_in'],
      [at(3), 'smart_charging_plan'],
      [at(6), 'finding'],
    ]);
    // Under a plan asking for none, a car's auto-start comes with the plug-in, not minutes later.
    const lateFirst = judge([unplugged, car(1, false), car(6, true)], [plan(0, 'PLAN:EXECUTING:STOPPED', { startAtMinute: 120 })]);
    expect(lateFirst.transitions.map((t) => t.status)).toEqual(['finding']);
    const atPlugIn = judge([unplugged, car(1, true)], [plan(0, 'PLAN:EXECUTING:STOPPED', { startAtMinute: 120 })]);
    expect(atPlugIn.transitions[0]?.explanation).toEqual({ kind: 'natural', cause: 'plug_in' });
    // Without a plan against it, a start soon after plug-in stays the plug-in's, as before.
    expect(judge([unplugged, car(1, true), car(3, false), car(6, true)], []).transitions.map((t) => t.status)).toEqual(['explained', 'finding', 'explained']);
  });

  it('a plan that ended is no longer in force: a later start is judged without it (a charger judged with its car’s statuses)', () => {
    const ended = smartChargingStatus({ updatedAt: iso(10), vehicleId: 'car-1', userId: 'u1', vendor: 'TESLA', state: 'PLAN:ENDED:FINISHED', stateChangedAt: iso(10), consideration: null, plan: null, smartOverride: null });
    const statuses = [plan(0, 'PLAN:EXECUTING:STOPPED', { startAtMinute: 300 }), ended];
    const r = judge([car(0, false), car(60, true)], statuses, [], 'charger');
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]?.evidence.control).toBeUndefined();
  });

  it('natural causes still come first against a plan: an unplug stopping a started plan is no finding', () => {
    const r = judge([car(0, true), car(30, false, { isPluggedIn: false, powerDeliveryState: 'UNPLUGGED' })], [plan(0, 'PLAN:EXECUTING:STARTED')]);
    expect(r.transitions[0]?.explanation).toEqual({ kind: 'natural', cause: 'unplug' });
  });

  it('a status taking effect within the grace after the change still explains it (Enode and the device keep different clocks)', () => {
    const statuses = [plan(0, 'PLAN:EXECUTING:STOPPED'), plan(60, 'PLAN:EXECUTING:STARTING')];
    const within = car(60 - GRACE / MIN / 2, true);
    expect(judge([car(0, false), within], statuses).transitions[0]?.explanation).toMatchObject({ kind: 'automation', cause: 'smart_charging_plan' });
    expect(judge([car(0, false), car(50, true)], statuses).transitions[0]?.status).toBe('finding');
  });

  it('a TEMPERATURE schedule accounts for the hold it sets on an HVAC, fields it leaves open included', () => {
    const following = scheduleStatus(
      { scheduleId: 'sch-h', scheduleType: 'TEMPERATURE', changedAt: iso(-30), state: 'ALIGNED', current: null, expected: { holdType: 'SCHEDULED' }, upcomingTransitions: [] },
      { id: 'sch-h', targetId: 'car-1', targetType: 'hvac', isEnabled: true, defaultTargetState: { holdType: 'SCHEDULED' }, rules: [] },
      'u1',
    );
    const s = scheduleStatus(
      { scheduleId: 'sch-h', scheduleType: 'TEMPERATURE', changedAt: iso(0), state: 'ALIGNED', current: null, expected: { mode: 'HEAT', heatSetpoint: 21, holdType: 'PERMANENT' }, upcomingTransitions: [] },
      { id: 'sch-h', targetId: 'car-1', targetType: 'hvac', isEnabled: true, defaultTargetState: { holdType: 'SCHEDULED' }, rules: [] },
      'u1',
    );
    const hvac = (minute: number, mode: string, holdType: string, heat: number | null, cool: number | null): ObservationInput => ({
      atMs: at(minute),
      receivedAtMs: at(minute) + 2_000,
      controlled: { hvacMode: mode, holdType, heatSetpoint: heat, coolSetpoint: cool },
      context: { isReachable: true },
    });
    const followed = judge([hvac(0, 'AUTO', 'SCHEDULED', 18, 26), hvac(1, 'HEAT', 'PERMANENT', 21, null)], [following, s], [], 'hvac');
    expect(followed.findings).toEqual([]);
    expect(followed.transitions.every((t) => t.explanation.kind === 'automation')).toBe(true);
    const against = judge([hvac(0, 'HEAT', 'PERMANENT', 21, null), hvac(30, 'COOL', 'PERMANENT', null, 23)], [following, s], [], 'hvac');
    expect(against.findings).toHaveLength(1);
    expect(against.findings[0]?.evidence.control).toMatchObject({ source: 'schedule', id: 'sch-h', expected: { hvacMode: 'HEAT' } });
  });
});

describe('snapshot references in stored events', () => {
  it('a row that only mentions the mark (a snapshot holding the string) is left as it is, beside a real reference', async () => {
    const { dataWithSnapshotRef, fillSnapshots, referencedDeliveries } = await import('../../src/events/snapshot-ref.js');
    const mention = { data: JSON.stringify({ device: { id: 'h1', controlled: {}, snapshot: { information: { displayName: '"$snapshot"' } } }, changes: [] }) };
    const real = { data: dataWithSnapshotRef({ device: { id: 'v1', controlled: {}, snapshot: { id: 'v1' } }, changes: [] }, { delivery: 'd1', index: 0, key: 'vehicle' }) };
    const before = mention.data;
    expect(referencedDeliveries([mention, real])).toEqual(['d1']);
    const body = new TextEncoder().encode(JSON.stringify([{ event: 'user:vehicle:updated', vehicle: { id: 'v1', vin: 'X' } }]));
    fillSnapshots([mention, real], new Map([['d1', body]]));
    expect(mention.data).toBe(before);
    expect(JSON.parse(real.data)).toEqual({ device: { id: 'v1', controlled: {}, snapshot: { id: 'v1', vin: 'X' } }, changes: [] });
  });
});
