/**
 * The webhook route under hostile input (issue 14, items 1, 9 and 10): a shared budget of bytes
 * for bodies not yet verified (503 past it, released on every path), a body deadline (408), the
 * 413 limit, an allow-list of stored headers, and rejection logs aggregated per client address.
 */
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createErrorHandler } from '../../src/errors.js';
import { webhookRoutes, type WebhookRouteDeps } from '../../src/ingest/route.js';
import { signEnodeBody } from '../../src/ingest/signature.js';
import { createLogger } from '../../src/logger.js';
import { api, makeApp, SECRET, testConfig, vehicleEvent } from '../support/fixtures.js';

const BUDGET = 64 * 1024;
const LIMIT = 256 * 1024;

/**
 * The webhook route over a test app's store and clock, with its limits set directly (app.ts
 * passes them from config.http); lines logged at warn and above are kept. `stored()` lists the
 * ids of the stored deliveries.
 */
async function limitedRoute(limits: Partial<WebhookRouteDeps> = {}) {
  const t = await makeApp();
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('warn', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const route = new Hono();
  route.use(requestId());
  route.onError(createErrorHandler(logger));
  route.route(
    '/',
    webhookRoutes({
      webhookSecrets: [SECRET],
      bodyLimitBytes: LIMIT,
      store: t.deps.store,
      clock: t.clock,
      logger,
      unverifiedBytesLimit: BUDGET,
      bodyTimeoutSeconds: 10,
      trustProxy: false,
      ...limits,
    }),
  );
  const stored = () => t.column<string>('SELECT id FROM deliveries ORDER BY id');
  return { t, route, lines, stored };
}

/** A signed heartbeat delivery of exactly `bytes` bytes. */
function bodyOf(bytes: number): string {
  const head = '[{"event":"system:heartbeat","pendingEvents":0,"padding":"';
  const tail = '"}]';
  return head + 'x'.repeat(bytes - head.length - tail.length) + tail;
}

function post(route: Hono, body: RequestInit['body'], headers: Record<string, string>): Promise<Response> {
  return Promise.resolve(route.request('/webhooks/enode', { method: 'POST', body, headers, duplex: 'half' } as RequestInit));
}

function signed(body: string, id: string, extra: Record<string, string> = {}) {
  return { 'content-type': 'application/json', 'content-length': String(body.length), 'x-enode-delivery': id, 'x-enode-signature': signEnodeBody(body, SECRET), ...extra };
}

/** A body that sends `first` and then nothing more until `finish()` (or never). */
function stalled(first: string) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      c.enqueue(new TextEncoder().encode(first));
    },
    pull() {
      pulls += 1;
    },
  });
  return {
    stream,
    pulls: () => pulls,
    finish(rest: string) {
      controller.enqueue(new TextEncoder().encode(rest));
      controller.close();
    },
  };
}

