import type { IncomingMessage } from 'node:http';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Clock } from '../clock.js';
import { AppError, errorBody, isClientAbort } from '../errors.js';
import { createAggregateLog } from '../http/aggregate-log.js';
import { createByteBudget } from '../http/byte-budget.js';
import { clientAddress, nodeRequest } from '../http/client-address.js';
import { readBoundedBody } from '../http/read-body.js';
import type { Logger } from '../logger.js';
import type { DeliveryResult } from '../metrics.js';
import { checkBody } from './deliveries.js';
import { verifyEnodeSignature } from './signature.js';
import type { Store } from '../store/port.js';

export interface WebhookRouteDeps {
  webhookSecrets: readonly string[];
  bodyLimitBytes: number;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Told how each request was answered and how long it took (metrics). */
  onResult?: (result: DeliveryResult, seconds: number) => void;
  /** WEBHOOK_UNVERIFIED_BYTES_LIMIT: bytes of bodies not verified yet held at once; past it, 503. */
  unverifiedBytesLimit: number;
  /** WEBHOOK_BODY_TIMEOUT_SECONDS: a body not whole this long after the route starts reading it: 408. */
  bodyTimeoutSeconds: number;
  /** TRUST_PROXY: the client address of logs is X-Forwarded-For's last entry (otherwise the socket's). */
  trustProxy: boolean;
}

/** Printable ASCII, at most 200 characters, and not `.` or `..`, which no URL can name (the admin API could not reach it). */
const DELIVERY_ID = /^(?!\.\.?$)[\x21-\x7e]{1,200}$/;
/**
 * The only request headers stored with a delivery. An allow-list: Enode's signature, its optional
 * authentication header (any name) and whatever credentials a proxy adds must never be stored.
 */
const STORED_HEADERS = [
  'content-type',
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'user-agent',
  'date',
  'x-enode-delivery',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-request-id',
] as const;

/** One request header, read from Node's request when there is one (no `Headers` is built). */
function header(c: Context, node: IncomingMessage | undefined, name: string): string | undefined {
  if (!node) return c.req.header(name);
  const value = node.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The allow-listed request headers, to be stored with the delivery. */
function storableHeaders(c: Context, node: IncomingMessage | undefined): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of STORED_HEADERS) {
    const value = header(c, node, name);
    if (value !== undefined) kept[name] = value;
  }
  return kept;
}

/** Window of the info-level summary of acknowledged deliveries. */
export const INTAKE_SUMMARY_MS = 10_000;

/**
 * Counts acknowledged deliveries and logs one info line per window in which there were any
 * ("webhook deliveries acknowledged": stored, duplicates, events, bytes); each delivery is logged
 * at debug. The first delivery after a quiet window is logged at info at once, so a trickle (or
 * the first delivery after start) is visible without waiting.
 */
function createIntakeSummary(logger: Logger, windowMs = INTAKE_SUMMARY_MS) {
  let stored = 0;
  let duplicates = 0;
  let events = 0;
  let bytes = 0;
  let quiet = true;
  const timer = setInterval(() => {
    if (stored + duplicates === 0) {
      quiet = true;
      return;
    }
    logger.info({ stored, duplicates, events, bytes, windowSeconds: windowMs / 1000 }, 'webhook deliveries acknowledged');
    stored = duplicates = events = bytes = 0;
  }, windowMs);
  timer.unref();
  return {
    count(duplicate: boolean, eventCount: number, size: number) {
      if (quiet) {
        quiet = false;
        logger.info({ duplicate, events: eventCount, bytes: size }, `webhook deliveries arriving (summarised every ${windowMs / 1000} s; each at debug)`);
      }
      if (duplicate) duplicates++;
      else {
        stored++;
        events += eventCount;
      }
      bytes += size;
    },
  };
}

/** A verified body, or the answer already given without one. */
type Received = { body: Uint8Array; answer?: undefined } | { answer: Response };

/**
 * `POST /webhooks/enode`: read the body within bounds, verify on the raw bytes, store durably,
 * acknowledge; applying follows. Anything may arrive here before the signature is checked, so:
 * - a body over the limit is refused from its Content-Length alone (413), or when it streams past it;
 * - the bytes of unverified bodies held at once are capped (a shared budget, reserved from the
 *   Content-Length before reading, chunk by chunk otherwise): past it, 503 with Retry-After and
 *   the body is not read;
 * - a body must be whole within a deadline (408);
 * - the failures an attacker can cause at will are logged in aggregate per client address.
 * Answers sent before the body was read whole carry `Connection: close` (the rest of it is never
 * read), except a 413 on the declared length, whose body Node discards so the client reads the answer.
 */
