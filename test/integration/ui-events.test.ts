/**
 * The dashboard's events page through app.request(): newest first, filters that filter, paging
 * by cursor, the expanded envelope, and the live tail's stream route (a session or the bearer,
 * frames of the page's filters, starting where the page ends).
 */
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, actionEvent, api, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { sseReader } from '../support/sse.js';
import { EVENTS_PER_PAGE } from '../../src/ui/events-page.js';

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
  return { res, html: await res.text() };
}

const unescape = (s: string) => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#39;/g, "'");
/** The rows' event ids, top to bottom. */
const rowIds = (html: string) => [...html.matchAll(/<li class="event" data-id="([^"]+)"/g)].map((m) => m[1]!);
const attr = (html: string, id: string, name: string) => {
  const m = new RegExp(`id="${id}"[^>]*?${name}="([^"]*)"`).exec(html) ?? new RegExp(`${name}="([^"]*)"[^>]*?id="${id}"`).exec(html);
  return m ? unescape(m[1]!) : undefined;
};

async function apiEvents(t: EngineApp, q = ''): Promise<Array<{ id: string; type: string; deviceId: string | null }>> {
  return (await (await api(t, `/events?limit=500${q}`)).json()).data;
}

async function seeded(overrides: Record<string, string> = {}) {
  const t = await makeApp({ ...FAST, ...overrides });
  await postWebhook(t, [vehicleEvent('v1', 1), vehicleEvent('v2', 1)]);
  await postWebhook(t, [actionEvent('a1', 'PENDING', 2, { targetId: 'v2' })]);
  await postWebhook(t, [vehicleEvent('v1', 3, { batteryLevel: 61 }), actionEvent('a1', 'CONFIRMED', 3, { targetId: 'v2' })]);
  return { t, cookie: await login(t) };
}

