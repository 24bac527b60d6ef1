/**
 * The live refresh of the overview and the lists through app.request(), on both engines: the
 * pages load /ui/live.js under a CSP that allows only this origin's scripts, keep the meta
 * refresh inside <noscript>, and point the script at a stream that starts where the page was read
 * and carries only the events that can change that page (its types, device and user).
 */
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, actionEvent, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { sseReader } from '../support/sse.js';

const ORIGIN = 'http://localhost';
const FAST = { EVENTS_STREAM_POLL_MS: '50' };

async function login(t: EngineApp): Promise<string> {
  const res = await t.app.request('/ui/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ORIGIN },
    body: new URLSearchParams({ token: ADMIN_TOKEN, next: '/ui' }).toString(),
  });
  expect(res.status).toBe(303);
  return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

async function page(t: EngineApp, cookie: string, path: string) {
  const res = await t.app.request(path, { headers: { cookie } });
  expect(res.status).toBe(200);
  return { res, html: await res.text() };
}

const unescape = (s: string) => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#39;/g, "'");
/** The live refresh's stream URL on a page, or undefined when it has none. */
const liveStream = (html: string) => {
  const m = /id="live-refresh" data-stream="([^"]*)"/.exec(html);
  return m ? unescape(m[1]!) : undefined;
};

/** `v1` stops charging with no action of ours; the reconcile after the grace records one finding. */
async function makeFinding(t: EngineApp, deviceId: string) {
  await postWebhook(t, [vehicleEvent(deviceId, 0, { charging: true, pluggedIn: true }), vehicleEvent(deviceId, 5, { charging: false, pluggedIn: true })]);
  t.clock.advance(61_000);
  await t.deps.store.reconcile({});
}

const PAGES: Array<[string, string | null]> = [
  ['/ui', null],
  ['/ui/findings', 'interference.*'],
  ['/ui/actions', 'action.*,command.*'],
  ['/ui/deliveries', 'device.*,action.*,delivery.*,apply.*,webhook.*'],
  ['/ui/alerts', null],
];

describe('live refresh of the overview and the lists', () => {
  it('each page loads /ui/live.js from this origin, keeps the meta refresh for browsers without scripts, and follows the types that change it', async () => {
    const t = await makeApp(FAST);
    const cookie = await login(t);
    await postWebhook(t, [vehicleEvent('v1', 1)]);
    for (const [path, type] of PAGES) {
      const { res, html } = await page(t, cookie, path);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).toContain("connect-src 'self'");
      expect(csp, path).not.toContain('unsafe-inline');
      expect(html, path).toContain('<script src="/ui/live.js" defer="">');
      // No inline script anywhere on the page: the CSP would refuse it.
      expect(html.match(/<script[^>]*>/g), path).toEqual(['<script src="/ui/live.js" defer="">']);
      expect(html, path).toMatch(/<noscript><meta http-equiv="refresh" content="30"\/?><\/noscript>/);
      expect(html.replace(/<noscript>.*?<\/noscript>/g, ''), path).not.toContain('http-equiv="refresh"');
      const url = new URL(liveStream(html) ?? 'missing:', 'http://x');
      expect(url.pathname, path).toBe('/ui/events/stream');
      expect(url.searchParams.get('after'), path).toMatch(/^ev1_/);
      if (path === '/ui/alerts') expect(url.searchParams.get('type')?.split(','), path).toContain('interference.detected');
      else expect(url.searchParams.get('type'), path).toBe(type);
      expect(html, path).toContain('data-seconds="30"');
      expect(html, path).toMatch(/<button class="action live-show" type="button" hidden="">/);
    }
  });

  it('?refresh=off pauses it: no script, no stream, no meta refresh, and a link to resume', async () => {
    const t = await makeApp(FAST);
    const cookie = await login(t);
    for (const [path] of PAGES) {
      const { html } = await page(t, cookie, `${path}?refresh=off`);
      expect(html, path).not.toContain('<script');
      expect(html, path).not.toContain('http-equiv="refresh"');
      expect(liveStream(html), path).toBeUndefined();
      expect(html, path).toContain('Auto-refresh paused');
      expect(html, path).toContain(`<a href="${path}">Resume</a>`);
    }
  });

  it('the script is served to anyone as JavaScript and holds no data; detail pages still allow no script', async () => {
    const t = await makeApp(FAST);
    const res = await t.app.request('/ui/live.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/javascript');
    const body = await res.text();
    expect(body).toContain("document.getElementById('live-refresh')");
    expect(body).toContain('new EventSource(box.dataset.stream)');
    const cookie = await login(t);
    await postWebhook(t, [vehicleEvent('v1', 1)]);
    const device = await page(t, cookie, '/ui/devices/v1');
    expect(device.res.headers.get('content-security-policy')).not.toContain('script-src');
    expect(device.html).not.toContain('<script');
  });

  it("the findings list's stream brings the next finding, and nothing of the device changes before it", async () => {
    const t = await makeApp(FAST);
    const cookie = await login(t);
    const { html } = await page(t, cookie, '/ui/findings');
    const res = await t.app.request(liveStream(html)!, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = sseReader(res.body!);
    await makeFinding(t, 'v1');
    const [frame] = await reader.events(1, 10_000);
    expect(frame!.event).toBe('interference.detected');
    expect(JSON.parse(frame!.data!).deviceId).toBe('v1');
    await reader.close();
  });

  it("a filtered list's stream keeps to its device: the deliveries of v1 hear of v1 only", async () => {
    const t = await makeApp(FAST);
    const cookie = await login(t);
    const { html } = await page(t, cookie, '/ui/deliveries?deviceId=v1');
    const url = liveStream(html)!;
    expect(new URL(url, 'http://x').searchParams.get('deviceId')).toBe('v1');
    const reader = sseReader((await t.app.request(url, { headers: { cookie } })).body!);
    await postWebhook(t, [vehicleEvent('v2', 1), actionEvent('a9', 'PENDING', 2, { targetId: 'v2' })]);
    await postWebhook(t, [vehicleEvent('v1', 3)]);
    const [frame] = await reader.events(1, 10_000);
    expect([frame!.event, JSON.parse(frame!.data!).deviceId]).toEqual(['device.discovered', 'v1']);
    await reader.close();
  });
});
