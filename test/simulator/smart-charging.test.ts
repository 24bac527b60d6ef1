import { afterEach, describe, expect, it } from 'vitest';
import type { Simulator, SimulatorOptions } from '../../src/simulator/index.js';
import { chargeScheduleStatus, smartChargingPlan, smartChargingPolicy, smartChargingStatus, smartChargingStatusUpdated, smartOverrideResponse } from './automation-shapes.js';
import { capturingSim, find, type Api } from './helpers.js';

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

function capturing(overrides: Partial<SimulatorOptions> = {}) {
  const c = capturingSim(overrides);
  sim = c.s;
  return c;
}

const smartEvents = (events: Array<Record<string, any>>, vehicleId: string) =>
  events.filter((e) => e['event'] === 'user:vehicle:smart-charging-status-updated' && e['smartChargingStatus'].vehicleId === vehicleId);
const states = (events: Array<Record<string, any>>, vehicleId: string) => smartEvents(events, vehicleId).map((e) => e['smartChargingStatus'].state as string);

/** An unplugged vehicle far below its limit, with the policy enabled through the API. */
async function smartVehicle(s: Simulator, a: Api, deadline = '23:00') {
  const v = find(s, 'vehicle', (r) => !r.data.chargeState.isPluggedIn && r.sim.level < (r.data.chargeState.chargeLimit ?? 100) - 35);
  const put = await a.call('PUT', `/vehicles/${v.data.id}/smart-charging-policy`, { isEnabled: true, deadline });
  expect(put.status).toBe(200);
  expect(smartChargingPolicy.parse(put.body)).toEqual({ isEnabled: true, deadline, minimumChargeLimit: 0 });
  return v;
}

/** Runs until the vehicle's smart status reaches `state` (at most `hours`). */
async function until(s: Simulator, a: Api, vehicleId: string, state: string, hours = 12): Promise<void> {
  for (let i = 0; i < hours * 60; i++) {
    if ((await a.call('GET', `/vehicles/${vehicleId}/smart-charging-status`)).body.state === state) return;
    await s.runFor(60_000);
  }
  throw new Error(`${state} not reached`);
}

describe('smart charging policy', () => {
  it('reads and updates the policy, refusing a missing deadline and a minimum above the charge limit', async () => {
    const { s, a } = capturing();
    const v = find(s, 'vehicle');
    expect((await a.call('GET', `/vehicles/${v.data.id}/smart-charging-policy`)).body).toEqual({ isEnabled: false, deadline: null, minimumChargeLimit: 0 });
    expect((await a.call('PUT', `/vehicles/${v.data.id}/smart-charging-policy`, { isEnabled: true })).status).toBe(400);
    expect((await a.call('PUT', `/vehicles/${v.data.id}/smart-charging-policy`, { deadline: '7:00' })).status).toBe(400);
    expect((await a.call('PUT', `/vehicles/${v.data.id}/smart-charging-policy`, { minimumChargeLimit: 101 })).status).toBe(400);
    expect((await a.call('PUT', '/vehicles/nope/smart-charging-policy', { isEnabled: false })).status).toBe(404);
    const status = await a.call('GET', `/vehicles/${v.data.id}/smart-charging-status`);
    expect(smartChargingStatus.parse(status.body)).toMatchObject({ state: 'DISABLED', plan: null, smartOverride: null });
    const put = await a.call('PUT', `/vehicles/${v.data.id}/smart-charging-policy`, { isEnabled: true, deadline: '07:00', minimumChargeLimit: 20 });
    expect(put.body).toEqual({ isEnabled: true, deadline: '07:00', minimumChargeLimit: 20 });
    expect(v.data.smartChargingPolicy).toEqual(put.body);
    expect((await a.call('GET', `/vehicles/${v.data.id}/smart-charging-status`)).body.state).toBe('CONSIDERING');
  });
});