/** Proves the whole budget is free again: a delivery of exactly the budget's size is stored. */
async function expectBudgetFree(route: Hono, id: string) {
  const body = bodyOf(BUDGET);
  const res = await post(route, body, signed(body, id));
  expect(res.status, await res.clone().text()).toBe(200);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('webhook: unverified bytes budget', () => {
  it('answers 503 with Retry-After and Connection: close, without reading the body, when the declared length does not fit', async () => {
    const { route, lines, stored } = await limitedRoute();
    const body = stalled('[');
    const res = await post(route, body.stream, { 'content-length': String(BUDGET + 1), 'x-enode-signature': 'sha1=00' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('10');
    expect(res.headers.get('connection')).toBe('close');
    expect((await res.json()).error.code).toBe('SERVICE_UNAVAILABLE');
    // Only what the stream queued at its start: the route never asked for more.
    expect(body.pulls()).toBeLessThanOrEqual(1);
    expect(await stored()).toEqual([]);
    expect(lines.map((l) => l['msg'])).toEqual(['webhook refused: unverified bytes over budget']);
  });

  it('counts bodies in flight together: a second upload that does not fit beside the first gets 503, and fits once the first is done', async () => {
    const { route, stored } = await limitedRoute();
    const first = bodyOf(BUDGET / 2 + 10);
    const slow = stalled(first.slice(0, 100));
    const pending = post(route, slow.stream, signed(first, 'first'));
    const second = bodyOf(BUDGET / 2);
    const refused = await post(route, second, signed(second, 'second'));
    expect(refused.status).toBe(503);
    slow.finish(first.slice(100));
    expect((await pending).status).toBe(200);
    expect((await post(route, second, signed(second, 'second'))).status).toBe(200);
    expect(await stored()).toEqual(['first', 'second']);
  });

  it('reserves a body without a length chunk by chunk: 503 once the chunks pass the budget', async () => {
    const { route, stored } = await limitedRoute();
    const body = bodyOf(BUDGET + 1);
    const headers = signed(body, 'chunked');
    delete (headers as Record<string, string>)['content-length'];
    const res = await post(route, new Blob([body]).stream(), headers);
    expect(res.status).toBe(503);
    expect(await stored()).toEqual([]);
    await expectBudgetFree(route, 'after-chunked');
  });

  it('gives the budget back after a 401, a streamed 413, a client abort and a success', async () => {
    const { route } = await limitedRoute({ bodyLimitBytes: BUDGET });
    const body = bodyOf(BUDGET);
    expect((await post(route, body, { ...signed(body, 'bad'), 'x-enode-signature': signEnodeBody(body, 'wrong-secret') })).status).toBe(401);
    await expectBudgetFree(route, 'after-401');
    const over = bodyOf(BUDGET + 100);
    const noLength = signed(over, 'big');
    delete (noLength as Record<string, string>)['content-length'];
    expect((await post(route, new Blob([over]).stream(), noLength)).status).toBe(413);
    await expectBudgetFree(route, 'after-413');
    const cut = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(body.slice(0, 1000)));
        // What @hono/node-server hands over when the socket closes early: Node's "aborted" error.
        controller.error(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      },
    });
    const aborted = await post(route, cut, signed(body, 'cut'));
    expect(aborted.status).toBe(400);
    await expectBudgetFree(route, 'after-abort');
    await expectBudgetFree(route, 'after-success');
  });
});

describe('webhook: body deadline', () => {
  it('answers 408 when the body is not whole within WEBHOOK_BODY_TIMEOUT_SECONDS, and frees its budget', async () => {
    const results: string[] = [];
    const { route, lines, stored } = await limitedRoute({ bodyTimeoutSeconds: 5, onResult: (result) => void results.push(result) });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const body = bodyOf(BUDGET);
    const slow = stalled(body.slice(0, 10));
    const pending = post(route, slow.stream, signed(body, 'slow'));
    await vi.advanceTimersByTimeAsync(4_999);
    let settled = false;
    void pending.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const res = await pending;
    vi.useRealTimers();
    expect(res.status).toBe(408);
    expect(res.headers.get('connection')).toBe('close');
    expect((await res.json()).error.message).toBe('Request body not received within 5 s');
    expect(lines.map((l) => [l['msg'], l['reason']])).toEqual([['webhook body not received whole', 'body not whole within 5 s']]);
    expect(await stored()).toEqual([]);
    // Counted as the client's timeout, not as our 503.
    expect(results).toEqual(['timeout']);
    await expectBudgetFree(route, 'after-timeout');
  });
});

