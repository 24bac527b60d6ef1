import { describe, expect, it } from 'vitest';
import { api, makeApp, postWebhook, type EngineApp } from '../support/fixtures.js';
import { action, afterGrace, iso, listFindings as findings, reconcileDue as reconcile, vehicle } from '../support/episodes.js';

/**
 * Issue 17, through the webhook on both engines: one change of several fields is one finding and
 * one alert, whose id holds across reruns and replays; an own action that ended UNNECESSARY (or
 * otherwise failed) after a change does not explain it.
 */

async function transitions(t: EngineApp, deviceId: string) {
  const res = await api(t, `/devices/${deviceId}/timeline?since=${iso(-60)}`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { data: Array<Record<string, any>> };
  // The timeline lists an instant's transitions by field name; compare them in the type's field order.
  const order = ['charging', 'maxCurrent', 'hvacMode', 'holdType', 'heatSetpoint', 'coolSetpoint'];
  return body.data
    .filter((e) => e.type === 'observation')
    .flatMap((e) => (e.transitions as Array<Record<string, any>>).sort((a, b) => order.indexOf(a.field) - order.indexOf(b.field)));
}

const interferenceAlerts = (t: EngineApp) => t.rows<{ id: string; data: string }>(`SELECT id, data FROM alerts WHERE type = 'interference.detected' ORDER BY id`);

/** A `user:hvac:updated` event: the thermostat at `minute` after the episodes' base time. */
function hvac(id: string, minute: number, t: { mode: string; holdType: string; heat: number | null; cool: number | null }) {
  const at = iso(minute);
  const snapshot = {
    id,
    userId: `user-of-${id}`,
    vendor: 'ECOBEE',
    lastSeen: at,
    isReachable: true,
    consumptionRate: null,
    information: { brand: 'Ecobee', model: 'Smart', displayName: 'Hall', groupName: null, category: 'HEATING' },
    temperatureState: { currentTemperature: 21, isActive: true, lastUpdated: at },
    thermostatState: { mode: t.mode, heatSetpoint: t.heat, coolSetpoint: t.cool, holdType: t.holdType, lastUpdated: at },
    capabilities: {
      capableModes: ['HEAT', 'COOL', 'AUTO', 'OFF'],
      coolSetpointRange: { min: 15, max: 30 },
      heatSetpointRange: { min: 7, max: 30 },
      setpointDifferenceRange: null,
      setFollowSchedule: { isCapable: true, interventionIds: [] },
      setPermanentHold: { isCapable: true, interventionIds: [] },
    },
    scopes: ['hvac:read:data', 'hvac:control:mode'],
    location: { id: null },
  };
  return { event: 'user:hvac:updated', createdAt: at, version: '2024-10-01', user: { id: snapshot.userId }, hvac: snapshot, updatedFields: ['thermostatState.mode'] };
}

const SCHEDULED = { mode: 'HEAT', holdType: 'SCHEDULED', heat: 20, cool: 26 };
/** An owner's COOL hold: mode, hold type and cool setpoint move at once (heat setpoint 20 stays). */
const OWNER_HOLD = { mode: 'COOL', holdType: 'PERMANENT', heat: 20, cool: 23 };
const FIELDS = [
  { field: 'hvacMode', from: 'HEAT', to: 'COOL' },
  { field: 'holdType', from: 'SCHEDULED', to: 'PERMANENT' },
  { field: 'coolSetpoint', from: 26, to: 23 },
];

describe('one episode, one finding (issue 17)', () => {
  it('an HVAC hold that moves mode, hold type and cool setpoint at once is one finding listing every field and one alert; its id holds across a rerun and a replay', async () => {
    const t = await makeApp();
    await postWebhook(t, [hvac('h1', 0, SCHEDULED)]);
    await postWebhook(t, [hvac('h1', 5, OWNER_HOLD)], { deliveryId: 'hold-delivery' });
    await reconcile(t);
    expect((await transitions(t, 'h1')).map((x) => [x.field, x.status])).toEqual(FIELDS.map((f) => [f.field, 'waiting']));
    expect(await findings(t)).toEqual([]);

    await afterGrace(t);
    const [finding, ...more] = await findings(t);
    expect(more).toEqual([]);
    expect(finding).toMatchObject({ deviceId: 'h1', deviceType: 'hvac', kind: 'UNEXPECTED_CHANGE', field: 'hvacMode', from: 'HEAT', to: 'COOL', fields: FIELDS, observedAt: iso(5), actionId: null });
    const id = String(finding?.id);
    const detail = (await (await api(t, `/interference/${id}`)).json()) as Record<string, any>;
    expect(detail).toMatchObject({ id, fields: FIELDS, evidence: { fields: FIELDS } });
    // Every transition of the change points at the one finding.
    expect((await transitions(t, 'h1')).map((x) => [x.field, x.status, x.findingId])).toEqual(FIELDS.map((f) => [f.field, 'finding', id]));
    // One alert, whose payload (and so its event and its Slack text) lists every field.
    const alerts = await interferenceAlerts(t);
    expect(alerts).toHaveLength(1);
    expect((JSON.parse(alerts[0]?.data ?? '{}') as { finding: unknown }).finding).toMatchObject({ id, field: 'hvacMode', fields: FIELDS });

    // A later snapshot queues the thermostat again: the rerun rewrites the change's transitions.
    await postWebhook(t, [hvac('h1', 10, OWNER_HOLD)]);
    await afterGrace(t);
    // The same delivery replayed through the admin API is applied and judged again.
    expect((await api(t, '/deliveries/hold-delivery/replay', { method: 'POST' })).status).toBe(200);
    await t.deps.store.idle();
    await afterGrace(t);

    expect((await findings(t)).map((f) => [f.id, f.fields])).toEqual([[id, FIELDS]]);
    expect((await transitions(t, 'h1')).map((x) => [x.field, x.status, x.findingId])).toEqual(FIELDS.map((f) => [f.field, 'finding', id]));
    expect((await interferenceAlerts(t)).map((a) => a.id)).toEqual(alerts.map((a) => a.id));
  });

  it('a one-field change keeps its one-field finding, with `fields` listing that field', async () => {
    const t = await makeApp();
    await postWebhook(t, [hvac('h2', 0, { ...OWNER_HOLD, holdType: 'PERMANENT' })]);
    await postWebhook(t, [hvac('h2', 5, { ...OWNER_HOLD, cool: 21 })]);
    await afterGrace(t);
    expect(await findings(t)).toMatchObject([{ field: 'coolSetpoint', from: 23, to: 21, fields: [{ field: 'coolSetpoint', from: 23, to: 21 }] }]);
  });
});

describe('own actions created after a change (issue 17)', () => {
  it('a STOP created 30 s after a stop and CANCELLED as UNNECESSARY (or FAILED, or CANCELLED otherwise) leaves the stop a finding; a CONFIRMED one explains it', async () => {
    const t = await makeApp();
    const outcomes: Array<[string, string, string | null]> = [
      ['v-unnecessary', 'CANCELLED', 'UNNECESSARY'],
      ['v-precondition', 'CANCELLED', 'FAILED_PRECONDITION'],
      ['v-failed', 'FAILED', 'NO_RESPONSE'],
      ['v-confirmed', 'CONFIRMED', null],
    ];
    for (const [id] of outcomes) await postWebhook(t, [vehicle(id, 0, { charging: true })]);
    // Someone stops each car at minute 5; our STOP is created half a minute later.
    for (const [id] of outcomes) await postWebhook(t, [vehicle(id, 5, { charging: false })]);
    for (const [id, state, reason] of outcomes) await postWebhook(t, [action(`stop-${id}`, id, 'STOP', state, 5.5, 6, reason)]);
    await reconcile(t);
    await afterGrace(t);

    const byDevice = new Map((await findings(t)).map((f) => [f.deviceId as string, f]));
    for (const [id, state, reason] of outcomes) {
      const [transition] = await transitions(t, id);
      if (state === 'CONFIRMED') {
        expect(transition, id).toMatchObject({ field: 'charging', status: 'explained', explanation: { kind: 'own_action', actionId: `stop-${id}` } });
        expect(byDevice.has(id), id).toBe(false);
      } else {
        expect(transition, `${state} ${reason}`).toMatchObject({ field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } });
        expect(byDevice.get(id), `${state} ${reason}`).toMatchObject({ kind: 'UNEXPECTED_CHANGE', field: 'charging', from: true, to: false, observedAt: iso(5), actionId: null });
      }
    }
    expect(await interferenceAlerts(t)).toHaveLength(3);
  });
});
