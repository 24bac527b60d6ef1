import { describe, expect, it } from 'vitest';
import { api, makeApp, type EngineApp } from '../support/fixtures.js';
import { commandLog, gatewayEngineApp, post, seedDevice } from './gateway-support.js';

const HOUR = 3_600_000;

describe('command gateway: routes and validation', () => {
  it('answers 401 without the admin token', async () => {
    const { t } = await gatewayEngineApp();
    const res = await api(t, '/vehicles/v1/charging', { method: 'POST', body: '{"action":"START"}' }, null);
    expect(res.status).toBe(401);
  });

  it('answers 503 ENODE_NOT_CONFIGURED on every command route when there is no Enode client', async () => {
    const t = await makeApp();
    const routes = [
      '/vehicles/v1/charging',
      '/chargers/c1/charging',
      '/chargers/c1/max-current',
      '/hvacs/h1/permanent-hold',
      '/hvacs/h1/follow-schedule',
      '/batteries/b1/operation-mode',
      '/actions/a1/cancel',
    ];
    for (const path of routes) {
      const res = await post(t, path, { action: 'START' });
      expect(res.status, path).toBe(503);
      const body = await res.json();
      expect(body.error.code).toBe('ENODE_NOT_CONFIGURED');
      expect(body.error.message).toContain('ENODE_CLIENT_ID');
    }
    expect((await commandLog(t))).toEqual([]);
  });

  it.each([
    ['/vehicles/v1/charging', { action: 'GO' }, 'action'],
    ['/vehicles/v1/charging', {}, 'action'],
    ['/vehicles/v1/charging', { action: 'START', force: true }, 'force'],
    ['/chargers/c1/max-current', { maxCurrent: 0 }, 'maxCurrent'],
    ['/chargers/c1/max-current', { maxCurrent: '16' }, 'maxCurrent'],
    ['/hvacs/h1/permanent-hold', { mode: 'WARM' }, 'mode'],
    ['/hvacs/h1/permanent-hold', { mode: 'HEAT' }, 'heatSetpoint'],
    ['/hvacs/h1/permanent-hold', { mode: 'AUTO', heatSetpoint: 19 }, 'coolSetpoint'],
    ['/batteries/b1/operation-mode', { operationMode: 'TURBO' }, 'operationMode'],
  ])('POST %s with %j answers 400 naming "%s"', async (path, body, field) => {
    const { t, enode } = await gatewayEngineApp();
    const res = await post(t, path, body);
    expect(res.status).toBe(400);
    const err = (await res.json()).error;
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.field).toBe(field);
    expect(err.message).toContain(`"${field}"`);
    expect(enode.requests).toEqual([]);
  });

  it('answers 400 to a body that is not JSON, and to a missing body', async () => {
    const { t } = await gatewayEngineApp();
    expect((await post(t, '/vehicles/v1/charging', undefined, '{"action":')).status).toBe(400);
    expect((await post(t, '/vehicles/v1/charging')).status).toBe(400);
  });

  it('answers 400 naming a bad override or supersede value', async () => {
    const { t } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const res = await post(t, '/vehicles/v1/charging?supersede=no', { action: 'START' });
    expect(res.status).toBe(400);
    expect((await res.json()).error.field).toBe('supersede');
  });

  it('answers 404 for an unknown device and for a device of another type, naming its type', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'charger', 'c1');
    const unknown = await post(t, '/vehicles/nope/charging', { action: 'START' });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe('NOT_FOUND');
    const wrongType = await post(t, '/vehicles/c1/charging', { action: 'START' });
    expect(wrongType.status).toBe(404);
    const err = (await wrongType.json()).error;
    expect(err.message).toContain('is a charger, not a vehicle');
    expect(err.deviceType).toBe('charger');
    expect(enode.requests).toEqual([]);
  });
});

