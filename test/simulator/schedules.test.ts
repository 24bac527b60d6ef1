import { afterEach, describe, expect, it } from 'vitest';
import type { Simulator, SimulatorOptions } from '../../src/simulator/index.js';
import { activeRule, ruleMatches, transitions, weekdayOf } from '../../src/simulator/schedules.js';
import { chargeSchedule, chargeScheduleStatus, scheduleExecutionUpdated, temperatureSchedule, temperatureScheduleStatus } from './automation-shapes.js';
import { capturingSim, find } from './helpers.js';

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** A quiet simulator (start Monday 2025-01-06 06:00 UTC) whose webhook events land in `events`. */
function capturing(overrides: Partial<SimulatorOptions> = {}) {
  const c = capturingSim(overrides);
  sim = c.s;
  return c;
}

const scheduleEvents = (events: Array<Record<string, any>>, scheduleId: string) =>
  events.filter((e) => e['event'] === 'user:schedule:execution-updated' && e['status'].scheduleId === scheduleId);

/** A vehicle far below its limit, plugged in (and so charging). */
function pluggedVehicle(s: Simulator) {
  const v = find(s, 'vehicle', (r) => !r.data.chargeState.isPluggedIn && r.sim.level < (r.data.chargeState.chargeLimit ?? 100) - 35);
  s.control.setPlugged(v.data.id, true);
  expect(v.data.chargeState.isCharging).toBe(true);
  return v;
}

/** Charge 07:00–08:00 and 09:00–10:00, otherwise not. */
const CHARGE_RULES = [
  { hourMinute: { from: '07:00', to: '08:00' }, shouldCharge: true },
  { hourMinute: { from: '09:00', to: '10:00' }, shouldCharge: true },
];

describe('schedule time rules', () => {
  it('matches hour-minute windows (across midnight too), weekdays from Monday = 0, and timestamps', () => {
    const monday6 = Date.parse('2025-01-06T06:00:00Z');
    expect(weekdayOf(monday6)).toBe(0);
    expect(ruleMatches({ hourMinute: { from: '05:00', to: '07:00' } }, monday6)).toBe(true);
    expect(ruleMatches({ hourMinute: { from: '07:00', to: '08:00' } }, monday6)).toBe(false);
    expect(ruleMatches({ hourMinute: { from: '22:00', to: '06:30' } }, monday6)).toBe(true);
    expect(ruleMatches({ hourMinute: { from: '22:00', to: '06:30' }, weekdays: [6] }, monday6)).toBe(true); // started Sunday
    expect(ruleMatches({ hourMinute: { from: '22:00', to: '06:30' }, weekdays: [0] }, monday6)).toBe(false);
    expect(ruleMatches({ weekdays: [1, 2] }, monday6)).toBe(false);
    expect(ruleMatches({ fromTimestamp: '2025-01-06T05:00:00Z', toTimestamp: '2025-01-06T06:00:00Z' }, monday6)).toBe(false);
    expect(activeRule(CHARGE_RULES, Date.parse('2025-01-06T09:30:00Z'))).toBe(CHARGE_RULES[1]);
    const next = transitions(CHARGE_RULES, monday6, (ms) => activeRule(CHARGE_RULES, ms)?.shouldCharge ?? false, 4);
    expect(next.map((t) => [new Date(t.at).toISOString(), t.value])).toEqual([
      ['2025-01-06T07:00:00.000Z', true],
      ['2025-01-06T08:00:00.000Z', false],
      ['2025-01-06T09:00:00.000Z', true],
      ['2025-01-06T10:00:00.000Z', false],
    ]);
  });
});

