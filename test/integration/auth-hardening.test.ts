/**
 * Issue 14: credential guessing is throttled per address (429 + Retry-After) and logged in
 * aggregate; a dashboard logout survives a restart; the dashboard's CSRF check is skipped only for
 * a valid bearer and knows the public origin behind a TLS-terminating proxy.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { ManualClock } from '../../src/clock.js';
import { depsOver } from '../../src/deps.js';
import { silentLogger } from '../../src/logger.js';
import { openStorage } from '../../src/storage.js';
import { SESSION_TTL_MS } from '../../src/ui/auth.js';
import { daemonDatabases } from '../support/engines-e2e.js';
import { ADMIN_TOKEN, api, makeApp, NOW, postWebhook, testConfig, testEngine, type EngineApp } from '../support/fixtures.js';
import { captureLogs } from '../support/logs.js';

const ORIGIN = 'http://localhost';
/** AUTH_FAILURES_PER_MINUTE's default. */
const LIMIT = 10;

function form(fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN, ...headers }, body: new URLSearchParams(fields).toString() };
}

async function login(t: Pick<EngineApp, 'app'>): Promise<string> {
  const res = await t.app.request('/ui/login', form({ token: ADMIN_TOKEN, next: '/ui' }));
  expect(res.status).toBe(303);
  return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}


const settle = () => new Promise((resolve) => setImmediate(resolve));
/** Behind TRUST_PROXY the address is X-Forwarded-For's last hop: one client per value. */
const from = (address: string) => ({ 'x-forwarded-for': address });

