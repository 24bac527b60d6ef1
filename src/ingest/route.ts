import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { verifyEnodeSignature } from './signature.js';
import type { Writer } from './writer.js';

export interface WebhookRouteDeps {
  webhookSecrets: readonly string[];
  bodyLimitBytes: number;
  writer: Writer;
  clock: Clock;
  logger: Logger;
}

const DELIVERY_ID = /^[\x21-\x7e]{1,200}$/;
/** Headers never stored with a delivery: they may carry credentials (Enode's optional auth header too). */
const SECRET_HEADER = /auth|token|secret|cookie|key|password/i;

function storableHeaders(headers: Headers): Record<string, string> {
  const kept: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (!SECRET_HEADER.test(name)) kept[name] = value;
  });
  return kept;
}

/** `POST /webhooks/enode`: verify on the raw bytes, store durably, apply, then acknowledge. */
export function webhookRoutes(deps: WebhookRouteDeps) {
  const app = new Hono();
  app.post(
    '/webhooks/enode',
    bodyLimit({
      maxSize: deps.bodyLimitBytes,
      onError: () => {
        throw new AppError('PAYLOAD_TOO_LARGE', `Body larger than ${deps.bodyLimitBytes} bytes`);
      },
    }),
    async (c) => {
      const body = new Uint8Array(await c.req.arrayBuffer());
      const signature = c.req.header('x-enode-signature');
      const headerId = c.req.header('x-enode-delivery');
      if (!verifyEnodeSignature(body, signature, deps.webhookSecrets)) {
        deps.logger.warn(
          { deliveryId: headerId, bytes: body.byteLength, reason: signature ? 'signature mismatch' : 'no x-enode-signature' },
          'rejected webhook delivery',
        );
        throw new AppError('UNAUTHORIZED', signature ? 'Invalid x-enode-signature' : 'Missing x-enode-signature');
      }
      const bytes = body.byteLength;
      let outcome;
      try {
        outcome = await deps.writer.submit({
          headerId: headerId && DELIVERY_ID.test(headerId) ? headerId : null,
          receivedAt: deps.clock.now().getTime(),
          headers: storableHeaders(c.req.raw.headers),
          body,
        });
      } catch (err) {
        // Not stored, so not acknowledged: a 5xx makes Enode retry later.
        deps.logger.error({ err, deliveryId: headerId, bytes }, 'could not store webhook delivery');
        throw new AppError('SERVICE_UNAVAILABLE', 'Could not store the delivery; retry later');
      }
      const id = outcome.deliveryId;
      const log = { deliveryId: id, bytes, status: outcome.status, duplicate: outcome.duplicate, events: outcome.eventCount };
      if (outcome.status === 'quarantined') {
        deps.logger.warn({ ...log, reason: outcome.error }, 'quarantined webhook delivery');
        throw new AppError('BAD_REQUEST', `Delivery ${id} kept as quarantined: ${outcome.error ?? 'not an event array'}`);
      }
      if (outcome.status === 'failed') deps.logger.error({ ...log, error: outcome.error }, 'webhook delivery stored but could not be applied; replay it after a fix');
      else deps.logger.info(log, outcome.duplicate ? 'duplicate webhook delivery acknowledged' : 'webhook delivery applied');
      return c.json({ deliveryId: id, status: outcome.status, duplicate: outcome.duplicate });
    },
  );
  return app;
}