describe('CHARGE schedules', () => {
  it('are created, listed, read, updated and deleted with the spec shapes', async () => {
    const { s, a } = capturing();
    const v = find(s, 'vehicle');
    const created = await a.call('POST', `/users/${v.data.userId}/schedules`, { targetId: v.data.id, targetType: 'vehicle', isEnabled: true, defaultShouldCharge: false, rules: CHARGE_RULES });
    expect(created.status).toBe(200);
    expect(chargeSchedule.parse(created.body)).toMatchObject({ targetId: v.data.id, locationId: null, isEnabled: true });
    const list = await a.call('GET', `/users/${v.data.userId}/schedules`);
    expect(list.body).toEqual({ data: [created.body], pagination: { after: null, before: null } });
    expect((await a.call('GET', `/schedules/${created.body.id}`)).body).toEqual(created.body);
    const status = await a.call('GET', `/schedules/${created.body.id}/status`);
    expect(chargeScheduleStatus.parse(status.body).state).toBe('ALIGNED');
    const put = await a.call('PUT', `/schedules/${created.body.id}`, { defaultShouldCharge: true });
    expect(put.body).toMatchObject({ id: created.body.id, defaultShouldCharge: true, rules: CHARGE_RULES });
    expect((await a.call('PUT', `/schedules/${created.body.id}`, { targetType: 'hvac' })).status).toBe(400);
    expect((await a.call('DELETE', `/schedules/${created.body.id}`)).status).toBe(204);
    expect((await a.call('GET', `/schedules/${created.body.id}`)).status).toBe(404);
    expect((await a.call('GET', `/schedules/${created.body.id}/status`)).status).toBe(404);
  });

  it('refuses bad bodies, targets of another type or user, and a second enabled schedule on one device', async () => {
    const { s, a } = capturing();
    const v = find(s, 'vehicle');
    const other = s.world.all().find((r) => r.data.userId !== v.data.userId && r.type === 'vehicle')!;
    const body = { targetId: v.data.id, targetType: 'vehicle', isEnabled: true, defaultShouldCharge: false, rules: CHARGE_RULES };
    expect((await a.call('POST', `/users/${v.data.userId}/schedules`, { ...body, rules: [{ hourMinute: { from: '7:00', to: '08:00' }, shouldCharge: true }] })).status).toBe(400);
    expect((await a.call('POST', `/users/${v.data.userId}/schedules`, { ...body, targetType: 'charger' })).status).toBe(400);
    expect((await a.call('POST', `/users/${other.data.userId}/schedules`, body)).status).toBe(400);
    expect((await a.call('POST', '/users/nobody/schedules', body)).status).toBe(404);
    expect((await a.call('POST', `/users/${v.data.userId}/schedules`, body)).status).toBe(200);
    const second = await a.call('POST', `/users/${v.data.userId}/schedules`, body);
    expect(second.status).toBe(400);
    expect(second.body.detail).toContain('already has an enabled schedule');
    expect((await a.call('POST', `/users/${v.data.userId}/schedules`, { ...body, isEnabled: false })).status).toBe(200);
  });

  it('executes at each rule boundary through vendor actions and reports every status change with spec-shaped events', async () => {
    const { s, a, events } = capturing();
    const v = pluggedVehicle(s);
    const created = await a.call('POST', `/users/${v.data.userId}/schedules`, { targetId: v.data.id, targetType: 'vehicle', isEnabled: true, defaultShouldCharge: false, rules: CHARGE_RULES });
    const id = created.body.id as string;
    await s.flushWebhooks();

    // 06:00: outside every window, the car charges: Enode stops it (PENDING until the action confirms).
    let mine = scheduleEvents(events, id);
    expect(mine).toHaveLength(1);
    expect(scheduleExecutionUpdated.parse(mine[0])).toBeTruthy();
    expect(mine[0]!['status']).toMatchObject({
      state: 'PENDING',
      isCharging: true,
      isChargingExpected: false,
      isChargingExpectedParts: { needsCharge: true, isPluggedIn: true, shouldCharge: false },
      upcomingTransitions: [
        { at: '2025-01-06T07:00:00.000Z', shouldCharge: true },
        { at: '2025-01-06T08:00:00.000Z', shouldCharge: false },
        { at: '2025-01-06T09:00:00.000Z', shouldCharge: true },
        { at: '2025-01-06T10:00:00.000Z', shouldCharge: false },
        { at: '2025-01-07T07:00:00.000Z', shouldCharge: true },
        { at: '2025-01-07T08:00:00.000Z', shouldCharge: false },
      ],
      smartOverride: null,
    });
    expect(mine[0]!['user']).toEqual({ id: v.data.userId });
    expect(mine[0]!['schedule']).toEqual(created.body);
    const stop = s.actions.list().find((x) => x.targetId === v.data.id)!;
    expect(stop).toMatchObject({ state: 'PENDING', kind: 'STOP', targetType: 'vehicle' });
    await s.runFor(30_000);
    expect(v.data.chargeState.isCharging).toBe(false);
    mine = scheduleEvents(events, id);
    expect(mine.at(-1)!['status']).toMatchObject({ state: 'ALIGNED', isCharging: false });
    expect(mine.at(-1)!['updatedFields']).toEqual(expect.arrayContaining(['state', 'isCharging']));
    expect(mine.at(-1)!['status'].changedAt).toBe(s.clock.iso());

    // The stop went through the action machinery: vendor-action events, one device command.
    const actionEvents = events.filter((e) => e['event'] === 'user:vendor-action:updated' && e['vendorAction'].id === stop.id);
    expect(actionEvents.map((e) => e['vendorAction'].state)).toEqual(['PENDING', 'CONFIRMED']);

    // 07:00: the window opens: START.
    await s.runFor(Date.parse('2025-01-06T07:00:00Z') - s.clock.nowMs());
    mine = scheduleEvents(events, id);
    expect(mine.at(-1)!['status']).toMatchObject({ state: 'PENDING', isChargingExpected: true, isChargingExpectedParts: { shouldCharge: true } });
    expect(mine.at(-1)!['status'].upcomingTransitions[0]).toEqual({ at: '2025-01-06T08:00:00.000Z', shouldCharge: false });
    await s.runFor(30_000);
    expect(v.data.chargeState.isCharging).toBe(true);
    expect(scheduleEvents(events, id).at(-1)!['status']).toMatchObject({ state: 'ALIGNED', isCharging: true });

    // 08:00: closes again.
    await s.runFor(Date.parse('2025-01-06T08:00:30Z') - s.clock.nowMs());
    expect(v.data.chargeState.isCharging).toBe(false);
    for (const e of scheduleEvents(events, id)) scheduleExecutionUpdated.parse(e);

    // Ground truth: every flip is own automation with the schedule's id and the action's id.
    const flips = s.truth().changes.filter((c) => c.deviceId === v.data.id && c.field === 'chargeState.isCharging' && c.at > '2025-01-06T06:00:00.000Z');
    expect(flips.map((c) => [c.to, c.cause, c.automation])).toEqual([
      [false, 'own_automation', { kind: 'enode_schedule', id }],
      [true, 'own_automation', { kind: 'enode_schedule', id }],
      [false, 'own_automation', { kind: 'enode_schedule', id }],
    ]);
    expect(flips.every((c) => typeof c.actionId === 'string')).toBe(true);
  });

  it('reports MISALIGNED when a third party moves the device off the schedule (recorded as interference), and realigns at the next boundary', async () => {
    const { s, a, events } = capturing();
    const v = pluggedVehicle(s);
    const id = (await a.call('POST', `/users/${v.data.userId}/schedules`, { targetId: v.data.id, targetType: 'vehicle', isEnabled: true, defaultShouldCharge: false, rules: CHARGE_RULES })).body.id;
    await s.runFor(60_000);
    expect(v.data.chargeState.isCharging).toBe(false);
    expect(s.control.interfere(v.data.id)).toBe(true);
    expect(v.data.chargeState.isCharging).toBe(true);
    await s.flushWebhooks();
    const last = scheduleEvents(events, id).at(-1)!;
    expect(last['status']).toMatchObject({ state: 'MISALIGNED', isCharging: true, isChargingExpected: false });
    expect(last['updatedFields']).toEqual(expect.arrayContaining(['state', 'isCharging']));
    const change = s.truth().changes.findLast((c) => c.deviceId === v.data.id && c.field === 'chargeState.isCharging')!;
    expect(change).toMatchObject({ cause: 'interference', to: true });
    expect(change.automation).toBeUndefined();
    // Enode stays MISALIGNED until the next boundary; at 07:00 charging is wanted: aligned, no action needed.
    await s.runFor(30 * 60_000);
    expect(scheduleEvents(events, id).at(-1)!['status'].state).toBe('MISALIGNED');
    await s.runFor(Date.parse('2025-01-06T07:00:00Z') - s.clock.nowMs());
    expect(scheduleEvents(events, id).at(-1)!['status']).toMatchObject({ state: 'ALIGNED', isChargingExpected: true });
  });

  it('reports unplugging through the expected-charging parts, and disabling as INACTIVE:DISABLED', async () => {
    const { s, a, events } = capturing();
    const v = pluggedVehicle(s);
    const id = (await a.call('POST', `/users/${v.data.userId}/schedules`, { targetId: v.data.id, targetType: 'vehicle', isEnabled: true, defaultShouldCharge: true, rules: [] })).body.id;
    await s.flushWebhooks();
    expect(scheduleEvents(events, id).at(-1)!['status'].state).toBe('ALIGNED');
    s.control.setPlugged(v.data.id, false);
    await s.flushWebhooks();
    const unplugged = scheduleEvents(events, id).at(-1)!;
    expect(unplugged['status']).toMatchObject({ state: 'ALIGNED', isCharging: false, isChargingExpected: false, isChargingExpectedParts: { isPluggedIn: false, shouldCharge: true } });
    expect(unplugged['updatedFields']).toEqual(expect.arrayContaining(['isCharging', 'isChargingExpected', 'isChargingExpectedParts.isPluggedIn']));
    const put = await a.call('PUT', `/schedules/${id}`, { isEnabled: false });
    expect(put.body.isEnabled).toBe(false);
    await s.flushWebhooks();
    const disabled = scheduleEvents(events, id).at(-1)!;
    expect(disabled['status'].state).toBe('INACTIVE:DISABLED');
    expect(disabled['schedule'].isEnabled).toBe(false);
    expect(disabled['updatedFields']).toContain('state');
  });

  it('executes a charger schedule on the charger (the paired car follows)', async () => {
    const { s, a, events } = capturing();
    const c = find(s, 'charger', (r) => r.homeVehicleId === null);
    s.control.setPlugged(c.data.id, true);
    expect(c.data.chargeState.isCharging).toBe(true);
    const id = (await a.call('POST', `/users/${c.data.userId}/schedules`, { targetId: c.data.id, targetType: 'charger', isEnabled: true, defaultShouldCharge: false, rules: CHARGE_RULES })).body.id;
    await s.runFor(60_000);
    expect(c.data.chargeState.isCharging).toBe(false);
    expect(scheduleEvents(events, id).at(-1)!['status']).toMatchObject({ state: 'ALIGNED', scheduleType: 'CHARGE' });
    expect(s.truth().changes.findLast((x) => x.deviceId === c.data.id && x.field === 'chargeState.isCharging')).toMatchObject({ cause: 'own_automation', automation: { kind: 'enode_schedule', id } });
  });
});

