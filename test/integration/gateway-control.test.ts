/**
 * The gateway and Enode's other levels of control (issue 17), through `app.request()` on both
 * engines: a basic charging or HVAC command to a device an active Enode schedule or smart charging
 * plan controls answers 409 CONTROLLED_BY_SCHEDULE / CONTROLLED_BY_SMART_CHARGING (nothing sent,
 * nothing counted, the refusal logged) unless `force=true`; Enode's own 422 for a schedule or plan
 * maps to the same codes; the daily budget says which actions a schedule or a plan created.
 */
import { describe, expect, it } from 'vitest';
import type { EngineApp } from '../support/fixtures.js';
import { chargeActionEvent, chargeScheduleEvent, HOUR, MIN, report, smartChargingEvent, temperatureScheduleEvent } from './gateway-control-support.js';
import { commandLog, gatewayEngineApp, post, problem, seedDevice } from './gateway-support.js';

const START = { action: 'START' };

async function errorOf(res: Response, status: number) {
  expect(res.status).toBe(status);
  return (await res.json()).error as Record<string, any>;
}

/** The command log as [command, outcome, error code] rows. */
async function logRows(t: EngineApp) {
  return (await commandLog(t)).map((r) => [r['command'], r['outcome'], typeof r['error'] === 'string' ? (r['error'] as string).split(':')[0] : null]);
}

describe('gateway: 409 while an Enode schedule controls the device', () => {
  it('a vehicle under an active CHARGE schedule: 409 CONTROLLED_BY_SCHEDULE with the schedule id and how to proceed; nothing sent or counted; the refusal is logged', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const now = t.clock.now().getTime();
    await report(t, chargeScheduleEvent('v1', now - 30 * MIN, { expected: false }));

    const err = await errorOf(await post(t, '/vehicles/v1/charging', START), 409);
    expect(err).toMatchObject({
      code: 'CONTROLLED_BY_SCHEDULE',
      scheduleId: 'sch-v1',
      controls: [{ source: 'schedule', id: 'sch-v1', state: 'ALIGNED', since: new Date(now - 30 * MIN).toISOString(), expected: { charging: false } }],
    });
    expect(err['planId']).toBeUndefined();
    expect(err['message']).toContain('Enode schedule sch-v1');
    expect(err['message']).toContain('/smart-override');
    expect(err['message']).toContain('disable the schedule');
    expect(err['message']).toContain('force=true');
    // STOP is refused too: the schedule, not the caller, decides while it is active.
    expect((await errorOf(await post(t, '/vehicles/v1/charging', { action: 'STOP' }), 409))['code']).toBe('CONTROLLED_BY_SCHEDULE');

    expect(enode.commandRequests()).toEqual([]);
    expect(await logRows(t)).toEqual([
      ['charging', 'refused', 'CONTROLLED_BY_SCHEDULE'],
      ['charging', 'refused', 'CONTROLLED_BY_SCHEDULE'],
    ]);

    // Disabled, the schedule controls nothing: the command goes, and the refusals never counted.
    t.clock.advance(MIN);
    await report(t, chargeScheduleEvent('v1', t.clock.now().getTime() - 1000, { enabled: false }));
    const sent = await post(t, '/vehicles/v1/charging', START);
    expect(sent.status).toBe(200);
    expect((await sent.json()).budget).toEqual({ limit: 6, used: 1, remaining: 5, bySource: { gateway: 1, schedule: 0, smartCharging: 0, other: 0 } });
    expect(enode.commandRequests()).toHaveLength(1);
  });

  it('a schedule gone INACTIVE, or whose status takes effect only later, controls nothing', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    await seedDevice(t, 'vehicle', 'v2');
    const now = t.clock.now().getTime();
    await report(t, chargeScheduleEvent('v1', now - 2 * HOUR), chargeScheduleEvent('v1', now - HOUR, { state: 'INACTIVE:OVERRIDDEN' }));
    await report(t, chargeScheduleEvent('v2', now + HOUR));
    expect((await post(t, '/vehicles/v1/charging', START)).status).toBe(200);
    expect((await post(t, '/vehicles/v2/charging', START)).status).toBe(200);
    expect(enode.commandRequests()).toHaveLength(2);
  });

  it('a charger under a CHARGE schedule: charging and max-current answer 409 (no smart override offered: Enode has none for chargers)', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'charger', 'c1');
    await report(t, chargeScheduleEvent('c1', t.clock.now().getTime() - 10 * MIN, { targetType: 'charger', expected: true }));
    for (const [path, body] of [
      ['/chargers/c1/charging', { action: 'STOP' }],
      ['/chargers/c1/max-current', { maxCurrent: 10 }],
    ] as const) {
      const err = await errorOf(await post(t, path, body), 409);
      expect(err, path).toMatchObject({ code: 'CONTROLLED_BY_SCHEDULE', scheduleId: 'sch-c1', controls: [{ expected: { charging: true } }] });
      expect(err['message']).not.toContain('smart-override');
      expect(err['message']).toContain('force=true');
    }
    expect(enode.commandRequests()).toEqual([]);
  });

  it('an HVAC under a TEMPERATURE schedule: permanent-hold and follow-schedule answer 409; a battery command is never held back', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'hvac', 'h1');
    await seedDevice(t, 'battery', 'b1');
    await report(t, temperatureScheduleEvent('h1', t.clock.now().getTime() - 10 * MIN));
    const hold = await errorOf(await post(t, '/hvacs/h1/permanent-hold', { mode: 'HEAT', heatSetpoint: 19 }), 409);
    expect(hold).toMatchObject({ code: 'CONTROLLED_BY_SCHEDULE', scheduleId: 'sch-h1', controls: [{ expected: { hvacMode: 'HEAT', heatSetpoint: 21, holdType: 'PERMANENT' } }] });
    expect(hold['message']).toContain('The HVAC is controlled by Enode schedule sch-h1');
    expect((await errorOf(await post(t, '/hvacs/h1/follow-schedule'), 409))['code']).toBe('CONTROLLED_BY_SCHEDULE');
    expect(enode.commandRequests()).toEqual([]);
    expect((await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' })).status).toBe(200);
  });

  it('an identical PENDING action still collapses (nothing is sent either way), and an incapable device is refused as such first', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const now = t.clock.now().getTime();
    await report(t, chargeScheduleEvent('v1', now - HOUR, { expected: true }), chargeActionEvent('sch-act', 'v1', now - MIN, { state: 'PENDING' }));
    const res = await post(t, '/vehicles/v1/charging', START);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: 'collapsed', action: { id: 'sch-act' } });
    // The vehicle of the fixtures cannot set its max current: that is the refusal, schedule or not.
    await seedDevice(t, 'charger', 'c1', { setMaxCurrent: { isCapable: false, interventionIds: [] } });
    await report(t, chargeScheduleEvent('c1', now - HOUR, { targetType: 'charger' }));
    expect((await errorOf(await post(t, '/chargers/c1/max-current', { maxCurrent: 10 }), 409))['code']).toBe('DEVICE_NOT_CAPABLE');
    expect(enode.commandRequests()).toEqual([]);
  });
});

