import { describe, expect, it } from 'vitest';
import { webhookSinkName } from '../../src/alerts/sinks/standard-webhook.js';
import { SESSION_TTL_MS } from '../../src/ui/auth.js';
import { ADMIN_TOKEN, api, makeApp, postWebhook, vehicleSnapshot, type EngineApp } from '../support/fixtures.js';

const ORIGIN = 'http://localhost';
const BASE_MS = Date.parse('2026-03-01T10:00:00.000Z');
const iso = (minute: number) => new Date(BASE_MS + minute * 60_000).toISOString();

function vehicle(id: string, minute: number, state: { charging?: boolean; pluggedIn?: boolean }, vendor?: string) {
  const snapshot = { ...vehicleSnapshot(id, minute, state), ...(vendor ? { vendor } : {}) };
  return { event: 'user:vehicle:updated', createdAt: iso(minute), version: '2024-10-01', user: { id: snapshot.userId }, vehicle: snapshot, updatedFields: ['chargeState.isCharging'] };
}

/** v1 stops charging with no action of ours: one UNEXPECTED_CHANGE once the grace has passed. */
async function withFinding(t: EngineApp): Promise<string> {
  await postWebhook(t, [vehicle('v1', 0, { charging: true }), vehicle('v1', 5, { charging: false })]);
  t.clock.advance(61_000);
  await t.deps.store.reconcile({});
  const body = (await (await api(t, '/interference?deviceId=v1')).json()) as { data: Array<{ id: string }> };
  expect(body.data).toHaveLength(1);
  return body.data[0]!.id;
}

function form(fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN, ...headers }, body: new URLSearchParams(fields).toString() };
}

/** Logs in through the form; returns the `Cookie` header value to send back. */
async function login(t: EngineApp): Promise<string> {
  const res = await t.app.request('/ui/login', form({ token: ADMIN_TOKEN, next: '/ui' }));
  expect(res.status).toBe(303);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const pair = setCookie.split(';')[0] ?? '';
  expect(pair).toMatch(/^enode_sync_session=.+/);
  return pair;
}

function get(t: EngineApp, path: string, auth: { cookie?: string; bearer?: string } = {}) {
  const headers: Record<string, string> = {};
  if (auth.cookie) headers.cookie = auth.cookie;
  if (auth.bearer) headers.authorization = `Bearer ${auth.bearer}`;
  return t.app.request(path, { headers });
}

const PAGES = ['/ui', '/ui/devices/v1', '/ui/findings', '/ui/actions', '/ui/deliveries', '/ui/alerts'];

describe('dashboard login', () => {
  it('sets an http-only, SameSite=Strict session cookie scoped to /ui that does not hold the token, then redirects', async () => {
    const t = await makeApp();
    const res = await t.app.request('/ui/login', form({ token: ADMIN_TOKEN, next: '/ui/findings' }));
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui/findings');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^enode_sync_session=[\w-]+\.\d+\.[\w-]+;/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/ui');
    expect(cookie).toContain(`Max-Age=${SESSION_TTL_MS / 1000}`);
    expect(cookie).not.toContain('Secure');
    expect(cookie).not.toContain(ADMIN_TOKEN);
  });

  it('marks the cookie Secure when the request came over https (directly or via a proxy)', async () => {
    const t = await makeApp();
    const direct = await t.app.request('https://dash.example/ui/login', form({ token: ADMIN_TOKEN }, { origin: 'https://dash.example' }));
    expect(direct.headers.get('set-cookie')).toContain('Secure');
    const proxied = await t.app.request('/ui/login', form({ token: ADMIN_TOKEN }, { 'x-forwarded-proto': 'https' }));
    expect(proxied.headers.get('set-cookie')).toContain('Secure');
  });

  it('refuses a wrong or empty token with 401 and no cookie', async () => {
    const t = await makeApp();
    for (const token of [`${ADMIN_TOKEN}x`, 'short', '']) {
      const res = await t.app.request('/ui/login', form({ token }));
      expect(res.status).toBe(401);
      expect(res.headers.get('set-cookie')).toBeNull();
      expect(await res.text()).toContain('That is not the admin token.');
    }
  });

  it('never redirects outside the dashboard after login', async () => {
    const t = await makeApp();
    const res = await t.app.request('/ui/login', form({ token: ADMIN_TOKEN, next: 'https://evil.example/' }));
    expect(res.headers.get('location')).toBe('/ui');
  });

  it('shows the form, and says the dashboard is off without ADMIN_TOKEN', async () => {
    const t = await makeApp();
    const page = await t.app.request('/ui/login?next=%2Fui%2Ffindings');
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toMatch(/^<!DOCTYPE html><html lang="en">/);
    expect(html).toContain('<input id="token" name="token" type="password"');
    expect(html).toContain('name="next" value="/ui/findings"');

    const off = await makeApp({ ADMIN_TOKEN: '' });
    expect(off.config.adminToken).toBeUndefined();
    expect(await (await off.app.request('/ui/login')).text()).toContain('The dashboard is disabled');
    expect((await off.app.request('/ui/login', form({ token: 'anything-at-all-16' }))).status).toBe(503);
    expect((await get(off, '/ui')).status).toBe(303);
    expect((await get(off, '/ui', { bearer: 'anything-at-all-16' })).status).toBe(303);
  });

  it('logs out: the cookie is cleared and the old value no longer works', async () => {
    const t = await makeApp();
    const cookie = await login(t);
    expect((await get(t, '/ui', { cookie })).status).toBe(200);
    const out = await t.app.request('/ui/logout', form({}, { cookie }));
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/ui/login');
    expect(out.headers.get('set-cookie')).toMatch(/^enode_sync_session=;.*Max-Age=0/);
    expect((await get(t, '/ui', { cookie })).status).toBe(303);
  });

  it('expires a session after its lifetime', async () => {
    const t = await makeApp();
    const cookie = await login(t);
    t.clock.advance(SESSION_TTL_MS + 1000);
    expect((await get(t, '/ui', { cookie })).status).toBe(303);
  });
});

