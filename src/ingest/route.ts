import type { IncomingMessage } from 'node:http';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DeliveryResult } from '../metrics.js';
import { verifyEnodeSignature } from './signature.js';
import type { Writer } from './writer.js';

export interface WebhookRouteDeps {
  webhookSecrets: readonly string[];
  bodyLimitBytes: number;
  writer: Writer;
  clock: Clock;
  logger: Logger;
  /** Told how each request was answered and how long it took (metrics). */
  onResult?: (result: DeliveryResult, seconds: number) => void;
}

/** Printable ASCII, at most 200 characters, and not `.` or `..`, which no URL can name (the admin API could not reach it). */
const DELIVERY_ID = /^(?!\.\.?$)[\x21-\x7e]{1,200}$/;
/** Headers never stored with a delivery: they may carry credentials (Enode's optional auth header too). */
const SECRET_HEADER = /auth|token|secret|cookie|key|password/i;

/** Node's own request when served by @hono/node-server (absent under `app.request()` in tests). */
function incoming(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/** Request headers minus those that may carry credentials, read without building a `Headers`. */
function storableHeaders(c: Context): Record<string, string> {
  const kept: Record<string, string> = {};
  const raw = incoming(c)?.headers;
  if (raw) {
    for (const [name, value] of Object.entries(raw)) {
      if (value !== undefined && !SECRET_HEADER.test(name)) kept[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    return kept;
  }
  c.req.raw.headers.forEach((value, name) => {
    if (!SECRET_HEADER.test(name)) kept[name] = value;
  });
  return kept;
}

/**
 * 413 before reading a body whose Content-Length is over the limit. Checked on the header alone,
 * because touching `c.req.raw.body` (as hono's bodyLimit does first) makes @hono/node-server build
 * a web stream for every request; bodies without a length still go through hono's bodyLimit.
 */
function limitBody(maxSize: number): MiddlewareHandler {
  const tooLarge = () => {
    throw new AppError('PAYLOAD_TOO_LARGE', `Body larger than ${maxSize} bytes`);
  };
  const streaming = bodyLimit({ maxSize, onError: tooLarge });
  return async (c, next) => {
    const headers = incoming(c)?.headers;
    const length = headers ? headers['content-length'] : c.req.header('content-length');
    const chunked = headers ? headers['transfer-encoding'] !== undefined : c.req.header('transfer-encoding') !== undefined;
    if (length === undefined || chunked) return streaming(c, next);
    if (!/^\d{1,15}$/.test(length) || Number(length) > maxSize) tooLarge();
    await next();
  };
}

/** `POST /webhooks/enode`: verify on the raw bytes, store durably, acknowledge; applying follows. */
export function webhookRoutes(deps: WebhookRouteDeps) {
  const app = new Hono();
  const duplicates = new WeakSet<Request>();
  const measure: MiddlewareHandler = async (c, next) => {
    const started = performance.now();
    let failure: unknown;
    try {
      await next();
    } catch (err) {
      failure = err;
      throw err;
    } finally {
      // Hono hands a handler's error to the error handler and records it on the context.
      const err = failure ?? c.error;
      let result: DeliveryResult = duplicates.has(c.req.raw) ? 'duplicate' : 'accepted';
      if (err !== undefined) {
        const code = err instanceof AppError ? err.code : undefined;
        result = code === 'UNAUTHORIZED' ? 'unauthorized' : code === 'PAYLOAD_TOO_LARGE' ? 'too_large' : code === 'BAD_REQUEST' ? 'quarantined' : 'unavailable';
      }
      deps.onResult?.(result, (performance.now() - started) / 1000);
    }
  };
  app.post(
    '/webhooks/enode',
    measure,
    limitBody(deps.bodyLimitBytes),
    async (c) => {
      const body = new Uint8Array(await c.req.arrayBuffer());
      const signature = c.req.header('x-enode-signature');
      const rawId = c.req.header('x-enode-delivery');
      const headerId = rawId !== undefined && DELIVERY_ID.test(rawId) ? rawId : null;
      if (!verifyEnodeSignature(body, signature, deps.webhookSecrets)) {
        deps.logger.warn(
          // Unverified input: only a well-formed id is logged.
          { deliveryId: headerId, bytes: body.byteLength, reason: signature ? 'signature mismatch' : 'no x-enode-signature' },
          'rejected webhook delivery',
        );
        throw new AppError('UNAUTHORIZED', signature ? 'Invalid x-enode-signature' : 'Missing x-enode-signature');
      }
      const bytes = body.byteLength;
      let outcome;
      try {
        outcome = await deps.writer.submit({
          headerId,
          receivedAt: deps.clock.now().getTime(),
          headers: storableHeaders(c),
          body,
        });
      } catch (err) {
        // Not stored, so not acknowledged: a 5xx makes Enode retry later.
        deps.logger.error({ err, deliveryId: headerId, bytes }, 'could not store webhook delivery');
        throw new AppError('SERVICE_UNAVAILABLE', 'Could not store the delivery; retry later');
      }
      const id = outcome.deliveryId;
      const log = { deliveryId: id, bytes, status: outcome.status, duplicate: outcome.duplicate, events: outcome.eventCount };
      if (outcome.status === 'quarantined' && !outcome.duplicate) {
        deps.logger.warn({ ...log, reason: outcome.error }, 'quarantined webhook delivery');
        throw new AppError('BAD_REQUEST', `Delivery ${id} kept as quarantined: ${outcome.error ?? 'not an event array'}`);
      }
      deps.logger.info(log, outcome.duplicate ? 'duplicate webhook delivery acknowledged' : 'webhook delivery stored');
      if (outcome.duplicate) duplicates.add(c.req.raw);
      return c.json({ deliveryId: id, status: outcome.status, duplicate: outcome.duplicate });
    },
  );
  return app;
}
