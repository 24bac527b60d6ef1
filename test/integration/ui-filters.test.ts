/**
 * Filters in the URL of the deliveries list (by the Enode event type a delivery carried) and of
 * the fleet overview's device list (device id, user, type), and the overview's count of open
 * findings, through app.request() on both engines.
 */
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, api, makeApp, NOW, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';

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

async function get(t: EngineApp, cookie: string, path: string) {
  const res = await t.app.request(path, { headers: { cookie } });
  return { status: res.status, html: await res.text() };
}

/** The ids a page links as `/ui/<kind>/<id>`, in order, once each. */
const linked = (html: string, kind: string) => [...new Set([...html.matchAll(new RegExp(`href="/ui/${kind}/([^"/?]+)"`, 'g'))].map((m) => decodeURIComponent(m[1]!)))];

const heartbeat = { event: 'system:heartbeat', createdAt: NOW.toISOString(), pendingEvents: 0 };

describe('deliveries list: filter by the event type a delivery carried', () => {
  async function seeded() {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v1', 1, {}, 'discovered')], { deliveryId: 'd-discovered' });
    t.clock.advance(1_000);
    await postWebhook(t, [vehicleEvent('v1', 2, { batteryLevel: 50 }), vehicleEvent('v2', 2)], { deliveryId: 'd-updated' });
    t.clock.advance(1_000);
    await postWebhook(t, [heartbeat], { deliveryId: 'd-heartbeat' });
    t.clock.advance(1_000);
    await postWebhook(t, [vehicleEvent('v2', 3, { batteryLevel: 40 }), { ...heartbeat, pendingEvents: 3 }], { deliveryId: 'd-mixed' });
    return { t, cookie: await login(t) };
  }

  it('type keeps the deliveries that carried an event of that type, alone or with the device, status and time filters', async () => {
    const { t, cookie } = await seeded();
    const ids = async (q: string) => {
      const { status, html } = await get(t, cookie, `/ui/deliveries?${q}`);
      expect(status, q).toBe(200);
      return linked(html, 'deliveries');
    };
    expect(await ids('')).toEqual(['d-mixed', 'd-heartbeat', 'd-updated', 'd-discovered']);
    expect(await ids('type=system:heartbeat')).toEqual(['d-mixed', 'd-heartbeat']);
    expect(await ids('type=user:vehicle:updated')).toEqual(['d-mixed', 'd-updated']);
    expect(await ids('type=user:vehicle:discovered')).toEqual(['d-discovered']);
    expect(await ids('type=user:charger:updated')).toEqual([]);
    expect(await ids('type=user:vehicle:updated&deviceId=v1')).toEqual(['d-updated']);
    expect(await ids('type=system:heartbeat&status=applied')).toEqual(['d-mixed', 'd-heartbeat']);
    expect(await ids('type=system:heartbeat&status=failed')).toEqual([]);
    const { html } = await get(t, cookie, '/ui/deliveries?type=system:heartbeat');
    expect(html).toContain('<option value="system:heartbeat" selected="">system:heartbeat</option>');
  });

  it('pages keep the type filter, and an unknown type is a 400 naming the choices', async () => {
    const { t, cookie } = await seeded();
    const first = await get(t, cookie, '/ui/deliveries?type=user:vehicle:updated&limit=1');
    expect(linked(first.html, 'deliveries')).toEqual(['d-mixed']);
    const next = /<a href="([^"]+)" rel="next">/.exec(first.html)![1]!.replace(/&amp;/g, '&');
    expect(new URL(next, 'http://x').searchParams.get('type')).toBe('user:vehicle:updated');
    expect(linked((await get(t, cookie, next)).html, 'deliveries')).toEqual(['d-updated']);
    const bad = await get(t, cookie, '/ui/deliveries?type=user:vehicle:exploded');
    expect(bad.status).toBe(400);
    expect(bad.html).toContain('Invalid &quot;type&quot;: one of user:vehicle:discovered');
  });
});

