import type { Clock } from '../../clock.js';
import { slackMessage, webhookPayload, type WebhookPayload } from '../payload.js';
import { postJson } from './http.js';
import type { FetchFn, Sink } from './types.js';

/** The name of the (one) Slack sink. */
export const SLACK_SINK_NAME = 'slack';

/**
 * A link target made safe inside Slack's `<url|label>`: `slackMessage` escapes every interpolated
 * value but puts link URLs in as they are, and a `|`, `>` or space in one would end the link and let
 * the rest of the text be read as markup (`<!channel>`, `<https://evil|click>`). Slack wants `&`
 * escaped inside links too; anything that still does not look like a plain URL is dropped.
 */
export function slackLinkTarget(url: string): string | undefined {
  const encoded = url.replace(/[|<>\s"`]/g, (ch) => encodeURIComponent(ch)).replace(/&/g, '&amp;');
  return /^https?:\/\/[^\s<>|]+$/.test(encoded) ? encoded : undefined;
}

/** Link labels we write (`timeline`, `action`, `replay`…): a word, never payload text. */
const LINK_LABEL = /^[A-Za-z][\w .-]{0,39}$/;

/**
 * The payload with only links Slack may show: to our own dashboard/API under PUBLIC_URL (relative
 * ones are dropped: Slack cannot open them), with a plain label and a safe target (`slackLinkTarget`).
 */
export function slackSafePayload(p: WebhookPayload, publicUrl: string | undefined): WebhookPayload {
  const links = p.data.links;
  if (links === null || typeof links !== 'object' || Array.isArray(links)) return p;
  const safe: Record<string, string> = {};
  for (const [name, url] of Object.entries(links)) {
    if (!publicUrl || typeof url !== 'string' || !url.startsWith(`${publicUrl}/`) || !LINK_LABEL.test(name)) continue;
    const target = slackLinkTarget(url);
    if (target) safe[name] = target;
  }
  return { ...p, data: { ...p.data, links: safe } };
}

/**
 * A Slack incoming-webhook sink: one readable message per alert (`text` for notifications plus a
 * section and a context block). Slack answers 410 for an archived channel: the sink is disabled.
 */
export function slackSink(o: { url: string; types: string[]; publicUrl: string | undefined; clock: Clock; fetch: FetchFn }): Sink {
  return {
    name: SLACK_SINK_NAME,
    types: o.types,
    send: (alert, signal) => {
      const body = JSON.stringify(slackMessage(alert.id, slackSafePayload(webhookPayload(alert, o.publicUrl), o.publicUrl)));
      return postJson({ url: o.url, body, headers: {}, signal, fetch: o.fetch, clock: o.clock });
    },
  };
}
