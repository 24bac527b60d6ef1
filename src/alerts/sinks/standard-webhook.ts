import { createHash } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { Clock } from '../../clock.js';
import { webhookPayload } from '../payload.js';
import { postJson } from './http.js';
import type { FetchFn, Sink } from './types.js';

/**
 * Stable, secret-free name of a webhook sink: its host (for people) and a hash of the whole URL
 * (paths often carry tokens), e.g. `webhook:hooks.example.com#1a2b3c4d`.
 */
export function webhookSinkName(url: string): string {
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 8);
  let host = 'invalid-url';
  try {
    host = new URL(url).host;
  } catch {
    // config validated it already; the hash keeps the name unique regardless
  }
  return `webhook:${host}#${hash}`;
}

/**
 * A Standard Webhooks sink (standardwebhooks.com): body `{ type, timestamp, data }`; headers
 * `webhook-id` (the alert id: the same on every retry, so receivers can de-duplicate),
 * `webhook-timestamp` (this attempt, seconds) and `webhook-signature` (HMAC-SHA256 with the
 * `whsec_` secret, by the `standardwebhooks` package).
 */
export function standardWebhookSink(o: { url: string; secret: string; types: string[]; publicUrl: string | undefined; clock: Clock; fetch: FetchFn }): Sink {
  const signer = new Webhook(o.secret);
  return {
    name: webhookSinkName(o.url),
    types: o.types,
    send: (alert, signal) => {
      const body = JSON.stringify(webhookPayload(alert, o.publicUrl));
      const at = o.clock.now();
      const headers = {
        'webhook-id': alert.id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signer.sign(alert.id, at, body),
      };
      return postJson({ url: o.url, body, headers, signal, fetch: o.fetch, clock: o.clock });
    },
  };
}
