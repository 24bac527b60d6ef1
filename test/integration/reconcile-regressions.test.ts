// Cases the chaos suite (test/proof/chaos.test.ts) and the order property (interference.test.ts) found going wrong.
import { describe, expect, it } from 'vitest';
import { reconcileDevice, type ObservationInput } from '../../src/domain/interference.js';
import { api, makeApp, NOW, postWebhook, vehicleSnapshot, type EngineApp } from '../support/fixtures.js';

const MIN = 60_000;
const BASE_MS = NOW.getTime();
const iso = (minute: number) => new Date(BASE_MS + minute * MIN).toISOString();

/** A charger with an unknown (guest) car, as `user:charger:updated` carries it; `kw` null when stopped. */
function guestCharger(minute: number, kw: number | null, maxCurrent = 32) {
  const at = iso(minute);
  return {
    event: 'user:charger:updated',
    createdAt: at,
    version: '2024-10-01',
    user: { id: 'user-1' },
    charger: {
      id: 'charger-1',
      userId: 'user-1',
      vendor: 'ZAPTEC',
      lastSeen: at,
      isReachable: true,
      chargeState: {
        isPluggedIn: true,
        isCharging: kw !== null,
        chargeRate: kw,
        lastUpdated: at,
        maxCurrent,
        powerDeliveryState: kw !== null ? 'PLUGGED_IN:CHARGING' : 'PLUGGED_IN:STOPPED',
        pluggedInVehicleId: null,
      },
    },
  };
}

describe('reconciler regressions found by the chaos suite', () => {
  // Found by the chaos suite: the stop was first explained by the tapered power, then a snapshot
  // 16 minutes later re-judged it with a window that no longer reached the session's peak.
  it('a charger stop explained by tapering power stays explained when a later snapshot re-reconciles it', async () => {
    const t = await makeApp();
    const at = async (minute: number, event: unknown) => {
      t.clock.set(new Date(BASE_MS + minute * MIN));
      await t.deps.store.applyEvents([event], 'poll');
      t.clock.advance(61_000);
      await t.deps.store.reconcile({});
    };
    // Power tapers from 7.1 kW to 1.8 kW over 22 minutes, then the session stops at minute 39.
    for (let m = 0; m <= 22; m++) await at(m, guestCharger(m, Math.round((7.1 - m * 0.24) * 10) / 10));
    await at(39, guestCharger(39, null));
    const stop = () => t.row<{ status: string; explanation: string }>("SELECT status, explanation FROM transitions WHERE device_id = 'charger-1' AND field = 'charging'");
    expect(await stop()).toEqual({ status: 'explained', explanation: JSON.stringify({ kind: 'natural', cause: 'charge_complete' }) });

    // Someone changes the max current 16 minutes later: a finding of its own, and the stop stays explained.
    await at(55, guestCharger(55, null, 20));
    expect(await stop()).toEqual({ status: 'explained', explanation: JSON.stringify({ kind: 'natural', cause: 'charge_complete' }) });
    const findings = await t.column("SELECT field FROM findings WHERE device_id = 'charger-1'");
    expect(findings).toEqual(['maxCurrent']);
  });

  const hvac = (minute: number, mode: string, holdType: string, heatSetpoint: number | null, coolSetpoint: number | null): ObservationInput => ({
    atMs: BASE_MS + minute * MIN,
    receivedAtMs: BASE_MS + minute * MIN + 1_000,
    controlled: { hvacMode: mode, holdType, heatSetpoint, coolSetpoint },
    context: { isReachable: true },
  });
  const judge = (observations: ObservationInput[]) =>
    reconcileDevice({ deviceId: 'hvac-1', deviceType: 'hvac', userId: 'user-1', observations, actions: [], nowMs: BASE_MS + 600 * MIN }).transitions.map((t) => ({
      field: t.field,
      status: t.status,
      cause: t.explanation.kind === 'natural' ? t.explanation.cause : t.explanation.kind,
    }));

  // The setpoint is null while the HVAC is off: its last known value dates from before the hold ended.
  it('a setpoint the schedule sets after the HVAC was off on its schedule is natural, whatever held it before', () => {
    const result = judge([hvac(0, 'COOL', 'PERMANENT', null, 23), hvac(60, 'OFF', 'SCHEDULED', null, null), hvac(120, 'COOL', 'SCHEDULED', null, 24)]);
    expect(result.filter((t) => t.field === 'coolSetpoint')).toEqual([{ field: 'coolSetpoint', status: 'explained', cause: 'hvac_schedule' }]);
  });

  it('a setpoint that changes as a hold is ended by someone else is part of that change, not the schedule', () => {
    const result = judge([hvac(0, 'HEAT', 'SCHEDULED', 20, null), hvac(30, 'OFF', 'PERMANENT', null, null), hvac(90, 'HEAT', 'SCHEDULED', 21, null)]);
    expect(result.filter((t) => t.field === 'heatSetpoint')).toEqual([{ field: 'heatSetpoint', status: 'finding', cause: 'unexplained' }]);
  });
});

/** A `user:vehicle:updated` event at `minute` after the vehicle fixtures' base time (10:00). */
function vehicle(id: string, minute: number, charging: boolean) {
  const snapshot = vehicleSnapshot(id, minute, { charging });
  return { event: 'user:vehicle:updated', createdAt: snapshot.lastSeen, version: '2024-10-01', user: { id: snapshot.userId }, vehicle: snapshot, updatedFields: ['chargeState.isCharging'] };
}

async function findingList(t: EngineApp): Promise<string[]> {
  const res = await api(t, '/interference');
  return ((await res.json()) as { data: Array<Record<string, unknown>> }).data.map((f) => `${String(f.deviceId)}:${String(f.kind)}:${String(f.observedAt)}`).sort();
}

describe('reconciling in time-boxed calls', () => {
  // Found by the order property in interference.test.ts: it read the findings after a single
  // reconcile call, whose wall-clock box (10 ms) a slow or busy machine spends on the first device.
  // A call that runs out says `more`; the findings are complete only once a call does not.
  it('a call judges at least one device and says when others are left; the calls together give the in-order findings', async () => {
    // Two devices, each with a stop nobody asked for, one delivery per event, the later snapshots first.
    const events = [vehicle('v1', 25, false), vehicle('v2', 9, false), vehicle('v1', 0, true), vehicle('v2', 0, true)];
    const expected = ['v1:UNEXPECTED_CHANGE:2026-03-01T10:25:00.000Z', 'v2:UNEXPECTED_CHANGE:2026-03-01T10:09:00.000Z'];

    const inOrder = await makeApp();
    await postWebhook(inOrder, [events[2], events[0], events[3], events[1]]);
    inOrder.clock.advance(61_000);
    expect(await inOrder.deps.store.reconcile({ budgetMs: 60_000 })).toMatchObject({ devices: 2, more: false });
    expect(await findingList(inOrder)).toEqual(expected);

    const t = await makeApp();
    for (const e of events) await postWebhook(t, [e]);
    t.clock.advance(61_000);
    // A spent box (here from the start) still judges one device, and leaves the other due.
    const first = await t.deps.store.reconcile({ budgetMs: 0 });
    expect(first).toMatchObject({ devices: 1, more: true, errors: 0 });
    expect(await findingList(t)).toHaveLength(1);
    const second = await t.deps.store.reconcile({ budgetMs: 0 });
    expect(second).toMatchObject({ devices: 1, more: false, errors: 0 });
    expect(await findingList(t)).toEqual(expected);
    expect([...first.findings, ...second.findings]).toHaveLength(2);
  });
});
