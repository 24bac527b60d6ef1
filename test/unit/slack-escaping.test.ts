import { describe, expect, it } from 'vitest';
import type { AlertMessage } from '../../src/alerts/payload.js';
import { postJson } from '../../src/alerts/sinks/http.js';
import { slackLinkTarget, slackSink } from '../../src/alerts/sinks/slack.js';
import { ManualClock } from '../../src/clock.js';

const CLOCK = new ManualClock(new Date('2026-03-01T12:00:00.000Z'));
/** What a payload may carry to turn Slack text into markup: a mention, a broadcast, a disguised link. */
const EVIL = 'x<!channel> <@U123> <https://evil.example|click here> &amp; >';

/** Sends `alert` through the Slack sink and returns the message Slack would have received. */
async function sent(alert: AlertMessage, publicUrl = 'https://sync.example.com'): Promise<{ text: string; blocks: Array<Record<string, any>> }> {
  let body = '';
  const sink = slackSink({
    url: 'https://hooks.slack.test/services/x',
    types: ['*'],
    publicUrl,
    clock: CLOCK,
    fetch: async (_url, init) => {
      body = String(init.body);
      return new Response('ok', { status: 200 });
    },
  });
  expect(await sink.send(alert, new AbortController().signal)).toMatchObject({ kind: 'delivered' });
  return JSON.parse(body) as { text: string; blocks: Array<Record<string, any>> };
}

/** Every mrkdwn text of a message with our own links `<https://…|label>` taken out: what is left must hold no markup. */
function markupLeft(msg: { text: string; blocks: Array<Record<string, any>> }): string[] {
  const texts = [msg.text, msg.blocks[0]?.text?.text as string, ...((msg.blocks[1]?.elements as Array<{ text: string }>) ?? []).map((e) => e.text)];
  return texts.map((t) => t.replace(/<https:\/\/sync\.example\.com\/[^\s<>|]*\|[^<>|]*>/g, '')).filter((t) => /[<>]/.test(t));
}

const base = { id: 'alr_1', createdAtMs: CLOCK.now().getTime(), deviceId: EVIL, userId: EVIL };

const ALERTS: AlertMessage[] = [
  {
    ...base,
    type: 'interference.detected',
    data: { device: { id: EVIL, type: EVIL }, finding: { kind: EVIL, field: EVIL, from: EVIL, to: { v: EVIL }, observedAt: EVIL, actionId: EVIL }, links: { timeline: `/api/v1/devices/${encodeURIComponent(EVIL)}/timeline`, [EVIL]: '/api/v1/x', raw: `/api/v1/devices/${EVIL}` } },
  },
  { ...base, type: 'action.failed', data: { device: { id: EVIL }, action: { id: EVIL, state: EVIL, kind: EVIL, failureReason: { type: EVIL, detail: EVIL } }, links: { action: '/api/v1/actions/a|<!here>' } } },
  { ...base, type: 'action.cancelled', data: { action: { id: EVIL, state: EVIL, kind: EVIL, failureReason: { type: EVIL } }, links: { evil: 'https://evil.example/x|click>' } } },
  { ...base, type: 'credentials.invalidated', data: { vendor: EVIL, links: {} } },
  { ...base, type: 'webhook.inactive', data: { webhook: { id: EVIL, lastSuccess: EVIL }, note: EVIL } },
  { ...base, type: 'delivery.failed', data: { delivery: { id: EVIL, error: EVIL }, links: { delivery: `/api/v1/deliveries/${EVIL}` } } },
  { ...base, type: 'device.fault', data: { device: { id: EVIL }, fault: { powerDeliveryState: EVIL, observedAt: EVIL } } },
  { ...base, type: `unknown.${EVIL}`, data: { anything: EVIL } },
];

describe('Slack messages', () => {
  it.each(ALERTS.map((a) => [a.type, a] as const))('%s: no payload value becomes a mention, a broadcast or a link', async (_type, alert) => {
    const msg = await sent(alert);
    expect(markupLeft(msg)).toEqual([]);
    const all = JSON.stringify(msg);
    expect(all).not.toContain('<!channel>');
    expect(all).not.toContain('<!here>');
    expect(all).not.toContain('<@U123>');
    expect(all).not.toContain('<https://evil.example');
    // The values are still there, escaped, for a reader.
    expect(all).toContain('&lt;!channel&gt;');
  });

  it('keeps our own links under PUBLIC_URL, with what a payload put in their path encoded, and drops the rest', async () => {
    const msg = await sent(ALERTS[0]!);
    const context = (msg.blocks[1]?.elements as Array<{ text: string }>)[0]!.text;
    const links = context.match(/<[^>]*>/g);
    expect(links).toEqual([`<https://sync.example.com/api/v1/devices/${encodeURIComponent(EVIL)}/timeline|timeline>`, expect.stringMatching(/^<https:\/\/sync\.example\.com\/api\/v1\/devices\/x%3C!channel%3E%20%3C@U123%3E%20%3Chttps:\/\/evil\.example%7Cclick%20here%3E%20&amp;amp;%20%3E\|raw>$/)]);
    expect((await sent(ALERTS[2]!)).blocks[1]?.elements[0].text).not.toContain('evil.example');
  });

  it('encodes or drops what would end a link early', () => {
    expect(slackLinkTarget('https://a.example/p?x=1&y=2')).toBe('https://a.example/p?x=1&amp;y=2');
    expect(slackLinkTarget('https://a.example/a|<!channel> b')).toBe('https://a.example/a%7C%3C!channel%3E%20b');
    expect(slackLinkTarget('javascript:alert(1)')).toBeUndefined();
  });
});

describe("an alert receiver's error answer", () => {
  it('is stored without markup or control characters, bounded', async () => {
    const page = `<html><head><title>502</title></head><body>\u0000Bad <b>gateway</b>\r\n${'z'.repeat(5_000)}</body></html>`;
    const result = await postJson({
      url: 'https://receiver.test/hook',
      body: '{}',
      headers: {},
      signal: new AbortController().signal,
      clock: CLOCK,
      fetch: async () => new Response(page, { status: 502 }),
    });
    expect(result.kind).toBe('failed');
    const error = (result as { error: string }).error;
    expect(error).toMatch(/^HTTP 502: 502 Bad gateway z+/);
    expect(error).not.toMatch(/[<>\u0000-\u001f]/);
    expect(error.length).toBeLessThan(400);
  });
});
