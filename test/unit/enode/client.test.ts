import { describe, expect, it } from 'vitest';
import {
  EnodeApiError,
  EnodeConflictError,
  EnodeNotFoundError,
  EnodeRateLimitError,
  EnodeUnavailableError,
  EnodeValidationError,
  TokenBucket,
  type EnodeClient,
} from '../../../src/enode/index.js';
import { ManualClock } from '../../../src/clock.js';
import { CLIENT_SECRET, NOW, fakeEnode, json, problem, testClient, type Call } from './fake-enode.js';

function sequence(...responses: Array<() => Response | Promise<Response>>) {
  let i = 0;
  return () => {
    const next = responses[Math.min(i, responses.length - 1)];
    i += 1;
    if (!next) throw new Error('empty sequence');
    return next();
  };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('EnodeClient requests', () => {
  it('sends the bearer token, Enode-Version and JSON body, and parses the JSON answer', async () => {
    const fake = fakeEnode(() => json(200, { id: 'a1', state: 'PENDING' }));
    const { client } = testClient(fake.fetch);
    const out = await client.request('POST', '/chargers/c1/charging', { body: { action: 'START' }, query: { x: 1, skip: undefined } });
    expect(out).toEqual({ id: 'a1', state: 'PENDING' });
    const [call] = fake.calls;
    expect(call?.url.href).toBe('https://enode-api.test/chargers/c1/charging?x=1');
    expect(call?.headers.get('authorization')).toBe('Bearer token-1');
    expect(call?.headers.get('enode-version')).toBe('2024-10-01');
    expect(call?.headers.get('content-type')).toBe('application/json');
    expect(call?.body).toBe('{"action":"START"}');
  });

  it('sends a configured API version and keeps a base path prefix', async () => {
    const fake = fakeEnode(() => json(200, {}));
    const { client } = testClient(fake.fetch, { apiVersion: '2024-01-01', apiUrl: 'https://enode-api.test/prefix/' });
    await client.request('GET', '/vehicles/v1');
    expect(fake.calls[0]?.url.href).toBe('https://enode-api.test/prefix/vehicles/v1');
    expect(fake.calls[0]?.headers.get('enode-version')).toBe('2024-01-01');
  });

  it('returns undefined for 204 No Content', async () => {
    const fake = fakeEnode(() => new Response(null, { status: 204 }));
    const { client } = testClient(fake.fetch);
    await expect(client.request('DELETE', '/webhooks/w1')).resolves.toBeUndefined();
  });

  it('a 2xx body that is not JSON is an EnodeApiError', async () => {
    const fake = fakeEnode(() => new Response('<html>', { status: 200 }));
    const { client } = testClient(fake.fetch);
    await expect(client.request('GET', '/vehicles')).rejects.toThrow(/not JSON/);
  });

  it('escapes ids so they cannot add path segments', async () => {
    const fake = fakeEnode(() => json(200, { id: 'x' }));
    const { client } = testClient(fake.fetch);
    await client.getDevice('vehicle', '../webhooks/w1');
    expect(fake.calls[0]?.url.pathname).toBe('/vehicles/..%2Fwebhooks%2Fw1');
  });
});

describe('EnodeClient retries', () => {
  it('retries a 503 and returns the later success, sleeping with backoff', async () => {
    const fake = fakeEnode(sequence(() => problem(503, 'down'), () => problem(502, 'down'), () => json(200, { id: 'v1' })));
    const { client, sleeps } = testClient(fake.fetch);
    expect(await client.request('GET', '/vehicles/v1')).toEqual({ id: 'v1' });
    expect(fake.calls).toHaveLength(3);
    // random 0.5, base 100 → 50 then 100
    expect(sleeps).toEqual([50, 100]);
    expect(client.stats()).toEqual({ requests: 4, byStatus: { '200': 2, '502': 1, '503': 1 }, retries: 2 });
  });

  it('honours Retry-After on 429', async () => {
    const fake = fakeEnode(sequence(() => problem(429, 'slow down', { 'retry-after': '2' }), () => json(200, { ok: true })));
    const { client, sleeps } = testClient(fake.fetch);
    await client.request('GET', '/vehicles');
    expect(sleeps).toEqual([2_000]);
  });

  it('honours Retry-After given as an HTTP-date against the injected clock', async () => {
    const fake = fakeEnode(sequence(() => problem(429, 'slow down', { 'retry-after': 'Sat, 01 Mar 2025 12:00:07 GMT' }), () => json(200, {})));
    const { client, sleeps } = testClient(fake.fetch);
    await client.request('GET', '/vehicles');
    expect(sleeps).toEqual([7_000]);
  });

  it('gives up after maxAttempts with EnodeUnavailableError carrying the last problem', async () => {
    const fake = fakeEnode(() => problem(503, 'Upstream failure'));
    const { client, sleeps } = testClient(fake.fetch, { maxAttempts: 4 });
    const err = (await client.request('GET', '/chargers').catch((e: unknown) => e)) as EnodeUnavailableError;
    expect(err).toBeInstanceOf(EnodeUnavailableError);
    expect(err.status).toBe(503);
    expect(err.attempts).toBe(4);
    expect(err.retryable).toBe(true);
    expect(err.problem.detail).toBe('Upstream failure');
    expect(err.message).toContain('after 4 attempts');
    expect(fake.calls).toHaveLength(4);
    expect(sleeps).toEqual([50, 100, 200]);
  });

  it('defaults to 5 attempts', async () => {
    const fake = fakeEnode(() => problem(500, 'boom'));
    const { client } = testClient(fake.fetch);
    await expect(client.request('GET', '/x')).rejects.toBeInstanceOf(EnodeUnavailableError);
    expect(fake.calls).toHaveLength(5);
  });

  it('a 429 that never lifts ends as EnodeRateLimitError with the last hint', async () => {
    const fake = fakeEnode(() => problem(429, 'slow down', { 'retry-after': '1' }));
    const { client } = testClient(fake.fetch, { maxAttempts: 2 });
    const err = (await client.request('GET', '/x').catch((e: unknown) => e)) as EnodeRateLimitError;
    expect(err).toBeInstanceOf(EnodeRateLimitError);
    expect(err.retryAfterMs).toBe(1_000);
  });

  it('retries network errors, then reports them as unavailable with the cause', async () => {
    const fake = fakeEnode(() => {
      throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') });
    });
    const { client } = testClient(fake.fetch, { maxAttempts: 3 });
    const err = (await client.request('GET', '/x').catch((e: unknown) => e)) as EnodeUnavailableError;
    expect(err).toBeInstanceOf(EnodeUnavailableError);
    expect(err.reason).toBe('network');
    expect(err.status).toBeNull();
    expect(err.message).toContain('ECONNREFUSED');
    expect(fake.calls).toHaveLength(3);
    expect(client.stats().byStatus['network']).toBe(3);
  });

  it('retries an attempt that times out', async () => {
    let n = 0;
    const hangUntilAborted = (c: Call) =>
      new Promise<Response>((_resolve, reject) => {
        c.signal?.addEventListener('abort', () => reject(c.signal?.reason));
      });
    const fake = fakeEnode((c) => (++n === 1 ? hangUntilAborted(c) : json(200, { id: 'v1' })));
    const { client } = testClient(fake.fetch, { timeoutMs: 5 });
    expect(await client.request('GET', '/vehicles/v1')).toEqual({ id: 'v1' });
    expect(fake.calls).toHaveLength(2);
    expect(client.stats().byStatus['timeout']).toBe(1);
  });

  it('reports persistent timeouts as unavailable (reason timeout)', async () => {
    const fake = fakeEnode((c) => new Promise<Response>((_r, reject) => c.signal?.addEventListener('abort', () => reject(c.signal?.reason))));
    const { client } = testClient(fake.fetch, { timeoutMs: 5, maxAttempts: 2 });
    const err = (await client.request('GET', '/x').catch((e: unknown) => e)) as EnodeUnavailableError;
    expect(err).toBeInstanceOf(EnodeUnavailableError);
    expect(err.reason).toBe('timeout');
  });

  it.each([
    [400, EnodeValidationError],
    [404, EnodeNotFoundError],
    [422, EnodeValidationError],
  ] as const)('does not retry %i and throws a typed error with the problem detail', async (status, cls) => {
    const fake = fakeEnode(() => problem(status, `detail for ${status}`));
    const { client, sleeps } = testClient(fake.fetch);
    const err = (await client.request('GET', '/vehicles/v1').catch((e: unknown) => e)) as EnodeApiError;
    expect(err).toBeInstanceOf(cls);
    expect(err.status).toBe(status);
    expect(err.problem.detail).toBe(`detail for ${status}`);
    expect(err.method).toBe('GET');
    expect(err.path).toBe('/vehicles/v1');
    expect(fake.calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('logs one warn line per retry with method, path, status, attempt and delay — never credentials', async () => {
    const fake = fakeEnode(sequence(() => problem(503, 'a'), () => problem(429, 'b', { 'retry-after': '1' }), () => json(200, {})));
    const { client, lines } = testClient(fake.fetch);
    await client.request('GET', '/vehicles/v1');
    const warns = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 40);
    expect(warns).toHaveLength(2);
    expect(warns[0]).toMatchObject({ method: 'GET', path: '/vehicles/v1', status: 503, attempt: 1, delayMs: 50 });
    expect(warns[1]).toMatchObject({ method: 'GET', path: '/vehicles/v1', status: 429, attempt: 2, delayMs: 1_000 });
    const all = lines.join('\n');
    expect(all).not.toContain('token-1');
    expect(all).not.toContain(CLIENT_SECRET);
    expect(all.toLowerCase()).not.toContain('authorization');
  });

  it('waits for the shared budget before each attempt', async () => {
    const fake = fakeEnode(() => json(200, {}));
    const clock = new ManualClock(NOW);
    const budget = new TokenBucket({ capacity: 1, refillPerSecond: 2 }, clock);
    const { client, sleeps } = testClient(fake.fetch, { budget }, clock);
    await client.request('GET', '/a');
    await client.request('GET', '/b');
    expect(sleeps).toEqual([500]);
    expect(fake.calls).toHaveLength(2);
  });
});

describe('EnodeClient pagination', () => {
  function pagedFake(total: number) {
    const ids = Array.from({ length: total }, (_, i) => `v${i + 1}`);
    return fakeEnode((c) => {
      const size = Number(c.url.searchParams.get('pageSize') ?? 50);
      const start = Number(c.url.searchParams.get('after') ?? 0);
      const data = ids.slice(start, start + size).map((id) => ({ id }));
      const next = start + size < ids.length ? String(start + size) : null;
      return json(200, { data, pagination: { after: next, before: null } });
    });
  }

  it('walks every page until pagination.after is null', async () => {
    const fake = pagedFake(7);
    const { client } = testClient(fake.fetch);
    const devices = await collect(client.listDevices('vehicle', { pageSize: 3 }));
    expect(devices.map((d) => d.id)).toEqual(['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7']);
    expect(fake.calls.map((c) => c.url.pathname + c.url.search)).toEqual([
      '/vehicles?pageSize=3',
      '/vehicles?pageSize=3&after=3',
      '/vehicles?pageSize=3&after=6',
    ]);
  });

  it('paginatePages yields whole pages', async () => {
    const fake = pagedFake(5);
    const { client } = testClient(fake.fetch);
    const pages = await collect(client.paginatePages<{ id: string }>('/batteries', { pageSize: 2 }));
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
  });

  it('fetches lazily: stopping early makes no further requests', async () => {
    const fake = pagedFake(10);
    const { client } = testClient(fake.fetch);
    for await (const d of client.paginate<{ id: string }>('/vehicles', { pageSize: 2 })) {
      if (d.id === 'v2') break;
    }
    expect(fake.calls).toHaveLength(1);
  });

  it('stops with an error when the server repeats a cursor', async () => {
    const fake = fakeEnode(() => json(200, { data: [{ id: 'x' }], pagination: { after: 'same', before: null } }));
    const { client } = testClient(fake.fetch);
    await expect(collect(client.paginate('/vehicles'))).rejects.toThrow(/cursor it had already returned/);
    expect(fake.calls).toHaveLength(2);
  });

  it('rejects an answer that is not a page', async () => {
    const fake = fakeEnode(() => json(200, [{ id: 'x' }]));
    const { client } = testClient(fake.fetch);
    await expect(collect(client.paginate('/vehicles'))).rejects.toThrow(EnodeApiError);
  });
});

describe('EnodeClient resources', () => {
  const action = { id: 'act-1', state: 'PENDING' };
  const cases: Array<[string, (c: EnodeClient) => Promise<unknown>, string, string, unknown]> = [
    ['getAction vehicle', (c) => c.getAction('vehicle', 'act-1'), 'GET', '/vehicles/actions/act-1', undefined],
    ['getAction battery', (c) => c.getAction('battery', 'act-1'), 'GET', '/batteries/actions/act-1', undefined],
    ['createChargeAction', (c) => c.createChargeAction('vehicle', 'v1', 'START'), 'POST', '/vehicles/v1/charging', { action: 'START' }],
    ['setMaxCurrent', (c) => c.setMaxCurrent('charger', 'c1', 16), 'POST', '/chargers/c1/max-current', { maxCurrent: 16 }],
    ['setPermanentHold', (c) => c.setPermanentHold('h1', { mode: 'HEAT', heatSetpoint: 21 }), 'POST', '/hvacs/h1/permanent-hold', { mode: 'HEAT', heatSetpoint: 21 }],
    ['followSchedule', (c) => c.followSchedule('h1'), 'POST', '/hvacs/h1/follow-schedule', undefined],
    ['setOperationMode', (c) => c.setOperationMode('b1', 'IDLE'), 'POST', '/batteries/b1/operation-mode', { operationMode: 'IDLE' }],
    ['cancelAction', (c) => c.cancelAction('hvac', 'act-1'), 'POST', '/hvacs/actions/act-1/cancel', undefined],
  ];

  it.each(cases)('%s calls %s %s', async (_name, call, method, path, body) => {
    const fake = fakeEnode(() => json(200, action));
    const { client } = testClient(fake.fetch);
    expect(await call(client)).toEqual(action);
    expect(fake.calls[0]?.method).toBe(method);
    expect(fake.calls[0]?.url.pathname).toBe(path);
    expect(fake.calls[0]?.body === undefined ? undefined : JSON.parse(fake.calls[0].body)).toEqual(body);
  });

  it('cancelAction on a resolved action throws EnodeConflictError carrying it', async () => {
    const resolved = { id: 'act-1', state: 'CONFIRMED', targetType: 'charger' };
    const fake = fakeEnode(() => json(409, resolved));
    const { client } = testClient(fake.fetch);
    const err = (await client.cancelAction('charger', 'act-1').catch((e: unknown) => e)) as EnodeConflictError;
    expect(err).toBeInstanceOf(EnodeConflictError);
    expect(err.action).toEqual(resolved);
    expect(fake.calls).toHaveLength(1);
  });

  it('getDevice and listDevices use the plural collection of the type', async () => {
    const fake = fakeEnode((c) => (c.url.pathname === '/batteries/b1' ? json(200, { id: 'b1' }) : json(200, { data: [], pagination: { after: null, before: null } })));
    const { client } = testClient(fake.fetch);
    expect(await client.getDevice('battery', 'b1')).toEqual({ id: 'b1' });
    expect(await collect(client.listDevices('inverter'))).toEqual([]);
    expect(fake.calls.map((c) => c.url.pathname)).toEqual(['/batteries/b1', '/inverters']);
  });

  it('getWebhook, testWebhook and updateWebhook round-trip the webhook shapes', async () => {
    const hook = { id: 'w1', url: 'https://x.test/h', isActive: false, lastSuccess: null, createdAt: '2025-01-01T00:00:00Z', apiVersion: null, authentication: null, extra: 1 };
    const fake = fakeEnode((c) => {
      if (c.url.pathname === '/webhooks/w1/test') return json(200, { status: 'SUCCESS', description: 'ok', response: { code: 200, body: 'ok', headers: [] } });
      if (c.method === 'PATCH') return json(200, { ...hook, isActive: true });
      return json(200, hook);
    });
    const { client } = testClient(fake.fetch);
    expect(await client.getWebhook('w1')).toEqual(hook);
    expect((await client.testWebhook('w1')).status).toBe('SUCCESS');
    expect((await client.updateWebhook('w1', { events: ['*'] })).isActive).toBe(true);
    expect(fake.calls.map((c) => `${c.method} ${c.url.pathname}`)).toEqual(['GET /webhooks/w1', 'POST /webhooks/w1/test', 'PATCH /webhooks/w1']);
    expect(fake.calls[2]?.body).toBe('{"events":["*"]}');
  });

  it('a webhook answer of the wrong shape is a clear EnodeApiError', async () => {
    const fake = fakeEnode(() => json(200, { id: 'w1' }));
    const { client } = testClient(fake.fetch);
    await expect(client.getWebhook('w1')).rejects.toThrow(/unexpected shape \(fields: url, isActive\)/);
  });

  it('an action endpoint answering something other than an object is an EnodeApiError', async () => {
    const fake = fakeEnode(() => json(200, ['nope']));
    const { client } = testClient(fake.fetch);
    await expect(client.getAction('charger', 'a')).rejects.toThrow(/did not return a JSON object/);
  });

  it('rejects nonsensical options up front', () => {
    const fake = fakeEnode(() => json(200, {}));
    expect(() => testClient(fake.fetch, { maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => testClient(fake.fetch, { apiUrl: 'not a url' })).toThrow(/absolute URLs/);
  });
});

describe('action-creating requests are not repeated when Enode may have acted', () => {
  it('does not retry a START after a 503: a second POST would create a second action', async () => {
    const fake = fakeEnode(sequence(() => problem(503, 'down'), () => json(200, { id: 'a2', state: 'PENDING' })));
    const { client } = testClient(fake.fetch);
    await expect(client.createChargeAction('vehicle', 'v1', 'START')).rejects.toMatchObject({ status: 503 });
    expect(fake.calls).toHaveLength(1);
  });

  it('retries a START after a 429, which Enode did not act on', async () => {
    const fake = fakeEnode(sequence(() => problem(429, 'slow down', { 'retry-after': '1' }), () => json(200, { id: 'a1', state: 'PENDING' })));
    const { client } = testClient(fake.fetch);
    expect(await client.createChargeAction('vehicle', 'v1', 'START')).toMatchObject({ id: 'a1' });
    expect(fake.calls).toHaveLength(2);
  });

  it('retries a START whose connection was refused, and not one that timed out', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const timedOut = Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' });
    let n = 0;
    const fake = fakeEnode(() => {
      n++;
      if (n === 1) throw refused;
      if (n === 2) return json(200, { id: 'a1', state: 'PENDING' });
      throw timedOut;
    });
    const { client } = testClient(fake.fetch);
    expect(await client.createChargeAction('charger', 'c1', 'STOP')).toMatchObject({ id: 'a1' });
    await expect(client.setOperationMode('b1', 'IDLE')).rejects.toMatchObject({ reason: 'timeout' });
    expect(n).toBe(3);
  });

  it('still retries reads after a 503', async () => {
    const fake = fakeEnode(sequence(() => problem(503, 'down'), () => json(200, { id: 'a1', state: 'PENDING' })));
    const { client } = testClient(fake.fetch);
    expect(await client.getAction('vehicle', 'a1')).toMatchObject({ id: 'a1' });
    expect(fake.calls).toHaveLength(2);
  });
});