describe('events page', () => {
  it('lists the log newest first after webhooks: device links, summaries, the envelope, and a nav entry', async () => {
    const { t, cookie } = await seeded();
    const { res, html } = await page(t, cookie, '/ui/events');
    expect(res.status).toBe(200);
    const log = await apiEvents(t);
    expect(log.map((e) => e.type)).toEqual(['device.discovered', 'device.discovered', 'action.updated', 'device.updated', 'action.updated']);
    expect(rowIds(html)).toEqual(log.map((e) => e.id).reverse());
    expect(html).toContain('<a href="/ui/events" aria-current="page">Events</a>');
    expect(html).toContain('<a class="mono" href="/ui/devices/v2">v2</a>');
    expect(html).toContain('START: PENDING → CONFIRMED');
    expect(html).toContain('START: new → PENDING');
    expect(html).toMatch(/<span class="ev-summary">[^<]*snapshot\.chargeState\.batteryLevel/);
    // The expanded row is the API's envelope, pretty-printed.
    const last = (await (await api(t, `/events?limit=500`)).json()).data.at(-1);
    expect(unescape(html)).toContain(JSON.stringify(last, null, 2));
    // This page runs its script from this origin and reads its stream (like the lists' live refresh), no inline script.
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(html).toContain('<script src="/ui/events.js" defer="">');
    // Pages without a live view (a device's timeline) allow no script at all.
    const other = await page(t, cookie, '/ui/devices/v1');
    expect(other.res.headers.get('content-security-policy')).not.toContain('script-src');
  });

  it('filters by type (exact, prefix, comma list), device and user, in the URL', async () => {
    const { t, cookie } = await seeded();
    const cases: Array<[string, string]> = [
      ['type=device.*', '&type=device.*'],
      ['type=action.updated', '&type=action.updated'],
      ['type=action.updated,device.discovered', '&type=action.updated,device.discovered'],
      ['deviceId=v1', '&deviceId=v1'],
      ['userId=user-of-v2', '&userId=user-of-v2'],
      ['type=device.*&deviceId=v2', '&type=device.*&deviceId=v2'],
    ];
    for (const [ui, apiQuery] of cases) {
      const { res, html } = await page(t, cookie, `/ui/events?${ui}`);
      expect(res.status).toBe(200);
      const expected = (await apiEvents(t, apiQuery)).map((e) => e.id).reverse();
      expect(expected.length).toBeGreaterThan(0);
      expect(rowIds(html), ui).toEqual(expected);
    }
    // The quick "alerts" filter is every alert type: a FAILED action's alert, and no state events.
    const alertsLink = /<a href="(\/ui\/events\?type=[^"]+)">alerts<\/a>/.exec((await page(t, cookie, '/ui/events')).html)?.[1];
    const alerts = await page(t, cookie, unescape(alertsLink!));
    expect(alerts.res.status).toBe(200);
    expect(alerts.html).toContain('aria-current="true">alerts</a>');
    expect(rowIds(alerts.html)).toEqual([]);
    await postWebhook(t, [actionEvent('a9', 'FAILED', 5, { targetId: 'v1' })]);
    const failed = await page(t, cookie, unescape(alertsLink!));
    expect([...failed.html.matchAll(/<span class="ev-type mono">([^<]+)</g)].map((m) => m[1])).toEqual(['action.failed']);

    const none = await page(t, cookie, '/ui/events?deviceId=nobody');
    expect(rowIds(none.html)).toEqual([]);
    expect(none.html).toContain('No events match these filters.');
    const typo = await page(t, cookie, '/ui/events?type=device.updatd');
    expect(typo.res.status).toBe(400);
    expect(typo.html).toContain('Unknown event type &quot;device.updatd&quot;');
    expect((await page(t, cookie, '/ui/events?before=nope')).res.status).toBe(400);
  });

  it('pages backwards by cursor: every event once, the live tail only on the newest page', async () => {
    const t = await makeApp(FAST);
    const count = EVENTS_PER_PAGE * 2 + 7;
    await postWebhook(t, Array.from({ length: count }, (_, i) => vehicleEvent(`car-${i}`, 1)));
    const cookie = await login(t);
    const expected = (await apiEvents(t)).map((e) => e.id).reverse();
    expect(expected).toHaveLength(count);
    const seen: string[] = [];
    let path: string | undefined = '/ui/events';
    for (let pages = 0; path; pages++) {
      const { html } = await page(t, cookie, path);
      seen.push(...rowIds(html));
      expect(html.includes('id="events-live"')).toBe(pages === 0);
      const hidden = /<a id="events-older"[^>]* hidden=""/.test(html);
      path = hidden ? undefined : attr(html, 'events-older', 'href');
      expect(pages).toBeLessThan(4);
    }
    expect(seen).toEqual(expected);
    const older = await page(t, cookie, `/ui/events?before=${expected[EVENTS_PER_PAGE - 1]}`);
    expect(older.html).toContain('The live tail runs on the <a href="/ui/events">newest page</a>');
  });

  it('needs a session: without one the page redirects to the login and the stream is a 401', async () => {
    const { t } = await seeded();
    const pageRes = await t.app.request('/ui/events?type=device.*');
    expect(pageRes.status).toBe(303);
    expect(pageRes.headers.get('location')).toBe('/ui/login?next=%2Fui%2Fevents%3Ftype%3Ddevice.*');
    const stream = await t.app.request('/ui/events/stream');
    expect(stream.status).toBe(401);
    expect(stream.headers.get('content-type')).not.toMatch(/event-stream/);
    expect((await t.app.request('/ui/events/stream', { headers: { cookie: 'enode_sync_session=forged.1.x' } })).status).toBe(401);
    // The script itself holds no data: served to anyone, like the stylesheet.
    const script = await t.app.request('/ui/events.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('text/javascript');
  });

  it('the live tail streams, from where the page ends, the new events that match the page filters', async () => {
    const { t, cookie } = await seeded();
    const { html } = await page(t, cookie, '/ui/events?type=device.*&deviceId=v1');
    const url = attr(html, 'events-live', 'data-stream');
    expect(url).toMatch(/^\/ui\/events\/stream\?/);
    const res = await t.app.request(url!, { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = sseReader(res.body!);
    expect((await reader.next())?.comments).toEqual(['connected']);
    await postWebhook(t, [actionEvent('a2', 'PENDING', 4, { targetId: 'v1' }), vehicleEvent('v2', 4, { batteryLevel: 5 }), vehicleEvent('v1', 4, { batteryLevel: 70 })]);
    const [frame] = await reader.events(1);
    const envelope = JSON.parse(frame!.data!);
    expect([frame!.event, envelope.deviceId]).toEqual(['device.updated', 'v1']);
    expect(frame!.id).toBe(envelope.id);
    // Nothing the page already showed comes again, and nothing of other devices or types.
    expect(rowIds(html)).not.toContain(frame!.id);
    expect((await apiEvents(t, '&type=device.*&deviceId=v1')).at(-1)!.id).toBe(frame!.id);
    await reader.close();
  });

  it('the stream resumes after Last-Event-ID (EventSource reconnecting) and takes the bearer too', async () => {
    const { t } = await seeded();
    const log = await apiEvents(t);
    const res = await t.app.request('/ui/events/stream?after=ev1_00000000000', { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'last-event-id': log[2]!.id } });
    expect(res.status).toBe(200);
    const reader = sseReader(res.body!);
    const frames = await reader.events(2);
    expect(frames.map((f) => f.id)).toEqual([log[3]!.id, log[4]!.id]);
    await reader.close();
  });
});
