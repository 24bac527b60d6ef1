import { afterEach, describe, expect, it } from 'vitest';
import { webhookSinkName } from '../../src/alerts/sinks/index.js';
import { api } from '../support/fixtures.js';
import { alertsEngineApp, failAction, startReceiver, verifyAt, type Receiver } from './alerts-support.js';

let rx: Receiver | undefined;
afterEach(async () => {
  await rx?.close();
  rx = undefined;
});

describe('dead letters and manual retry', () => {
  it('goes dead after the 8th failed attempt on the documented schedule, is listed, and is retried through the API', async () => {
    let healthy = false;
    rx = await startReceiver(() => (healthy ? { status: 200 } : { status: 500, body: 'receiver broken' }));
    const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: rx.url });
    const id = await failAction(t, 'act-1');
    const sink = webhookSinkName(rx.url);

    for (let attempt = 1; attempt <= 8; attempt++) {
      await dispatcher.runAll(t.clock.now());
      expect(rx.requests).toHaveLength(attempt);
      const detail = await (await api(t, `/alerts/${id}`)).json();
      const [delivery] = detail.deliveries;
      expect(delivery).toMatchObject({ sink, attempts: attempt, lastStatus: 500, status: attempt < 8 ? 'pending' : 'dead' });
      if (delivery.nextAttemptAt) t.clock.set(delivery.nextAttemptAt);
    }
    // One webhook-id throughout, and the gaps between attempts are the schedule (5 s … 10 h; no jitter here).
    expect(new Set(rx.requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([id]));
    const sent = rx.requests.map((r) => Number(r.headers['webhook-timestamp']));
    expect(sent.slice(1).map((s, i) => (s - sent[i]!) * 1000)).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);

    // Dead: nothing more is sent, whatever the time.
    t.clock.advance(7 * 24 * 3600_000);
    await dispatcher.runAll(t.clock.now());
    expect(rx.requests).toHaveLength(8);

    const dead = await (await api(t, '/alerts?status=dead')).json();
    expect(dead).toMatchObject({ data: [{ alertId: id, sink, status: 'dead', attempts: 8, lastStatus: 500, lastError: 'HTTP 500: receiver broken', nextAttemptAt: null }], pagination: { after: null } });

    expect((await api(t, '/alerts/alr_unknown/retry', { method: 'POST' })).status).toBe(404);
    const retried = await api(t, `/alerts/${id}/retry`, { method: 'POST' });
    expect(retried.status).toBe(200);
    const body = await retried.json();
    expect(body.retried).toEqual([sink]);
    expect(body.deliveries).toMatchObject([{ sink, status: 'pending', attempts: 0, nextAttemptAt: t.clock.now().toISOString() }]);
    const again = await api(t, `/alerts/${id}/retry`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect((await again.json()).error.code).toBe('CONFLICT');

    healthy = true;
    await dispatcher.runAll(t.clock.now());
    expect(rx.requests).toHaveLength(9);
    expect(rx.requests[8]!.headers['webhook-id']).toBe(id);
    expect(() => verifyAt(t.clock.now(), rx!.requests[8]!)).not.toThrow();
    expect((await (await api(t, '/alerts?status=delivered')).json()).data).toMatchObject([{ alertId: id, status: 'delivered', attempts: 1 }]);
  });
});

describe('GET /api/v1/alerts', () => {
  it('pages through deliveries newest first, filters by status and type, and rejects bad parameters', async () => {
    rx = await startReceiver();
    const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: rx.url });
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++) {
      ids.push(await failAction(t, `act-${i}`));
      await dispatcher.runAll(t.clock.now());
      t.clock.advance(1_000);
    }
    const first = await (await api(t, '/alerts?limit=2')).json();
    expect(first.data.map((d: { alertId: string }) => d.alertId)).toEqual([ids[2], ids[1]]);
    expect(first.pagination.after).toEqual(expect.any(String));
    const second = await (await api(t, `/alerts?limit=2&after=${first.pagination.after}`)).json();
    expect(second).toMatchObject({ data: [{ alertId: ids[0] }], pagination: { after: null } });

    expect((await (await api(t, '/alerts?type=action.failed&status=delivered')).json()).data).toHaveLength(3);
    expect((await (await api(t, '/alerts?type=device.fault')).json()).data).toEqual([]);
    expect((await api(t, '/alerts?status=lost')).status).toBe(400);
    expect((await api(t, '/alerts?type=nope')).status).toBe(400);
    expect((await api(t, '/alerts?after=bogus')).status).toBe(400);
    expect((await api(t, '/alerts', {}, null)).status).toBe(401);
    expect((await api(t, '/alerts/alr_missing')).status).toBe(404);
  });

  it('shows an alert no sink has taken yet, with no deliveries', async () => {
    const { t } = await alertsEngineApp({});
    const id = await failAction(t, 'act-1');
    const detail = await (await api(t, `/alerts/${id}`)).json();
    expect(detail).toMatchObject({ id, type: 'action.failed', fannedOutAt: null, deliveries: [] });
    expect((await api(t, `/alerts/${id}/retry`, { method: 'POST' })).status).toBe(409);
  });
});
