/**
 * `POST` and `DELETE /api/v1/vehicles/{id}/smart-override` (issue 17) through `app.request()` on
 * both engines, against the fake Enode of the gateway tests: the guards of a command (known
 * vehicle, capable, daily budget — a smart override starts charging, so it counts; ending one sends
 * nothing and does not), the command log, Enode's answer in the command envelope, and Enode's errors.
 */
import { describe, expect, it } from 'vitest';
import { api, makeApp, type EngineApp } from '../support/fixtures.js';
import { chargeActionEvent, chargeScheduleEvent, HOUR, MIN, report, smartChargingEvent } from './gateway-control-support.js';
import { commandLog, gatewayEngineApp, json, post, problem, seedDevice, type FakeEnode } from './gateway-support.js';

/** Scripts Enode's smart override endpoints for `vehicleId`: POST answers a new override started by `actionId`, DELETE ends it. */
function scriptOverride(t: EngineApp, enode: FakeEnode, vehicleId: string, actionId: string | null = 'ovr-act-1') {
  let createdAt: string | null = null;
  const answer = (endedAt: string | null) => ({
    createdAt,
    endedAt,
    targetType: 'vehicle',
    targetId: vehicleId,
    vendorActionId: actionId,
    userId: `user-of-${vehicleId}`,
    vendor: 'TESLA',
  });
  enode.script.set(`POST /vehicles/${vehicleId}/smart-override`, () => {
    createdAt = t.clock.now().toISOString();
    return json(200, answer(null));
  });
  enode.script.set(`DELETE /vehicles/${vehicleId}/smart-override`, () =>
    createdAt === null ? problem(404, 'Not Found', 'No Smart Override Exists') : json(200, answer(t.clock.now().toISOString())),
  );
}

function del(t: EngineApp, path: string) {
  return api(t, path, { method: 'DELETE' });
}

async function errorOf(res: Response, status: number) {
  expect(res.status).toBe(status);
  return (await res.json()).error as Record<string, any>;
}