describe('command gateway: sending', () => {
  it.each([
    ['vehicle', '/vehicles/v1/charging', { action: 'START' }, '/vehicles/v1/charging'],
    ['charger', '/chargers/v1/charging', { action: 'STOP' }, '/chargers/v1/charging'],
    ['charger', '/chargers/v1/max-current', { maxCurrent: 10 }, '/chargers/v1/max-current'],
    ['hvac', '/hvacs/v1/permanent-hold', { mode: 'HEAT', heatSetpoint: 21.5 }, '/hvacs/v1/permanent-hold'],
    ['hvac', '/hvacs/v1/follow-schedule', undefined, '/hvacs/v1/follow-schedule'],
    ['battery', '/batteries/v1/operation-mode', { operationMode: 'IMPORT_FOCUS' }, '/batteries/v1/operation-mode'],
  ] as const)('a %s command %s reaches Enode with the same body and answers the stored action', async (type, path, body, enodePath) => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, type, 'v1');
    const res = await post(t, path, body);
    expect(res.status).toBe(200);
    const out = await res.json();
    expect(enode.commandRequests()).toEqual([{ method: 'POST', path: enodePath, body }]);
    expect(Object.keys(out).sort()).toEqual(['action', 'budget', 'commandId', 'notes', 'outcome']);
    expect(out.outcome).toBe('sent');
    expect(out.notes).toEqual([]);
    expect(out.budget).toEqual({ limit: 6, used: 1, remaining: 5, bySource: { gateway: 1, schedule: 0, smartCharging: 0, other: 0 } });
    // The action exactly as GET /api/v1/actions/{id} shows it, created by us.
    const shown = await (await api(t, `/actions/${out.action.id}`)).json();
    expect(out.action).toEqual(shown);
    expect(shown).toMatchObject({ targetId: 'v1', targetType: type, state: 'PENDING', origin: 'gateway' });
    const [row] = await commandLog(t);
    expect(row).toMatchObject({ id: out.commandId, device_id: 'v1', device_type: type, outcome: 'sent', action_id: out.action.id, override: 0, error: null });
    expect(row?.body).toEqual(body ?? {});
  });

  it('queues the device for the reconciler: the gateway action explains the change it causes', async () => {
    const { t } = await gatewayEngineApp();
    await seedDevice(t, 'battery', 'b1');
    const out = await (await post(t, '/batteries/b1/operation-mode', { operationMode: 'IMPORT_FOCUS' })).json();
    const queued = await t.row('SELECT device_id FROM reconcile_queue WHERE device_id = ?', ['b1']);
    expect(queued).toBeTruthy();
    expect(out.action.origin).toBe('gateway');
  });

  it('an identical PENDING action collapses the command: nothing sent, the action returned, not counted', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const first = await (await post(t, '/vehicles/v1/charging', { action: 'START' })).json();
    const second = await post(t, '/vehicles/v1/charging', { action: 'START' });
    expect(second.status).toBe(200);
    const out = await second.json();
    expect(out.outcome).toBe('collapsed');
    expect(out.action).toEqual(first.action);
    expect(out.notes).toEqual([expect.objectContaining({ code: 'COLLAPSED', actionId: first.action.id })]);
    expect(out.budget).toEqual({ limit: 6, used: 1, remaining: 5, bySource: { gateway: 1, schedule: 0, smartCharging: 0, other: 0 } });
    expect(enode.commandRequests()).toHaveLength(1);
    expect((await commandLog(t)).map((r) => [r['outcome'], r['action_id']])).toEqual([
      ['sent', first.action.id],
      ['collapsed', first.action.id],
    ]);
  });

  it('two concurrent identical commands reach Enode once', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'battery', 'b1');
    const [a, b] = await Promise.all([
      post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' }),
      post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' }),
    ]);
    const outcomes = [(await a.json()).outcome, (await b.json()).outcome].sort();
    expect(outcomes).toEqual(['collapsed', 'sent']);
    expect(enode.commandRequests()).toHaveLength(1);
  });

  it('a different PENDING action: sends, and notes that Enode cancels the pending one', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const first = await (await post(t, '/vehicles/v1/charging', { action: 'START' })).json();
    const out = await (await post(t, '/vehicles/v1/charging', { action: 'STOP' })).json();
    expect(out.outcome).toBe('sent');
    expect(out.notes).toEqual([expect.objectContaining({ code: 'SUPERSEDES', actionId: first.action.id })]);
    expect(out.notes[0].message).toContain('CONFLICT');
    expect(enode.commandRequests()).toHaveLength(2);
  });

  it('supersede=false with a different PENDING action: 409 ACTION_PENDING, nothing sent, logged as refused', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const first = await (await post(t, '/vehicles/v1/charging', { action: 'START' })).json();
    const res = await post(t, '/vehicles/v1/charging?supersede=false', { action: 'STOP' });
    expect(res.status).toBe(409);
    const err = (await res.json()).error;
    expect(err).toMatchObject({ code: 'ACTION_PENDING', pendingActionId: first.action.id });
    expect(enode.commandRequests()).toHaveLength(1);
    expect((await commandLog(t)).map((r) => r['outcome'])).toEqual(['sent', 'refused']);
  });

  it('refuses a command the stored device is not capable of: 409 with the interventionIds', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'charger', 'c1', { setMaxCurrent: { isCapable: false, interventionIds: ['9f1e0d4c-0000-4000-8000-000000000001'] } });
    const res = await post(t, '/chargers/c1/max-current', { maxCurrent: 10 });
    expect(res.status).toBe(409);
    const err = (await res.json()).error;
    expect(err).toMatchObject({ code: 'DEVICE_NOT_CAPABLE', capability: 'setMaxCurrent', interventionIds: ['9f1e0d4c-0000-4000-8000-000000000001'] });
    // The fake Enode has no intervention texts: the refusal comes without them.
    expect(err.interventions).toBeUndefined();
    expect(enode.commandRequests()).toEqual([]);
    expect((await commandLog(t))).toEqual([expect.objectContaining({ outcome: 'refused', error: expect.stringContaining('NOT_CAPABLE') })]);
  });

  it('adds the intervention texts to a capability refusal when Enode has them', async () => {
    const { t, enode } = await gatewayEngineApp();
    const id = '9f1e0d4c-0000-4000-8000-000000000002';
    enode.script.set(`GET /interventions/${id}`, () =>
      new Response(JSON.stringify({ id, resolution: { title: 'Enable remote access', description: 'Open the app…', access: 'Remote', agent: 'User' } }), { status: 200 }),
    );
    await seedDevice(t, 'vehicle', 'v1', { startCharging: { isCapable: false, interventionIds: [id] } });
    const err = (await (await post(t, '/vehicles/v1/charging', { action: 'START' })).json()).error;
    expect(err.interventions).toEqual([{ id, title: 'Enable remote access', description: 'Open the app…', access: 'Remote', agent: 'User' }]);
  });

  it('refuses an HVAC hold in a mode the device does not offer', async () => {
    const { t } = await gatewayEngineApp();
    await seedDevice(t, 'hvac', 'h1');
    const res = await post(t, '/hvacs/h1/permanent-hold', { mode: 'COOL', coolSetpoint: 24 });
    expect(res.status).toBe(409);
    expect((await res.json()).error).toMatchObject({ code: 'DEVICE_NOT_CAPABLE', capability: 'capableModes' });
  });
});