describe('webhook: size limit', () => {
  it('answers 413 from the Content-Length alone, past the body limit, without reading the body', async () => {
    const { route } = await limitedRoute();
    const body = stalled('[');
    const res = await post(route, body.stream, { 'content-length': String(LIMIT + 1), 'x-enode-signature': 'sha1=00' });
    expect(res.status).toBe(413);
    // Not closed: over a socket, Node discards the rest so that the client can read this answer.
    expect(res.headers.get('connection')).toBeNull();
    expect((await res.json()).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(body.pulls()).toBeLessThanOrEqual(1);
  });

  it('answers 413 to a malformed Content-Length', async () => {
    const { route } = await limitedRoute();
    expect((await post(route, '[]', { 'content-length': '1e3', 'x-enode-signature': 'sha1=00' })).status).toBe(413);
  });
});

describe('webhook: stored headers', () => {
  it('stores only allow-listed headers: never the signature, credentials or unknown names', async () => {
    const t = await makeApp();
    const body = JSON.stringify([vehicleEvent('vehicle-1', 1)]);
    const hostile = {
      authorization: 'Basic c2VjcmV0',
      cookie: 'session=abc',
      'proxy-authorization': 'Basic eA==',
      'x-credentials': 'user:pass',
      'x-session-id': 'sess-1',
      'x-signature': 'sig',
      'x-api-key': 'k-123',
      'x-enode-webhook-auth': 'enode-extra-auth-value',
      'x-amz-security-token': 'tok',
    };
    const res = await t.app.request('/webhooks/enode', {
      method: 'POST',
      body,
      headers: { ...signed(body, 'hdr'), 'user-agent': 'Enode-Webhooks/1.0', 'x-request-id': 'req-1', date: 'Sun, 01 Mar 2026 12:00:00 GMT', ...hostile },
    });
    expect(res.status).toBe(200);
    const stored = (await (await api(t, '/deliveries/hdr')).json()) as { headers: Record<string, string> };
    expect(stored.headers).toEqual({
      'content-type': 'application/json',
      'content-length': String(body.length),
      'user-agent': 'Enode-Webhooks/1.0',
      'x-request-id': 'req-1',
      date: 'Sun, 01 Mar 2026 12:00:00 GMT',
      'x-enode-delivery': 'hdr',
    });
    const text = JSON.stringify(stored);
    for (const value of [...Object.values(hostile), signEnodeBody(body, SECRET)]) expect(text).not.toContain(value);
  });
});

describe('webhook: rejection logs', () => {
  it('logs rejected deliveries once per client address and window, then the count of the rest', async () => {
    const { t, route, lines } = await limitedRoute({ trustProxy: true });
    const body = '[]';
    const bad = (address: string) => post(route, body, { 'x-enode-signature': signEnodeBody(body, 'wrong'), 'x-forwarded-for': `203.0.113.9, ${address}` });
    for (let i = 0; i < 50; i++) expect((await bad('198.51.100.1')).status).toBe(401);
    expect((await bad('198.51.100.2')).status).toBe(401);
    expect(lines.map((l) => [l['msg'], l['key']])).toEqual([
      ['rejected webhook delivery', '198.51.100.1'],
      ['rejected webhook delivery', '198.51.100.2'],
    ]);
    t.clock.advance(60_000);
    await bad('198.51.100.2');
    expect(lines.slice(2).map((l) => [l['msg'], l['key'], l['suppressed']])).toEqual([
      ['rejected webhook delivery (repeated)', '198.51.100.1', 49],
      ['rejected webhook delivery', '198.51.100.2', undefined],
    ]);
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY: a client cannot pick a fresh key per request', async () => {
    const { route, lines } = await limitedRoute({ trustProxy: false });
    for (let i = 0; i < 20; i++) await post(route, '[]', { 'x-enode-signature': 'sha1=00', 'x-forwarded-for': `198.51.100.${i}` });
    expect(lines.map((l) => [l['msg'], l['key']])).toEqual([['rejected webhook delivery', 'unknown']]);
  });
});

describe('POST /webhooks/enode in the app', () => {
  it('takes its unverified-bytes budget from the configuration', async () => {
    const limit = 64 * 1024;
    const t = await makeApp({ WEBHOOK_UNVERIFIED_BYTES_LIMIT: String(limit), WEBHOOK_BODY_LIMIT_BYTES: String(limit) });
    // One upload holds the whole budget while its body stalls; the next one has no room.
    const holder = stalled('[');
    const held = t.app.request('/webhooks/enode', { method: 'POST', body: holder.stream, headers: { 'content-length': String(limit), 'x-enode-signature': 'sha1=00' }, duplex: 'half' } as RequestInit);
    await new Promise((r) => setTimeout(r, 20));
    const res = await t.app.request('/webhooks/enode', { method: 'POST', body: '[]', headers: { 'content-length': '2', 'x-enode-signature': 'sha1=00' } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).not.toBeNull();
    holder.finish(']'.padEnd(limit - 1, ' '));
    expect((await held).status).toBe(401);
  });

  it('refuses a configuration whose unverified-bytes budget cannot hold one whole body', () => {
    expect(() => testConfig({ WEBHOOK_UNVERIFIED_BYTES_LIMIT: String(64 * 1024) })).toThrow(/WEBHOOK_UNVERIFIED_BYTES_LIMIT: must be at least WEBHOOK_BODY_LIMIT_BYTES/);
  });
});