describe('POST /vehicles/{id}/smart-override', () => {
  it("sends Enode's smart override for a vehicle under a plan: Enode's answer in the command envelope, logged naming the action, counted once with that action", async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const now = t.clock.now().getTime();
    await report(t, smartChargingEvent('v1', now - HOUR, 'PLAN:EXECUTING:STOPPED'));
    scriptOverride(t, enode, 'v1');

    const res = await post(t, '/vehicles/v1/smart-override');
    expect(res.status).toBe(200);
    const out = await res.json();
    expect(out).toEqual({
      smartOverride: {
        createdAt: new Date(now).toISOString(),
        endedAt: null,
        targetType: 'vehicle',
        targetId: 'v1',
        vendorActionId: 'ovr-act-1',
        userId: 'user-of-v1',
        vendor: 'TESLA',
      },
      outcome: 'sent',
      notes: [],
      commandId: expect.any(String),
      budget: { limit: 6, used: 1, remaining: 5, bySource: { gateway: 1, schedule: 0, smartCharging: 0, other: 0 } },
    });
    expect(enode.requests.filter((r) => r.path.startsWith('/vehicles'))).toEqual([{ method: 'POST', path: '/vehicles/v1/smart-override', body: undefined }]);
    expect(await commandLog(t)).toEqual([
      expect.objectContaining({ id: out.commandId, device_id: 'v1', device_type: 'vehicle', command: 'smart-override', outcome: 'sent', action_id: 'ovr-act-1', error: null }),
    ]);

    // The action that starts charging arrives by webhook (origin enode), and Enode reports the
    // override: the override's command claims the action, which counts once, as the gateway's.
    await report(
      t,
      chargeActionEvent('ovr-act-1', 'v1', now),
      smartChargingEvent('v1', now + 1000, 'PLAN:EXECUTING:OVERRIDDEN', { createdAtMs: now, actionId: 'ovr-act-1' }),
    );
    t.clock.advance(MIN);
    // Under the override the plan holds nothing back: a plain STOP goes without force.
    const stop = await post(t, '/vehicles/v1/charging', { action: 'STOP' });
    expect(stop.status).toBe(200);
    expect((await stop.json()).budget).toEqual({ limit: 6, used: 2, remaining: 4, bySource: { gateway: 2, schedule: 0, smartCharging: 0, other: 0 } });
  });

  it('notes NOT_CONTROLLED when no active schedule or plan is known, and still sends (Enode decides)', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    scriptOverride(t, enode, 'v1', null);
    const res = await post(t, '/vehicles/v1/smart-override');
    expect(res.status).toBe(200);
    const out = await res.json();
    expect(out.notes).toEqual([expect.objectContaining({ code: 'NOT_CONTROLLED' })]);
    expect(out.smartOverride.vendorActionId).toBeNull();
    expect(await commandLog(t)).toEqual([expect.objectContaining({ command: 'smart-override', outcome: 'sent', action_id: null })]);
  });

  it('guards: 404 for an unknown vehicle, for a device that is not a vehicle and for chargers (no such Enode path); 409 when the vehicle cannot start charging; nothing sent', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'charger', 'c1');
    await seedDevice(t, 'vehicle', 'v2', { startCharging: { isCapable: false, interventionIds: [] } });
    await report(t, chargeScheduleEvent('v2', t.clock.now().getTime() - HOUR));

    const unknown = await errorOf(await post(t, '/vehicles/nope/smart-override'), 404);
    expect(unknown).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('No vehicle nope') });
    expect(await errorOf(await post(t, '/vehicles/c1/smart-override'), 404)).toMatchObject({ code: 'NOT_FOUND', deviceType: 'charger' });
    expect((await post(t, '/chargers/c1/smart-override')).status).toBe(404);
    expect((await del(t, '/vehicles/nope/smart-override')).status).toBe(404);
    expect((await del(t, '/vehicles/c1/smart-override')).status).toBe(404);
    expect(await errorOf(await post(t, '/vehicles/v2/smart-override'), 409)).toMatchObject({ code: 'DEVICE_NOT_CAPABLE', capability: 'startCharging' });

    expect(enode.requests.filter((r) => r.path !== '/oauth2/token')).toEqual([]);
    expect(await commandLog(t)).toEqual([expect.objectContaining({ device_id: 'v2', command: 'smart-override', outcome: 'refused', error: expect.stringMatching(/^NOT_CAPABLE/) })]);
  });

  it('counts against the daily budget with schedule-created actions: past the limit 429 unless override=true', async () => {
    const { t, enode } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '2' });
    await seedDevice(t, 'vehicle', 'v1');
    const now = t.clock.now().getTime();
    await report(t, chargeScheduleEvent('v1', now - 5 * HOUR), chargeActionEvent('sched-1', 'v1', now - 4 * HOUR, { kind: 'STOP' }), chargeActionEvent('sched-2', 'v1', now - 3 * HOUR));
    scriptOverride(t, enode, 'v1');

    const refused = await errorOf(await post(t, '/vehicles/v1/smart-override'), 429);
    expect(refused).toMatchObject({ code: 'DAILY_COMMAND_LIMIT', limit: 2, used: 2, bySource: { gateway: 0, schedule: 2, smartCharging: 0, other: 0 } });
    expect(refused['message']).toContain('2 by Enode schedules');
    expect(enode.commandRequests()).toEqual([]);

    const forced = await post(t, '/vehicles/v1/smart-override?override=true');
    expect(forced.status).toBe(200);
    const out = await forced.json();
    expect(out.notes).toEqual([expect.objectContaining({ code: 'DAILY_LIMIT_OVERRIDDEN' })]);
    expect(out.budget).toEqual({ limit: 2, used: 3, remaining: 0, bySource: { gateway: 1, schedule: 2, smartCharging: 0, other: 0 } });
    expect((await commandLog(t)).map((r) => [r['command'], r['outcome'], r['override']])).toEqual([
      ['smart-override', 'refused', expect.anything()],
      ['smart-override', 'sent', expect.anything()],
    ]);
  });

  it("Enode's refusals keep their codes; a timeout stays counted (it may have started charging); an unexpected answer is a 502 but counted", async () => {
    const { t, enode } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '1' });
    await seedDevice(t, 'vehicle', 'v1');
    enode.script.set('POST /vehicles/v1/smart-override', () => problem(400, 'Bad Request', 'Vehicle is not plugged in'));
    expect(await errorOf(await post(t, '/vehicles/v1/smart-override'), 400)).toMatchObject({ code: 'ENODE_BAD_REQUEST', enode: { detail: 'Vehicle is not plugged in' } });
    enode.script.set('POST /vehicles/v1/smart-override', () => problem(503, 'Service Unavailable', 'later'));
    expect((await errorOf(await post(t, '/vehicles/v1/smart-override'), 502))['code']).toBe('ENODE_UNAVAILABLE');
    expect(enode.requests.filter((r) => r.path === '/vehicles/v1/smart-override')).toHaveLength(2);
    expect((await commandLog(t)).map((r) => r['outcome'])).toEqual(['failed', 'unknown']);
    // The unknown one counts (limit 1).
    expect((await post(t, '/vehicles/v1/smart-override')).status).toBe(429);

    enode.script.set('POST /vehicles/v1/smart-override', () => json(200, { vendorActionId: 'ovr-odd' }));
    const odd = await errorOf(await post(t, '/vehicles/v1/smart-override?override=true'), 502);
    expect(odd).toMatchObject({ code: 'UPSTREAM_ERROR', message: expect.stringContaining('ovr-odd') });
    expect((await commandLog(t)).at(-1)).toMatchObject({ command: 'smart-override', outcome: 'sent', action_id: 'ovr-odd', error: expect.stringContaining('createdAt') });
  });

  it('answers 503 ENODE_NOT_CONFIGURED without an Enode client, on both methods', async () => {
    const t = await makeApp();
    expect((await errorOf(await post(t, '/vehicles/v1/smart-override'), 503))['code']).toBe('ENODE_NOT_CONFIGURED');
    expect((await errorOf(await del(t, '/vehicles/v1/smart-override'), 503))['code']).toBe('ENODE_NOT_CONFIGURED');
  });
});

