import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { EnodeAuthError, TokenCache, refreshMarginMs, type IssuedToken } from '../../../src/enode/index.js';
import { CLIENT_ID, CLIENT_SECRET, NOW, OAUTH, fakeEnode, json, testClient } from './fake-enode.js';

function counting(expiresInSeconds = 3600) {
  let n = 0;
  const fetchToken = async (): Promise<IssuedToken> => {
    n += 1;
    return { accessToken: `t${n}`, expiresInSeconds };
  };
  return { fetchToken, count: () => n };
}

describe('refreshMarginMs', () => {
  it('is 10 % of the lifetime, at most 60 s', () => {
    expect(refreshMarginMs(3_600_000)).toBe(60_000);
    expect(refreshMarginMs(100_000)).toBe(10_000);
  });
});

describe('TokenCache', () => {
  it('reuses the cached token while it is fresh', async () => {
    const clock = new ManualClock(NOW);
    const src = counting();
    const cache = new TokenCache(src.fetchToken, clock);
    expect(await cache.getToken()).toBe('t1');
    clock.advance(30 * 60_000);
    expect(await cache.getToken()).toBe('t1');
    expect(src.count()).toBe(1);
  });

  it('refreshes 60 s before a one-hour token expires', async () => {
    const clock = new ManualClock(NOW);
    const src = counting(3600);
    const cache = new TokenCache(src.fetchToken, clock);
    await cache.getToken();
    clock.advance(3540_000 - 1);
    expect(await cache.getToken()).toBe('t1');
    clock.advance(1);
    expect(await cache.getToken()).toBe('t2');
  });

  it('refreshes a short-lived token at 90 % of its lifetime', async () => {
    const clock = new ManualClock(NOW);
    const cache = new TokenCache(counting(100).fetchToken, clock);
    await cache.getToken();
    clock.advance(89_999);
    expect(await cache.getToken()).toBe('t1');
    clock.advance(1);
    expect(await cache.getToken()).toBe('t2');
  });

  it('shares one refresh among concurrent callers', async () => {
    const clock = new ManualClock(NOW);
    let release: (t: IssuedToken) => void = () => {};
    let calls = 0;
    const cache = new TokenCache(() => {
      calls += 1;
      return new Promise<IssuedToken>((resolve) => (release = resolve));
    }, clock);
    const waiting = Array.from({ length: 10 }, () => cache.getToken());
    release({ accessToken: 'shared', expiresInSeconds: 3600 });
    expect(await Promise.all(waiting)).toEqual(Array(10).fill('shared'));
    expect(calls).toBe(1);
  });

  it('rejects every waiter when the refresh fails, and tries again on the next call', async () => {
    const clock = new ManualClock(NOW);
    let fail = true;
    const cache = new TokenCache(async () => {
      if (fail) throw new Error('token endpoint down');
      return { accessToken: 'ok', expiresInSeconds: 3600 };
    }, clock);
    const results = await Promise.allSettled([cache.getToken(), cache.getToken()]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await cache.getToken()).toBe('ok');
  });

  it('invalidate(token) forgets that token but not a newer one', async () => {
    const clock = new ManualClock(NOW);
    const src = counting();
    const cache = new TokenCache(src.fetchToken, clock);
    const first = await cache.getToken();
    cache.invalidate(first);
    expect(await cache.getToken()).toBe('t2');
    cache.invalidate(first); // a late 401 for the old token must not throw away t2
    expect(await cache.getToken()).toBe('t2');
    expect(src.count()).toBe(2);
  });
});

