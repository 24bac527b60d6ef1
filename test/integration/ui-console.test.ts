/**
 * The dashboard console through app.request() on both engines: detail pages (finding evidence,
 * delivery with replay, action lifecycle, alert attempts), filters in the URL that filter, the
 * header's id search, acknowledging and resolving a finding, held alerts, charts and auto-refresh.
 */
import { describe, expect, it } from 'vitest';
import { webhookSinkName } from '../../src/alerts/sinks/standard-webhook.js';
import { actionEvent, ADMIN_TOKEN, api, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';

const ORIGIN = 'http://localhost';

async function login(t: EngineApp): Promise<string> {
  const res = await t.app.request('/ui/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
    body: new URLSearchParams({ token: ADMIN_TOKEN, next: '/ui' }).toString(),
  });
  expect(res.status).toBe(303);
  return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

const get = async (t: EngineApp, cookie: string, path: string) => {
  const res = await t.app.request(path, { headers: { cookie } });
  return { res, html: await res.text() };
};

const post = (t: EngineApp, cookie: string, path: string, fields: Record<string, string>) =>
  t.app.request(path, { method: 'POST', headers: { cookie, origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

/** `deviceId` stops charging with no action of ours: one UNEXPECTED_CHANGE once the grace has passed. Returns its id. */
async function finding(t: EngineApp, deviceId: string, deliveryId?: string): Promise<string> {
  await postWebhook(t, [vehicleEvent(deviceId, 0, { charging: true, pluggedIn: true }), vehicleEvent(deviceId, 5, { charging: false, pluggedIn: true })], { deliveryId });
  t.clock.advance(61_000);
  await t.deps.store.reconcile({});
  const body = (await (await api(t, `/interference?deviceId=${deviceId}`)).json()) as { data: Array<{ id: string }> };
  expect(body.data).toHaveLength(1);
  return body.data[0]!.id;
}

/** The ids in the first column's links of a list page, in order. */
const linked = (html: string, kind: string) => [...html.matchAll(new RegExp(`href="/ui/${kind}/([^"]+)"`, 'g'))].map((m) => decodeURIComponent(m[1]!));

describe('dashboard detail pages', () => {
  it("a finding's page shows the change, its evidence before and after, the trail, and forms to acknowledge or resolve", async () => {
    const t = await makeApp();
    const cookie = await login(t);
    const id = await finding(t, 'v1');
    const { res, html } = await get(t, cookie, `/ui/findings/${id}`);
    expect(res.status).toBe(200);
    expect(html).toContain('UNEXPECTED_CHANGE');
    expect(html).toContain('<span class="badge badge-bad">open</span>');
    // Evidence: the charging field, yes before and no after, marked as changed.
    expect(html).toMatch(/<tr class="changed"><th scope="row" class="mono">charging <span class="muted">\(controlled\)<\/span><\/th><td class="mono">yes<\/td><td class="mono">no<\/td><\/tr>/);
    // The trail names the transition that became this finding.
    expect(html).toMatch(/<tr class="finding"><td>2026-03-01 10:05:00 UTC<\/td><td class="mono">charging: yes → no<\/td>/);
    expect(html).toContain('this finding');
    expect(html).toContain(`action="/ui/findings/${id}/ack"`);
    expect(html).toContain(`action="/ui/findings/${id}/resolve"`);
    expect(html).toContain('href="/ui/devices/v1"');
    expect((await get(t, cookie, '/ui/findings/nope')).res.status).toBe(404);
  });

  it("a delivery's page shows its headers and pretty payload, and its Replay button comes back to it with the outcome", async () => {
    const t = await makeApp();
    const cookie = await login(t);
    await postWebhook(t, [vehicleEvent('v1', 0, { charging: true })], { deliveryId: 'dlv-1' });
    const { res, html } = await get(t, cookie, '/ui/deliveries/dlv-1');
    expect(res.status).toBe(200);
    expect(html).toContain('x-enode-delivery');
    expect(html).toContain('<pre class="json">[\n  {\n    &quot;event&quot;: &quot;user:vehicle:updated&quot;');
    expect(html).toContain('action="/ui/deliveries/dlv-1/replay"');
    const replay = await post(t, cookie, '/ui/deliveries/dlv-1/replay', { back: 'detail' });
    expect(replay.status).toBe(303);
    expect(replay.headers.get('location')).toBe('/ui/deliveries/dlv-1?result=applied');
    expect((await get(t, cookie, replay.headers.get('location')!)).html).toContain('Replayed: applied.');
    expect((await get(t, cookie, '/ui/deliveries/nope')).res.status).toBe(404);
  });

  it("an action's page shows each state it reached from the event log, and links its device and findings", async () => {
    const t = await makeApp();
    const cookie = await login(t);
    await postWebhook(t, [actionEvent('act-1', 'PENDING', 0, { targetId: 'v1' })]);
    await postWebhook(t, [actionEvent('act-1', 'CONFIRMED', 2, { targetId: 'v1' })]);
    const { res, html } = await get(t, cookie, '/ui/actions/act-1');
    expect(res.status).toBe(200);
    const pending = html.indexOf('<strong>PENDING</strong>');
    expect(pending).toBeGreaterThan(0);
    expect(html.indexOf('PENDING → <strong>CONFIRMED</strong>')).toBeGreaterThan(pending);
    expect(html).toContain('href="/ui/devices/v1"');
    expect(html).toContain('None: this action was not sent through the gateway.');
  });

  it("an alert's page shows it is held without a sink, with the hint; with a sink, its attempts per sink", async () => {
    const t = await makeApp();
    const cookie = await login(t);
    await finding(t, 'v1');
    const [alertId] = await t.column<string>("SELECT id FROM alerts WHERE type = 'interference.detected'");
    const { html } = await get(t, cookie, `/ui/alerts/${alertId}`);
    expect(html).toContain('no alert sink is configured');
    expect(html).toContain('ALERT_WEBHOOK_URLS');
    expect(html).toContain('No sink has taken it.');

    const withSink = await makeApp({ ALERT_WEBHOOK_URLS: 'https://hooks.example/alerts', ALERT_WEBHOOK_SECRET: `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}` });
    const cookie2 = await login(withSink);
    await finding(withSink, 'v1');
    const [id2] = await withSink.column<string>("SELECT id FROM alerts WHERE type = 'interference.detected'");
    const sink = webhookSinkName('https://hooks.example/alerts');
    await withSink.deps.store.alerts.claim({ nowMs: withSink.clock.now().getTime(), sinks: [{ name: sink, types: ['interference.detected'] }], sink, limit: 10, leaseMs: 1000 });
    const page = await get(withSink, cookie2, `/ui/alerts/${id2}`);
    expect(page.html).toContain(`<td>${sink}</td><td>pending</td>`);
    expect(page.html).not.toContain('no alert sink is configured');
  });
});

describe('dashboard filters and search', () => {
  it('filters findings by device, user, kind and time from the URL (the device filter used to return every row)', async () => {
    const t = await makeApp();
    const cookie = await login(t);
    const f1 = await finding(t, 'v1');
    const f2 = await finding(t, 'v2');
    expect(linked((await get(t, cookie, '/ui/findings')).html, 'findings').sort()).toEqual([f1, f2].sort());
    expect(linked((await get(t, cookie, '/ui/findings?deviceId=v1')).html, 'findings')).toEqual([f1]);
    const userId = ((await (await api(t, '/devices/v2')).json()) as { userId: string }).userId;
    expect(linked((await get(t, cookie, `/ui/findings?userId=${userId}`)).html, 'findings')).toEqual([f2]);
    expect(linked((await get(t, cookie, '/ui/findings?kind=ACTION_OVERRIDDEN')).html, 'findings')).toEqual([]);
    expect(linked((await get(t, cookie, '/ui/findings?since=2026-03-01T10:06')).html, 'findings')).toEqual([]);
    expect(linked((await get(t, cookie, '/ui/findings?since=2026-03-01T10:00&until=2026-03-01T10:05:00Z')).html, 'findings').sort()).toEqual([f1, f2].sort());
    expect((await get(t, cookie, '/ui/findings?since=yesterday')).res.status).toBe(400);
    expect((await get(t, cookie, '/ui/findings?since=2026-03-02T00:00&until=2026-03-01T00:00')).res.status).toBe(400);
  });

  it('filters actions, deliveries and alerts by device and time', async () => {
    const t = await makeApp();
    const cookie = await login(t);
    await postWebhook(t, [actionEvent('a-v1', 'PENDING', 0, { targetId: 'v1' }), actionEvent('a-v2', 'PENDING', 0, { targetId: 'v2' })]);
    await finding(t, 'v1', 'dlv-v1');
    await finding(t, 'v2', 'dlv-v2');
    expect(linked((await get(t, cookie, '/ui/actions?deviceId=v2')).html, 'actions')).toEqual(['a-v2']);
    expect(linked((await get(t, cookie, '/ui/actions?type=hvac')).html, 'actions')).toEqual([]);
    expect(linked((await get(t, cookie, '/ui/deliveries?deviceId=v1')).html, 'deliveries')).toEqual(['dlv-v1']);
    expect(linked((await get(t, cookie, '/ui/deliveries?until=2000-01-01T00:00')).html, 'deliveries')).toEqual([]);
    const held = (await get(t, cookie, '/ui/alerts?status=held')).html;
    expect(held).toContain('href="/ui/devices/v1"');
    expect(held).toContain('href="/ui/devices/v2"');
  });

  it('finds any id from the header: one match opens its page, none is a 404 page saying so', async () => {
    const t = await makeApp();
    const cookie = await login(t);
    const id = await finding(t, 'v1', 'dlv-9');
    expect((await get(t, cookie, '/ui')).html).toContain('<form class="search" method="get" action="/ui/search" role="search">');
    const go = async (q: string) => (await t.app.request(`/ui/search?q=${encodeURIComponent(q)}`, { headers: { cookie } })).headers.get('location');
    expect(await go('v1')).toBe('/ui/devices/v1');
    expect(await go(` ${id} `)).toBe(`/ui/findings/${id}`);
    expect(await go('dlv-9')).toBe('/ui/deliveries/dlv-9');
    const userId = ((await (await api(t, '/devices/v1')).json()) as { userId: string }).userId;
    expect(await go(userId)).toBe(`/ui/events?userId=${encodeURIComponent(userId)}`);
    const none = await get(t, cookie, '/ui/search?q=nothing-here');
    expect(none.res.status).toBe(404);
    expect(none.html).toContain('Nothing has this id');
  });
});

describe('dashboard finding decisions', () => {
  it('acknowledges with a note and resolves from the page; the list shows open ones by default; the log has both events', async () => {
    const t = await makeApp();
    const cookie = await login(t);
    const id = await finding(t, 'v1');
    const other = await finding(t, 'v2');
    const ack = await post(t, cookie, `/ui/findings/${id}/ack`, { note: 'Looking at it <b>now</b>' });
    expect(ack.status).toBe(303);
    expect(ack.headers.get('location')).toBe(`/ui/findings/${id}?result=acknowledged`);
    const page = (await get(t, cookie, ack.headers.get('location')!)).html;
    expect(page).toContain('Acknowledged.');
    expect(page).toContain('Looking at it &lt;b&gt;now&lt;/b&gt;');
    expect(linked((await get(t, cookie, '/ui/findings')).html, 'findings')).toEqual([other]);
    expect(linked((await get(t, cookie, '/ui/findings?state=acknowledged')).html, 'findings')).toEqual([id]);
    expect(linked((await get(t, cookie, '/ui/findings?state=all')).html, 'findings').sort()).toEqual([id, other].sort());

    expect((await post(t, cookie, `/ui/findings/${id}/resolve`, {})).headers.get('location')).toBe(`/ui/findings/${id}?result=resolved`);
    expect((await post(t, cookie, `/ui/findings/${id}/ack`, {})).headers.get('location')).toBe(`/ui/findings/${id}?result=unchanged`);
    const events = ((await (await api(t, '/events?type=interference.acknowledged,interference.resolved')).json()) as { data: Array<{ type: string }> }).data;
    expect(events.map((e) => e.type)).toEqual(['interference.acknowledged', 'interference.resolved']);
    expect((await post(t, cookie, '/ui/findings/nope/ack', {})).status).toBe(404);
  });

  it('takes a note as long as the API does, in any script (2,000 characters of 4-byte UTF-8 percent-encode to 24 KB)', async () => {
    const t = await makeApp();
    const cookie = await login(t);
    const id = await finding(t, 'v1');
    const note = '🔌'.repeat(1_000); // 2,000 UTF-16 code units, the API's limit
    const ack = await post(t, cookie, `/ui/findings/${id}/ack`, { note });
    expect(ack.status).toBe(303);
    expect(((await (await api(t, `/interference/${id}`)).json()) as { note: string }).note).toBe(note);
  });

  it('refuses a cross-site acknowledgement', async () => {
    const t = await makeApp();
    const cookie = await login(t);
    const id = await finding(t, 'v1');
    const res = await t.app.request(`/ui/findings/${id}/ack`, { method: 'POST', headers: { cookie, origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(res.status).toBe(403);
    expect(((await (await api(t, `/interference/${id}`)).json()) as { state: string }).state).toBe('open');
  });
});

describe('dashboard overview: held alerts, charts, auto-refresh', () => {
  it('counts held alerts with the hint, draws the charts, and refreshes live (meta refresh without scripts) unless paused', async () => {
    const t = await makeApp();
    const cookie = await login(t);
    await finding(t, 'v1');
    const { res, html } = await get(t, cookie, '/ui');
    expect(html).toMatch(/<a href="\/ui\/alerts\?status=held">Held \(no sink\)<\/a><\/dt><dd><span class="badge badge-warn">1<\/span>/);
    expect(html).toContain('no alert sink is configured');
    expect(html).toMatch(/<svg class="chart"[^>]*aria-label="Webhook deliveries per minute, last 60 minutes: 1 deliveries in all"/);
    expect(html).toMatch(/aria-label="Findings detected per day, last 14 days: 1 findings in all"/);
    expect(html).toMatch(/<noscript><meta http-equiv="refresh" content="30"\/?><\/noscript>/);
    expect(html).toContain('<script src="/ui/live.js" defer="">');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const paused = await get(t, cookie, '/ui?refresh=off');
    expect(paused.html).not.toContain('http-equiv="refresh"');
    expect(paused.html).toContain('Auto-refresh paused');
    expect((await get(t, cookie, '/ui/findings?refresh=off')).html).not.toContain('http-equiv="refresh"');
    expect((await get(t, cookie, '/ui/findings')).html).toContain('http-equiv="refresh"');
  });
});

describe('device timeline: any range, zoom, one marker per finding', () => {
  it('draws the range from/until give, with zoom and move links that keep to it, and one marker per finding linking its page', async () => {
    const t = await makeApp();
    const cookie = await login(t);
    const id = await finding(t, 'v1');
    const { res, html } = await get(t, cookie, '/ui/devices/v1?from=2026-03-01T09:00&until=2026-03-01T11:00');
    expect(res.status).toBe(200);
    expect(html).toContain('2026-03-01 09:00:00 UTC – 2026-03-01 11:00:00 UTC');
    expect(html).toContain('href="/ui/devices/v1?from=2026-03-01T09%3A30%3A00Z&amp;until=2026-03-01T10%3A30%3A00Z">Zoom in');
    expect(html).toContain('href="/ui/devices/v1?from=2026-03-01T08%3A00%3A00Z&amp;until=2026-03-01T12%3A00%3A00Z">Zoom out');
    expect(html).toContain('href="/ui/devices/v1?from=2026-03-01T08%3A00%3A00Z&amp;until=2026-03-01T10%3A00%3A00Z">← Earlier');
    expect([...html.matchAll(/class="finding-marker" data-finding-id="([^"]+)"/g)].map((m) => m[1])).toEqual([id]);
    expect(html).toContain(`<a href="#finding-${id}" class="finding-marker"`);
    expect(html).toContain(`<tr class="finding" id="finding-${id}">`);
    expect(html).toContain(`href="/ui/findings/${id}"`);
    // A range without the change draws no marker.
    const before = await get(t, cookie, '/ui/devices/v1?from=2026-03-01T08:00&until=2026-03-01T09:00');
    expect(before.html).not.toContain('class="finding-marker"');
    for (const bad of ['from=2026-03-01T11:00&until=2026-03-01T10:00', 'from=2026-01-01T00:00&until=2026-03-01T00:00', 'from=soon']) {
      expect((await get(t, cookie, `/ui/devices/v1?${bad}`)).res.status).toBe(400);
    }
  });
});