describe('gateway: 409 while a smart charging plan controls the vehicle', () => {
  it('an executing plan: 409 CONTROLLED_BY_SMART_CHARGING with the plan id; not once the plan ended', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const now = t.clock.now().getTime();
    await report(t, smartChargingEvent('v1', now - HOUR, 'PLAN:EXECUTING:STOPPED'));
    const err = await errorOf(await post(t, '/vehicles/v1/charging', START), 409);
    expect(err).toMatchObject({ code: 'CONTROLLED_BY_SMART_CHARGING', planId: 'plan-v1', controls: [{ source: 'smart_charging', id: 'plan-v1', state: 'PLAN:EXECUTING:STOPPED' }] });
    expect(err['scheduleId']).toBeUndefined();
    expect(err['message']).toContain('smart charging plan (plan-v1)');
    expect(err['message']).toContain('/smart-override');
    expect(err['message']).toContain('disable smart charging');
    expect(enode.commandRequests()).toEqual([]);

    await report(t, smartChargingEvent('v1', now - MIN, 'PLAN:ENDED:FINISHED'));
    expect((await post(t, '/vehicles/v1/charging', START)).status).toBe(200);
    expect(await logRows(t)).toEqual([
      ['charging', 'refused', 'CONTROLLED_BY_SMART_CHARGING'],
      ['charging', 'sent', null],
    ]);
  });

  it('during an active smart override the plan holds nothing back; once the override ended it does again', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const now = t.clock.now().getTime();
    await report(t, smartChargingEvent('v1', now - HOUR, 'PLAN:EXECUTING:STOPPED'));
    await report(t, smartChargingEvent('v1', now - 10 * MIN, 'PLAN:EXECUTING:OVERRIDDEN', { createdAtMs: now - 10 * MIN, actionId: 'ovr-act' }));
    const sent = await post(t, '/vehicles/v1/charging', { action: 'STOP' });
    expect(sent.status).toBe(200);
    expect(enode.commandRequests()).toHaveLength(1);

    t.clock.advance(MIN);
    await report(t, smartChargingEvent('v1', now + 30_000, 'PLAN:EXECUTING:STOPPED', { createdAtMs: now - 10 * MIN, endedAtMs: now + 30_000, actionId: 'ovr-act' }));
    expect((await errorOf(await post(t, '/vehicles/v1/charging', START), 409))['code']).toBe('CONTROLLED_BY_SMART_CHARGING');
    expect(enode.commandRequests()).toHaveLength(1);
  });

  it('a schedule and a plan both active: the schedule is named, both are listed', async () => {
    const { t } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const now = t.clock.now().getTime();
    await report(t, smartChargingEvent('v1', now - HOUR, 'PLAN:EXECUTING:STARTED'), chargeScheduleEvent('v1', now - 2 * HOUR));
    const err = await errorOf(await post(t, '/vehicles/v1/charging', { action: 'STOP' }), 409);
    expect(err['code']).toBe('CONTROLLED_BY_SCHEDULE');
    expect(err['scheduleId']).toBe('sch-v1');
    expect((err['controls'] as Array<{ source: string }>).map((c) => c.source).sort()).toEqual(['schedule', 'smart_charging']);
  });
});