describe('command gateway: daily budget', () => {
  /** Sends `n` alternating operation modes, an hour apart, each resolved before the next. */
  async function sendDay(t: EngineApp, n: number) {
    const modes = ['IMPORT_FOCUS', 'SELF_RELIANCE'] as const;
    const sentAt: number[] = [];
    for (let i = 0; i < n; i++) {
      sentAt.push(t.clock.now().getTime());
      const res = await post(t, '/batteries/b1/operation-mode', { operationMode: modes[i % 2] });
      expect(res.status).toBe(200);
      // Resolve it, so the next command is neither a duplicate nor a superseding one.
      await t.exec("UPDATE actions SET state = 'CONFIRMED' WHERE id = ?", [(await res.json()).action.id]);
      t.clock.advance(HOUR);
    }
    return sentAt;
  }

  it('the 7th command in 24 h is refused: 429 DAILY_COMMAND_LIMIT with the time the next is allowed', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'battery', 'b1');
    const sentAt = await sendDay(t, 6);
    const res = await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' });
    expect(res.status).toBe(429);
    const err = (await res.json()).error;
    const nextAllowedMs = (sentAt[0] as number) + 24 * HOUR;
    expect(err).toMatchObject({ code: 'DAILY_COMMAND_LIMIT', limit: 6, used: 6, nextAllowedAt: new Date(nextAllowedMs).toISOString() });
    expect(Number(res.headers.get('retry-after'))).toBe(Math.ceil((nextAllowedMs - t.clock.now().getTime()) / 1000));
    expect(enode.commandRequests()).toHaveLength(6);
    expect((await commandLog(t)).at(-1)).toMatchObject({ outcome: 'refused', error: expect.stringContaining('DAILY_COMMAND_LIMIT') });

    // At the announced time it is allowed again.
    t.clock.set(nextAllowedMs);
    expect((await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' })).status).toBe(200);
  });

  it('honours DAILY_COMMAND_LIMIT and counts per device', async () => {
    const { t } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '2' });
    await seedDevice(t, 'battery', 'b1');
    await seedDevice(t, 'battery', 'b2');
    await sendDay(t, 2);
    expect((await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' })).status).toBe(429);
    expect((await post(t, '/batteries/b2/operation-mode', { operationMode: 'IDLE' })).status).toBe(200);
  });

  it('override=true sends past the limit; the override is noted, logged on the row and counted', async () => {
    const { t, enode } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '2' });
    await seedDevice(t, 'battery', 'b1');
    await sendDay(t, 2);
    const res = await post(t, '/batteries/b1/operation-mode?override=true', { operationMode: 'IDLE' });
    expect(res.status).toBe(200);
    const out = await res.json();
    expect(out.notes.map((n: { code: string }) => n.code)).toEqual(['DAILY_LIMIT_OVERRIDDEN']);
    expect(out.budget).toEqual({ limit: 2, used: 3, remaining: 0, bySource: { gateway: 3, schedule: 0, smartCharging: 0, other: 0 } });
    expect(enode.commandRequests()).toHaveLength(3);
    expect((await commandLog(t)).at(-1)).toMatchObject({ outcome: 'sent', override: 1 });
    // Counted: without the flag the next one is still refused.
    await t.exec("UPDATE actions SET state = 'CONFIRMED' WHERE id = ?", [out.action.id]);
    expect((await post(t, '/batteries/b1/operation-mode', { operationMode: 'SELF_RELIANCE' })).status).toBe(429);
  });

  it('collapsed and refused commands do not count against the budget', async () => {
    const { t } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '1' });
    await seedDevice(t, 'battery', 'b1');
    await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' });
    for (let i = 0; i < 3; i++) expect((await (await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' })).json()).outcome).toBe('collapsed');
    const outcomes = (await commandLog(t)).map((r) => r['outcome']);
    expect(outcomes).toEqual(['sent', 'collapsed', 'collapsed', 'collapsed']);
  });
});
