import { describe, expect, it } from 'vitest';
import { activeControls } from '../../src/domain/control.js';
import { createSimulator, inProcessFetch } from '../../src/simulator/index.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import type { SyncDeps } from '../../src/sync/types.js';
import { silentLogger } from '../../src/logger.js';
import { makeEnodeClient } from '../support/enode.js';
import { makeTestApp } from '../support/fixtures.js';

/**
 * Issue 17, "read … through the client when an event is not enough": with no webhook delivered at
 * all, the device resync reads the smart charging status of every vehicle whose policy is
 * enabled, and the status of every schedule a status was stored for, from the simulator over
 * Enode's API, and applies them through the funnel. Reading again what is stored adds nothing.
 */

function setup() {
  const t = makeTestApp();
  const sim = createSimulator({
    seed: 11,
    devices: 0,
    fleet: { vehicles: 10, chargers: 4, hvacs: 2, batteries: 0 },
    userActivityRate: 0,
    interferenceRate: 0,
    heartbeatSeconds: 0,
    schedulesShare: 0.5,
    smartChargingShare: 0.6,
  });
  const simFetch = inProcessFetch(sim.app);
  const paths: string[] = [];
  const enode = makeEnodeClient({
    baseUrl: 'http://sim.local',
    clock: t.clock,
    fetch: async (url, init) => {
      paths.push(new URL(url).pathname);
      return simFetch(url, init);
    },
  });
  const deps: SyncDeps = {
    config: t.config,
    logger: silentLogger(),
    clock: t.clock,
    enode,
    store: t.deps.store,
    read: t.deps.read,
    state: { startedAt: t.clock.now().getTime(), lastFullResyncAt: null },
  };
  return { t, sim, deps, paths };
}

const count = async (t: ReturnType<typeof makeTestApp>, source: string) =>
  Number((t.db.$client.prepare(`SELECT count(*) AS n FROM control_statuses WHERE source = ?`).get(source) as { n: number }).n);

describe('device resync: schedule and smart charging statuses', () => {
  it('reads the smart charging status of each vehicle with the policy on, and each known schedule’s status; a second resync adds nothing', async () => {
    const { t, sim, deps, paths } = setup();
    const smartVehicles = sim.world.list('vehicle').filter((v) => (v.data as { smartChargingPolicy?: { isEnabled?: boolean } }).smartChargingPolicy?.isEnabled === true);
    expect(smartVehicles.length).toBeGreaterThan(0);

    const first = await runDeviceResync(deps, t.clock.now(), 'test');
    expect(first).toMatchObject({ finished: true, failed: 0 });
    expect(paths.filter((p) => p.endsWith('/smart-charging-status')).sort()).toEqual(smartVehicles.map((v) => `/vehicles/${v.data.id}/smart-charging-status`).sort());
    expect(await count(t, 'smart_charging')).toBe(smartVehicles.length);
    // No schedule is known yet: none of their statuses reached us.
    expect(paths.some((p) => p.startsWith('/schedules/'))).toBe(false);

    // One schedule's status arrives (as a webhook would bring it): from then on the resync reads it.
    const schedules = [...new Set(sim.world.list('vehicle').concat(sim.world.list('charger')).map((d) => d.data.userId as string))].flatMap((u) =>
      sim.automation.listSchedules(u).map((s) => ({ userId: u, schedule: s.schedule })),
    );
    expect(schedules.length).toBeGreaterThan(0);
    const { userId, schedule } = schedules[0]!;
    const status = sim.automation.scheduleStatus(schedule.id);
    await t.deps.store.applyEvents([{ event: 'user:schedule:execution-updated', createdAt: t.clock.now().toISOString(), user: { id: userId }, status, schedule, updatedFields: [] }], 'poll');
    expect(await count(t, 'schedule')).toBe(1);

    paths.length = 0;
    const second = await runDeviceResync(deps, t.clock.now(), 'test');
    expect(second).toMatchObject({ finished: true, failed: 0 });
    expect(paths.filter((p) => p.startsWith('/schedules/')).sort()).toEqual([`/schedules/${schedule.id}`, `/schedules/${schedule.id}/status`].sort());
    // The same statuses read again are duplicates.
    expect(await count(t, 'schedule')).toBe(1);
    expect(await count(t, 'smart_charging')).toBe(smartVehicles.length);

    // Enode deletes the schedule (no event says so): the next resync gets a 404 and records it
    // deleted, so that its last status no longer holds the device; later resyncs stop asking.
    const targetId = schedule.targetId;
    expect(sim.automation.deleteSchedule(schedule.id)).toBe(true);
    const third = await runDeviceResync(deps, t.clock.now(), 'test');
    expect(third).toMatchObject({ finished: true, failed: 0 });
    const newest = (await t.deps.read.controlStatuses(targetId, 20)).filter((c) => c.subjectId === schedule.id)[0];
    expect(newest).toMatchObject({ state: 'DELETED', active: false, expected: {} });
    expect(activeControls(await t.deps.read.controlStatuses(targetId, 20), t.clock.now().getTime()).filter((c) => c.status.subjectId === schedule.id)).toEqual([]);
    paths.length = 0;
    await runDeviceResync(deps, t.clock.now(), 'test');
    expect(paths.some((p) => p.startsWith(`/schedules/${schedule.id}`))).toBe(false);
  });

  it('reads again a vehicle whose policy was turned off with the webhook lost: its stored plan stops being in force', async () => {
    const { t, sim, deps, paths } = setup();
    const vehicle = sim.world.list('vehicle').find((v) => (v.data as { smartChargingPolicy?: { isEnabled?: boolean } }).smartChargingPolicy?.isEnabled === true)!;
    const id = vehicle.data.id as string;
    const userId = vehicle.data.userId as string;
    // We last heard of an executing plan (an hour ago)...
    const hourAgo = new Date(sim.clock.nowMs() - 3_600_000).toISOString();
    const planStatus = { updatedAt: hourAgo, vehicleId: id, userId, vendor: 'TESLA', state: 'PLAN:EXECUTING:STOPPED', stateChangedAt: hourAgo, consideration: null, plan: null, smartOverride: null };
    await t.deps.store.applyEvents([{ event: 'user:vehicle:smart-charging-status-updated', createdAt: hourAgo, user: { id: userId }, smartChargingStatus: planStatus, updatedFields: [] }], 'poll');
    expect(activeControls(await t.deps.read.controlStatuses(id, 20), t.clock.now().getTime()).map((c) => c.status.state)).toEqual(['PLAN:EXECUTING:STOPPED']);
    // ...then the policy was turned off in Enode: the webhook never came and the listing no longer says "enabled".
    expect(sim.automation.updatePolicy(id, { isEnabled: false }).ok).toBe(true);
    sim.advance(60_000);
    t.clock.advance(60_000);
    await runDeviceResync(deps, t.clock.now(), 'test');
    expect(paths).toContain(`/vehicles/${id}/smart-charging-status`);
    const [after] = await t.deps.read.controlStatuses(id, 5);
    expect(after).toMatchObject({ source: 'smart_charging', active: false });
    expect(activeControls(await t.deps.read.controlStatuses(id, 20), t.clock.now().getTime())).toEqual([]);
  });
});