describe('credential guessing is throttled per address', () => {
  it('admin API: after AUTH_FAILURES_PER_MINUTE wrong tokens, 429 with Retry-After, even for the right token, until the minute ends', async () => {
    const t = await makeApp();
    for (let i = 0; i < LIMIT; i++) expect((await api(t, '/devices', {}, `wrong-token-${i}`)).status).toBe(401);
    const refused = await api(t, '/devices', {}, 'wrong-again');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    // The right guess does not stand out while the address is throttled.
    expect((await api(t, '/devices')).status).toBe(429);
    t.clock.advance(30_000);
    expect((await api(t, '/devices')).headers.get('retry-after')).toBe('30');
    t.clock.advance(30_000);
    expect((await api(t, '/devices')).status).toBe(200);
  });

  it('does not count successful requests or requests without a token', async () => {
    const t = await makeApp();
    for (let i = 0; i < 50; i++) expect((await api(t, '/devices')).status).toBe(200);
    for (let i = 0; i < 50; i++) expect((await api(t, '/devices', {}, null)).status).toBe(401);
    for (let i = 0; i < LIMIT; i++) expect((await api(t, '/devices', {}, 'wrong')).status).toBe(401);
    expect((await api(t, '/devices', {}, 'wrong')).status).toBe(429);
  });

  it('the API bearer, the dashboard bearer and the login form share one budget per address', async () => {
    const t = await makeApp();
    for (let i = 0; i < 4; i++) expect((await api(t, '/devices', {}, 'wrong')).status).toBe(401);
    for (let i = 0; i < 3; i++) expect((await t.app.request('/ui', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    for (let i = 0; i < 3; i++) expect((await t.app.request('/ui/login', form({ token: 'wrong' }))).status).toBe(401);

    const loginPage = await t.app.request('/ui/login', form({ token: ADMIN_TOKEN }));
    expect(loginPage.status).toBe(429);
    expect(loginPage.headers.get('retry-after')).toBe('60');
    expect(loginPage.headers.get('set-cookie')).toBeNull();
    expect(await loginPage.text()).toContain('Too many failed authentication attempts');
    const dashboard = await t.app.request('/ui', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(dashboard.status).toBe(429);
    expect(dashboard.headers.get('retry-after')).toBe('60');
    expect((await api(t, '/devices')).status).toBe(429);
  });

  it('keys by client address: behind TRUST_PROXY one guesser does not lock out another address', async () => {
    const t = await makeApp({ TRUST_PROXY: 'true' });
    for (let i = 0; i <= LIMIT; i++) await api(t, '/devices', { headers: from('198.51.100.7') }, 'wrong');
    expect((await api(t, '/devices', { headers: from('198.51.100.7') })).status).toBe(429);
    expect((await api(t, '/devices', { headers: from('203.0.113.20') })).status).toBe(200);
    // A client cannot pick a fresh address per request: only the proxy's (last) hop counts.
    expect((await api(t, '/devices', { headers: from('1.2.3.4, 198.51.100.7') })).status).toBe(429);
  });

  it('a valid session cookie is not a guess: it keeps working while its address is throttled', async () => {
    const t = await makeApp();
    const cookie = await login(t);
    for (let i = 0; i <= LIMIT; i++) await api(t, '/devices', {}, 'wrong');
    expect((await t.app.request('/ui', { headers: { cookie } })).status).toBe(200);
  });

  it('logs failures in aggregate with the address: one line at once, then one summary per window', async () => {
    const { lines, logger } = captureLogs();
    const t = await makeApp({ TRUST_PROXY: 'true' }, { logger });
    for (let i = 0; i < 500; i++) await api(t, '/devices', { headers: from(`198.51.100.${i % 2}`) }, 'wrong');
    await settle();
    const failed = lines.filter((l) => l.msg === 'authentication failed');
    expect(failed.map((l) => l.address).sort()).toEqual(['198.51.100.0', '198.51.100.1']);
    expect(failed[0]).toMatchObject({ door: 'api-bearer', path: '/api/v1/devices' });
    const throttled = lines.filter((l) => l.msg === 'authentication throttled: too many failures from this address');
    expect(throttled).toHaveLength(2);
    expect(lines).toHaveLength(4);
    expect(JSON.stringify(lines)).not.toContain('wrong');

    // Next minute: the first failure and the first refusal close the last window of each log.
    t.clock.advance(60_000);
    for (let i = 0; i <= LIMIT; i++) await api(t, '/devices', { headers: from('198.51.100.0') }, 'wrong');
    await settle();
    const summaries = lines.filter((l) => l.msg === 'authentication failed (repeated)' || l.msg === 'authentication throttled: too many failures from this address (repeated)');
    const suppressed = summaries.reduce((sum, l) => sum + (l.suppressed as number), 0);
    // 2 × (LIMIT - 1) failures and 2 × (250 - LIMIT - 1) refusals were not logged one by one.
    expect(suppressed).toBe(2 * (LIMIT - 1) + 2 * (250 - LIMIT - 1));
  });

  it('logs no line per wrong login', async () => {
    const { lines, logger } = captureLogs();
    const t = await makeApp({}, { logger });
    for (let i = 0; i < 5; i++) expect((await t.app.request('/ui/login', form({ token: `wrong-${i}` }))).status).toBe(401);
    await settle();
    expect(lines.filter((l) => l.msg === 'authentication failed')).toMatchObject([{ address: 'unknown', door: 'ui-login' }]);
    expect(lines).toHaveLength(1);
  });
});

describe('dashboard logout survives a restart', () => {
  let dir: string | undefined;
  const databases = daemonDatabases();
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  afterAll(() => databases.dropAll());

  /**
   * Where a "process" of this test keeps its data, the same for both: a file database on SQLite,
   * a schema of its own on Postgres (the first start migrates it, as a new replica does).
   */
  async function databaseEnv(): Promise<Record<string, string>> {
    const engine = testEngine();
    if (engine === 'postgres') return (await databases.make(engine)).env;
    dir = mkdtempSync(join(tmpdir(), 'enode-sync-logout-'));
    return { DATABASE_PATH: join(dir, 'db.sqlite') };
  }

  /** The daemon's shape: storage opened as the daemon opens it (SQLite's writer on its own thread), the app over it. */
  async function start(env: Record<string, string>, clock: ManualClock) {
    const config = testConfig(env);
    const storage = await openStorage(config, silentLogger(), clock, { mode: 'daemon' });
    const deps = depsOver({ config, logger: silentLogger(), clock }, storage);
    return { app: createApp(deps), stop: () => storage.close() };
  }

  it('a logged-out cookie is refused by a new process over the same database; other sessions still work', async () => {
    const env = await databaseEnv();
    const clock = new ManualClock(NOW);
    const first = await start(env, clock);
    const loggedOut = await login(first);
    const kept = await login(first);
    expect((await first.app.request('/ui/logout', form({}, { cookie: loggedOut }))).status).toBe(303);
    expect((await first.app.request('/ui', { headers: { cookie: loggedOut } })).status).toBe(303);
    await first.stop();

    const second = await start(env, clock);
    try {
      const refused = await second.app.request('/ui', { headers: { cookie: loggedOut } });
      expect(refused.status).toBe(303);
      expect(refused.headers.get('location')).toBe('/ui/login?next=%2Fui');
      expect((await second.app.request('/ui', { headers: { cookie: kept } })).status).toBe(200);
    } finally {
      await second.stop();
    }
  }, 30_000);

  it('keeps a revocation only until its session would have expired', async () => {
    const t = await makeApp();
    const count = async () => Number((await t.column('SELECT count(*) FROM ui_session_revocations'))[0]);
    const a = await login(t);
    await t.app.request('/ui/logout', form({}, { cookie: a }));
    expect(await count()).toBe(1);
    // A forged or expired cookie stores nothing.
    await t.app.request('/ui/logout', form({}, { cookie: 'enode_sync_session=abc.99999999999.def' }));
    expect(await count()).toBe(1);
    t.clock.advance(SESSION_TTL_MS);
    const b = await login(t);
    await t.app.request('/ui/logout', form({}, { cookie: b }));
    expect(await count()).toBe(1);
    expect((await t.app.request('/ui', { headers: { cookie: b } })).status).toBe(303);
  });
});

describe('dashboard CSRF', () => {
  async function withBadDelivery(t: EngineApp) {
    await postWebhook(t, [{ event: 'user:vendor-action:updated', createdAt: NOW.toISOString(), vendorAction: { id: 'x' } }], { deliveryId: 'bad-1' });
  }
  const replay = (t: EngineApp, headers: Record<string, string>, url = '/ui/deliveries/bad-1/replay') => t.app.request(url, form({}, headers));

  it('a cookie beside a junk Authorization header is still checked: cross-site posts are refused', async () => {
    const t = await makeApp();
    await withBadDelivery(t);
    const cookie = await login(t);
    const basic = await replay(t, { cookie, authorization: 'Basic dXNlcjpwYXNz', origin: 'https://evil.example' });
    expect(basic.status).toBe(403);
    expect(await basic.text()).toContain('Cross-site form submission refused');
    // A wrong bearer never authenticates, cookie or not: 401, and it counts as a guess.
    expect((await replay(t, { cookie, authorization: 'Bearer junk', origin: 'https://evil.example' })).status).toBe(401);
    expect((await t.deps.read.getDelivery('bad-1'))?.attempts).toBe(1);
    // The same cookie from the dashboard's own origin (behind a Basic-auth proxy) works.
    expect((await replay(t, { cookie, authorization: 'Basic dXNlcjpwYXNz' })).status).toBe(303);
  });

  it('a request a valid bearer authenticates skips the check (a cross-site form cannot send one)', async () => {
    const t = await makeApp();
    await withBadDelivery(t);
    const res = await replay(t, { authorization: `Bearer ${ADMIN_TOKEN}`, origin: 'https://elsewhere.example' });
    expect(res.status).toBe(303);
  });

  it('behind TLS termination, accepts the PUBLIC_URL origin and still refuses others', async () => {
    // The proxy speaks http to us; the browser is on https://dash.example.
    const url = 'http://dash.example/ui/deliveries/bad-1/replay';
    const withoutPublicUrl = await makeApp();
    await withBadDelivery(withoutPublicUrl);
    const cookieA = await login(withoutPublicUrl);
    expect((await replay(withoutPublicUrl, { cookie: cookieA, origin: 'https://dash.example' }, url)).status).toBe(403);

    const t = await makeApp({ PUBLIC_URL: 'https://dash.example/' });
    await withBadDelivery(t);
    const cookie = await login(t);
    expect((await replay(t, { cookie, origin: 'https://dash.example' }, url)).status).toBe(303);
    expect((await replay(t, { cookie, origin: 'https://evil.example' }, url)).status).toBe(403);
    expect((await replay(t, { cookie, origin: 'http://dash.example.evil.example' }, url)).status).toBe(403);
  });

  it('believes X-Forwarded-Proto / X-Forwarded-Host only with TRUST_PROXY', async () => {
    const url = 'http://10.0.0.5:8080/ui/deliveries/bad-1/replay';
    const forwarded = { origin: 'https://dash.example', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'dash.example' };

    const untrusted = await makeApp();
    await withBadDelivery(untrusted);
    expect((await replay(untrusted, { cookie: await login(untrusted), ...forwarded }, url)).status).toBe(403);

    const t = await makeApp({ TRUST_PROXY: 'true' });
    await withBadDelivery(t);
    const cookie = await login(t);
    expect((await replay(t, { cookie, ...forwarded }, url)).status).toBe(303);
    // Host passed through by the proxy, only the scheme forwarded.
    expect((await replay(t, { cookie, origin: 'https://dash.example', 'x-forwarded-proto': 'https' }, 'http://dash.example/ui/deliveries/bad-1/replay')).status).toBe(303);
    expect((await replay(t, { cookie, ...forwarded, origin: 'https://evil.example' }, url)).status).toBe(403);
  });
});
