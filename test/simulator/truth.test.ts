import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../../src/simulator/index.js';
import { api, find, quietSim, startReceiver, type Receiver } from './helpers.js';

let sims: Simulator[] = [];
let receiver: Receiver | undefined;
afterEach(async () => {
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
  await receiver?.close();
  receiver = undefined;
});

function busySim(seed: number): Simulator {
  const s = createSimulator({ seed, devices: 20, interferenceRate: 0.5, userActivityRate: 2, noResponseRate: 0.2, heartbeatSeconds: 0 });
  sims.push(s);
  return s;
}

/** The same commands at the same sim times. */
async function script(s: Simulator): Promise<void> {
  const a = api(s);
  const battery = s.world.list('battery').at(-1)!;
  const hvac = s.world.list('hvac').at(-1)!;
  await a.call('POST', `/batteries/${battery.data.id}/operation-mode`, { operationMode: 'IDLE' });
  await s.runFor(20 * 60_000);
  await a.call('POST', `/hvacs/${hvac.data.id}/follow-schedule`);
  await s.runFor(40 * 60_000);
}

describe('ground truth', () => {
  it('is identical for the same seed after the same simulated hour', async () => {
    const a = busySim(1234);
    const b = busySim(1234);
    await script(a);
    await script(b);
    const ta = a.truth();
    const tb = b.truth();
    expect(ta.changes.length).toBeGreaterThan(10);
    expect(tb.changes).toEqual(ta.changes);
    expect(tb.actions).toEqual(ta.actions);
    expect(b.world.list().map((r) => r.data)).toEqual(a.world.list().map((r) => r.data));
  });

  it('differs for a different seed', async () => {
    const a = busySim(1);
    const b = busySim(2);
    await a.runFor(3600_000);
    await b.runFor(3600_000);
    expect(b.truth().changes).not.toEqual(a.truth().changes);
  });

  it('stays deterministic with webhook faults and delivery in play', async () => {
    receiver = await startReceiver();
    const plain = busySim(77);
    const faulty = createSimulator({
      seed: 77, devices: 20, interferenceRate: 0.5, userActivityRate: 2, noResponseRate: 0.2, heartbeatSeconds: 60,
      webhookUrl: receiver.url, webhookSecret: 'secret-secret', dropRate: 0.2, duplicateRate: 0.2, reorderRate: 0.5,
    });
    sims.push(faulty);
    await plain.runFor(3600_000);
    await faulty.runFor(3600_000);
    expect(faulty.truth().changes).toEqual(plain.truth().changes);
    expect(receiver.received.length).toBeGreaterThan(0);
  });

  it('records third-party changes with cause interference', async () => {
    const s = createSimulator({ seed: 5, devices: 20, interferenceRate: 2, userActivityRate: 0, heartbeatSeconds: 0 });
    sims.push(s);
    await s.runFor(3600_000);
    const interference = s.truth().changes.filter((c) => c.cause === 'interference');
    expect(interference.length).toBeGreaterThan(5);
    for (const c of interference) {
      expect(c.actionId).toBeUndefined();
      expect(c.detail).toEqual(expect.any(String));
      expect(c.from).not.toEqual(c.to);
    }
    const fields = new Set(interference.map((c) => c.field));
    expect([...fields].some((f) => f === 'config.operationMode' || f.startsWith('thermostatState.') || f.startsWith('chargeState.'))).toBe(true);
  });

  it('records forced interference on a plugged-in, charging vehicle as interference (isCharging true → false)', async () => {
    const s = quietSim();
    sims.push(s);
    const v = find(s, 'vehicle', (r) => !r.data.chargeState.isPluggedIn && r.sim.level < 70);
    s.control.setPlugged(v.data.id, true);
    expect(s.control.interfere(v.data.id)).toBe(true);
    const change = s.truth().changes.find((c) => c.deviceId === v.data.id && c.field === 'chargeState.isCharging' && c.cause === 'interference');
    expect(change).toMatchObject({ from: true, to: false, deviceType: 'vehicle', userId: v.data.userId, at: s.clock.iso() });
  });

  it('records own-action changes with the action id, natural ones as natural, and every action’s final state', async () => {
    const s = quietSim();
    sims.push(s);
    const b = find(s, 'battery', (r) => r.data.config.operationMode !== 'EXPORT_FOCUS' && r.data.capabilities.exportFocus.isCapable);
    const v = find(s, 'vehicle', (r) => !r.data.chargeState.isPluggedIn);
    const r = await api(s).call('POST', `/batteries/${b.data.id}/operation-mode`, { operationMode: 'EXPORT_FOCUS' });
    s.control.setPlugged(v.data.id, true);
    await s.runFor(60_000);
    const t = s.truth();
    expect(t.changes.find((c) => c.field === 'config.operationMode' && c.deviceId === b.data.id)).toMatchObject({
      cause: 'own_action',
      actionId: r.body.id,
      to: 'EXPORT_FOCUS',
    });
    expect(t.changes.find((c) => c.deviceId === v.data.id && c.field === 'chargeState.isPluggedIn')).toMatchObject({ cause: 'natural', from: false, to: true });
    expect(t.actions.find((x) => x.id === r.body.id)).toMatchObject({ state: 'CONFIRMED' });
  });

  it('serves truth and a state summary over /_sim and advances time via POST /_sim/advance', async () => {
    const s = quietSim();
    sims.push(s);
    const start = s.clock.nowMs();
    const adv = await s.app.request('http://sim.test/_sim/advance', { method: 'POST', body: JSON.stringify({ seconds: 600 }) });
    expect(adv.status).toBe(200);
    expect(((await adv.json()) as { now: string }).now).toBe(new Date(start + 600_000).toISOString());
    const truth = (await (await s.app.request('http://sim.test/_sim/truth')).json()) as Record<string, unknown>;
    expect(Object.keys(truth)).toEqual(['changes', 'actions', 'droppedEvents', 'deliveries', 'webhookStats']);
    const state = (await (await s.app.request('http://sim.test/_sim/state')).json()) as { devices: Record<string, number> };
    expect(state.devices).toEqual({ vehicle: 8, charger: 5, hvac: 4, battery: 3 });
    expect((await s.app.request('http://sim.test/_sim/advance', { method: 'POST', body: '{"seconds":-1}' })).status).toBe(400);
  });
});
