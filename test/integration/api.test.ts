import { describe, expect, it } from 'vitest';
import { actionEvent, api, makeApp, postWebhook, vehicleEvent } from '../support/fixtures.js';

const ROUTES: Array<[string, string]> = [
  ['GET', '/actions'],
  ['GET', '/actions/a1'],
  ['GET', '/devices'],
  ['GET', '/devices/v1'],
  ['GET', '/deliveries'],
  ['GET', '/deliveries/d1'],
  ['POST', '/deliveries/d1/replay'],
  ['GET', '/no-such-route'],
];

describe('admin API authentication', () => {
  it.each(ROUTES)('%s %s answers 401 without a token', async (method, path) => {
    const t = await makeApp();
    const res = await api(t, path, { method }, null);
    expect(res.status).toBe(401);
    const body = await res.json();
    expect(body.error.code).toBe('UNAUTHORIZED');
    expect(body.error.requestId).toBeTruthy();
  });

  it.each(ROUTES)('%s %s answers 401 with a wrong token', async (method, path) => {
    const t = await makeApp();
    expect((await api(t, path, { method }, 'wrong-token-wrong-token')).status).toBe(401);
  });

  it('answers 401 to a non-bearer scheme carrying the right token', async () => {
    const t = await makeApp();
    const res = await t.app.request('/api/v1/devices', { headers: { authorization: 'Basic test-admin-token-0123456789' } });
    expect(res.status).toBe(401);
  });
});

describe('admin API reads', () => {
  it('answers 404 with the error shape for unknown ids', async () => {
    const t = await makeApp();
    for (const path of ['/actions/x', '/devices/x', '/deliveries/x']) {
      const res = await api(t, path);
      expect(res.status).toBe(404);
      expect((await res.json()).error).toMatchObject({ code: 'NOT_FOUND' });
    }
  });

  it('shows an action with exactly the documented fields', async () => {
    const t = await makeApp();
    await postWebhook(t, [actionEvent('a1', 'CANCELLED', 2, { failureReason: { type: 'CONFLICT', detail: 'newer action' } })]);
    const body = await (await api(t, '/actions/a1')).json();
    expect(Object.keys(body).sort()).toEqual(
      ['completedAt', 'createdAt', 'failureReason', 'id', 'kind', 'origin', 'state', 'target', 'targetId', 'targetType', 'updatedAt', 'userId'].sort(),
    );
    expect(body.failureReason).toEqual({ type: 'CONFLICT', detail: 'newer action' });
  });

  it('filters actions by state and targetId', async () => {
    const t = await makeApp();
    await postWebhook(t, [
      actionEvent('a1', 'PENDING', 1, { targetId: 'v1' }),
      actionEvent('a2', 'CONFIRMED', 2, { targetId: 'v1' }),
      actionEvent('a3', 'PENDING', 3, { targetId: 'v2' }),
    ]);
    const pending = await (await api(t, '/actions?state=PENDING')).json();
    expect(pending.data.map((a: { id: string }) => a.id).sort()).toEqual(['a1', 'a3']);
    const v1 = await (await api(t, '/actions?targetId=v1')).json();
    expect(v1.data.map((a: { id: string }) => a.id).sort()).toEqual(['a1', 'a2']);
  });

  it('walks every device exactly once through cursor pages', async () => {
    const t = await makeApp();
    const ids = Array.from({ length: 23 }, (_, i) => `vehicle-${String(i).padStart(2, '0')}`);
    await postWebhook(t, ids.map((id) => vehicleEvent(id, 1)));
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const query: string = after ? `?limit=5&after=${after}` : '?limit=5';
      const body = await (await api(t, `/devices${query}`)).json();
      expect(body.data.length).toBeLessThanOrEqual(5);
      seen.push(...body.data.map((d: { id: string }) => d.id));
      after = body.pagination.after;
      pages++;
    } while (after);
    expect(pages).toBe(5);
    expect(seen).toEqual(ids);
  });

  it('walks actions newest first through cursor pages', async () => {
    const t = await makeApp();
    await postWebhook(t, Array.from({ length: 7 }, (_, i) => actionEvent(`a${i}`, 'PENDING', i)));
    const first = await (await api(t, '/actions?limit=4')).json();
    const second = await (await api(t, `/actions?limit=4&after=${first.pagination.after}`)).json();
    expect([...first.data, ...second.data].map((a: { id: string }) => a.id)).toEqual(['a6', 'a5', 'a4', 'a3', 'a2', 'a1', 'a0']);
    expect(second.pagination.after).toBeNull();
  });

  it('filters devices by type and userId', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v1', 1), vehicleEvent('v2', 1)]);
    expect((await (await api(t, '/devices?type=vehicle')).json()).data).toHaveLength(2);
    expect((await (await api(t, '/devices?type=hvac')).json()).data).toHaveLength(0);
    expect((await (await api(t, '/devices?userId=user-of-v2')).json()).data.map((d: { id: string }) => d.id)).toEqual(['v2']);
  });

  it('lists deliveries newest first and filters by status', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v1', 1)], { deliveryId: 'first' });
    t.clock.advance(1000);
    await postWebhook(t, 'not json', { deliveryId: 'second' });
    const all = await (await api(t, '/deliveries')).json();
    expect(all.data.map((d: { id: string }) => d.id)).toEqual(['second', 'first']);
    const quarantined = await (await api(t, '/deliveries?status=quarantined')).json();
    expect(quarantined.data.map((d: { id: string }) => d.id)).toEqual(['second']);
  });

  it.each([
    ['/devices?type=spaceship', 'type'],
    ['/deliveries?status=lost', 'status'],
    ['/actions?limit=0', 'limit'],
    ['/actions?limit=501', 'limit'],
    ['/actions?limit=ten', 'limit'],
    ['/devices?after=%%%', 'after'],
    ['/actions?after=bm90LWpzb24', 'after'],
    ['/actions?state=pending;drop', 'state'],
  ])('answers 400 naming the parameter for %s', async (path, param) => {
    const t = await makeApp();
    const res = await api(t, path);
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.code).toBe('BAD_REQUEST');
    expect(body.error.message).toContain(param);
  });
});

describe('health', () => {
  it('GET /healthz answers without auth', async () => {
    const t = await makeApp();
    expect(await (await t.app.request('/healthz')).json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz is ready on a migrated database and 503 once it is closed', async () => {
    const t = await makeApp();
    expect((await t.app.request('/readyz')).status).toBe(200);
    await t.loseDatabase();
    const res = await t.app.request('/readyz');
    expect(res.status).toBe(503);
    expect((await res.json()).error.code).toBe('SERVICE_UNAVAILABLE');
  });

  it('answers unknown routes with a 404 error body', async () => {
    const t = await makeApp();
    const res = await t.app.request('/nowhere');
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('NOT_FOUND');
  });
});
