import { createHash } from 'node:crypto';
import type { IngestRepo, NewDelivery, StoredDelivery } from '../db/ingest-repo.js';
import type { Logger } from '../logger.js';
import { applyEvent } from './apply.js';

/** Result of storing and applying one delivery. */
export interface DeliveryOutcome {
  deliveryId: string;
  status: 'applied' | 'failed' | 'quarantined';
  duplicate: boolean;
  error: string | null;
  eventCount: number;
}

/** A verified delivery ready to store: the raw bytes and, when they parsed, the events. */
export interface VerifiedDelivery {
  id: string;
  receivedAt: number;
  headers: Record<string, string>;
  body: Buffer;
  bodySha256: string;
  /** The parsed event array, or a reason why the body is not one (→ quarantined). */
  parsed: { ok: true; events: unknown[] } | { ok: false; reason: string };
}

const MAX_ERROR_LENGTH = 2_000;
const MAX_EVENTS_PER_DELIVERY = 10_000;

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Parses a body as Enode sends it: a JSON array of objects each with a string `event`.
 * Anything else is a reason to quarantine.
 */
export function parseEventArray(body: Buffer): VerifiedDelivery['parsed'] {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `body is not valid JSON: ${(err as Error).message}` };
  }
  if (!Array.isArray(value)) return { ok: false, reason: `body is JSON but not an array of events (got ${value === null ? 'null' : typeof value})` };
  if (value.length > MAX_EVENTS_PER_DELIVERY) return { ok: false, reason: `body has ${value.length} events; at most ${MAX_EVENTS_PER_DELIVERY} are accepted` };
  for (let i = 0; i < value.length; i++) {
    const e: unknown = value[i];
    if (e === null || typeof e !== 'object' || Array.isArray(e) || typeof (e as { event?: unknown }).event !== 'string') {
      return { ok: false, reason: `element ${i} is not an event object with a string "event" field` };
    }
  }
  return { ok: true, events: value };
}

function truncate(message: string): string {
  return message.length > MAX_ERROR_LENGTH ? `${message.slice(0, MAX_ERROR_LENGTH)}…` : message;
}

/**
 * Applies a stored delivery's events in a savepoint: all of them or, when one throws, none, and
 * the delivery is marked `failed` with the error so it can be replayed after a fix. Must run
 * inside a transaction. Storage errors (disk full, I/O) propagate: they are not "failed
 * deliveries" but reasons not to acknowledge.
 */
export function applyStoredEvents(
  repo: IngestRepo,
  deliveryId: string,
  events: unknown[],
  receivedAt: number,
  now: number,
): { status: 'applied' | 'failed'; error: string | null } {
  try {
    repo.transaction(() => {
      for (const event of events) applyEvent(repo, event, { source: 'webhook', deliveryId, receivedAt });
    });
  } catch (err) {
    if (isStorageError(err)) throw err;
    const error = truncate(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
    repo.finishDelivery(deliveryId, 'failed', error, null, events.length);
    return { status: 'failed', error };
  }
  repo.finishDelivery(deliveryId, 'applied', null, now, events.length);
  return { status: 'applied', error: null };
}

/** SQLite errors that mean "could not store", as opposed to bad data in a delivery. */
export function isStorageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    /^SQLITE_(FULL|IOERR|BUSY|LOCKED|CANTOPEN|READONLY|CORRUPT|NOTADB|NOMEM|PROTOCOL)/.test(code)
  );
}

/** Stores a delivery and applies it; a redelivery of a stored id is acknowledged as a duplicate. */
export function storeAndApply(repo: IngestRepo, d: VerifiedDelivery, now: number): DeliveryOutcome {
  const eventCount = d.parsed.ok ? d.parsed.events.length : 0;
  const row: NewDelivery = {
    id: d.id,
    receivedAt: d.receivedAt,
    headers: d.headers,
    body: d.body,
    bodySha256: d.bodySha256,
    status: d.parsed.ok ? 'failed' : 'quarantined',
    error: d.parsed.ok ? 'not applied yet' : d.parsed.reason,
    eventCount,
  };
  if (!repo.insertDelivery(row)) {
    const existing = repo.getDelivery(d.id);
    return {
      deliveryId: d.id,
      status: existing?.status ?? row.status,
      duplicate: true,
      error: existing?.error ?? null,
      eventCount: existing?.eventCount ?? eventCount,
    };
  }
  if (!d.parsed.ok) return { deliveryId: d.id, status: 'quarantined', duplicate: false, error: d.parsed.reason, eventCount };
  const result = applyStoredEvents(repo, d.id, d.parsed.events, d.receivedAt, now);
  return { deliveryId: d.id, status: result.status, duplicate: false, error: result.error, eventCount };
}

/**
 * Applies a stored delivery again (after a fix): a quarantined body is parsed anew, a failed or
 * applied one re-applied (idempotent). Returns undefined for an unknown id.
 */
export function replayDelivery(repo: IngestRepo, id: string, now: number, logger: Logger): DeliveryOutcome | undefined {
  return repo.transaction(() => {
    const stored: StoredDelivery | undefined = repo.getDelivery(id);
    if (!stored) return undefined;
    repo.countAttempt(id);
    const parsed = parseEventArray(stored.body);
    if (!parsed.ok) {
      repo.finishDelivery(id, 'quarantined', parsed.reason, null, 0);
      logger.warn({ deliveryId: id, reason: parsed.reason }, 'replay: delivery is still not an event array; kept quarantined');
      return { deliveryId: id, status: 'quarantined', duplicate: false, error: parsed.reason, eventCount: 0 } satisfies DeliveryOutcome;
    }
    const result = applyStoredEvents(repo, id, parsed.events, stored.receivedAt, now);
    logger.info({ deliveryId: id, status: result.status, error: result.error, events: parsed.events.length }, 'replayed delivery');
    return { deliveryId: id, status: result.status, duplicate: false, error: result.error, eventCount: parsed.events.length };
  });
}
