/**
 * The env-configured alert sinks as subscriptions defined by configuration, on the engine of the
 * run (BOTH_ENGINES): listed beside the API's with `source: config`, a redacted URL and no secret,
 * their attempts from the alert outbox as deliveries, and 409 CONFIG_DEFINED for every change —
 * while the alert dispatcher keeps sending them as before. Also SUBSCRIPTION_ALLOW_PRIVATE_URLS.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createSubscriptionDispatcher } from '../../src/subscriptions/dispatcher.js';
import { api, makeApp, postWebhook, vehicleEvent } from '../support/fixtures.js';
import { ALERT_SECRET, alertsEngineApp, failAction, startReceiver, type Receiver } from './alerts-support.js';

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

const json = (body: unknown, method = 'POST'): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
type Sub = { id: string; source: string; url: string; types: string[]; paused: boolean; createdAt: string | null };

describe('subscriptions defined by configuration (the alert sinks)', () => {
  it('are listed and shown with source config, the URL origin only, their types and no secret; API ones follow with source api', async () => {
    const { t } = await alertsEngineApp({
      ALERT_WEBHOOK_URLS: 'https://hooks.example.com/alerts/tok3n?key=s3cret,https://other.example.com/',
      ALERT_WEBHOOK_TYPES: 'action.failed,device.fault',
      ALERT_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/XXXXSECRET',
    });
    const created = (await (await api(t, '/subscriptions', json({ url: 'https://billing.example.com/hooks', types: [] }))).json()) as Sub;
    const list = (await (await api(t, '/subscriptions')).json()) as { data: Sub[]; pagination: { after: string | null } };
    expect(list.data.map((s) => [s.id, s.source, s.url])).toEqual([
      ['config:slack', 'config', 'https://hooks.slack.com/…'],
      ['config:webhook:1', 'config', 'https://hooks.example.com/…'],
      ['config:webhook:2', 'config', 'https://other.example.com/'],
      [created.id, 'api', 'https://billing.example.com/hooks'],
    ]);
    const text = JSON.stringify(list);
    for (const secret of ['tok3n', 's3cret', 'XXXXSECRET', ALERT_SECRET]) expect(text).not.toContain(secret);
    const one = (await (await api(t, '/subscriptions/config:webhook:1')).json()) as Sub;
    expect(one).toMatchObject({ id: 'config:webhook:1', source: 'config', types: ['action.failed', 'device.fault'], paused: false, createdAt: null });
    expect(one).not.toHaveProperty('secret');
    expect((await api(t, '/subscriptions/config:webhook:3')).status).toBe(404);

    // Paged by id across both kinds.
    const first = (await (await api(t, '/subscriptions?limit=2')).json()) as { data: Sub[]; pagination: { after: string } };
    const second = (await (await api(t, `/subscriptions?limit=2&after=${first.pagination.after}`)).json()) as { data: Sub[]; pagination: { after: string | null } };
    expect([...first.data, ...second.data].map((s) => s.id)).toEqual(list.data.map((s) => s.id));
    expect(second.pagination.after).toBeNull();
  });

  it('show the alert outbox attempts as deliveries (sent, and dead after the last attempt) while the alert dispatcher sends them as before', async () => {
    const r = await startReceiver();
    receivers.push(r);
    const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: r.url });
    const alertId = await failAction(t, 'a1');
    await dispatcher.runAll(t.clock.now());
    expect(r.requests.map((q) => q.headers['webhook-id'])).toEqual([alertId]);
    const res = await api(t, '/subscriptions/config:webhook:1/deliveries');
    expect(res.status).toBe(200);
    const { data } = (await res.json()) as { data: Array<{ eventId: string; status: string; attempts: number; sentAt: string | null }> };
    expect(data).toEqual([expect.objectContaining({ eventId: alertId, status: 'sent', attempts: 1 })]);
    expect(data[0]!.sentAt).not.toBeNull();
    expect(((await (await api(t, '/subscriptions/config:webhook:1/deliveries?status=pending')).json()) as { data: unknown[] }).data).toEqual([]);
    expect(((await (await api(t, '/subscriptions/config:webhook:1/deliveries?status=sent')).json()) as { data: unknown[] }).data).toHaveLength(1);
  });

  it('PATCH, DELETE, rotate-secret, replay and retry on one answer 409 CONFIG_DEFINED and change nothing', async () => {
    const { t } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: 'https://hooks.example.com/a', ALERT_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/x' });
    const before = await (await api(t, '/subscriptions')).json();
    const attempts: Array<[string, RequestInit]> = [
      ['/subscriptions/config:webhook:1', json({ paused: true }, 'PATCH')],
      ['/subscriptions/config:slack', { method: 'DELETE' }],
      ['/subscriptions/config:webhook:1/rotate-secret', { method: 'POST' }],
      ['/subscriptions/config:slack/replay', json({ since: t.clock.now().toISOString() })],
      ['/subscriptions/config:webhook:1/deliveries/alr_0123/retry', { method: 'POST' }],
    ];
    for (const [path, init] of attempts) {
      const res = await api(t, path, init);
      expect(res.status, path).toBe(409);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('CONFIG_DEFINED');
      expect(error.message).toMatch(/defined by configuration/);
    }
    expect(await (await api(t, '/subscriptions')).json()).toEqual(before);
    // An unknown config id is a 404, not a 409.
    expect((await api(t, '/subscriptions/config:webhook:9', { method: 'DELETE' })).status).toBe(404);
  });

  it('without alert sinks configured, the list holds only the API subscriptions', async () => {
    const t = await makeApp();
    expect(((await (await api(t, '/subscriptions')).json()) as { data: unknown[] }).data).toEqual([]);
  });
});

describe('SUBSCRIPTION_ALLOW_PRIVATE_URLS', () => {
  it.each(['http://127.0.0.1:9/x', 'http://localhost/x', 'http://10.1.2.3/x', 'http://169.254.169.254/latest/meta-data', 'http://[::1]/x', 'http://[fd00::1]/x', 'http://192.168.0.10/x'])(
    'false: %s is a 400 on create and on PATCH',
    async (url) => {
      const t = await makeApp({ SUBSCRIPTION_ALLOW_PRIVATE_URLS: 'false' });
      const created = await api(t, '/subscriptions', json({ url, types: [] }));
      expect(created.status).toBe(400);
      expect(((await created.json()) as { error: { message: string } }).error.message).toContain('SUBSCRIPTION_ALLOW_PRIVATE_URLS=false');
      const ok = await api(t, '/subscriptions', json({ url: 'https://93.184.215.14/hooks', types: [] }));
      expect(ok.status).toBe(201);
      const { id } = (await ok.json()) as { id: string };
      expect((await api(t, `/subscriptions/${id}`, json({ url }, 'PATCH'))).status).toBe(400);
    },
  );

  it('true (the default): a loopback receiver is accepted and sent to', async () => {
    const t = await makeApp();
    expect(t.config.subscriptions.allowPrivateUrls).toBe(true);
    const r = await startReceiver();
    receivers.push(r);
    expect((await api(t, '/subscriptions', json({ url: r.url, types: [] }))).status).toBe(201);
    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered')]);
    await createSubscriptionDispatcher({ store: t.deps.store, clock: t.clock, logger: silentLogger(), timeoutMs: 5_000 }).run();
    expect(r.requests).toHaveLength(1);
  });

  it('false: at send time, a name that now resolves to a private address is not sent to; the attempt fails with the reason', async () => {
    const t = await makeApp();
    const r = await startReceiver();
    receivers.push(r);
    const port = new URL(r.url).port;
    const res = await api(t, '/subscriptions', json({ url: `http://receiver.example.test:${port}/hooks`, types: [] }));
    const { id } = (await res.json()) as { id: string };
    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered')]);
    const fetched: string[] = [];
    const d = createSubscriptionDispatcher({
      store: t.deps.store,
      clock: t.clock,
      logger: silentLogger(),
      timeoutMs: 5_000,
      allowPrivateUrls: false,
      lookup: async () => [{ address: '127.0.0.1', family: 4 }],
      fetch: async (url, init) => {
        fetched.push(url);
        return fetch(url, init);
      },
    });
    await d.run();
    expect(fetched).toEqual([]);
    const [delivery] = ((await (await api(t, `/subscriptions/${id}/deliveries`)).json()) as { data: Array<{ status: string; attempts: number; lastError: string }> }).data;
    expect(delivery).toMatchObject({ status: 'pending', attempts: 1 });
    expect(delivery!.lastError).toContain('receiver.example.test resolves to 127.0.0.1');
  });
});