describe('dashboard pages need a session or the bearer token', () => {
  it('redirects to the login form without either, keeping where the user was going', async () => {
    const t = await makeApp();
    for (const path of PAGES) {
      const res = await get(t, path);
      expect(res.status, path).toBe(303);
      expect(res.headers.get('location')).toBe(`/ui/login?next=${encodeURIComponent(path)}`);
    }
    const forged = await get(t, '/ui', { cookie: 'enode_sync_session=abc.99999999999.def' });
    expect(forged.status).toBe(303);
    const raw = await get(t, '/ui', { cookie: `enode_sync_session=${ADMIN_TOKEN}` });
    expect(raw.status).toBe(303);
  });

  it('renders every page with the session cookie and with the bearer header', async () => {
    const t = await makeApp();
    await withFinding(t);
    const cookie = await login(t);
    for (const path of PAGES) {
      for (const auth of [{ cookie }, { bearer: ADMIN_TOKEN }]) {
        const res = await get(t, path, auth);
        expect(res.status, path).toBe(200);
        expect(res.headers.get('content-type')).toContain('text/html');
        expect(await res.text()).toMatch(/^<!DOCTYPE html>/);
      }
    }
  });

  it('answers a wrong bearer token with 401', async () => {
    const t = await makeApp();
    const res = await get(t, '/ui', { bearer: `${ADMIN_TOKEN}x` });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('Invalid bearer token');
  });

  it('serves its stylesheet and icon without a session', async () => {
    const t = await makeApp();
    const css = await get(t, '/ui/style.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toContain('text/css');
    expect((await get(t, '/ui/favicon.svg')).headers.get('content-type')).toBe('image/svg+xml');
  });
});

describe('dashboard security headers and CSRF', () => {
  it('sends a strict CSP and the usual hardening headers, and no caching of pages', async () => {
    const t = await makeApp();
    // The login page runs no script; the overview only its live refresh, from this origin.
    for (const [res, scripts] of [[await get(t, '/ui/login'), null], [await get(t, '/ui', { bearer: ADMIN_TOKEN }), "script-src 'self'"]] as const) {
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("form-action 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      if (scripts) expect(csp).toContain(scripts);
      else expect(csp).not.toContain('script-src');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('refuses cross-site form posts: replay, login and logout', async () => {
    const t = await makeApp();
    await postWebhook(t, [{ event: 'user:vendor-action:updated', createdAt: iso(0), vendorAction: { id: 'x' } }], { deliveryId: 'bad-1' });
    const cookie = await login(t);
    const crossSite: Array<Record<string, string>> = [{ origin: 'https://evil.example' }, { origin: 'null' }, { 'sec-fetch-site': 'cross-site', origin: '' }];
    for (const headers of crossSite) {
      const replay = await t.app.request('/ui/deliveries/bad-1/replay', form({}, { ...headers, cookie }));
      expect(replay.status).toBe(403);
      expect(await replay.text()).toContain('Cross-site form submission refused');
    }
    expect((await t.deps.read.getDelivery('bad-1'))?.attempts).toBe(1);
    const loginCsrf = await t.app.request('/ui/login', form({ token: ADMIN_TOKEN }, { origin: 'https://evil.example' }));
    expect(loginCsrf.status).toBe(403);
    expect(loginCsrf.headers.get('set-cookie')).toBeNull();
    expect((await t.app.request('/ui/logout', form({}, { origin: 'https://evil.example', cookie }))).status).toBe(403);
    expect((await get(t, '/ui', { cookie })).status).toBe(200);
    // Same-origin by Sec-Fetch-Site alone (no Origin header) is accepted.
    const sameSite = await t.app.request('/ui/deliveries/bad-1/replay', form({}, { origin: '', 'sec-fetch-site': 'same-origin', cookie }));
    expect(sameSite.status).toBe(303);
  });
});

describe('dashboard content', () => {
  it('shows the fleet: devices with controlled state, webhook health, finding and dead-alert counts', async () => {
    const t = await makeApp();
    await withFinding(t);
    await postWebhook(t, [{ event: 'system:heartbeat', createdAt: iso(100), version: '2024-10-01', pendingEvents: 2 }]);
    const html = await (await get(t, '/ui', { bearer: ADMIN_TOKEN })).text();
    expect(html).toContain('<caption>vehicle (1)</caption>');
    expect(html).toContain('href="/ui/devices/v1"');
    expect(html).toContain('charging=no, maxCurrent=16');
    expect(html).toContain('<span class="verdict verdict-ok">ok</span>');
    expect(html).toMatch(/<a href="\/ui\/findings\?kind=UNEXPECTED_CHANGE&amp;state=open">UNEXPECTED_CHANGE<\/a><\/dt><dd><span class="badge badge-bad">1<\/span>/);
    expect(html).toMatch(/Dead deliveries<\/a><\/dt><dd>0<\/dd>/);
  });

  it('draws the device timeline as SVG with the finding marked and listed', async () => {
    const t = await makeApp();
    const findingId = await withFinding(t);
    const html = await (await get(t, '/ui/devices/v1', { bearer: ADMIN_TOKEN })).text();
    expect(html).toContain('<svg class="timeline" role="img" aria-labelledby="timeline-title timeline-desc"');
    expect(html).toContain(`<a href="#finding-${findingId}" class="finding-marker" data-finding-id="${findingId}"><title>Finding UNEXPECTED_CHANGE — charging: yes → no`);
    expect(html).toContain('<rect class="finding-outline"');
    expect(html).toContain(`<title>charging: yes → no at 2026-03-01 10:05:00 UTC — unexplained: interference finding ${findingId}</title>`);
    expect(html).toContain(`<tr class="finding" id="finding-${findingId}">`);
    expect(html).toContain('<option value="24" selected="">');
  });

  it('takes the window from ?hours and rejects a bad one', async () => {
    const t = await makeApp();
    await withFinding(t);
    // The change happened about two hours before "now": outside a one-hour window.
    const narrow = await (await get(t, '/ui/devices/v1?hours=1', { bearer: ADMIN_TOKEN })).text();
    expect(narrow).not.toContain('class="finding-marker"');
    expect(narrow).toContain('<option value="1" selected="">');
    for (const bad of ['0', 'abc', '100000', '1.5']) {
      const res = await get(t, `/ui/devices/v1?hours=${bad}`, { bearer: ADMIN_TOKEN });
      expect(res.status, bad).toBe(400);
      expect(await res.text()).toContain('Invalid &quot;hours&quot;');
    }
  });

  it('answers an unknown device or page with an HTML 404', async () => {
    const t = await makeApp();
    const device = await get(t, '/ui/devices/nope', { bearer: ADMIN_TOKEN });
    expect(device.status).toBe(404);
    expect(await device.text()).toContain('No device nope');
    expect((await get(t, '/ui/nothing-here', { bearer: ADMIN_TOKEN })).status).toBe(404);
  });

  it('lists findings and actions, with filters', async () => {
    const t = await makeApp();
    const findingId = await withFinding(t);
    const findings = await (await get(t, '/ui/findings?kind=UNEXPECTED_CHANGE', { bearer: ADMIN_TOKEN })).text();
    expect(findings).toContain('charging: yes → no');
    expect(findings).toContain('href="/ui/devices/v1"');
    expect(await (await get(t, '/ui/findings?kind=ACTION_CONFLICT', { bearer: ADMIN_TOKEN })).text()).toContain('No findings.');
    expect((await get(t, '/ui/findings?kind=NOPE', { bearer: ADMIN_TOKEN })).status).toBe(400);
    expect(findingId).toMatch(/\S/);
    expect((await get(t, '/ui/actions?state=PENDING', { bearer: ADMIN_TOKEN })).status).toBe(200);
  });

  it('escapes device data everywhere', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v9', 0, { charging: true }, '<script>alert(1)</script>')]);
    const html = await (await get(t, '/ui', { bearer: ADMIN_TOKEN })).text();
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});

describe('dashboard actions', () => {
  it('replays a failed delivery from its Replay button and says how it went', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v2', 0, { charging: true })], { deliveryId: 'good-1' });
    // As if applying had failed before a fix: the stored body applies fine now.
    await t.exec(`UPDATE deliveries SET status = 'failed', error = 'simulated' WHERE id = 'good-1'`);
    const cookie = await login(t);
    const list = await (await get(t, '/ui/deliveries?status=failed', { cookie })).text();
    expect(list).toContain('<form class="inline" method="post" action="/ui/deliveries/good-1/replay">');
    expect(list).toContain('aria-label="Replay delivery good-1"');

    const res = await t.app.request('/ui/deliveries/good-1/replay', form({ back: 'failed' }, { cookie }));
    expect(res.status).toBe(303);
    const location = res.headers.get('location') ?? '';
    expect(location).toBe('/ui/deliveries?status=failed&replayed=good-1&result=applied');
    expect(await t.deps.read.getDelivery('good-1')).toMatchObject({ status: 'applied', attempts: 2 });
    const after = await (await get(t, location, { cookie })).text();
    expect(after).toContain('Delivery good-1 replayed: applied.');
    expect(after).toContain('No deliveries.');
  });

  it('reports a replay that fails again, and an unknown delivery', async () => {
    const t = await makeApp();
    await postWebhook(t, [{ event: 'user:vendor-action:updated', createdAt: iso(0), vendorAction: { id: 'x' } }], { deliveryId: 'bad-1' });
    const again = await t.app.request('/ui/deliveries/bad-1/replay', form({}, { authorization: `Bearer ${ADMIN_TOKEN}` }));
    expect(again.headers.get('location')).toBe('/ui/deliveries?replayed=bad-1&result=failed');
    expect(await (await get(t, again.headers.get('location')!, { bearer: ADMIN_TOKEN })).text()).toContain('replayed and failed again');
    const missing = await t.app.request('/ui/deliveries/none/replay', form({ back: 'bogus' }, { authorization: `Bearer ${ADMIN_TOKEN}` }));
    expect(missing.headers.get('location')).toBe('/ui/deliveries?replayed=none&result=missing');
  });

  it('does not replay without a session', async () => {
    const t = await makeApp();
    const res = await t.app.request('/ui/deliveries/bad-1/replay', form({}));
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/ui/login?next=%2Fui');
  });

  it('lists alert deliveries and retries a dead one', async () => {
    // A configured sink (retry revives only those); no dispatcher runs here, so nothing is sent.
    const sinkUrl = 'http://127.0.0.1:9/alerts';
    const t = await makeApp({ ALERT_WEBHOOK_URLS: sinkUrl, ALERT_WEBHOOK_SECRET: `whsec_${Buffer.from('enode-sync ui test key, 32 bytes').toString('base64')}` });
    const sink = webhookSinkName(sinkUrl);
    await postWebhook(t, [{ event: 'user:vendor-action:updated', createdAt: iso(0), vendorAction: { id: 'x' } }], { deliveryId: 'bad-1' });
    const alert = (await t.row<{ id: string }>(`SELECT id FROM alerts`))!;
    // As the dispatcher leaves it after the last attempt.
    await t.exec(
      `INSERT INTO alert_deliveries (alert_id, sink, status, attempts, next_attempt_at_ms, last_status, last_error, updated_at_ms) VALUES (?, ?, 'dead', 8, 0, 500, 'HTTP 500: receiver broken', ?)`,
      [alert.id, sink, t.clock.now().getTime()],
    );
    const cookie = await login(t);
    expect(await (await get(t, '/ui', { cookie })).text()).toMatch(/Dead deliveries<\/a><\/dt><dd><span class="badge badge-bad">1<\/span>/);
    const list = await (await get(t, '/ui/alerts?status=dead', { cookie })).text();
    expect(list).toContain('delivery.failed');
    expect(list).toContain('HTTP 500: receiver broken');
    expect(list).toContain(`action="/ui/alerts/${alert.id}/retry"`);

    const res = await t.app.request(`/ui/alerts/${alert.id}/retry`, form({ back: 'dead' }, { cookie }));
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`/ui/alerts?status=dead&retried=${alert.id}&result=ok`);
    const state = await t.row(`SELECT status, attempts FROM alert_deliveries WHERE alert_id = ?`, [alert.id]);
    expect(state).toEqual({ status: 'pending', attempts: 0 });
    expect(await (await get(t, res.headers.get('location')!, { cookie })).text()).toContain('dead deliveries are pending again');

    const none = await t.app.request(`/ui/alerts/${alert.id}/retry`, form({}, { cookie }));
    expect(none.headers.get('location')).toBe(`/ui/alerts?retried=${alert.id}&result=none`);
    const missing = await t.app.request('/ui/alerts/nope/retry', form({}, { cookie }));
    expect(missing.headers.get('location')).toBe('/ui/alerts?retried=nope&result=missing');
  });
});
