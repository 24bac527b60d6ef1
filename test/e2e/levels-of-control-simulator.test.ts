/**
 * Issue 17, "Must show": scenario tests for each level of control AGAINST THE SIMULATOR, one case
 * per `it` (test/integration/levels-of-control.test.ts covers the same through hand-built webhook
 * events; test/integration/interference-score.test.ts only scores a whole fleet).
 *
 * Harness (test/support/sync-harness.ts `harnessOver`, on the app of the run): the simulator's
 * webhooks are really delivered, signed, to the app's `POST /webhooks/enode` (in process, no
 * socket), and the app's Enode client (device resync, command gateway) really talks to the
 * simulator's API (in process). Seeded, on simulated time: the app's manual clock follows the
 * simulator's after each step. Schedules, policies and plans are created through the simulator's
 * HTTP API as the retailer would; everything is asserted through the app's HTTP API (device
 * timeline, interference list and detail, gateway routes), against the simulator's ground truth.
 */
import { describe, expect, it } from 'vitest';
import { canControlCharging, pickDevices, type SimulatorOptions } from '../../src/simulator/index.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import { api, makeApp } from '../support/fixtures.js';
import { harnessOver } from '../support/sync-harness.js';

const MIN = 60_000;
/** The simulator starts on Monday 2025-01-06 at 06:00 UTC (its default `startTime`). */
const DAY = '2025-01-06';

type Harness = Awaited<ReturnType<typeof setup>>;
type Json = Record<string, any>;

/**
 * The app fed by a quiet simulator: six capable vehicles, no owner activity, no random third
 * parties, no ignored actions, every action applied 30 s after it is sent. The gateway uses the
 * app's Enode client; the daemon learns the fleet by its start resync.
 */
async function setup(seed: number, overrides: Partial<SimulatorOptions> = {}) {
  const t = await makeApp();
  const s = harnessOver(t, {
    seed,
    devices: 0,
    fleet: { vehicles: 6, chargers: 0, hvacs: 0, batteries: 0 },
    userActivityRate: 0,
    interferenceRate: 0,
    noResponseRate: 0,
    incapableRate: 0,
    heartbeatSeconds: 0,
    actionDelaySeconds: [30, 30],
    ...overrides,
  });
  t.deps.enode = s.enode;
  expect(await runDeviceResync(s.deps, t.clock.now(), 'start')).toMatchObject({ finished: true, failed: 0 });
  const reconcile = async () => {
    for (let i = 0; i < 50 && (await t.deps.store.reconcile({})).more; i++);
  };
  /** Simulated time passes a minute at a time, the reconciler running after each step as its job does. */
  const wait = async (ms: number) => {
    for (let left = ms; left > 0; left -= MIN) {
      await s.step(Math.min(left, MIN));
      await reconcile();
    }
  };
  const until = (iso: string) => wait(Date.parse(iso) - s.sim.clock.nowMs());
  // The owner acts a little after the resync's snapshots (not at their very instant of device time).
  await wait(2 * MIN);
  /** Calls the simulator's API as the retailer. */
  const enode = (method: string, path: string, body?: unknown) => s.retailer.request<Json>(method, path, body);
  return { ...s, wait, until, reconcile, enode };
}

/** An unplugged, charging-capable vehicle far below its charge limit (the simulator's record). */
function lowVehicle(h: Harness) {
  const v = pickDevices(h.sim.world, 'vehicle', (d, rec) => canControlCharging(d) && d.chargeState.isPluggedIn === false && rec.sim.level < (d.chargeState.chargeLimit ?? 100) - 35)[0];
  if (!v) throw new Error('the seeded fleet has no unplugged vehicle far below its limit');
  return v;
}

/** Its owner plugs it in: it starts charging by itself (a natural change), and the app sees it. */
async function plugIn(h: Harness, vehicleId: string) {
  h.sim.control.setPlugged(vehicleId, true);
  await h.wait(2 * MIN);
  expect(h.sim.world.getTyped('vehicle', vehicleId)?.data.chargeState.isCharging).toBe(true);
}

/** A CHARGE schedule on the vehicle, created through the simulator's API. */
async function createSchedule(h: Harness, vehicleId: string, userId: string, rules: unknown[] = []) {
  const created = await h.enode('POST', `/users/${userId}/schedules`, { targetId: vehicleId, targetType: 'vehicle', isEnabled: true, defaultShouldCharge: false, rules });
  expect(created.status).toBe(200);
  return created.body['id'] as string;
}

