import type { Clock } from '../../clock.js';
import { slackMessage, webhookPayload } from '../payload.js';
import { postJson } from './http.js';
import type { FetchFn, Sink } from './types.js';

/** The name of the (one) Slack sink. */
export const SLACK_SINK_NAME = 'slack';

/**
 * A Slack incoming-webhook sink: one readable message per alert (`text` for notifications plus a
 * section and a context block). Slack answers 410 for an archived channel: the sink is disabled.
 */
export function slackSink(o: { url: string; types: string[]; publicUrl: string | undefined; clock: Clock; fetch: FetchFn }): Sink {
  return {
    name: SLACK_SINK_NAME,
    types: o.types,
    send: (alert, signal) => {
      const body = JSON.stringify(slackMessage(alert.id, webhookPayload(alert, o.publicUrl)));
      return postJson({ url: o.url, body, headers: {}, signal, fetch: o.fetch, clock: o.clock });
    },
  };
}