describe('TEMPERATURE schedules', () => {
  it('hold the expected target at each boundary and report current, expected and upcoming targets', async () => {
    const { s, a, events } = capturing({ fleet: { hvacs: 6 } });
    const h = find(s, 'hvac', (r) => r.data.capabilities.capableModes.includes('HEAT') && r.data.capabilities.setPermanentHold.isCapable);
    const created = await a.call('POST', `/users/${h.data.userId}/schedules`, {
      targetId: h.data.id,
      targetType: 'hvac',
      isEnabled: true,
      defaultTargetState: { mode: 'HEAT', heatSetpoint: 18, holdType: 'PERMANENT' },
      rules: [{ hourMinute: { from: '07:00', to: '08:00' }, targetState: { holdType: 'PERMANENT', mode: 'HEAT', heatSetpoint: 22 } }],
    });
    expect(created.status).toBe(200);
    temperatureSchedule.parse(created.body);
    const id = created.body.id as string;
    await s.flushWebhooks();
    const first = scheduleEvents(events, id)[0]!;
    scheduleExecutionUpdated.parse(first);
    expect(first['status']).toMatchObject({
      scheduleType: 'TEMPERATURE',
      state: 'PENDING',
      current: { holdType: 'SCHEDULED' },
      expected: { heatSetpoint: 18, mode: 'HEAT', holdType: 'PERMANENT' },
    });
    expect(first['status'].upcomingTransitions.slice(0, 2)).toEqual([
      { at: '2025-01-06T07:00:00.000Z', target: { heatSetpoint: 22, mode: 'HEAT', holdType: 'PERMANENT' } },
      { at: '2025-01-06T08:00:00.000Z', target: { heatSetpoint: 18, mode: 'HEAT', holdType: 'PERMANENT' } },
    ]);
    await s.runFor(60_000);
    expect(h.data.thermostatState).toMatchObject({ mode: 'HEAT', heatSetpoint: 18, holdType: 'PERMANENT' });
    expect(scheduleEvents(events, id).at(-1)!['status']).toMatchObject({ state: 'ALIGNED', current: { heatSetpoint: 18, mode: 'HEAT', holdType: 'PERMANENT' } });
    await s.runFor(Date.parse('2025-01-06T07:01:00Z') - s.clock.nowMs());
    expect(h.data.thermostatState.heatSetpoint).toBe(22);
    for (const e of scheduleEvents(events, id)) scheduleExecutionUpdated.parse(e);
    const status = await a.call('GET', `/schedules/${id}/status`);
    expect(temperatureScheduleStatus.parse(status.body)).toMatchObject({ state: 'ALIGNED', expected: { heatSetpoint: 22 } });
    const changes = s.truth().changes.filter((c) => c.deviceId === h.data.id && c.field === 'thermostatState.heatSetpoint');
    expect(changes.map((c) => [c.to, c.cause, c.automation?.id])).toEqual([
      [18, 'own_automation', id],
      [22, 'own_automation', id],
    ]);

    // A manual hold by the owner: interference, and the schedule reports MISALIGNED.
    s.control.interfere(h.data.id);
    await s.flushWebhooks();
    expect(scheduleEvents(events, id).at(-1)!['status'].state).toBe('MISALIGNED');
    expect(s.truth().changes.at(-1)!.cause).toBe('interference');
  });
});

