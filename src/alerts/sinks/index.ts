import { systemClock, type Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { slackSink } from './slack.js';
import { standardWebhookSink } from './standard-webhook.js';
import type { FetchFn, Sink } from './types.js';

export type { FetchFn, SendResult, Sink } from './types.js';
export { webhookSinkName } from './standard-webhook.js';
export { SLACK_SINK_NAME } from './slack.js';

/** The sinks the configuration names: one per `ALERT_WEBHOOK_URLS` entry, and Slack. */
export function createSinks(config: Config['alerts'], clock: Clock, fetchFn: FetchFn = (url, init) => fetch(url, init)): Sink[] {
  const sinks: Sink[] = [];
  if (config.webhookSecret) {
    for (const url of new Set(config.webhookUrls)) {
      sinks.push(standardWebhookSink({ url, secret: config.webhookSecret, types: config.webhookTypes, publicUrl: config.publicUrl, clock, fetch: fetchFn }));
    }
  }
  if (config.slackWebhookUrl) {
    sinks.push(slackSink({ url: config.slackWebhookUrl, types: config.slackTypes, publicUrl: config.publicUrl, clock, fetch: fetchFn }));
  }
  return sinks;
}

/** The names of the sinks the configuration describes (what the outbox keeps attempts for). */
export function configuredSinkNames(config: Config['alerts']): string[] {
  return createSinks(config, systemClock).map((s) => s.name);
}
