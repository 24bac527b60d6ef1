import { describe, expect, it } from 'vitest';
import {
  EnodeApiError,
  EnodeAuthError,
  EnodeConflictError,
  EnodeNotFoundError,
  EnodeRateLimitError,
  EnodeUnavailableError,
  EnodeValidationError,
} from '../../src/enode/errors.js';
import { codeToStatus } from '../../src/errors.js';
import { mapEnodeError, refusalError } from '../../src/gateway/errors.js';
import { api } from '../support/fixtures.js';
import { commandLog, gatewayEngineApp, json, post, problem, seedDevice } from './gateway-support.js';

const PATH = { method: 'POST', path: '/vehicles/v1/charging' };

describe('mapping Enode failures (unit)', () => {
  it('400 → ENODE_BAD_REQUEST (400), keeping Enode title, detail and issues', () => {
    const err = mapEnodeError(
      new EnodeValidationError({ ...PATH, status: 400, problem: { title: 'Bad Request', detail: 'Vehicle is fully charged', issues: [{ path: 'action', message: 'x' }] } }),
    );
    expect(err?.code).toBe('ENODE_BAD_REQUEST');
    expect(codeToStatus(err!.code)).toBe(400);
    expect(err?.message).toContain('Vehicle is fully charged');
    expect(err?.details).toEqual({ enode: { status: 400, title: 'Bad Request', detail: 'Vehicle is fully charged', issues: [{ path: 'action', message: 'x' }] } });
  });

  it('422 that names no schedule or smart charging → ENODE_UNPROCESSABLE (422), explaining schedules and smart charging', () => {
    const err = mapEnodeError(new EnodeValidationError({ ...PATH, status: 422, problem: { title: 'Unprocessable Entity', detail: 'The vehicle cannot be controlled now' } }));
    expect(err?.code).toBe('ENODE_UNPROCESSABLE');
    expect(codeToStatus(err!.code)).toBe(422);
    expect(err?.message).toMatch(/cannot be controlled now.*smart override/);
  });

  it('422 that names a schedule → CONTROLLED_BY_SCHEDULE (409), keeping Enode’s words (the 422 of issue 17)', () => {
    const err = mapEnodeError(new EnodeValidationError({ ...PATH, status: 422, problem: { title: 'Unprocessable Entity', detail: 'Controlled by a schedule' } }));
    expect(err?.code).toBe('CONTROLLED_BY_SCHEDULE');
    expect(codeToStatus(err!.code)).toBe(409);
    expect(err?.details).toEqual({ scheduleId: null, enode: { status: 422, title: 'Unprocessable Entity', detail: 'Controlled by a schedule' } });
    expect(err?.message).toMatch(/Controlled by a schedule.*disable the schedule/);
  });

  it('404 → ENODE_NOT_FOUND (404)', () => {
    const err = mapEnodeError(new EnodeNotFoundError({ ...PATH, status: 404, problem: { title: 'Not Found', detail: 'No vehicle v1' } }));
    expect(err?.code).toBe('ENODE_NOT_FOUND');
    expect(codeToStatus(err!.code)).toBe(404);
    expect(err?.details).toMatchObject({ enode: { status: 404, detail: 'No vehicle v1' } });
  });

  it('409 without an action → ENODE_CONFLICT (409)', () => {
    const err = mapEnodeError(new EnodeConflictError({ ...PATH, status: 409, problem: { title: 'Conflict', detail: 'busy' } }));
    expect(err?.code).toBe('ENODE_CONFLICT');
    expect(codeToStatus(err!.code)).toBe(409);
  });

  it('429 after retries → ENODE_RATE_LIMITED (503) with Enode’s Retry-After', () => {
    const err = mapEnodeError(new EnodeRateLimitError({ ...PATH, status: 429, retryAfterMs: 30_500 }));
    expect(err?.code).toBe('ENODE_RATE_LIMITED');
    expect(codeToStatus(err!.code)).toBe(503);
    expect(err?.details).toMatchObject({ retryAfterSeconds: 31 });
  });

  it('401 → ENODE_AUTH_FAILED (502) naming the settings; 403 → ENODE_FORBIDDEN (403)', () => {
    const auth = mapEnodeError(new EnodeAuthError({ ...PATH, status: 401, problem: { title: 'invalid_client' } }));
    expect(auth?.code).toBe('ENODE_AUTH_FAILED');
    expect(codeToStatus(auth!.code)).toBe(502);
    expect(auth?.message).toContain('ENODE_CLIENT_SECRET');
    const forbidden = mapEnodeError(new EnodeAuthError({ ...PATH, status: 403, problem: { title: 'Forbidden', detail: 'Missing scope' } }));
    expect(forbidden?.code).toBe('ENODE_FORBIDDEN');
    expect(codeToStatus(forbidden!.code)).toBe(403);
  });

  it('5xx, network failure or timeout after retries → ENODE_UNAVAILABLE (502), without request internals', () => {
    for (const reason of ['status', 'network', 'timeout'] as const) {
      const err = mapEnodeError(new EnodeUnavailableError({ ...PATH, status: reason === 'status' ? 503 : null, reason, attempts: 3, cause: new Error('connect ECONNREFUSED 10.0.0.1:443') }));
      expect(err?.code).toBe('ENODE_UNAVAILABLE');
      expect(codeToStatus(err!.code)).toBe(502);
      expect(err?.message).toContain('may or may not have been taken');
      expect(err?.message).not.toContain('10.0.0.1');
      expect(err?.message).not.toContain('/vehicles/v1');
    }
  });

  it('any other Enode error → UPSTREAM_ERROR (502); non-Enode errors are not mapped', () => {
    expect(mapEnodeError(new EnodeApiError({ ...PATH, status: 200 }, 'unexpected shape'))?.code).toBe('UPSTREAM_ERROR');
    expect(mapEnodeError(new TypeError('bug'))).toBeUndefined();
  });

  it('guard refusals map to DEVICE_NOT_CAPABLE, ACTION_PENDING and DAILY_COMMAND_LIMIT', () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    expect(refusalError({ reason: 'NOT_CAPABLE', message: 'm', capability: 'startCharging', interventionIds: ['i'] }, now).details).toEqual({
      capability: 'startCharging',
      interventionIds: ['i'],
    });
    expect(refusalError({ reason: 'ACTION_PENDING', message: 'm', actionId: 'a1' }, now)).toMatchObject({ code: 'ACTION_PENDING', details: { pendingActionId: 'a1' } });
    const bySource = { gateway: 4, schedule: 1, smartCharging: 0, other: 1 };
    const limit = refusalError({ reason: 'DAILY_COMMAND_LIMIT', message: 'm', budget: { limit: 6, used: 6, remaining: 0, bySource, nextAllowedAtMs: now + 90_000 } }, now);
    expect(limit.code).toBe('DAILY_COMMAND_LIMIT');
    expect(codeToStatus(limit.code)).toBe(429);
    expect(limit.details).toEqual({ limit: 6, used: 6, bySource, nextAllowedAt: '2026-03-01T12:01:30.000Z', retryAfterSeconds: 90 });
  });
});

