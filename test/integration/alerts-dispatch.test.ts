import { WebhookVerificationError } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { createAlertDispatcher } from '../../src/alerts/dispatcher.js';
import { webhookSinkName } from '../../src/alerts/sinks/index.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { unleasedContext } from '../../src/jobs/scheduler.js';
import { actionEvent, api, postWebhook } from '../support/fixtures.js';
import { alertsEngineApp, failAction, startReceiver, verifyAt, type Answer, type Receiver } from './alerts-support.js';

const receivers: Receiver[] = [];
async function receiver(answer?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(answer);
  receivers.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

const S = 1_000;

describe('alert dispatcher with a real HTTP receiver', () => {
  it('signs with Standard Webhooks: the standardwebhooks verifier accepts it; webhook-id is the alert id; body is { type, timestamp, data }', async () => {
    const rx = await receiver();
    const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: rx.url, PUBLIC_URL: 'https://sync.example.com' });
    const id = await failAction(t, 'act-1');
    const [report] = await dispatcher.runAll(t.clock.now());
    expect(report).toMatchObject({ attempted: 1, delivered: 1, failed: 0, dead: 0 });

    const [req] = await rx.waitFor(1);
    expect(req!.headers['webhook-id']).toBe(id);
    expect(req!.headers['content-type']).toBe('application/json');
    expect(req!.headers['webhook-timestamp']).toBe(String(Math.floor(t.clock.now().getTime() / 1000)));
    const payload = verifyAt(t.clock.now(), req!) as { type: string; timestamp: string; data: Record<string, any> };
    expect(Object.keys(payload)).toEqual(['type', 'timestamp', 'data']);
    expect(payload.type).toBe('action.failed');
    expect(payload.timestamp).toBe(t.clock.now().toISOString());
    expect(payload.data.action).toMatchObject({ id: 'act-1', state: 'FAILED', failureReason: { type: 'NO_RESPONSE' } });
    expect(payload.data.device).toEqual({ id: 'vehicle-1', type: 'vehicle', userId: 'user-of-vehicle-1' });
    expect(payload.data.user).toEqual({ id: 'user-of-vehicle-1' });
    expect(payload.data.links.timeline).toBe('https://sync.example.com/api/v1/devices/vehicle-1/timeline');

    // A receiver with another secret, or a body changed in transit, does not verify.
    expect(() => verifyAt(t.clock.now(), req!, `whsec_${Buffer.from('another key entirely, 32 bytes!!').toString('base64')}`)).toThrow(WebhookVerificationError);
    expect(() => verifyAt(t.clock.now(), { ...req!, body: req!.body.replace('FAILED', 'CONFIRMED') })).toThrow(WebhookVerificationError);

    const list = await (await api(t, '/alerts?status=delivered')).json();
    expect(list.data).toMatchObject([{ alertId: id, sink: webhookSinkName(rx.url), status: 'delivered', attempts: 1, lastStatus: 200, lastError: null, nextAttemptAt: null }]);
    expect(list.data[0].alert).toMatchObject({ id, type: 'action.failed', deviceId: 'vehicle-1', userId: 'user-of-vehicle-1' });
  });

  it('retries a 5xx after 5 s with the same webhook-id and body, freshly signed', async () => {
    const rx = await receiver((r) => (r.n === 1 ? { status: 500, body: 'database down' } : { status: 200 }));
    const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: rx.url });
    const id = await failAction(t, 'act-1');
    await dispatcher.runAll(t.clock.now());
    expect(rx.requests).toHaveLength(1);
    const pending = await (await api(t, '/alerts?status=pending')).json();
    expect(pending.data).toMatchObject([{ alertId: id, attempts: 1, lastStatus: 500, lastError: 'HTTP 500: database down', nextAttemptAt: new Date(t.clock.now().getTime() + 5 * S).toISOString() }]);

    t.clock.advance(4 * S);
    await dispatcher.runAll(t.clock.now());
    expect(rx.requests).toHaveLength(1);
    t.clock.advance(1 * S);
    await dispatcher.runAll(t.clock.now());
    const [first, second] = await rx.waitFor(2);
    expect(second!.headers['webhook-id']).toBe(id);
    expect(first!.headers['webhook-id']).toBe(id);
    expect(second!.body).toBe(first!.body);
    expect(Number(second!.headers['webhook-timestamp']) - Number(first!.headers['webhook-timestamp'])).toBe(5);
    expect(() => verifyAt(t.clock.now(), second!)).not.toThrow();
    const delivered = await (await api(t, '/alerts?status=delivered')).json();
    expect(delivered.data).toMatchObject([{ alertId: id, attempts: 2, lastStatus: 200 }]);
  });

  it('honours Retry-After: no retry before the receiver asked, even when the schedule says 5 s', async () => {
    const rx = await receiver((r) => (r.n === 1 ? { status: 503, headers: { 'retry-after': '120' } } : { status: 200 }));
    const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: rx.url });
    await failAction(t, 'act-1');
    const start = t.clock.now().getTime();
    await dispatcher.runAll(t.clock.now());
    t.clock.set(start + 5 * S);
    await dispatcher.runAll(t.clock.now());
    t.clock.set(start + 119 * S);
    await dispatcher.runAll(t.clock.now());
    expect(rx.requests).toHaveLength(1);
    t.clock.set(start + 120 * S);
    await dispatcher.runAll(t.clock.now());
    expect(rx.requests).toHaveLength(2);
  });

  it('410 disables the sink loudly and holds its alerts; other sinks go on; after a restart the held alerts go out', async () => {
    const gone = await receiver(() => ({ status: 410, body: 'this endpoint was removed' }));
    const slack = await receiver();
    const lines: string[] = [];
    const logger = createLogger('error', { write: (line: string) => void lines.push(line) });
    const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: gone.url, ALERT_SLACK_WEBHOOK_URL: slack.url }, { logger });
    const sink = webhookSinkName(gone.url);

    const first = await failAction(t, 'act-1');
    await dispatcher.runAll(t.clock.now());
    expect(gone.requests).toHaveLength(1);
    expect(dispatcher.isDisabled(sink)).toBe(true);
    const errors = lines.map((l) => JSON.parse(l) as { level: string; msg: string; sink?: string });
    expect(errors).toEqual([expect.objectContaining({ level: 'error', sink, msg: expect.stringContaining('410 Gone') })]);
    expect(lines.join('\n')).not.toContain(gone.url);

    const second = await failAction(t, 'act-2');
    t.clock.advance(60 * S);
    await dispatcher.runAll(t.clock.now());
    expect(gone.requests).toHaveLength(1);
    expect(slack.requests).toHaveLength(2);
    const held = await (await api(t, `/alerts?status=pending`)).json();
    expect(held.data.map((d: { alertId: string; sink: string; attempts: number }) => [d.alertId, d.sink, d.attempts]).sort()).toEqual([
      [first, sink, 0],
      [second, sink, 0],
    ].sort());
    expect(held.data.find((d: { alertId: string }) => d.alertId === first)).toMatchObject({ lastStatus: 410, lastError: expect.stringContaining('disabled until restart') });

    // "Restart" with the receiver fixed: a new dispatcher over the same database.
    gone.answer(() => ({ status: 204 }));
    const restarted = createAlertDispatcher({ store: t.deps.store, config: t.config.alerts, clock: t.clock, logger, random: () => 0.5 });
    await restarted.runAll(t.clock.now());
    expect(gone.requests.slice(1).map((r) => r.headers['webhook-id']).sort()).toEqual([first, second].sort());
    expect((await (await api(t, '/alerts?status=pending')).json()).data).toEqual([]);
  });

  it('a crash after sending but before recording sends again, with the same webhook-id, once the claim lease runs out', async () => {
    const rx = await receiver();
    const { t } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: rx.url, ALERT_TIMEOUT_SECONDS: '10' });
    const id = await failAction(t, 'act-1');
    const dies = { alerts: { ...t.deps.store.alerts, record: () => Promise.reject(new Error('process died')) } };
    const before = createAlertDispatcher({ store: dies, config: t.config.alerts, clock: t.clock, logger: silentLogger() });
    await expect(before.runAll(t.clock.now())).rejects.toThrow('process died');
    expect(rx.requests).toHaveLength(1);

    const after = createAlertDispatcher({ store: t.deps.store, config: t.config.alerts, clock: t.clock, logger: silentLogger() });
    await after.runAll(t.clock.now());
    expect(rx.requests).toHaveLength(1);
    t.clock.advance(70 * S);
    await after.runAll(t.clock.now());
    expect(rx.requests.map((r) => r.headers['webhook-id'])).toEqual([id, id]);
    expect((await (await api(t, '/alerts?status=delivered')).json()).data).toMatchObject([{ alertId: id, attempts: 1 }]);
  });

  it('a sink that hangs does not delay another; the hanging attempt times out and is retried later', async () => {
    const slow = await receiver((): Answer => 'hang');
    const fast = await receiver();
    const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: `${slow.url},${fast.url}`, ALERT_TIMEOUT_SECONDS: '1' });
    const jobs = new Map(dispatcher.jobs().map((j) => [j.name, j]));
    const slowJob = jobs.get(`alerts ${webhookSinkName(slow.url)}`)!;
    const fastJob = jobs.get(`alerts ${webhookSinkName(fast.url)}`)!;

    const first = await failAction(t, 'act-1');
    let slowDone = false;
    const slowRun = slowJob.run(t.clock.now(), unleasedContext()).finally(() => {
      slowDone = true;
    });
    await slow.waitFor(1);
    await fastJob.run(t.clock.now(), unleasedContext());
    expect(fast.requests.map((r) => r.headers['webhook-id'])).toEqual([first]);
    expect(slowDone).toBe(false);

    // A new alert while the slow sink still hangs: the fast sink's next run sends it at once.
    const second = await failAction(t, 'act-2');
    await fastJob.run(t.clock.now(), unleasedContext());
    expect(fast.requests.map((r) => r.headers['webhook-id'])).toEqual([first, second]);
    expect(slowDone).toBe(false);

    expect(await slowRun).toMatchObject({ attempted: 1, delivered: 0, failed: 1 });
    const detail = await (await api(t, `/alerts/${first}`)).json();
    expect(detail.deliveries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ sink: webhookSinkName(slow.url), status: 'pending', attempts: 1, lastStatus: null, lastError: 'timed out' }),
        expect.objectContaining({ sink: webhookSinkName(fast.url), status: 'delivered', attempts: 1 }),
      ]),
    );
  });

  it('Slack gets a readable message; per-sink type filters decide which sink gets which alert', async () => {
    const hook = await receiver();
    const slack = await receiver(() => ({ status: 200, body: 'ok' }));
    const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: hook.url, ALERT_SLACK_WEBHOOK_URL: slack.url, ALERT_SLACK_TYPES: 'action.cancelled' });
    const failed = await failAction(t, 'act-1');
    await postWebhook(t, [actionEvent('act-2', 'CANCELLED', 6, { failureReason: { type: 'CONFLICT', detail: 'another command was sent' } })]);
    await dispatcher.runAll(t.clock.now());

    expect(hook.requests.map((r) => JSON.parse(r.body).type)).toEqual(['action.failed']);
    expect(hook.requests[0]!.headers['webhook-id']).toBe(failed);
    expect(slack.requests).toHaveLength(1);
    const msg = JSON.parse(slack.requests[0]!.body) as { text: string; blocks: Array<{ type: string }> };
    expect(msg.text).toMatch(/^:no_entry_sign: Action CANCELLED on vehicle `vehicle-1`/);
    expect(msg.text).toContain('CONFLICT — another command was sent');
    expect(msg.blocks.map((b) => b.type)).toEqual(['section', 'context']);
    expect(slack.requests[0]!.headers['webhook-signature']).toBeUndefined();
  });

  it('one alert per fact: the same FAILED action delivered twice, under another delivery id, polled and replayed → one alert, sent once', async () => {
    const rx = await receiver();
    const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: rx.url });
    const id = await failAction(t, 'act-1', 'delivery-1');
    await failAction(t, 'act-1', 'delivery-1');
    await failAction(t, 'act-1', 'delivery-2');
    await t.deps.store.applyEvents([actionEvent('act-1', 'FAILED', 5, { failureReason: { type: 'NO_RESPONSE', detail: 'vendor did not answer' } })], 'poll');
    expect((await api(t, '/deliveries/delivery-1/replay', { method: 'POST' })).status).toBe(200);
    await dispatcher.runAll(t.clock.now());
    t.clock.advance(3600 * S);
    await dispatcher.runAll(t.clock.now());

    const stored = await t.rows(`SELECT id, type FROM alerts`);
    expect(stored).toEqual([{ id, type: 'action.failed' }]);
    expect(rx.requests.map((r) => r.headers['webhook-id'])).toEqual([id]);
  });
});