describe('gateway: force=true, and Enode’s 422', () => {
  it('force=true sends past the schedule, says so in a note and in the log, and counts', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    await report(t, chargeScheduleEvent('v1', t.clock.now().getTime() - 30 * MIN));
    const res = await post(t, '/vehicles/v1/charging?force=true', START);
    expect(res.status).toBe(200);
    const out = await res.json();
    expect(out).toMatchObject({ outcome: 'sent', budget: { used: 1, bySource: { gateway: 1 } } });
    expect(out.notes).toEqual([expect.objectContaining({ code: 'CONTROL_FORCED', message: expect.stringContaining('Enode schedule sch-v1') })]);
    expect(enode.commandRequests()).toEqual([expect.objectContaining({ path: '/vehicles/v1/charging', body: START })]);
    const [row] = await commandLog(t);
    expect(row).toMatchObject({ outcome: 'sent', notes: [expect.objectContaining({ code: 'CONTROL_FORCED' })] });
  });

  it('force=false is the default, and a bad force value is a 400 naming it', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    await report(t, chargeScheduleEvent('v1', t.clock.now().getTime() - 30 * MIN));
    expect((await post(t, '/vehicles/v1/charging?force=false', START)).status).toBe(409);
    const bad = await errorOf(await post(t, '/vehicles/v1/charging?force=yes', START), 400);
    expect(bad['field']).toBe('force');
    expect(enode.requests).toEqual([]);
  });

  it('forced, Enode’s 422 naming the schedule answers CONTROLLED_BY_SCHEDULE with our schedule id and Enode’s words; logged as failed; it did not count', async () => {
    const { t, enode } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '1' });
    await seedDevice(t, 'vehicle', 'v1');
    await report(t, chargeScheduleEvent('v1', t.clock.now().getTime() - 30 * MIN));
    enode.script.set('POST /vehicles/v1/charging', () => problem(422, 'Unprocessable Entity', 'Vehicle is controlled by a schedule'));
    const err = await errorOf(await post(t, '/vehicles/v1/charging?force=true', START), 409);
    expect(err).toMatchObject({
      code: 'CONTROLLED_BY_SCHEDULE',
      scheduleId: 'sch-v1',
      enode: { status: 422, title: 'Unprocessable Entity', detail: 'Vehicle is controlled by a schedule' },
    });
    expect(err['message']).toContain('Vehicle is controlled by a schedule');
    expect(err['message']).toContain('/smart-override');
    expect(await logRows(t)).toEqual([['charging', 'failed', 'Enode refused the command']]);
    // A failed command did not reach the device: the budget (limit 1) still has room.
    enode.script.clear();
    expect((await post(t, '/vehicles/v1/charging?force=true', START)).status).toBe(200);
  });

  it('Enode’s 422 naming smart charging answers CONTROLLED_BY_SMART_CHARGING, also when the gateway knew no plan (planId null)', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    enode.script.set('POST /vehicles/v1/charging', () => problem(422, 'Unprocessable Entity', 'The vehicle has an active Smart Charging plan'));
    const err = await errorOf(await post(t, '/vehicles/v1/charging', START), 409);
    expect(err).toMatchObject({ code: 'CONTROLLED_BY_SMART_CHARGING', planId: null, enode: { status: 422 } });
    expect(err['controls']).toBeUndefined();

    await report(t, smartChargingEvent('v1', t.clock.now().getTime() - HOUR, 'PLAN:EXECUTING:STOPPED'));
    const forced = await errorOf(await post(t, '/vehicles/v1/charging?force=true', START), 409);
    expect(forced).toMatchObject({ code: 'CONTROLLED_BY_SMART_CHARGING', planId: 'plan-v1', controls: [{ id: 'plan-v1' }] });
  });

  it('Enode’s 422 that names neither stays ENODE_UNPROCESSABLE (422); one that names both is told apart by the control the gateway knows', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'charger', 'c1');
    enode.script.set('POST /chargers/c1/charging', () => problem(422, 'Unprocessable Entity', 'The charger is offline'));
    expect(await errorOf(await post(t, '/chargers/c1/charging', START), 422)).toMatchObject({ code: 'ENODE_UNPROCESSABLE', enode: { status: 422, detail: 'The charger is offline' } });

    const both = 'Controlled by a schedule or smart charging';
    enode.script.set('POST /chargers/c1/charging', () => problem(422, 'Unprocessable Entity', both));
    expect((await errorOf(await post(t, '/chargers/c1/charging', START), 422))['code']).toBe('ENODE_UNPROCESSABLE');
    await report(t, chargeScheduleEvent('c1', t.clock.now().getTime() - HOUR, { targetType: 'charger' }));
    expect(await errorOf(await post(t, '/chargers/c1/charging?force=true', START), 409)).toMatchObject({ code: 'CONTROLLED_BY_SCHEDULE', scheduleId: 'sch-c1' });
  });
});