describe('DELETE /vehicles/{id}/smart-override', () => {
  it("ends the override: Enode's answer, a SMART_OVERRIDE_ENDED note, no budget; logged as a cancel, which does not count", async () => {
    const { t, enode } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '2' });
    await seedDevice(t, 'vehicle', 'v1');
    await report(t, smartChargingEvent('v1', t.clock.now().getTime() - HOUR, 'PLAN:EXECUTING:STOPPED'));
    scriptOverride(t, enode, 'v1');
    expect((await post(t, '/vehicles/v1/smart-override')).status).toBe(200);
    t.clock.advance(10 * MIN);

    const res = await del(t, '/vehicles/v1/smart-override');
    expect(res.status).toBe(200);
    const out = await res.json();
    expect(out).toEqual({
      smartOverride: expect.objectContaining({ targetId: 'v1', endedAt: t.clock.now().toISOString(), vendorActionId: 'ovr-act-1' }),
      outcome: 'sent',
      notes: [expect.objectContaining({ code: 'SMART_OVERRIDE_ENDED', actionId: 'ovr-act-1' })],
      commandId: expect.any(String),
    });
    expect(enode.requests.filter((r) => r.method === 'DELETE')).toEqual([{ method: 'DELETE', path: '/vehicles/v1/smart-override', body: undefined }]);
    expect((await commandLog(t)).map((r) => [r['command'], r['outcome'], r['action_id']])).toEqual([
      ['smart-override', 'sent', 'ovr-act-1'],
      ['cancel', 'sent', null],
    ]);

    // Ending it counted nothing: the second command of the limit of 2 still fits.
    await t.exec("UPDATE actions SET state = 'CONFIRMED'");
    const next = await post(t, '/vehicles/v1/smart-override');
    expect(next.status).toBe(200);
    expect((await next.json()).budget).toMatchObject({ used: 2, bySource: { gateway: 2 } });
  });

  it('404 ENODE_NOT_FOUND when Enode knows no active override; logged as failed', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    scriptOverride(t, enode, 'v1');
    const err = await errorOf(await del(t, '/vehicles/v1/smart-override'), 404);
    expect(err).toMatchObject({ code: 'ENODE_NOT_FOUND', enode: { status: 404, detail: 'No Smart Override Exists' } });
    expect(err['message']).toContain('no active smart override of vehicle v1');
    expect(await commandLog(t)).toEqual([expect.objectContaining({ command: 'cancel', outcome: 'failed', error: expect.stringContaining('smart override') })]);
  });
});

describe('the smart override routes in the OpenAPI document', () => {
  it('documents POST and DELETE with their answers, and the 409 codes on the basic commands', async () => {
    const t = await makeApp();
    const doc = await (await api(t, '/openapi.json')).json();
    const paths = doc.paths as Record<string, Record<string, any>>;
    const route = paths['/api/v1/vehicles/{id}/smart-override'] ?? paths['/vehicles/{id}/smart-override'];
    expect(route?.['post']?.operationId).toBe('createVehicleSmartOverride');
    expect(route?.['delete']?.operationId).toBe('endVehicleSmartOverride');
    expect(JSON.stringify(route?.['post']?.responses?.['200'])).toContain('SmartOverrideResult');
    expect(doc.components.schemas.SmartOverrideResult.properties.budget).toBeDefined();
    expect(doc.components.schemas.CommandBudget.properties.bySource.properties).toHaveProperty('smartCharging');
    const charging = paths['/api/v1/vehicles/{id}/charging'] ?? paths['/vehicles/{id}/charging'];
    expect(charging?.['post']?.description).toContain('CONTROLLED_BY_SCHEDULE');
    expect(JSON.stringify(charging?.['post']?.parameters)).toContain('"force"');
    expect(Object.keys(paths).some((p) => p.includes('/chargers/{id}/smart-override'))).toBe(false);
  });
});
