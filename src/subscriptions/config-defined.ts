/**
 * Subscriptions defined by configuration: the env-configured alert sinks (ALERT_WEBHOOK_URLS with
 * ALERT_WEBHOOK_SECRET and ALERT_WEBHOOK_TYPES; ALERT_SLACK_WEBHOOK_URL with ALERT_SLACK_TYPES),
 * shown beside the API's subscriptions. They are still sent by the alert dispatcher from the
 * alert outbox (alerts/), exactly as before; this module only names and describes them:
 * `config:webhook:<n>` (the n-th URL of ALERT_WEBHOOK_URLS, from 1) and `config:slack`. Their
 * URLs are shown as the origin only — a path or query may carry a token (Slack's always does) —
 * and never a secret. Changing one means changing the environment and restarting.
 */
import type { Config } from '../config.js';
import { SLACK_SINK_NAME, webhookSinkName } from '../alerts/sinks/index.js';

/** Ids of subscriptions defined by configuration start with this; API-created ones with `sub_`. */
export const CONFIG_ID_PREFIX = 'config:';

export interface ConfigSubscription {
  id: string;
  /** The alert sink it is (`alert_deliveries.sink`). */
  sink: string;
  /** The URL with its path and query redacted. */
  url: string;
  /** Alert types it receives. */
  types: string[];
  description: string;
}

/** The URL's origin, with `/…` in place of any path or query. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname === '/' && u.search === '' ? `${u.origin}/` : `${u.origin}/…`;
  } catch {
    return 'invalid-url';
  }
}

/** The configured alert sinks as subscriptions, sorted by id; the same sinks the alert dispatcher sends to (alerts/sinks/index.ts createSinks). */
export function configSubscriptions(alerts: Pick<Config['alerts'], 'webhookUrls' | 'webhookSecret' | 'webhookTypes' | 'slackWebhookUrl' | 'slackTypes'>): ConfigSubscription[] {
  const out: ConfigSubscription[] = [];
  if (alerts.webhookSecret) {
    [...new Set(alerts.webhookUrls)].forEach((url, i) => {
      out.push({
        id: `${CONFIG_ID_PREFIX}webhook:${i + 1}`,
        sink: webhookSinkName(url),
        url: redactedUrl(url),
        types: [...alerts.webhookTypes],
        description: `Alert webhook ${i + 1} of ALERT_WEBHOOK_URLS, signed with ALERT_WEBHOOK_SECRET (defined by configuration)`,
      });
    });
  }
  if (alerts.slackWebhookUrl) {
    out.push({
      id: `${CONFIG_ID_PREFIX}slack`,
      sink: SLACK_SINK_NAME,
      url: redactedUrl(alerts.slackWebhookUrl),
      types: [...alerts.slackTypes],
      description: 'Slack alerts from ALERT_SLACK_WEBHOOK_URL (defined by configuration)',
    });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