/** Smart charging on for the vehicle (through the simulator's API), then plugged in, until its plan has stopped charging. */
async function plannedVehicle(h: Harness) {
  const v = lowVehicle(h);
  expect((await h.enode('PUT', `/vehicles/${v.id}/smart-charging-policy`, { isEnabled: true, deadline: '23:00' })).status).toBe(200);
  h.sim.control.setPlugged(v.id, true);
  for (let i = 0; i < 10; i++) {
    await h.wait(MIN);
    const status = (await h.enode('GET', `/vehicles/${v.id}/smart-charging-status`)).body;
    if (status['state'] === 'PLAN:EXECUTING:STOPPED') return { vehicle: v, plan: status['plan'] as Json };
  }
  throw new Error('the plan never stopped charging');
}

interface SeenTransition {
  at: string;
  field: string;
  to: unknown;
  status: string;
  explanation: Json;
}

/** Every page of `GET /api/v1/devices/{id}/timeline` since `sinceMs`. */
async function timeline(h: Harness, deviceId: string, sinceMs: number): Promise<Json[]> {
  const out: Json[] = [];
  let after: string | null = null;
  do {
    const query: string = `since=${new Date(sinceMs).toISOString()}&limit=500${after ? `&after=${encodeURIComponent(after)}` : ''}`;
    const res = await api(h.t, `/devices/${deviceId}/timeline?${query}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Json[]; pagination: { after: string | null } };
    out.push(...body.data);
    after = body.pagination.after;
  } while (after);
  return out;
}

/** The charging transitions the timeline shows since `sinceMs`, oldest first (each instant's on its first observation). */
async function chargingTransitions(h: Harness, deviceId: string, sinceMs: number): Promise<SeenTransition[]> {
  const seen: SeenTransition[] = [];
  for (const e of await timeline(h, deviceId, sinceMs)) {
    if (e['type'] !== 'observation') continue;
    for (const x of e['transitions'] as Json[]) if (x['field'] === 'charging') seen.push({ at: e['at'] as string, ...x } as SeenTransition);
  }
  return seen;
}

/** `GET /api/v1/interference?deviceId=`. */
async function findingsOf(h: Harness, deviceId: string): Promise<Json[]> {
  const res = await api(h.t, `/interference?deviceId=${deviceId}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Json[] }).data;
}

/** Lets the grace of the last changes end, then reconciles: nothing may still be waiting. */
async function settle(h: Harness) {
  await h.wait(2 * MIN);
  h.t.clock.advance((h.t.config.interferenceGraceSeconds + 1) * 1000);
  await h.reconcile();
}

/** The simulator's true changes of the vehicle's charging since `sinceMs`, with their cause. */
function trueFlips(h: Harness, vehicleId: string, sinceMs: number) {
  return h.sim
    .truth()
    .changes.filter((c) => c.deviceId === vehicleId && c.field === 'chargeState.isCharging' && Date.parse(c.at) >= sinceMs)
    .map((c) => ({ to: c.to, cause: c.cause, automation: c.automation, actionId: c.actionId, at: c.at }));
}

const post = (h: Harness, path: string, body?: unknown) =>
  api(h.t, path, { method: 'POST', ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });

