import { afterEach, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { api, find, quietSim } from './helpers.js';

let sim: Simulator;
afterEach(async () => {
  await sim?.close();
});

describe('device lists', () => {
  it('walks every page with pageSize=3: each device exactly once, newest first', async () => {
    sim = quietSim({ fleet: { vehicles: 10 } });
    const a = api(sim);
    const seen: Array<{ id: string }> = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const q: string = after ? `&after=${encodeURIComponent(after)}` : '';
      const r = await a.call('GET', `/vehicles?pageSize=3${q}`);
      expect(r.status).toBe(200);
      expect(r.body.data.length).toBeLessThanOrEqual(3);
      if (pages > 0) expect(r.body.pagination.before).not.toBeNull();
      seen.push(...r.body.data);
      after = r.body.pagination.after;
      pages++;
    } while (after);
    expect(pages).toBe(4);
    const expected = sim.world.list('vehicle').map((r) => r.data.id);
    expect(seen.map((v) => v.id)).toEqual(expected);
    const seqs = sim.world.list('vehicle').map((r) => r.seq);
    expect([...seqs].sort((x, y) => y - x)).toEqual(seqs);
    expect(new Set(seen.map((v) => v.id)).size).toBe(10);
  });

  it('pages backwards with before', async () => {
    sim = quietSim({ fleet: { vehicles: 7 } });
    const a = api(sim);
    const p1 = await a.call('GET', '/vehicles?pageSize=3');
    const p2 = await a.call('GET', `/vehicles?pageSize=3&after=${p1.body.pagination.after}`);
    const back = await a.call('GET', `/vehicles?pageSize=3&before=${p2.body.pagination.before}`);
    expect(back.body.data).toEqual(p1.body.data);
    expect(back.body.pagination.before).toBeNull();
  });

  it('rejects bad page parameters with 400', async () => {
    sim = quietSim();
    const a = api(sim);
    expect((await a.call('GET', '/chargers?pageSize=0')).status).toBe(400);
    expect((await a.call('GET', '/chargers?after=garbage')).status).toBe(400);
    expect((await a.call('GET', '/chargers?after=x&before=y')).status).toBe(400);
  });

  it('serves single devices in the 2024-10-01 shape and 404 problems for unknown ids', async () => {
    sim = quietSim();
    const a = api(sim);
    const v = find(sim, 'vehicle');
    const r = await a.call('GET', `/vehicles/${v.data.id}`);
    expect(Object.keys(r.body)).toEqual(
      expect.arrayContaining(['id', 'userId', 'vendor', 'lastSeen', 'isReachable', 'information', 'chargeState', 'smartChargingPolicy', 'odometer', 'capabilities', 'scopes', 'location']),
    );
    expect(r.body.capabilities.startCharging).toEqual({ isCapable: true, interventionIds: [] });
    const h = await a.call('GET', `/hvacs/${find(sim, 'hvac').data.id}`);
    expect(h.body.thermostatState).toMatchObject({ holdType: 'SCHEDULED', mode: expect.any(String) });
    const b = await a.call('GET', `/batteries/${find(sim, 'battery').data.id}`);
    expect(b.body.config.operationMode).toEqual(expect.any(String));
    const nf = await a.call('GET', '/hvacs/does-not-exist');
    expect(nf.status).toBe(404);
    expect(nf.headers.get('content-type')).toContain('application/problem+json');
  });

  it('lists a user’s devices; users own 1–3 devices', async () => {
    sim = quietSim({ devices: 30 });
    const a = api(sim);
    for (const user of sim.world.users.values()) {
      const n = sim.world.list(undefined, user.id).length;
      expect(n).toBeGreaterThanOrEqual(1);
      expect(n).toBeLessThanOrEqual(3);
    }
    const v = find(sim, 'vehicle');
    const r = await a.call('GET', `/users/${v.data.userId}/vehicles`);
    expect(r.body.data.map((d: { id: string }) => d.id)).toContain(v.data.id);
    expect((await a.call('GET', '/users/nobody/vehicles')).status).toBe(404);
  });
});

describe('physics', () => {
  it('charges by chargeRate, stops at the charge limit with PLUGGED_IN:COMPLETE, and the home charger mirrors', async () => {
    sim = quietSim({ seed: 3, devices: 40 });
    const v = find(sim, 'vehicle', (r) => r.homeChargerId !== null && r.sim.level < 60);
    v.data.chargeState.chargeLimit = 100;
    sim.control.setPlugged(v.data.id, true);
    const charger = sim.world.getTyped('charger', v.homeChargerId)!;
    expect(v.data.chargeState).toMatchObject({ isPluggedIn: true, isCharging: true, powerDeliveryState: 'PLUGGED_IN:CHARGING', pluggedInChargerId: charger.data.id });
    expect(charger.data.chargeState).toMatchObject({ isPluggedIn: true, isCharging: true, pluggedInVehicleId: v.data.id });
    const before = v.data.chargeState.batteryLevel!;
    const rate = v.data.chargeState.chargeRate!;
    await sim.runFor(3600_000);
    const expectedGain = (rate / v.data.chargeState.batteryCapacity!) * 100;
    expect(v.data.chargeState.batteryLevel!).toBeGreaterThanOrEqual(Math.min(100, Math.floor(before + expectedGain) - 1));
    await sim.runFor(24 * 3600_000);
    expect(v.data.chargeState).toMatchObject({ batteryLevel: 100, isCharging: false, isFullyCharged: true, powerDeliveryState: 'PLUGGED_IN:COMPLETE', chargeRate: null });
    expect(charger.data.chargeState).toMatchObject({ isCharging: false, powerDeliveryState: 'PLUGGED_IN:STOPPED' });
    const natural = sim.truth().changes.filter((c) => c.deviceId === v.data.id && c.field === 'chargeState.isCharging' && c.to === false);
    expect(natural.at(-1)).toMatchObject({ cause: 'natural', detail: 'charge limit reached' });
  });

  it('bumps lastSeen and the section lastUpdated on every real change, and reports dotted updatedFields', async () => {
    sim = quietSim();
    const v = find(sim, 'vehicle', (r) => !r.data.chargeState.isPluggedIn);
    sim.advance(5 * 60_000);
    const fields = sim.world.update(v, { cause: 'natural', detail: 'test' }, (d) => {
      d.chargeState.isPluggedIn = true;
    });
    expect(fields).toEqual(['chargeState.isPluggedIn']);
    expect(v.data.lastSeen).toBe(sim.clock.iso());
    expect(v.data.chargeState.lastUpdated).toBe(sim.clock.iso());
    expect(v.data.odometer.lastUpdated).not.toBe(sim.clock.iso());
    expect(sim.world.update(v, { cause: 'natural', detail: 'noop' }, () => {})).toEqual([]);
  });
});