describe("Enode's 422 under a schedule", () => {
  it('answers 422 to charging and max-current on a scheduled vehicle or charger, and to HVAC holds under a TEMPERATURE schedule; not once disabled', async () => {
    const { s, a } = capturing({ fleet: { hvacs: 6 } });
    const v = pluggedVehicle(s);
    const c = find(s, 'charger', (r) => r.homeVehicleId === null);
    const h = find(s, 'hvac', (r) => r.data.capabilities.capableModes.includes('HEAT'));
    const charge = { isEnabled: true, defaultShouldCharge: false, rules: CHARGE_RULES };
    const vs = (await a.call('POST', `/users/${v.data.userId}/schedules`, { ...charge, targetId: v.data.id, targetType: 'vehicle' })).body.id;
    await a.call('POST', `/users/${c.data.userId}/schedules`, { ...charge, targetId: c.data.id, targetType: 'charger' });
    await a.call('POST', `/users/${h.data.userId}/schedules`, { targetId: h.data.id, targetType: 'hvac', isEnabled: true, defaultTargetState: { holdType: 'SCHEDULED' }, rules: [] });

    for (const [path, body] of [
      [`/vehicles/${v.data.id}/charging`, { action: 'START' }],
      [`/vehicles/${v.data.id}/max-current`, { maxCurrent: 10 }],
      [`/chargers/${c.data.id}/charging`, { action: 'STOP' }],
      [`/chargers/${c.data.id}/max-current`, { maxCurrent: 10 }],
      [`/hvacs/${h.data.id}/permanent-hold`, { mode: 'HEAT', heatSetpoint: 21 }],
      [`/hvacs/${h.data.id}/follow-schedule`, undefined],
    ] as const) {
      const r = await a.call('POST', path, body);
      expect(r.status, path).toBe(422);
      expect(r.headers.get('content-type')).toContain('application/problem+json');
      expect(r.body.title).toBe('Unprocessable Entity');
      expect(r.body.detail).toContain('controlled by a schedule');
    }
    // Battery controls are untouched; a disabled schedule gives control back.
    await a.call('PUT', `/schedules/${vs}`, { isEnabled: false });
    expect((await a.call('POST', `/vehicles/${v.data.id}/charging`, { action: 'START' })).status).toBe(200);
  });
});