describe('fleet overview: filter devices by id, user and type', () => {
  it('deviceId, userId and type narrow the device list, together too, and say when nothing matches', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('v1', 1), vehicleEvent('v2', 1), vehicleEvent('v3', 1)]);
    const cookie = await login(t);
    const devices = async (q: string) => {
      const { status, html } = await get(t, cookie, `/ui?${q}`);
      expect(status, q).toBe(200);
      return { ids: linked(html, 'devices'), html };
    };
    expect((await devices('')).ids).toEqual(['v1', 'v2', 'v3']);
    expect((await devices('userId=user-of-v2')).ids).toEqual(['v2']);
    expect((await devices('deviceId=v3')).ids).toEqual(['v3']);
    expect((await devices('deviceId=v3&type=vehicle')).ids).toEqual(['v3']);
    expect((await devices('deviceId=v3&userId=user-of-v3')).ids).toEqual(['v3']);
    const none = await devices('deviceId=v3&userId=user-of-v1');
    expect(none.ids).toEqual([]);
    expect(none.html).toContain('No device matches these filters.');
    expect((await devices('deviceId=v3&type=charger')).ids).toEqual([]);
    expect((await devices('userId=user-of-v1&type=charger')).ids).toEqual([]);
    expect((await devices('deviceId=nope')).ids).toEqual([]);
    const form = (await devices('userId=user-of-v2&type=vehicle')).html;
    expect(form).toContain('<input type="text" name="userId" value="user-of-v2" maxlength="200"/>');
    expect(form).toContain('<option value="vehicle" selected="">vehicle</option>');
    expect(form).toContain('<a href="/ui">All devices</a>');
    expect((await get(t, cookie, `/ui?deviceId=${'x'.repeat(201)}`)).status).toBe(400);
  });
});

describe('fleet overview: the findings card counts open findings', () => {
  it('acknowledged and resolved findings leave the count; the card links the open list, which shows the same rows', async () => {
    const t = await makeApp();
    for (const id of ['v1', 'v2', 'v3']) await postWebhook(t, [vehicleEvent(id, 0, { charging: true, pluggedIn: true }), vehicleEvent(id, 5, { charging: false, pluggedIn: true })]);
    t.clock.advance(61_000);
    await t.deps.store.reconcile({});
    const findings = ((await (await api(t, '/interference')).json()) as { data: Array<{ id: string; deviceId: string }> }).data;
    expect(findings).toHaveLength(3);
    const cookie = await login(t);
    const card = async () => /<dt><a href="\/ui\/findings\?kind=UNEXPECTED_CHANGE&amp;state=open">UNEXPECTED_CHANGE<\/a><\/dt><dd>(.*?)<\/dd>/.exec((await get(t, cookie, '/ui')).html)?.[1];
    expect(await card()).toBe('<span class="badge badge-bad">3</span>');
    const byDevice = new Map(findings.map((f) => [f.deviceId, f.id]));
    const post = (path: string) => api(t, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ note: 'seen' }) });
    expect((await post(`/interference/${byDevice.get('v1')}/ack`)).status).toBe(200);
    expect((await post(`/interference/${byDevice.get('v2')}/resolve`)).status).toBe(200);
    expect(await card()).toBe('<span class="badge badge-bad">1</span>');
    const { html } = await get(t, cookie, '/ui');
    expect(html).toContain('<a href="/ui/findings?state=open">Open findings</a>');
    expect(html).toContain('<a href="/ui/findings?state=all">all findings</a>');
    expect(linked((await get(t, cookie, '/ui/findings?kind=UNEXPECTED_CHANGE&state=open')).html, 'findings')).toEqual([byDevice.get('v3')]);
    expect((await post(`/interference/${byDevice.get('v3')}/resolve`)).status).toBe(200);
    expect(await card()).toBe('0');
  });
});