describe('Enode problems through the command routes', () => {
  it.each([
    [400, 'ENODE_BAD_REQUEST', 400],
    [422, 'ENODE_UNPROCESSABLE', 422],
    [404, 'ENODE_NOT_FOUND', 404],
  ])('Enode %i → %s (%i), with Enode’s title and detail; logged as failed', async (status, code, ours) => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    enode.script.set('POST /vehicles/v1/charging', () => problem(status, 'Title from Enode', 'Detail from Enode'));
    const res = await post(t, '/vehicles/v1/charging', { action: 'START' });
    expect(res.status).toBe(ours);
    const err = (await res.json()).error;
    expect(err.code).toBe(code);
    expect(err.enode).toEqual({ status, title: 'Title from Enode', detail: 'Detail from Enode' });
    expect(err.message).toContain('Detail from Enode');
    expect((await commandLog(t))).toEqual([expect.objectContaining({ outcome: 'failed', action_id: null, error: err.message })]);
  });

  it('Enode 5xx on a create → 502 ENODE_UNAVAILABLE, not retried, and counted as `unknown` (the action may exist)', async () => {
    const { t, enode } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '1' });
    await seedDevice(t, 'battery', 'b1');
    enode.script.set('POST /batteries/b1/operation-mode', () => problem(503, 'Service Unavailable', 'try later'));
    const res = await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' });
    expect(res.status).toBe(502);
    const body = await res.json();
    expect(body.error.code).toBe('ENODE_UNAVAILABLE');
    expect(JSON.stringify(body)).not.toContain('enode.fake');
    expect(enode.commandRequests()).toHaveLength(1);
    expect((await commandLog(t))).toEqual([expect.objectContaining({ outcome: 'unknown', action_id: null })]);
    enode.script.clear();
    // It may have reached the device, so it used the budget (limit 1): only an override goes now.
    const again = await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' });
    expect(again.status).toBe(429);
    expect((await post(t, '/batteries/b1/operation-mode?override=true', { operationMode: 'IDLE' })).status).toBe(200);
  });

  it('Enode unreachable → 502 ENODE_UNAVAILABLE', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'battery', 'b1');
    enode.script.set('POST /batteries/b1/operation-mode', () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND enode.fake'), { code: 'ENOTFOUND' }) });
    });
    const res = await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' });
    expect(res.status).toBe(502);
    const err = (await res.json()).error;
    expect(err.code).toBe('ENODE_UNAVAILABLE');
    expect(err.message).toContain('could not be reached');
    expect(err.message).not.toContain('ENOTFOUND');
  });

  it('an action Enode cancels at once is stored and answered with a CANCELLED_BY_ENODE note', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'vehicle', 'v1');
    const at = t.clock.now().toISOString();
    enode.script.set('POST /vehicles/v1/charging', () =>
      json(200, {
        id: 'act-unnecessary',
        userId: 'user-of-v1',
        createdAt: at,
        updatedAt: at,
        completedAt: at,
        state: 'CANCELLED',
        targetId: 'v1',
        targetType: 'vehicle',
        kind: 'STOP',
        failureReason: { type: 'UNNECESSARY', detail: 'Already stopped' },
      }),
    );
    const out = await (await post(t, '/vehicles/v1/charging', { action: 'STOP' })).json();
    expect(out.action).toMatchObject({ id: 'act-unnecessary', state: 'CANCELLED', failureReason: { type: 'UNNECESSARY' }, origin: 'gateway' });
    expect(out.notes).toEqual([expect.objectContaining({ code: 'CANCELLED_BY_ENODE', message: expect.stringContaining('UNNECESSARY') })]);
    // It reached Enode: it counts.
    expect(out.budget.used).toBe(1);
  });
});

