import { afterEach, describe, expect, it } from 'vitest';
import { api, find, quietSim } from './helpers.js';
import type { Simulator } from '../../src/simulator/index.js';

let sim: Simulator;
afterEach(async () => {
  await sim?.close();
});

function unpluggedVehicle(s: Simulator) {
  return find(s, 'vehicle', (r) => !r.data.chargeState.isPluggedIn && r.sim.level < (r.data.chargeState.chargeLimit ?? 100) - 10);
}

/** A plugged-in vehicle that is not charging (stopped below its limit). */
async function stoppedVehicle(s: Simulator) {
  const v = unpluggedVehicle(s);
  s.control.setPlugged(v.data.id, true);
  const a = api(s);
  const stop = await a.call('POST', `/vehicles/${v.data.id}/charging`, { action: 'STOP' });
  expect(stop.body.state).toBe('PENDING');
  await s.runFor(60_000);
  expect(v.data.chargeState.isCharging).toBe(false);
  return v;
}

describe('action lifecycle', () => {
  it('creates a PENDING action that becomes CONFIRMED after the delay, changing the device at that moment', async () => {
    sim = quietSim();
    const v = await stoppedVehicle(sim);
    const a = api(sim);
    const created = await a.call('POST', `/vehicles/${v.data.id}/charging`, { action: 'START' });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ state: 'PENDING', kind: 'START', targetType: 'vehicle', targetId: v.data.id, completedAt: null, failureReason: null });
    expect(Object.keys(created.body)).toEqual(['id', 'userId', 'createdAt', 'updatedAt', 'completedAt', 'state', 'targetId', 'targetType', 'kind', 'failureReason']);

    await sim.runFor(29_000);
    expect((await a.call('GET', `/vehicles/actions/${created.body.id}`)).body.state).toBe('PENDING');
    expect(v.data.chargeState.isCharging).toBe(false);

    await sim.runFor(1_000);
    const got = await a.call('GET', `/vehicles/actions/${created.body.id}`);
    expect(got.body).toMatchObject({ state: 'CONFIRMED', failureReason: null });
    expect(got.body.completedAt).toBe(sim.clock.iso());
    expect(v.data.chargeState.isCharging).toBe(true);
    expect(v.data.chargeState.powerDeliveryState).toBe('PLUGGED_IN:CHARGING');
    expect(v.data.lastSeen).toBe(got.body.completedAt);
  });

  it('cancels at once with UNNECESSARY when the device already is in the requested state', async () => {
    sim = quietSim();
    const v = unpluggedVehicle(sim);
    const r = await api(sim).call('POST', `/vehicles/${v.data.id}/charging`, { action: 'STOP' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ state: 'CANCELLED', failureReason: { type: 'UNNECESSARY' } });
    expect(r.body.completedAt).toBe(sim.clock.iso());
  });

  it('cancels at once with FAILED_PRECONDITION when starting an unplugged vehicle', async () => {
    sim = quietSim();
    const v = unpluggedVehicle(sim);
    const r = await api(sim).call('POST', `/vehicles/${v.data.id}/charging`, { action: 'START' });
    expect(r.body).toMatchObject({ state: 'CANCELLED', failureReason: { type: 'FAILED_PRECONDITION' } });
  });

  it('cancels with FAILED_PRECONDITION when the vehicle is unplugged while the action is pending', async () => {
    sim = quietSim();
    const v = await stoppedVehicle(sim);
    const a = api(sim);
    const r = await a.call('POST', `/vehicles/${v.data.id}/charging`, { action: 'START' });
    sim.control.setPlugged(v.data.id, false);
    await sim.runFor(60_000);
    expect((await a.call('GET', `/vehicles/actions/${r.body.id}`)).body).toMatchObject({ state: 'CANCELLED', failureReason: { type: 'FAILED_PRECONDITION' } });
  });

  it('cancels the older action with CONFLICT when a newer one targets the same device', async () => {
    sim = quietSim();
    const c = find(sim, 'charger');
    const a = api(sim);
    const first = await a.call('POST', `/chargers/${c.data.id}/max-current`, { maxCurrent: 10 });
    const second = await a.call('POST', `/chargers/${c.data.id}/max-current`, { maxCurrent: 12 });
    expect(first.body.state).toBe('PENDING');
    expect(second.body.state).toBe('PENDING');
    expect(second.body.id).not.toBe(first.body.id);
    expect((await a.call('GET', `/chargers/actions/${first.body.id}`)).body).toMatchObject({ state: 'CANCELLED', failureReason: { type: 'CONFLICT' } });
    await sim.runFor(30_000);
    expect((await a.call('GET', `/chargers/actions/${second.body.id}`)).body).toMatchObject({ state: 'CONFIRMED', targetState: { maxCurrent: 12 } });
    expect(c.data.chargeState.maxCurrent).toBe(12);
  });

  it('reuses the PENDING vehicle charging action of the same kind, and cancels it for a different kind', async () => {
    sim = quietSim();
    const v = await stoppedVehicle(sim);
    const a = api(sim);
    const first = await a.call('POST', `/vehicles/${v.data.id}/charging`, { action: 'START' });
    const again = await a.call('POST', `/vehicles/${v.data.id}/charging`, { action: 'START' });
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.state).toBe('PENDING');
    const stop = await a.call('POST', `/vehicles/${v.data.id}/charging`, { action: 'STOP' });
    expect(stop.body.id).not.toBe(first.body.id);
    expect((await a.call('GET', `/vehicles/actions/${first.body.id}`)).body.failureReason.type).toBe('CONFLICT');
  });

  it('FAILS with NO_RESPONSE after the timeout when the device ignores the action', async () => {
    sim = quietSim({ noResponseRate: 1, actionTimeoutSeconds: 1800 });
    const b = find(sim, 'battery', (r) => r.data.config.operationMode !== 'IMPORT_FOCUS');
    const a = api(sim);
    const r = await a.call('POST', `/batteries/${b.data.id}/operation-mode`, { operationMode: 'IMPORT_FOCUS' });
    expect(r.body).toMatchObject({ state: 'PENDING', targetType: 'battery', targetState: { operationMode: 'IMPORT_FOCUS' } });
    await sim.runFor(1799_000);
    expect((await a.call('GET', `/batteries/actions/${r.body.id}`)).body.state).toBe('PENDING');
    await sim.runFor(1_000);
    expect((await a.call('GET', `/batteries/actions/${r.body.id}`)).body).toMatchObject({ state: 'FAILED', failureReason: { type: 'NO_RESPONSE' } });
    expect(b.data.config.operationMode).not.toBe('IMPORT_FOCUS');
  });

  it('cancels a pending action on request (200 CANCELLED) and answers 409 with the action once resolved', async () => {
    sim = quietSim();
    const h = find(sim, 'hvac');
    const a = api(sim);
    const r = await a.call('POST', `/hvacs/${h.data.id}/permanent-hold`, { mode: 'OFF' });
    expect(r.body).toMatchObject({ state: 'PENDING', target: { mode: 'OFF', holdType: 'PERMANENT' } });
    const cancelled = await a.call('POST', `/hvacs/actions/${r.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ state: 'CANCELLED', failureReason: { type: 'REQUESTED_CANCELLATION' } });
    const again = await a.call('POST', `/hvacs/actions/${r.body.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ id: r.body.id, state: 'CANCELLED' });
    await sim.runFor(60_000);
    expect(h.data.thermostatState.mode).not.toBe('OFF');
  });

  it('applies HVAC permanent holds and follow-schedule', async () => {
    sim = quietSim({ fleet: { hvacs: 6 } });
    const h = find(sim, 'hvac', (r) => r.data.capabilities.capableModes.includes('HEAT'));
    const a = api(sim);
    const hold = await a.call('POST', `/hvacs/${h.data.id}/permanent-hold`, { mode: 'HEAT', heatSetpoint: 23 });
    await sim.runFor(30_000);
    expect((await a.call('GET', `/hvacs/actions/${hold.body.id}`)).body.state).toBe('CONFIRMED');
    expect(h.data.thermostatState).toMatchObject({ mode: 'HEAT', heatSetpoint: 23, holdType: 'PERMANENT' });
    const follow = await a.call('POST', `/hvacs/${h.data.id}/follow-schedule`);
    expect(follow.body.target).toEqual({ holdType: 'SCHEDULED' });
    await sim.runFor(30_000);
    expect(h.data.thermostatState.holdType).toBe('SCHEDULED');
  });

  it.each([
    ['vehicle charging with a bad enum', (ids: Ids): [string, unknown] => [`/vehicles/${ids.vehicle}/charging`, { action: 'GO' }]],
    ['charger max current of zero', (ids: Ids): [string, unknown] => [`/chargers/${ids.charger}/max-current`, { maxCurrent: 0 }]],
    ['HEAT hold without heatSetpoint', (ids: Ids): [string, unknown] => [`/hvacs/${ids.hvac}/permanent-hold`, { mode: 'HEAT' }]],
    ['AUTO hold with one setpoint', (ids: Ids): [string, unknown] => [`/hvacs/${ids.hvac}/permanent-hold`, { mode: 'AUTO', heatSetpoint: 20 }]],
    ['unknown battery operation mode', (ids: Ids): [string, unknown] => [`/batteries/${ids.battery}/operation-mode`, { operationMode: 'TURBO' }]],
    ['malformed JSON', (ids: Ids): [string, unknown] => [`/batteries/${ids.battery}/operation-mode`, '{not json']],
  ] as const)('answers 400 problem for %s', async (_name, build) => {
    sim = quietSim();
    const ids: Ids = {
      vehicle: find(sim, 'vehicle').data.id,
      charger: find(sim, 'charger').data.id,
      hvac: find(sim, 'hvac').data.id,
      battery: find(sim, 'battery').data.id,
    };
    const [path, body] = build(ids);
    const r = await api(sim).call('POST', path, body);
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.body).toMatchObject({ type: expect.any(String), title: 'Bad Request', detail: expect.any(String) });
  });

  it('answers 400 when the device is not capable and when a setpoint is out of range', async () => {
    sim = quietSim({ incapableRate: 1 });
    const v = find(sim, 'vehicle');
    const r = await api(sim).call('POST', `/vehicles/${v.data.id}/charging`, { action: 'START' });
    expect(r.status).toBe(400);
    const h = find(sim, 'hvac');
    const hold = await api(sim).call('POST', `/hvacs/${h.data.id}/permanent-hold`, { mode: 'OFF' });
    expect(hold.status).toBe(400);
    sim = quietSim();
    const heat = find(sim, 'hvac', (x) => x.data.capabilities.capableModes.includes('HEAT'));
    const out = await api(sim).call('POST', `/hvacs/${heat.data.id}/permanent-hold`, { mode: 'HEAT', heatSetpoint: 99 });
    expect(out.status).toBe(400);
  });

  it('answers 404 for unknown devices and actions, and for actions asked under the wrong type', async () => {
    sim = quietSim();
    const a = api(sim);
    expect((await a.call('POST', '/vehicles/nope/charging', { action: 'START' })).status).toBe(404);
    expect((await a.call('GET', '/vehicles/actions/nope')).status).toBe(404);
    expect((await a.call('POST', '/chargers/actions/nope/cancel')).status).toBe(404);
    const c = find(sim, 'charger');
    const r = await a.call('POST', `/chargers/${c.data.id}/max-current`, { maxCurrent: 10 });
    expect((await a.call('GET', `/vehicles/actions/${r.body.id}`)).status).toBe(404);
    expect((await a.call('GET', `/chargers/actions/${r.body.id}`)).status).toBe(200);
  });

  it('cancels a pending action with NOT_FOUND when its device is deleted', async () => {
    sim = quietSim();
    const c = find(sim, 'charger');
    const a = api(sim);
    const r = await a.call('POST', `/chargers/${c.data.id}/max-current`, { maxCurrent: 10 });
    sim.world.removeDevice(c.data.id);
    expect((await a.call('GET', `/chargers/actions/${r.body.id}`)).body.failureReason.type).toBe('NOT_FOUND');
  });
});

interface Ids {
  vehicle: string;
  charger: string;
  hvac: string;
  battery: string;
}