describe('client credentials through the client', () => {
  it('posts HTTP Basic credentials and grant_type=client_credentials to the OAuth URL', async () => {
    const fake = fakeEnode(() => json(200, {}));
    const { client } = testClient(fake.fetch);
    await client.request('GET', '/health/ready');
    const [tokenCall] = fake.tokenCalls;
    expect(tokenCall?.method).toBe('POST');
    expect(tokenCall?.url.href).toBe(OAUTH);
    const basic = tokenCall?.headers.get('authorization') ?? '';
    expect(Buffer.from(basic.replace(/^Basic /, ''), 'base64').toString()).toBe(`${CLIENT_ID}:${CLIENT_SECRET}`);
    expect(tokenCall?.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(tokenCall?.body).toBe('grant_type=client_credentials');
  });

  it('makes one token request for 10 concurrent API calls', async () => {
    const fake = fakeEnode(() => json(200, { ok: true }));
    const { client } = testClient(fake.fetch);
    await Promise.all(Array.from({ length: 10 }, (_, i) => client.request('GET', `/vehicles/v${i}`)));
    expect(fake.tokenCalls).toHaveLength(1);
    expect(fake.calls).toHaveLength(10);
    expect(fake.calls.every((c) => c.headers.get('authorization') === 'Bearer token-1')).toBe(true);
  });

  it('reuses the token across calls and fetches a new one near expiry', async () => {
    const fake = fakeEnode(() => json(200, {}), { expiresIn: 3600 });
    const { client, clock } = testClient(fake.fetch);
    await client.request('GET', '/a');
    await client.request('GET', '/b');
    clock.advance(3550_000);
    await client.request('GET', '/c');
    expect(fake.calls.map((c) => c.headers.get('authorization'))).toEqual(['Bearer token-1', 'Bearer token-1', 'Bearer token-2']);
  });

  it('on 401 drops the token and retries once with a fresh one', async () => {
    const fake = fakeEnode((c) => (c.headers.get('authorization') === 'Bearer token-1' ? json(401, { title: 'Unauthorized' }) : json(200, { id: 'v1' })));
    const { client } = testClient(fake.fetch);
    expect(await client.request('GET', '/vehicles/v1')).toEqual({ id: 'v1' });
    expect(fake.tokenCalls).toHaveLength(2);
    expect(fake.calls.map((c) => c.headers.get('authorization'))).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('a second 401 in a row is an EnodeAuthError, with no third attempt', async () => {
    const fake = fakeEnode(() => json(401, { title: 'Unauthorized', detail: 'Missing, invalid or expired access token' }));
    const { client } = testClient(fake.fetch);
    const err = await client.request('GET', '/vehicles').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnodeAuthError);
    expect(fake.calls).toHaveLength(2);
    expect(String((err as Error).message)).not.toMatch(/token-\d/);
  });

  it('rejected credentials give an EnodeAuthError that names the fix and hides the secret', async () => {
    const fake = fakeEnode(() => json(200, {}), {
      tokenHandler: () => json(401, { error: 'invalid_client', error_description: 'Client authentication failed' }),
    });
    const { client } = testClient(fake.fetch);
    const err = (await client.request('GET', '/vehicles').catch((e: unknown) => e)) as EnodeAuthError;
    expect(err).toBeInstanceOf(EnodeAuthError);
    expect(err.status).toBe(401);
    expect(err.message).toContain('invalid_client');
    expect(err.message).toContain('client id and secret');
    expect(err.message).not.toContain(CLIENT_SECRET);
    expect(JSON.stringify(err)).not.toContain(CLIENT_SECRET);
    expect(fake.calls).toHaveLength(0);
  });

  it('retries a token endpoint answering 503', async () => {
    let n = 0;
    const fake = fakeEnode(() => json(200, { ok: 1 }), {
      tokenHandler: () => (++n === 1 ? json(503, {}) : json(200, { access_token: 'late', expires_in: 3600 })),
    });
    const { client, sleeps } = testClient(fake.fetch);
    await client.request('GET', '/x');
    expect(fake.calls[0]?.headers.get('authorization')).toBe('Bearer late');
    expect(sleeps).toHaveLength(1);
  });

  it('a token response without access_token is a clear error', async () => {
    const fake = fakeEnode(() => json(200, {}), { tokenHandler: () => json(200, { nope: true }) });
    const { client } = testClient(fake.fetch);
    await expect(client.request('GET', '/x')).rejects.toThrow(/without a usable access_token/);
  });
});