describe('smart charging plans', () => {
  it('runs a whole plan on plug-in: CONSIDERING → STOPPING → STOPPED → STARTING → STARTED → ENDED:FINISHED, each change a spec-shaped event', async () => {
    const { s, a, events } = capturing();
    const v = await smartVehicle(s, a);
    s.control.setPlugged(v.data.id, true);
    await s.runFor(2 * 60_000);
    const status = (await a.call('GET', `/vehicles/${v.data.id}/smart-charging-status`)).body;
    expect(status.state).toBe('PLAN:EXECUTING:STOPPING');
    const plan = smartChargingPlan.parse(status.plan);
    expect(plan).toMatchObject({ vehicleId: v.data.id, userId: v.data.userId, vendor: v.data.vendor, stopAt: s.clock.iso(), endedAt: null, finalState: null });
    const startMs = Date.parse(plan.startAt!);
    expect(startMs - s.clock.nowMs()).toBeGreaterThanOrEqual(30 * 60_000);
    expect(startMs - s.clock.nowMs()).toBeLessThanOrEqual(121 * 60_000);
    // While the plan executes, basic charging control answers 422.
    const refused = await a.call('POST', `/vehicles/${v.data.id}/charging`, { action: 'START' });
    expect(refused.status).toBe(422);
    expect(refused.body.detail).toContain('active smart charging plan');
    expect((await a.call('POST', `/vehicles/${v.data.id}/max-current`, { maxCurrent: 10 })).status).toBe(422);

    await s.runFor(30_000);
    expect(v.data.chargeState.isCharging).toBe(false);
    expect((await a.call('GET', `/vehicles/${v.data.id}/smart-charging-plans/${plan.id}`)).body.stopConfirmedAt).toBe(s.clock.iso());
    await s.runFor(startMs - s.clock.nowMs());
    expect((await a.call('GET', `/vehicles/${v.data.id}/smart-charging-status`)).body.state).toBe('PLAN:EXECUTING:STARTING');
    await s.runFor(30_000);
    expect(v.data.chargeState.isCharging).toBe(true);
    await until(s, a, v.data.id, 'PLAN:ENDED:FINISHED');
    await s.flushWebhooks();

    expect(states(events, v.data.id)).toEqual([
      'CONSIDERING', // policy enabled
      'CONSIDERING', // plugged in (consideration changes)
      'PLAN:EXECUTING:STOPPING',
      'PLAN:EXECUTING:STOPPED',
      'PLAN:EXECUTING:STARTING',
      'PLAN:EXECUTING:STARTED',
      'PLAN:ENDED:FINISHED',
    ]);
    const mine = smartEvents(events, v.data.id);
    for (const e of mine) smartChargingStatusUpdated.parse(e);
    expect(mine[1]!['updatedFields']).toEqual(expect.arrayContaining(['consideration.isPluggedIn', 'consideration.isCharging']));
    expect(mine[2]!['updatedFields']).toEqual(expect.arrayContaining(['state', 'stateChangedAt', 'plan']));
    const last = mine.at(-1)!['smartChargingStatus'];
    expect(last.plan).toMatchObject({ id: plan.id, finalState: 'PLAN:ENDED:FINISHED', endedAt: last.stateChangedAt });
    expect(last.plan.startConfirmedAt).not.toBeNull();
    expect((await a.call('GET', `/vehicles/${v.data.id}/smart-charging-plans/latest`)).body).toEqual(last.plan);
    expect((await a.call('GET', `/vehicles/${v.data.id}/smart-charging-plans/nope`)).status).toBe(404);
    // No longer executing: basic control is back.
    expect((await a.call('POST', `/vehicles/${v.data.id}/charging`, { action: 'STOP' })).status).toBe(200);

    // The plan's stop and start are own automation with the plan's id; its actions went out as vendor actions.
    const flips = s.truth().changes.filter((c) => c.deviceId === v.data.id && c.field === 'chargeState.isCharging');
    expect(flips.map((c) => [c.to, c.cause, c.automation?.kind, c.automation?.id])).toEqual([
      [true, 'natural', undefined, undefined], // plugged in
      [false, 'own_automation', 'smart_charging_plan', plan.id],
      [true, 'own_automation', 'smart_charging_plan', plan.id],
      [false, 'natural', undefined, undefined], // charge limit reached
    ]);
    const planActions = events.filter((e) => e['event'] === 'user:vendor-action:updated' && flips.slice(1, 3).some((f) => f.actionId === e['vendorAction'].id));
    expect(planActions.map((e) => `${e['vendorAction'].kind} ${e['vendorAction'].state}`)).toEqual(['STOP PENDING', 'STOP CONFIRMED', 'START PENDING', 'START CONFIRMED']);
  });

  it('ends the plan with PLAN:ENDED:UNPLUGGED on unplug and PLAN:ENDED:DISABLED when the policy is disabled', async () => {
    const { s, a, events } = capturing();
    const v = await smartVehicle(s, a);
    s.control.setPlugged(v.data.id, true);
    await s.runFor(3 * 60_000);
    s.control.setPlugged(v.data.id, false);
    await s.flushWebhooks();
    expect(states(events, v.data.id).slice(-2)).toEqual(['PLAN:EXECUTING:STOPPED', 'PLAN:ENDED:UNPLUGGED']);
    expect(smartEvents(events, v.data.id).at(-1)!['smartChargingStatus'].plan).toMatchObject({ finalState: 'PLAN:ENDED:UNPLUGGED', endedAt: s.clock.iso() });

    s.control.setPlugged(v.data.id, true);
    await s.runFor(3 * 60_000);
    expect(states(events, v.data.id).at(-1)).toBe('PLAN:EXECUTING:STOPPED');
    const put = await a.call('PUT', `/vehicles/${v.data.id}/smart-charging-policy`, { isEnabled: false });
    expect(put.body.isEnabled).toBe(false);
    await s.flushWebhooks();
    expect(states(events, v.data.id).at(-1)).toBe('PLAN:ENDED:DISABLED');
    for (const e of smartEvents(events, v.data.id)) smartChargingStatusUpdated.parse(e);
    // No plan now: basic control answers again, and the plan's start never comes.
    expect((await a.call('POST', `/vehicles/${v.data.id}/charging`, { action: 'START' })).status).toBe(200);
    await s.runFor(3 * 3600_000);
    expect(s.truth().changes.filter((c) => c.deviceId === v.data.id && c.cause === 'own_automation' && c.field === 'chargeState.isCharging').map((c) => c.to)).toEqual([false, false]);
  });

  it('ends the plan with PLAN:ENDED:DEADLINE_CHANGED on a new deadline, then considers a new one', async () => {
    const { s, a, events } = capturing();
    const v = await smartVehicle(s, a);
    s.control.setPlugged(v.data.id, true);
    await s.runFor(3 * 60_000);
    const first = (await a.call('GET', `/vehicles/${v.data.id}/smart-charging-status`)).body.plan.id;
    await a.call('PUT', `/vehicles/${v.data.id}/smart-charging-policy`, { deadline: '22:00' });
    await s.runFor(3 * 60_000);
    // The car is not charging any more: the new plan's STOP is UNNECESSARY, so STOPPED at once.
    expect(states(events, v.data.id).slice(-3)).toEqual(['PLAN:ENDED:DEADLINE_CHANGED', 'CONSIDERING', 'PLAN:EXECUTING:STOPPED']);
    const ended = smartEvents(events, v.data.id).find((e) => e['smartChargingStatus'].state === 'PLAN:ENDED:DEADLINE_CHANGED')!;
    expect(ended['smartChargingStatus'].plan).toMatchObject({ id: first, finalState: 'PLAN:ENDED:DEADLINE_CHANGED' });
    const second = (await a.call('GET', `/vehicles/${v.data.id}/smart-charging-plans/latest`)).body;
    expect(second.id).not.toBe(first);
    expect((await a.call('GET', `/vehicles/${v.data.id}/smart-charging-plans/${first}`)).body.finalState).toBe('PLAN:ENDED:DEADLINE_CHANGED');
  });

  it('waits below the minimum charge limit (charging at once), then plans', async () => {
    const { s, a } = capturing();
    const v = find(s, 'vehicle', (r) => !r.data.chargeState.isPluggedIn && r.sim.level < 60 && (r.data.chargeState.chargeLimit ?? 100) >= 80);
    await a.call('PUT', `/vehicles/${v.data.id}/smart-charging-policy`, { isEnabled: true, deadline: '23:00', minimumChargeLimit: Math.ceil(v.sim.level) + 5 });
    s.control.setPlugged(v.data.id, true);
    await s.runFor(10 * 60_000);
    expect((await a.call('GET', `/vehicles/${v.data.id}/smart-charging-status`)).body.state).toBe('CONSIDERING');
    expect(v.data.chargeState.isCharging).toBe(true);
    await until(s, a, v.data.id, 'PLAN:EXECUTING:STOPPED', 3);
    expect(v.sim.level).toBeGreaterThanOrEqual(v.data.smartChargingPolicy.minimumChargeLimit);
  });
});