describe('cancelling an action', () => {
  async function pendingAction() {
    const app = await gatewayEngineApp();
    await seedDevice(app.t, 'charger', 'c1');
    const out = await (await post(app.t, '/chargers/c1/charging', { action: 'START' })).json();
    return { ...app, actionId: out.action.id as string };
  }

  it('cancels a PENDING action through Enode and answers it CANCELLED; not counted against the budget', async () => {
    const { t, enode, actionId } = await pendingAction();
    const at = t.clock.now().toISOString();
    enode.script.set(`POST /chargers/actions/${actionId}/cancel`, () =>
      json(200, {
        id: actionId,
        userId: 'user-of-c1',
        createdAt: at,
        updatedAt: new Date(t.clock.now().getTime() + 1000).toISOString(),
        completedAt: at,
        state: 'CANCELLED',
        targetId: 'c1',
        targetType: 'charger',
        kind: 'START',
        failureReason: { type: 'REQUESTED_CANCELLATION', detail: 'Cancelled on request' },
      }),
    );
    const res = await post(t, `/actions/${actionId}/cancel`);
    expect(res.status).toBe(200);
    const out = await res.json();
    expect(out.action).toMatchObject({ id: actionId, state: 'CANCELLED', failureReason: { type: 'REQUESTED_CANCELLATION' } });
    expect(out.action).toEqual(await (await api(t, `/actions/${actionId}`)).json());
    expect(out.notes).toEqual([expect.objectContaining({ code: 'VENDOR_MAY_STILL_EXECUTE' })]);
    expect(out.budget).toBeUndefined();
    expect((await commandLog(t)).map((r) => [r['command'], r['outcome'], r['action_id']])).toEqual([
      ['charging', 'sent', actionId],
      ['cancel', 'sent', actionId],
    ]);
    // The cancel did not use up budget: the next command sees one used.
    expect((await (await post(t, '/chargers/c1/charging', { action: 'START' })).json()).budget.used).toBe(2);
  });

  it('Enode 409 (already resolved): 409 ACTION_ALREADY_RESOLVED with the resolved action, which is stored', async () => {
    const { t, enode, actionId } = await pendingAction();
    const at = t.clock.now().toISOString();
    const resolved = {
      id: actionId,
      userId: 'user-of-c1',
      createdAt: at,
      updatedAt: new Date(t.clock.now().getTime() + 5000).toISOString(),
      completedAt: at,
      state: 'CONFIRMED',
      targetId: 'c1',
      targetType: 'charger',
      kind: 'START',
      failureReason: null,
    };
    enode.script.set(`POST /chargers/actions/${actionId}/cancel`, () => json(409, resolved));
    const res = await post(t, `/actions/${actionId}/cancel`);
    expect(res.status).toBe(409);
    const err = (await res.json()).error;
    expect(err.code).toBe('ACTION_ALREADY_RESOLVED');
    expect(err.action).toMatchObject({ id: actionId, state: 'CONFIRMED' });
    expect((await (await api(t, `/actions/${actionId}`)).json()).state).toBe('CONFIRMED');
    expect((await commandLog(t)).at(-1)).toMatchObject({ command: 'cancel', outcome: 'failed' });
  });

  it('an action already resolved here: 409 without asking Enode', async () => {
    const { t, enode, actionId } = await pendingAction();
    await t.exec("UPDATE actions SET state = 'FAILED' WHERE id = ?", [actionId]);
    const before = enode.requests.length;
    const res = await post(t, `/actions/${actionId}/cancel`);
    expect(res.status).toBe(409);
    expect((await res.json()).error).toMatchObject({ code: 'ACTION_ALREADY_RESOLVED', action: { state: 'FAILED' } });
    expect(enode.requests.length).toBe(before);
  });

  it('an unknown action: 404; Enode 404 on cancel: ENODE_NOT_FOUND', async () => {
    const { t, actionId } = await pendingAction();
    expect((await post(t, '/actions/nope/cancel')).status).toBe(404);
    // The fake answers unscripted paths 404.
    const res = await post(t, `/actions/${actionId}/cancel`);
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('ENODE_NOT_FOUND');
  });
});