export function webhookRoutes(deps: WebhookRouteDeps) {
  const app = new Hono();
  const budget = createByteBudget(deps.unverifiedBytesLimit);
  const { bodyTimeoutSeconds, trustProxy } = deps;
  const aggregate = (message: string) => createAggregateLog({ logger: deps.logger, clock: deps.clock, message });
  const rejected = aggregate('rejected webhook delivery');
  const incomplete = aggregate('webhook body not received whole');
  const busy = aggregate('webhook refused: unverified bytes over budget');
  const stored = createIntakeSummary(deps.logger);
  /** Results decided by the route itself (not by a thrown error). */
  const results = new WeakMap<Request, DeliveryResult>();

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
      let result: DeliveryResult = results.get(c.req.raw) ?? 'accepted';
      if (err !== undefined) {
        const code = err instanceof AppError ? err.code : undefined;
        result = code === 'UNAUTHORIZED' ? 'unauthorized' : code === 'PAYLOAD_TOO_LARGE' ? 'too_large' : code === 'BAD_REQUEST' ? 'quarantined' : err instanceof HTTPException && err.status === 408 ? 'timeout' : 'unavailable';
      }
      deps.onResult?.(result, (performance.now() - started) / 1000);
    }
  };

  /**
   * Refused on the declared length, the connection stays open: Node discards the unread body
   * (no memory held, bounded by the request timeout) so that the client can read its 413 instead
   * of a reset. Refused mid-stream, the rest is not worth reading: `Connection: close`.
   */
  const tooLarge = (c: Context, { close }: { close: boolean }) => {
    if (close) c.header('Connection', 'close');
    return new AppError('PAYLOAD_TOO_LARGE', `Body larger than ${deps.bodyLimitBytes} bytes`);
  };
  // Answered here, not thrown: the error pipeline logs every 5xx, and these come at an attacker's will.
  const overBudget = (c: Context, address: () => string, fields: Record<string, unknown>) => {
    busy.record(address(), { ...fields, heldBytes: budget.heldBytes });
    results.set(c.req.raw, 'unavailable');
    c.header('Connection', 'close');
    // Held bytes are released within the body deadline at the latest.
    c.header('Retry-After', String(bodyTimeoutSeconds));
    return c.json(errorBody('SERVICE_UNAVAILABLE', 'Too many webhook bodies in flight; retry later', c.get('requestId' as never) ?? 'unknown'), 503);
  };

  /** Reads and verifies the body, holding its bytes against the budget until it is verified. */
  const receive = async (c: Context, node: IncomingMessage | undefined, address: () => string, headerId: string | null): Promise<Received> => {
    const length = header(c, node, 'content-length');
    const chunked = header(c, node, 'transfer-encoding') !== undefined;
    const declared = length === undefined || chunked ? undefined : /^\d{1,15}$/.test(length) ? Number(length) : Number.NaN;
    // Refused on the header alone: nothing is read.
    if (declared !== undefined && !(declared <= deps.bodyLimitBytes)) throw tooLarge(c, { close: false });
    const reservation = budget.open();
    try {
      if (declared !== undefined && !reservation.take(declared)) return { answer: overBudget(c, address, { deliveryId: headerId, bytes: declared }) };
      let read;
      try {
        read = await readBoundedBody(node ? { incoming: node } : { stream: c.req.raw.body }, {
          maxBytes: deps.bodyLimitBytes,
          reservation,
          deadlineMs: bodyTimeoutSeconds * 1000,
        });
      } catch (err) {
        if (!isClientAbort(err)) throw err;
        // The client closed mid-body: no one reads this answer, and it is not our failure.
        incomplete.record(address(), { deliveryId: headerId, reason: 'connection closed mid-body' });
        results.set(c.req.raw, 'aborted');
        return { answer: c.json(errorBody('BAD_REQUEST', 'The connection closed before the request body was complete', c.get('requestId' as never) ?? 'unknown'), 400) };
      }
      if (!read.ok && read.failure === 'too_large') throw tooLarge(c, { close: true });
      if (!read.ok && read.failure === 'over_budget') return { answer: overBudget(c, address, { deliveryId: headerId }) };
      if (!read.ok) {
        incomplete.record(address(), { deliveryId: headerId, reason: `body not whole within ${bodyTimeoutSeconds} s` });
        c.header('Connection', 'close');
        // Through the error pipeline (a 4xx is not logged there): 408 with the one error body.
        throw new HTTPException(408, { message: `Request body not received within ${bodyTimeoutSeconds} s` });
      }
      const signature = header(c, node, 'x-enode-signature');
      if (!verifyEnodeSignature(read.body, signature, deps.webhookSecrets)) {
        // Unverified input: only a well-formed id is logged.
        rejected.record(address(), { deliveryId: headerId, bytes: read.body.byteLength, reason: signature ? 'signature mismatch' : 'no x-enode-signature' });
        throw new AppError('UNAUTHORIZED', signature ? 'Invalid x-enode-signature' : 'Missing x-enode-signature');
      }
      return { body: read.body };
    } finally {
      // Verified or refused: its bytes no longer count against what strangers may hold.
      reservation.release();
    }
  };

  app.post('/webhooks/enode', measure, async (c) => {
    const node = nodeRequest(c);
    const rawId = header(c, node, 'x-enode-delivery');
    const headerId = rawId !== undefined && DELIVERY_ID.test(rawId) ? rawId : null;
    // The address only names failures in the log: worked out when one happens, not per delivery.
    const received = await receive(c, node, () => clientAddress(c, trustProxy), headerId);
    if (received.answer) return received.answer;
    const { body } = received;
    const bytes = body.byteLength;
    let outcome;
    try {
      outcome = await deps.store.submit({
        headerId,
        receivedAt: deps.clock.now().getTime(),
        headers: storableHeaders(c, node),
        body,
        // Hash and classification (nesting, parse, event count) here, beside the writer: the one writer thread only stores.
        checked: checkBody(body),
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
    // Each delivery at debug; at info one summary line a window (thousands a second would drown the log).
    deps.logger.debug(log, outcome.duplicate ? 'duplicate webhook delivery acknowledged' : 'webhook delivery stored');
    stored.count(outcome.duplicate, outcome.eventCount, bytes);
    if (outcome.duplicate) results.set(c.req.raw, 'duplicate');
    return c.json({ deliveryId: id, status: outcome.status, duplicate: outcome.duplicate });
  });
  return app;
}