describe('smart override', () => {
  it('starts charging now through a vendor action, shows OVERRIDDEN and ends on DELETE, the plan taking control again', async () => {
    const { s, a, events } = capturing();
    const v = await smartVehicle(s, a);
    s.control.setPlugged(v.data.id, true);
    await s.runFor(3 * 60_000);
    expect(v.data.chargeState.isCharging).toBe(false);

    const created = await a.call('POST', `/vehicles/${v.data.id}/smart-override`);
    expect(created.status).toBe(200);
    expect(smartOverrideResponse.parse(created.body)).toMatchObject({ endedAt: null, targetType: 'vehicle', targetId: v.data.id, userId: v.data.userId, vendor: v.data.vendor, createdAt: s.clock.iso() });
    const actionId = created.body.vendorActionId as string;
    expect(s.actions.list().find((x) => x.id === actionId)).toMatchObject({ kind: 'START', state: 'PENDING' });
    expect((await a.call('POST', `/vehicles/${v.data.id}/smart-override`)).body.vendorActionId).toBe(actionId);
    await s.runFor(30_000);
    expect(v.data.chargeState.isCharging).toBe(true);
    let status = (await a.call('GET', `/vehicles/${v.data.id}/smart-charging-status`)).body;
    expect(status).toMatchObject({ state: 'PLAN:EXECUTING:OVERRIDDEN', smartOverride: { endedAt: null, vendorActionId: actionId } });
    expect(s.truth().changes.findLast((c) => c.deviceId === v.data.id && c.field === 'chargeState.isCharging')).toMatchObject({
      to: true,
      cause: 'own_automation',
      automation: { kind: 'smart_override', id: actionId },
      actionId,
    });
    // Under an override, basic control is not refused.
    expect((await a.call('POST', `/vehicles/${v.data.id}/max-current`, { maxCurrent: 16 })).status).not.toBe(422);

    const ended = await a.call('DELETE', `/vehicles/${v.data.id}/smart-override`);
    expect(ended.status).toBe(200);
    expect(smartOverrideResponse.parse(ended.body)).toMatchObject({ vendorActionId: actionId, endedAt: s.clock.iso() });
    await s.flushWebhooks();
    const endEvent = smartEvents(events, v.data.id).find((e) => e['smartChargingStatus'].smartOverride?.endedAt)!;
    smartChargingStatusUpdated.parse(endEvent);
    expect(endEvent['updatedFields']).toContain('smartOverride.endedAt');
    expect((await a.call('DELETE', `/vehicles/${v.data.id}/smart-override`)).status).toBe(404);
    // Before the plan's start: the plan stops charging again.
    await s.runFor(30_000);
    expect(v.data.chargeState.isCharging).toBe(false);
    status = (await a.call('GET', `/vehicles/${v.data.id}/smart-charging-status`)).body;
    expect(status.state).toBe('PLAN:EXECUTING:STOPPED');
    expect(states(events, v.data.id)).toContain('PLAN:EXECUTING:OVERRIDDEN');
  });

  it('ends on unplug, with the plan (PLAN:ENDED:UNPLUGGED)', async () => {
    const { s, a, events } = capturing();
    const v = await smartVehicle(s, a);
    s.control.setPlugged(v.data.id, true);
    await s.runFor(3 * 60_000);
    await a.call('POST', `/vehicles/${v.data.id}/smart-override`);
    await s.runFor(30_000);
    s.control.setPlugged(v.data.id, false);
    await s.flushWebhooks();
    const last = smartEvents(events, v.data.id).at(-1)!;
    smartChargingStatusUpdated.parse(last);
    expect(last['smartChargingStatus']).toMatchObject({ state: 'PLAN:ENDED:UNPLUGGED', smartOverride: { endedAt: s.clock.iso() }, plan: { finalState: 'PLAN:ENDED:UNPLUGGED' } });
    expect((await a.call('DELETE', `/vehicles/${v.data.id}/smart-override`)).status).toBe(404);
  });

  it('ends when charging stops for any reason (here a third party)', async () => {
    const { s, a, events } = capturing();
    const v = await smartVehicle(s, a);
    s.control.setPlugged(v.data.id, true);
    await s.runFor(3 * 60_000);
    await a.call('POST', `/vehicles/${v.data.id}/smart-override`);
    await s.runFor(30_000);
    expect(v.data.chargeState.isCharging).toBe(true);
    s.control.interfere(v.data.id);
    expect(v.data.chargeState.isCharging).toBe(false);
    await s.flushWebhooks();
    const last = smartEvents(events, v.data.id).at(-1)!['smartChargingStatus'];
    expect(last.smartOverride.endedAt).toBe(s.clock.iso());
    expect(s.truth().changes.findLast((c) => c.deviceId === v.data.id && c.field === 'chargeState.isCharging')!.cause).toBe('interference');
  });

  it('overrides a CHARGE schedule too (INACTIVE:OVERRIDDEN), and answers 400 when there is nothing to override or the vehicle is unplugged', async () => {
    const { s, a, events } = capturing();
    const v = find(s, 'vehicle', (r) => !r.data.chargeState.isPluggedIn && r.sim.level < (r.data.chargeState.chargeLimit ?? 100) - 35);
    const none = await a.call('POST', `/vehicles/${v.data.id}/smart-override`);
    expect(none.status).toBe(400);
    expect(none.body.detail).toContain('Nothing to override');
    expect((await a.call('POST', '/vehicles/nope/smart-override')).status).toBe(404);
    const id = (await a.call('POST', `/users/${v.data.userId}/schedules`, { targetId: v.data.id, targetType: 'vehicle', isEnabled: true, defaultShouldCharge: false, rules: [] })).body.id;
    expect((await a.call('POST', `/vehicles/${v.data.id}/smart-override`)).body.detail).toContain('not plugged in');
    s.control.setPlugged(v.data.id, true);
    await s.runFor(60_000);
    expect(v.data.chargeState.isCharging).toBe(false);
    const o = await a.call('POST', `/vehicles/${v.data.id}/smart-override`);
    expect(o.status).toBe(200);
    await s.runFor(30_000);
    expect(v.data.chargeState.isCharging).toBe(true);
    const status = chargeScheduleStatus.parse((await a.call('GET', `/schedules/${id}/status`)).body);
    expect(status).toMatchObject({ state: 'INACTIVE:OVERRIDDEN', smartOverride: { vendorActionId: o.body.vendorActionId, endedAt: null } });
    // INACTIVE: basic control is allowed while overridden.
    expect((await a.call('POST', `/vehicles/${v.data.id}/charging`, { action: 'START' })).status).toBe(200);
    await a.call('DELETE', `/vehicles/${v.data.id}/smart-override`);
    await s.runFor(30_000);
    expect(v.data.chargeState.isCharging).toBe(false);
    const after = events.filter((e) => e['event'] === 'user:schedule:execution-updated' && e['status'].scheduleId === id).map((e) => e['status'].state);
    expect(after).toEqual(expect.arrayContaining(['INACTIVE:OVERRIDDEN', 'ALIGNED']));
    expect(after.at(-1)).toBe('ALIGNED');
  });
});