describe('gateway: the daily budget by source (schedule, smart charging, other)', () => {
  it('actions created while a schedule or plan was active count as theirs, others as other, the override’s own action as other; all against one limit', async () => {
    const { t, enode } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '5' });
    await seedDevice(t, 'vehicle', 'v1');
    const now = t.clock.now().getTime();
    await report(
      t,
      // Before any status: another service's action.
      chargeActionEvent('other-1', 'v1', now - 20 * HOUR),
      // A schedule active from 18 h to 12 h ago; its action at 15 h ago.
      chargeScheduleEvent('v1', now - 18 * HOUR, { expected: false }),
      chargeActionEvent('sched-1', 'v1', now - 15 * HOUR, { kind: 'STOP' }),
      chargeScheduleEvent('v1', now - 12 * HOUR, { enabled: false }),
      // A plan executing from 6 h ago; its action at 5 h ago; then a smart override another caller made, whose start action is not the plan's.
      smartChargingEvent('v1', now - 6 * HOUR, 'PLAN:EXECUTING:STOPPED'),
      chargeActionEvent('plan-1', 'v1', now - 5 * HOUR, { kind: 'STOP' }),
      smartChargingEvent('v1', now - 2 * HOUR, 'PLAN:EXECUTING:OVERRIDDEN', { createdAtMs: now - 2 * HOUR, actionId: 'ovr-1' }),
      chargeActionEvent('ovr-1', 'v1', now - 2 * HOUR),
      smartChargingEvent('v1', now - HOUR, 'PLAN:EXECUTING:STOPPED', { createdAtMs: now - 2 * HOUR, endedAtMs: now - HOUR, actionId: 'ovr-1' }),
    );
    // The plan controls the vehicle again: forced, the gateway's command is the fifth.
    const res = await post(t, '/vehicles/v1/charging?force=true', START);
    expect(res.status).toBe(200);
    expect((await res.json()).budget).toEqual({ limit: 5, used: 5, remaining: 0, bySource: { gateway: 1, schedule: 1, smartCharging: 1, other: 2 } });

    await t.exec("UPDATE actions SET state = 'CONFIRMED' WHERE origin = 'gateway'");
    const refused = await errorOf(await post(t, '/vehicles/v1/charging?force=true', { action: 'STOP' }), 429);
    expect(refused).toMatchObject({ code: 'DAILY_COMMAND_LIMIT', used: 5, bySource: { gateway: 1, schedule: 1, smartCharging: 1, other: 2 } });
    expect(refused['message']).toContain('1 through the gateway, 1 by Enode schedules, 1 by smart charging, 2 by other callers of this Enode client');
    expect(enode.commandRequests()).toHaveLength(1);
  });

  it('a 409 counts nothing: the schedule’s actions and the gateway’s commands are the whole budget', async () => {
    const { t } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '3' });
    await seedDevice(t, 'vehicle', 'v1');
    const now = t.clock.now().getTime();
    await report(t, chargeScheduleEvent('v1', now - 3 * HOUR), chargeActionEvent('sched-a', 'v1', now - 2 * HOUR, { kind: 'STOP' }), chargeActionEvent('sched-b', 'v1', now - HOUR));
    for (let i = 0; i < 3; i++) expect((await post(t, '/vehicles/v1/charging', START)).status).toBe(409);
    const res = await post(t, '/vehicles/v1/charging?force=true', { action: 'STOP' });
    expect(res.status).toBe(200);
    expect((await res.json()).budget).toEqual({ limit: 3, used: 3, remaining: 0, bySource: { gateway: 1, schedule: 2, smartCharging: 0, other: 0 } });
  });
});