describe('levels of control against the simulator (issue 17)', () => {
  it('an Enode Schedule created in the simulator stops the car at creation and starts and stops it at its window: each change enode_schedule with the schedule and its action, no finding', async () => {
    const h = await setup(31);
    const v = lowVehicle(h);
    await plugIn(h, v.id);
    const createdAtMs = h.sim.clock.nowMs();
    const scheduleId = await createSchedule(h, v.id, v.userId, [{ hourMinute: { from: '07:00', to: '08:00' }, shouldCharge: true }]);
    await h.until(`${DAY}T07:10:00.000Z`);
    expect(h.sim.world.getTyped('vehicle', v.id)?.data.chargeState.isCharging).toBe(true);
    await h.until(`${DAY}T08:10:00.000Z`);
    expect(h.sim.world.getTyped('vehicle', v.id)?.data.chargeState.isCharging).toBe(false);
    await settle(h);

    // Ground truth: the schedule made exactly these three changes, each through a vendor action.
    const flips = trueFlips(h, v.id, createdAtMs);
    expect(flips.map((f) => [f.to, f.cause, f.automation])).toEqual([
      [false, 'own_automation', { kind: 'enode_schedule', id: scheduleId }],
      [true, 'own_automation', { kind: 'enode_schedule', id: scheduleId }],
      [false, 'own_automation', { kind: 'enode_schedule', id: scheduleId }],
    ]);

    const seen = await chargingTransitions(h, v.id, createdAtMs);
    expect(seen.map((x) => [x.to, x.status, x.explanation])).toEqual(
      flips.map((f) => [f.to, 'explained', { kind: 'automation', cause: 'enode_schedule', controlId: scheduleId, actionId: f.actionId }]),
    );
    // The start happened at the window's opening, not before: the execution ran at its time.
    const start = seen[1]!;
    expect(Date.parse(start.at)).toBeGreaterThanOrEqual(Date.parse(`${DAY}T07:00:00.000Z`));
    expect(Date.parse(start.at)).toBeLessThan(Date.parse(`${DAY}T07:05:00.000Z`));
    // The schedule's statuses are in the timeline too.
    const controls = (await timeline(h, v.id, createdAtMs)).filter((e) => e['type'] === 'control').map((e) => e['control'] as Json);
    expect(controls.length).toBeGreaterThan(0);
    expect(controls.every((c) => c['source'] === 'schedule' && c['id'] === scheduleId)).toBe(true);
    expect(await findingsOf(h, v.id)).toEqual([]);
  });

  it('a smart charging plan stops the car after plug-in and starts it at its startAt: smart_charging_plan with the plan id, no finding', async () => {
    const h = await setup(32);
    const { vehicle: v, plan } = await plannedVehicle(h);
    const startAtMs = Date.parse(plan['startAt'] as string);
    expect(startAtMs).toBeGreaterThan(h.sim.clock.nowMs());
    await h.wait(startAtMs - h.sim.clock.nowMs() + 5 * MIN);
    expect(h.sim.world.getTyped('vehicle', v.id)?.data.chargeState.isCharging).toBe(true);
    await settle(h);

    const plugInMs = Date.parse(plan['stopAt'] as string) - 3 * MIN;
    const flips = trueFlips(h, v.id, plugInMs).filter((f) => f.cause === 'own_automation');
    expect(flips.map((f) => [f.to, f.automation])).toEqual([
      [false, { kind: 'smart_charging_plan', id: plan['id'] }],
      [true, { kind: 'smart_charging_plan', id: plan['id'] }],
    ]);

    const seen = await chargingTransitions(h, v.id, plugInMs);
    const automated = seen.filter((x) => x.explanation['kind'] === 'automation');
    expect(automated.map((x) => [x.to, x.status, x.explanation])).toEqual(
      flips.map((f) => [f.to, 'explained', { kind: 'automation', cause: 'smart_charging_plan', controlId: plan['id'], actionId: f.actionId }]),
    );
    // Everything else the app saw (the start at plug-in) has a natural cause: nothing is a finding.
    expect(seen.filter((x) => x.explanation['kind'] !== 'automation').map((x) => [x.to, x.status, x.explanation['kind']])).toEqual([[true, 'explained', 'natural']]);
    expect(await findingsOf(h, v.id)).toEqual([]);
  });

  it('a smart override sent through the gateway makes the car charge (smart_override), and ending it with DELETE gives the car back to the plan (smart_charging_plan)', async () => {
    const h = await setup(33);
    const { vehicle: v, plan } = await plannedVehicle(h);
    await h.wait(3 * MIN);
    const sinceMs = h.sim.clock.nowMs();

    const res = await post(h, `/vehicles/${v.id}/smart-override`);
    expect(res.status).toBe(200);
    const out = (await res.json()) as Json;
    const actionId = out['smartOverride']['vendorActionId'] as string;
    expect(out).toMatchObject({ outcome: 'sent', smartOverride: { targetId: v.id, endedAt: null, vendorActionId: expect.any(String) } });
    // The daemon knew the plan held the vehicle (no NOT_CONTROLLED note), and the budget counts the
    // plan's own STOP beside this command.
    expect((out['notes'] as Json[]).map((n) => n['code'])).not.toContain('NOT_CONTROLLED');
    const planActions = h.sim.truth().actions.filter((a) => a.targetId === v.id && a.id !== actionId);
    expect(out['budget']['bySource']).toMatchObject({ gateway: 1, smartCharging: planActions.length });
    // The simulator created the override and its START action.
    expect(h.sim.truth().actions.find((a) => a.id === actionId)).toMatchObject({ targetId: v.id, kind: 'START' });

    await h.wait(5 * MIN);
    expect(h.sim.world.getTyped('vehicle', v.id)?.data.chargeState.isCharging).toBe(true);
    const endRes = await api(h.t, `/vehicles/${v.id}/smart-override`, { method: 'DELETE' });
    expect(endRes.status).toBe(200);
    const ended = (await endRes.json()) as Json;
    expect(ended['smartOverride']).toMatchObject({ vendorActionId: actionId, endedAt: expect.any(String) });
    expect((ended['notes'] as Json[]).map((n) => n['code'])).toContain('SMART_OVERRIDE_ENDED');
    expect((await h.enode('GET', `/vehicles/${v.id}/smart-charging-status`)).body['smartOverride']).toMatchObject({ vendorActionId: actionId, endedAt: expect.any(String) });
    // Before the plan's start: the plan stops the car again.
    await h.wait(5 * MIN);
    expect(h.sim.world.getTyped('vehicle', v.id)?.data.chargeState.isCharging).toBe(false);
    await settle(h);

    const flips = trueFlips(h, v.id, sinceMs);
    expect(flips.map((f) => [f.to, f.automation])).toEqual([
      [true, { kind: 'smart_override', id: actionId }],
      [false, { kind: 'smart_charging_plan', id: plan['id'] }],
    ]);
    const seen = await chargingTransitions(h, v.id, sinceMs);
    expect(seen.map((x) => [x.to, x.status, x.explanation])).toEqual([
      [true, 'explained', { kind: 'automation', cause: 'smart_override', controlId: actionId, actionId }],
      [false, 'explained', { kind: 'automation', cause: 'smart_charging_plan', controlId: plan['id'], actionId: flips[1]!.actionId }],
    ]);
    // Both calls are in the device's timeline as commands of the gateway.
    const commands = (await timeline(h, v.id, sinceMs)).filter((e) => e['type'] === 'command').map((e) => [e['command']['command'], e['command']['outcome']]);
    expect(commands).toEqual([
      ['smart-override', 'sent'],
      ['cancel', 'sent'],
    ]);
    expect(await findingsOf(h, v.id)).toEqual([]);
  });

  it('a third party starting the car against an active schedule asking no charging: a finding whose evidence names the schedule', async () => {
    const h = await setup(34);
    const v = lowVehicle(h);
    await plugIn(h, v.id);
    const scheduleId = await createSchedule(h, v.id, v.userId);
    await h.wait(5 * MIN);
    expect(h.sim.world.getTyped('vehicle', v.id)?.data.chargeState.isCharging).toBe(false);
    const sinceMs = h.sim.clock.nowMs();

    expect(h.sim.control.interfere(v.id)).toBe(true);
    expect(trueFlips(h, v.id, sinceMs).map((f) => [f.to, f.cause])).toEqual([[true, 'interference']]);
    await settle(h);

    const seen = await chargingTransitions(h, v.id, sinceMs);
    expect(seen.map((x) => [x.to, x.status])).toEqual([[true, 'finding']]);
    // The schedule's STOP was a CONFIRMED action Enode sent for this client: its intent holds, so
    // the third party overrode it (README "Interference": ACTION_OVERRIDDEN).
    const list = await findingsOf(h, v.id);
    expect(list.map((f) => [f['kind'], f['field'], f['to']])).toEqual([['ACTION_OVERRIDDEN', 'charging', true]]);
    const detail = await api(h.t, `/interference/${list[0]!['id'] as string}`);
    expect(detail.status).toBe(200);
    expect(((await detail.json()) as Json)['evidence']['control']).toMatchObject({
      source: 'schedule',
      id: scheduleId,
      state: expect.stringMatching(/^(ALIGNED|MISALIGNED)$/),
      expected: { charging: false },
    });
  });

  it('a third party starting the car against a smart charging plan that stopped it: a finding whose evidence names the plan', async () => {
    const h = await setup(35);
    const { vehicle: v, plan } = await plannedVehicle(h);
    await h.wait(3 * MIN);
    const sinceMs = h.sim.clock.nowMs();
    expect(h.sim.control.interfere(v.id)).toBe(true);
    expect(trueFlips(h, v.id, sinceMs).map((f) => [f.to, f.cause])).toEqual([[true, 'interference']]);
    await settle(h);

    expect((await chargingTransitions(h, v.id, sinceMs)).map((x) => [x.to, x.status])).toEqual([[true, 'finding']]);
    // As against a schedule: the plan's CONFIRMED STOP is the intent the third party overrode.
    const list = await findingsOf(h, v.id);
    expect(list.map((f) => [f['kind'], f['field'], f['to']])).toEqual([['ACTION_OVERRIDDEN', 'charging', true]]);
    const detail = (await (await api(h.t, `/interference/${list[0]!['id'] as string}`)).json()) as Json;
    expect(detail['evidence']['control']).toMatchObject({ source: 'smart_charging', id: plan['id'], expected: { charging: false } });
  });

  it('a basic charging command to a vehicle under an active schedule: 409 CONTROLLED_BY_SCHEDULE, nothing sent; forced, the simulator’s 422 comes back as 409 with Enode’s words', async () => {
    const h = await setup(36);
    const v = lowVehicle(h);
    await plugIn(h, v.id);
    const scheduleId = await createSchedule(h, v.id, v.userId);
    await h.wait(5 * MIN);
    const actionsBefore = h.sim.truth().actions.length;
    const requestsBefore = h.requests();

    const refused = await post(h, `/vehicles/${v.id}/charging`, { action: 'START' });
    expect(refused.status).toBe(409);
    const err = ((await refused.json()) as Json)['error'];
    expect(err).toMatchObject({ code: 'CONTROLLED_BY_SCHEDULE', scheduleId, controls: [expect.objectContaining({ source: 'schedule', id: scheduleId, expected: { charging: false } })] });
    expect(err['message']).toContain('force=true');
    expect(err['message']).toContain('/smart-override');
    expect(h.requests()).toBe(requestsBefore);

    const forced = await post(h, `/vehicles/${v.id}/charging?force=true`, { action: 'START' });
    expect(forced.status).toBe(409);
    const forcedErr = ((await forced.json()) as Json)['error'];
    expect(forcedErr).toMatchObject({
      code: 'CONTROLLED_BY_SCHEDULE',
      scheduleId,
      enode: { status: 422, title: 'Unprocessable Entity', detail: expect.stringContaining(`controlled by a schedule (${scheduleId}`) },
    });
    expect(h.requests()).toBeGreaterThan(requestsBefore);
    // Enode created nothing, and the car still does what the schedule asks.
    expect(h.sim.truth().actions).toHaveLength(actionsBefore);
    await h.wait(2 * MIN);
    expect(h.sim.world.getTyped('vehicle', v.id)?.data.chargeState.isCharging).toBe(false);
    // Both are in the device's timeline (same instant: in no particular order): refused by the guard, failed at Enode.
    const commands = (await timeline(h, v.id, h.sim.clock.nowMs() - 10 * MIN)).filter((e) => e['type'] === 'command').map((e) => e['command'] as Json);
    expect(commands.map((c) => [c['outcome'], c['body']]).sort()).toEqual([
      ['failed', { action: 'START' }],
      ['refused', { action: 'START' }],
    ]);
    expect(commands.find((c) => c['outcome'] === 'refused')?.['error']).toMatch(/^CONTROLLED_BY_SCHEDULE:/);
    expect(commands.find((c) => c['outcome'] === 'failed')?.['error']).toContain(scheduleId);
  });

  it('a basic charging command to a vehicle under an executing smart charging plan: 409 CONTROLLED_BY_SMART_CHARGING, nothing sent; forced, the simulator’s 422 comes back as 409 naming the plan', async () => {
    const h = await setup(37);
    const { vehicle: v, plan } = await plannedVehicle(h);
    await h.wait(2 * MIN);
    const actionsBefore = h.sim.truth().actions.length;
    const requestsBefore = h.requests();

    const refused = await post(h, `/vehicles/${v.id}/charging`, { action: 'START' });
    expect(refused.status).toBe(409);
    const err = ((await refused.json()) as Json)['error'];
    expect(err).toMatchObject({ code: 'CONTROLLED_BY_SMART_CHARGING', planId: plan['id'], controls: [expect.objectContaining({ source: 'smart_charging', id: plan['id'] })] });
    expect(err['scheduleId']).toBeUndefined();
    expect(h.requests()).toBe(requestsBefore);

    const forced = await post(h, `/vehicles/${v.id}/charging?force=true`, { action: 'START' });
    expect(forced.status).toBe(409);
    const forcedErr = ((await forced.json()) as Json)['error'];
    expect(forcedErr).toMatchObject({
      code: 'CONTROLLED_BY_SMART_CHARGING',
      planId: plan['id'],
      enode: { status: 422, title: 'Unprocessable Entity', detail: expect.stringContaining(`active smart charging plan (${plan['id'] as string}`) },
    });
    expect(h.requests()).toBeGreaterThan(requestsBefore);
    expect(h.sim.truth().actions).toHaveLength(actionsBefore);
    expect(h.sim.world.getTyped('vehicle', v.id)?.data.chargeState.isCharging).toBe(false);
  });
});
