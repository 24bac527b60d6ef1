import { describe, expect, it } from 'vitest';
import { api, makeApp, postWebhook, type EngineApp } from '../support/fixtures.js';
import { action, afterGrace, iso, listFindings as findings, reconcileDue as reconcile, vehicle } from '../support/episodes.js';
import { chargeScheduleEvent, smartChargingEvent as smartChargingStatusEvent } from './gateway-control-support.js';

/**
 * Issue 17, through the webhook on both engines: Enode Schedules and Smart Charging are the
 * retailer's own automation. Their status events are stored once, explain the changes they asked
 * for (`enode_schedule`, `smart_charging_plan`, `smart_override`) in the timeline, and put the
 * schedule or plan in the evidence of a change that went against them.
 */


async function transitions(t: EngineApp, deviceId: string) {
  const res = await api(t, `/devices/${deviceId}/timeline?since=${iso(-60)}`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { data: Array<Record<string, any>> };
  return body.data.filter((e) => e.type === 'observation').flatMap((e) => e.transitions as Array<Record<string, any>>);
}

/** Minutes after the episodes' base time, as the support's builders take them (epoch ms). */
const at = (minute: number) => Date.parse(iso(minute));

function scheduleEvent(vehicleId: string, minute: number, o: { expected: boolean; state?: string; upcoming?: Array<[number, boolean]>; enabled?: boolean }) {
  return chargeScheduleEvent(vehicleId, at(minute), { ...o, upcoming: (o.upcoming ?? []).map(([m, should]) => [at(m), should]) });
}

function smartChargingEvent(vehicleId: string, minute: number, state: string, override: { createdMin: number; actionId: string } | null = null) {
  return smartChargingStatusEvent(vehicleId, at(minute), state, override && { createdAtMs: at(override.createdMin), actionId: override.actionId });
}

describe('Enode schedules and smart charging through the webhook (issue 17)', () => {
  it('a schedule execution starts charging: enode_schedule in the timeline, naming its vendor action, and no finding; a redelivered status is stored once', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v1', 0, { charging: false, pluggedIn: true }), scheduleEvent('v1', 0, { expected: false, upcoming: [[30, true]] })]);
    // The car starts at the schedule's boundary; its vendor action and the ALIGNED status come after.
    await postWebhook(t, [vehicle('v1', 31, { charging: true, pluggedIn: true })]);
    await postWebhook(t, [action('act-sch', 'v1', 'START', 'CONFIRMED', 30, 31), scheduleEvent('v1', 31, { expected: true })], { deliveryId: 'status-delivery' });
    await postWebhook(t, [scheduleEvent('v1', 31, { expected: true })]);
    await afterGrace(t);

    expect(await transitions(t, 'v1')).toMatchObject([
      { field: 'charging', to: true, status: 'explained', explanation: { kind: 'automation', cause: 'enode_schedule', controlId: 'sch-v1', actionId: 'act-sch' } },
    ]);
    expect(await findings(t)).toEqual([]);
    // The statuses are in the device timeline, in device time order, between the other entries.
    const timeline = (await (await api(t, `/devices/v1/timeline?since=${iso(-60)}`)).json()) as { data: Array<Record<string, any>> };
    expect(timeline.data.filter((e) => e.type === 'control').map((e) => [e.at, e.control.source, e.control.id, e.control.expected])).toEqual([
      [iso(0), 'schedule', 'sch-v1', { charging: false }],
      [iso(31), 'schedule', 'sch-v1', { charging: true }],
    ]);
    expect(await t.rows(`SELECT source, subject_id AS "subjectId", state FROM control_statuses ORDER BY at_ms`)).toEqual([
      { source: 'schedule', subjectId: 'sch-v1', state: 'ALIGNED' },
      { source: 'schedule', subjectId: 'sch-v1', state: 'ALIGNED' },
    ]);
  });

  it('a start against an active schedule is a finding whose evidence names the schedule; a disabled schedule is no evidence', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v2', 0, { charging: false, pluggedIn: true }), scheduleEvent('v2', 0, { expected: false })]);
    await postWebhook(t, [vehicle('v3', 0, { charging: false, pluggedIn: true }), scheduleEvent('v3', 0, { expected: false, enabled: false })]);
    await postWebhook(t, [vehicle('v2', 20, { charging: true, pluggedIn: true }), vehicle('v3', 20, { charging: true, pluggedIn: true })]);
    await afterGrace(t);

    const list = await findings(t);
    // On a failure, the devices' transitions say how the change was judged instead.
    const judged = JSON.stringify({ v2: await transitions(t, 'v2'), v3: await transitions(t, 'v3') });
    expect(list.map((f) => [f.deviceId, f.kind, f.field]), judged).toEqual(
      expect.arrayContaining([
        ['v2', 'UNEXPECTED_CHANGE', 'charging'],
        ['v3', 'UNEXPECTED_CHANGE', 'charging'],
      ]),
    );
    const evidence = async (deviceId: string) => {
      const id = list.find((f) => f.deviceId === deviceId)?.id as string;
      return ((await (await api(t, `/interference/${id}`)).json()) as { evidence: Record<string, unknown> }).evidence;
    };
    expect((await evidence('v2')).control).toEqual({ source: 'schedule', id: 'sch-v2', state: 'ALIGNED', atMs: Date.parse(iso(0)), expected: { charging: false } });
    expect((await evidence('v3')).control).toBeUndefined();
  });

  it('a smart charging plan stops the car and a smart override starts it again: both explained; a third party starting it against the plan, and a stop long after the plan acted, are findings with the plan', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v4', 0, { charging: true, pluggedIn: true }), smartChargingEvent('v4', 1, 'PLAN:EXECUTING:STOPPING')]);
    await postWebhook(t, [vehicle('v4', 2, { charging: false, pluggedIn: true }), smartChargingEvent('v4', 2, 'PLAN:EXECUTING:STOPPED')]);
    await postWebhook(t, [vehicle('v4', 20, { charging: true, pluggedIn: true })]);
    await postWebhook(t, [vehicle('v4', 25, { charging: false, pluggedIn: true })]);
    // The retailer's override (through the gateway or Enode directly) at minute 40.
    await postWebhook(t, [smartChargingEvent('v4', 40, 'PLAN:EXECUTING:OVERRIDDEN', { createdMin: 40, actionId: 'act-override' }), vehicle('v4', 41, { charging: true, pluggedIn: true })]);
    await afterGrace(t);

    const seen = (await transitions(t, 'v4')).map((x) => [x.to, x.status, x.explanation?.cause ?? null]);
    // The stop at 25 goes the plan's way, but 23 minutes after it acted, with no action of Enode's
    // seen: anyone may have stopped the car, so it is a finding too.
    expect(seen).toEqual([
      [false, 'explained', 'smart_charging_plan'],
      [true, 'finding', null],
      [false, 'finding', null],
      [true, 'explained', 'smart_override'],
    ]);
    const list = await findings(t);
    expect(list).toHaveLength(2);
    const start = list.find((f) => f.to === true);
    const detail = (await (await api(t, `/interference/${String(start?.id)}`)).json()) as { evidence: Record<string, any> };
    expect(detail.evidence.control).toMatchObject({ source: 'smart_charging', id: 'plan-v4', state: 'PLAN:EXECUTING:STOPPED', expected: { charging: false } });
  });

  it('a status that arrives after the change, within the grace, still explains it', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v5', 0, { charging: true, pluggedIn: true })]);
    await postWebhook(t, [vehicle('v5', 10, { charging: false, pluggedIn: true })]);
    await reconcile(t);
    expect((await transitions(t, 'v5')).map((x) => x.status)).toEqual(['waiting']);
    t.clock.advance(30_000);
    await postWebhook(t, [smartChargingEvent('v5', 10, 'PLAN:EXECUTING:STOPPING')]);
    await afterGrace(t);
    expect(await transitions(t, 'v5')).toMatchObject([{ status: 'explained', explanation: { kind: 'automation', cause: 'smart_charging_plan', controlId: 'plan-v5' } }]);
    expect(await findings(t)).toEqual([]);
  });

  it('the dashboard’s daily budget chart counts the actions a schedule had Enode create, beside the gateway’s commands', async () => {
    const t = await makeApp();
    t.clock.set(new Date(Date.parse(iso(30))));
    await postWebhook(t, [action('act-a', 'v7', 'START', 'CONFIRMED', 10, 11), action('act-b', 'v7', 'STOP', 'CONFIRMED', 20, 21), action('act-old', 'v8', 'STOP', 'CONFIRMED', -2000, -1999)]);
    await t.deps.store.idle();
    const since = Date.parse(iso(0));
    expect(await t.deps.read.budgetedCommandsPerDevice(since, 10)).toEqual([{ deviceId: 'v7', count: 2 }]);
  });

  it('a status without the fields the rules need fails its delivery, naming the field', async () => {
    const t = await makeApp();
    const broken = scheduleEvent('v6', 0, { expected: true }) as Record<string, any>;
    delete broken.schedule.targetId;
    await postWebhook(t, [broken], { deliveryId: 'broken-status' });
    await t.deps.store.idle();
    const res = await api(t, '/deliveries/broken-status');
    const body = (await res.json()) as { status: string; error: string };
    expect(body.status).toBe('failed');
    expect(body.error).toMatch(/schedule\.targetId/);
  });
});
