import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, parseSimulatorOptions, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { scheduleExecutionUpdated, smartChargingStatusUpdated } from './automation-shapes.js';
import { api, capturedWebhooks } from './helpers.js';

let sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
});

/** A busy world (owners plugging in, third parties) whose webhook events land in `events`. */
function busy(overrides: Partial<SimulatorOptions> = {}) {
  const events: Array<Record<string, any>> = [];
  const s = createSimulator({
    seed: 11,
    devices: 40,
    userActivityRate: 2,
    interferenceRate: 0.3,
    heartbeatSeconds: 0,
    ...capturedWebhooks(events),
    ...overrides,
  });
  sims.push(s);
  return { s, events };
}

async function schedulesOf(s: Simulator) {
  const a = api(s);
  const all = [];
  for (const userId of s.world.users.keys()) all.push(...(await a.call('GET', `/users/${userId}/schedules`)).body.data);
  return all;
}

describe('automations in the simulated fleet', () => {
  it('are off by default: no schedules, no smart charging, no automation events or own_automation truth', async () => {
    const { s, events } = busy();
    await s.runFor(4 * 3600_000);
    expect(await schedulesOf(s)).toEqual([]);
    expect(s.world.list('vehicle').every((r) => r.type === 'vehicle' && !r.data.smartChargingPolicy.isEnabled)).toBe(true);
    expect(events.some((e) => e['event'] === 'user:schedule:execution-updated' || e['event'] === 'user:vehicle:smart-charging-status-updated')).toBe(false);
    expect(s.truth().changes.some((c) => c.cause === 'own_automation')).toBe(false);
  });

  it('gives a seeded share schedules and smart charging, which then run: spec-shaped events and own_automation truth, deterministically', async () => {
    const run = async () => {
      const { s, events } = busy({ schedulesShare: 0.4, smartChargingShare: 0.5 });
      const schedules = await schedulesOf(s);
      await s.runFor(10 * 3600_000);
      return { s, events, schedules };
    };
    const one = await run();
    const two = await run();
    expect(two.schedules).toEqual(one.schedules);
    expect(two.s.truth().changes).toEqual(one.s.truth().changes);

    const { s, events, schedules } = one;
    const types = new Set(schedules.map((x: { targetType: string }) => x.targetType));
    expect(types).toEqual(new Set(['vehicle', 'charger', 'hvac']));
    expect(schedules.every((x: { isEnabled: boolean }) => x.isEnabled)).toBe(true);
    const smart = s.world.list('vehicle').filter((r) => r.type === 'vehicle' && r.data.smartChargingPolicy.isEnabled);
    expect(smart.length).toBeGreaterThan(0);
    expect(smart.every((r) => r.type === 'vehicle' && r.data.smartChargingPolicy.deadline === '07:00')).toBe(true);
    const scheduledIds = new Set(schedules.map((x: { targetId: string }) => x.targetId));
    expect(smart.some((r) => scheduledIds.has(r.data.id))).toBe(false);

    const scheduleEvents = events.filter((e) => e['event'] === 'user:schedule:execution-updated');
    // Each seeded schedule reports its status from Enode's first look on (a second after start).
    for (const x of schedules) {
      const first = scheduleEvents.find((e) => e['status'].scheduleId === x.id);
      expect(first?.['createdAt']).toBe(new Date(Date.parse('2025-01-06T06:00:00Z') + 1000).toISOString());
    }
    const smartEvents = events.filter((e) => e['event'] === 'user:vehicle:smart-charging-status-updated');
    expect(scheduleEvents.length).toBeGreaterThan(5);
    expect(smartEvents.length).toBeGreaterThan(3);
    for (const e of scheduleEvents) scheduleExecutionUpdated.parse(e);
    for (const e of smartEvents) smartChargingStatusUpdated.parse(e);

    const own = s.truth().changes.filter((c) => c.cause === 'own_automation');
    const kinds = new Set(own.map((c) => c.automation?.kind));
    expect(kinds).toEqual(new Set(['enode_schedule', 'smart_charging_plan', 'smart_override']));
    for (const c of own) {
      expect(c.actionId).toEqual(expect.any(String));
      if (c.automation?.kind === 'enode_schedule') expect(scheduledIds.has(c.deviceId) || schedules.some((x: { id: string }) => x.id === c.automation?.id)).toBe(true);
    }
    // Third parties keep acting on automated devices, and that stays interference.
    const automated = new Set([...scheduledIds, ...smart.map((r) => r.data.id)]);
    expect(s.truth().changes.some((c) => c.cause === 'interference' && automated.has(c.deviceId))).toBe(true);
    // Every automation action is one of the device's commands, with its vendor-action events.
    const actionIds = new Set(own.map((c) => c.actionId));
    const actionEvents = events.filter((e) => e['event'] === 'user:vendor-action:updated' && actionIds.has(e['vendorAction'].id));
    expect(new Set(actionEvents.map((e) => e['vendorAction'].id))).toEqual(actionIds);
  });

  it('has the retailer’s app override smart charging plans now and then ("charge now") and end some overrides, labelled smart_override in truth, deterministically', async () => {
    const run = async () => {
      const { s, events } = busy({ smartChargingShare: 1 });
      await s.runFor(24 * 3600_000);
      return { s, events };
    };
    const one = await run();
    const two = await run();
    expect(two.s.truth().changes).toEqual(one.s.truth().changes);
    expect(two.events).toEqual(one.events);

    const { s, events } = one;
    const truth = s.truth();
    const smartEvents = events.filter((e) => e['event'] === 'user:vehicle:smart-charging-status-updated');
    for (const e of smartEvents) smartChargingStatusUpdated.parse(e);
    const statusesOf = (vehicleId: string) => smartEvents.filter((e) => e['smartChargingStatus'].vehicleId === vehicleId).map((e) => e['smartChargingStatus']);

    // Every override the fleet created: the vehicle's status announced it, with the plan held as OVERRIDDEN.
    const overrides = new Map<string, { vehicleId: string; createdAt: string; endedAt: string | null }>();
    for (const e of smartEvents) {
      const o = e['smartChargingStatus'].smartOverride;
      if (!o) continue;
      const held = overrides.get(o.vendorActionId);
      overrides.set(o.vendorActionId, { vehicleId: o.targetId, createdAt: o.createdAt, endedAt: held?.endedAt ?? o.endedAt });
    }
    expect(overrides.size).toBeGreaterThan(1);
    for (const [actionId, o] of overrides) {
      const statuses = statusesOf(o.vehicleId);
      const announced = statuses.findIndex((x) => x.smartOverride?.vendorActionId === actionId);
      expect(statuses[announced]).toMatchObject({ state: 'PLAN:EXECUTING:OVERRIDDEN', updatedAt: o.createdAt, smartOverride: { endedAt: null } });
      // Before it, the plan held the vehicle from charging.
      expect(statuses.slice(0, announced).at(-1)).toMatchObject({ state: 'PLAN:EXECUTING:STOPPED', consideration: { isCharging: false, isPluggedIn: true }, smartOverride: null });
      // Its vendor action is the START Enode sent, reported like any other action.
      const action = truth.actions.find((a) => a.id === actionId);
      expect(action).toMatchObject({ targetId: o.vehicleId, kind: 'START', createdAt: o.createdAt });
      expect(events.some((e) => e['event'] === 'user:vendor-action:updated' && e['vendorAction'].id === actionId)).toBe(true);
    }

    // The charging starts they made are own automation of kind smart_override, naming the override's action.
    const overridden = truth.changes.filter((c) => c.automation?.kind === 'smart_override');
    // (A charger the vehicle is plugged into follows it, with the same cause.)
    const starts = overridden.filter((c) => c.field === 'chargeState.isCharging' && c.deviceType === 'vehicle');
    expect(starts.length).toBeGreaterThan(1);
    for (const c of overridden) {
      expect(c).toMatchObject({ cause: 'own_automation', actionId: c.automation!.id });
      expect(overrides.has(c.automation!.id)).toBe(true);
    }
    for (const c of starts) {
      expect(c).toMatchObject({ from: false, to: true });
      expect(overrides.get(c.automation!.id)?.vehicleId).toBe(c.deviceId);
    }

    // Some the app ended itself (DELETE): ended while the vehicle still charged, and the plan then stopped it again.
    const endedByApp = [...overrides].filter(([actionId, o]) =>
      statusesOf(o.vehicleId).some((x) => x.smartOverride?.vendorActionId === actionId && x.smartOverride.endedAt !== null && x.updatedAt === x.smartOverride.endedAt && x.consideration.isCharging && x.consideration.isPluggedIn),
    );
    expect(endedByApp.length).toBeGreaterThan(0);
    expect(
      endedByApp.some(([, o]) =>
        truth.changes.some((c) => c.deviceId === o.vehicleId && c.automation?.kind === 'smart_charging_plan' && c.field === 'chargeState.isCharging' && c.to === false && Date.parse(c.at) >= Date.parse(o.endedAt!)),
      ),
    ).toBe(true);
  });

  it('leaves fleets without smart charging without overrides', async () => {
    const { s, events } = busy({ schedulesShare: 0.5 });
    await s.runFor(10 * 3600_000);
    expect(s.truth().changes.some((c) => c.cause === 'own_automation' && c.automation?.kind === 'enode_schedule')).toBe(true);
    expect(s.truth().changes.some((c) => c.automation?.kind === 'smart_override')).toBe(false);
    expect(events.some((e) => e['event'] === 'user:vehicle:smart-charging-status-updated')).toBe(false);
  });

  it('submits these events to webhook faults like any other', async () => {
    const { s, events } = busy({ schedulesShare: 0.5, smartChargingShare: 0.5, dropRate: 1 });
    await s.runFor(3 * 3600_000);
    expect(events).toEqual([]);
    const dropped = s.truth().droppedEvents;
    const schedules = await schedulesOf(s);
    const drop = dropped.find((d) => d.event === 'user:schedule:execution-updated');
    expect(drop).toMatchObject({ reason: 'fault' });
    expect(schedules.map((x: { id: string }) => x.id)).toContain(drop!.subject);
  });

  it('duplicates, reorders and delays these events like any other', async () => {
    const { s, events } = busy({ schedulesShare: 0.5, smartChargingShare: 0.5, duplicateRate: 1, reorderRate: 0.5, delayMs: [1000, 5000] });
    await s.runFor(3 * 3600_000);
    const stats = s.truth().webhookStats;
    expect(stats.duplicated).toBeGreaterThan(0);
    expect(stats.reordered).toBeGreaterThan(0);
    const seen = new Map<string, number>();
    for (const e of events.filter((x) => x['event'] === 'user:schedule:execution-updated' || x['event'] === 'user:vehicle:smart-charging-status-updated')) {
      const key = JSON.stringify(e);
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    expect(seen.size).toBeGreaterThan(3);
    expect([...seen.values()].every((n) => n === 2)).toBe(true);
  });

  it('reads --schedules-share and --smart-charging-share (and SIM_ variables), refusing values outside [0, 1]', () => {
    const o = parseSimulatorOptions(['--schedules-share', '0.3'], { SIM_SMART_CHARGING_SHARE: '0.2' });
    expect(o).toMatchObject({ schedulesShare: 0.3, smartChargingShare: 0.2 });
    expect(parseSimulatorOptions([], {})).toMatchObject({ schedulesShare: 0, smartChargingShare: 0 });
    expect(() => parseSimulatorOptions(['--smart-charging-share=2'], {})).toThrow(/--smart-charging-share/);
    expect(() => createSimulator({ schedulesShare: -0.1 })).toThrow(/schedulesShare/);
  });
});
