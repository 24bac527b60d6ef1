import { createHash } from 'node:crypto';
import { deliveryFailedAlert } from '../alerts/facts.js';
import { jsonNestingExceeds, MAX_JSON_DEPTH } from '../domain/json-depth.js';
import { parseWellFormedJson } from '../domain/well-formed.js';
import type { Logger } from '../logger.js';
import type { DeliveryRepo, DeliveryStatus } from '../store/funnel.js';
import { applyEvent } from './apply.js';

export type { DeliveryStatus } from '../store/funnel.js';

/** Result of storing (and, later, applying) one delivery. */
export interface DeliveryOutcome {
  deliveryId: string;
  /** `pending`: stored durably, events not applied yet (that is the next step, moments later). */
  status: DeliveryStatus;
  duplicate: boolean;
  error: string | null;
  eventCount: number;
}

/** A delivery whose signature was verified, as received: the raw bytes and the headers. */
export interface ReceivedDelivery {
  /** The `x-enode-delivery` header when present and usable; otherwise the id is the body hash. */
  headerId: string | null;
  receivedAt: number;
  headers: Record<string, string>;
  body: Uint8Array;
  /** The body's hash and nesting, when already worked out off the writer thread (by the route). */
  checked?: BodyCheck;
}

/**
 * What storing needs to know of a body besides its bytes: its hash, and whether it is an event
 * array (how many events) or why not. Worked out where it costs the writer nothing.
 */
export interface BodyCheck {
  bodySha256: string;
  verdict: { ok: true; eventCount: number } | { ok: false; reason: string };
}

/**
 * The body's SHA-256 and its classification (nesting, JSON, event array). The webhook route calls
 * it on its own thread after the signature is verified, so that the single writer only looks up
 * and appends: the writer parses the body again only when it applies it, off the acknowledgement.
 */
export function checkBody(body: Uint8Array): BodyCheck {
  return { bodySha256: sha256Hex(body), verdict: verdictOf(parseEventArray(body)) };
}

/** A parse's outcome as storing needs it: how many events, or why the body is not an event array. */
function verdictOf(parsed: ParsedBody): BodyCheck['verdict'] {
  return parsed.ok ? { ok: true, eventCount: parsed.events.length } : parsed;
}

/** The parsed event array, or a reason why the body is not one (→ quarantined). */
export type ParsedBody = { ok: true; events: unknown[] } | { ok: false; reason: string };

const MAX_ERROR_LENGTH = 2_000;
const MAX_EVENTS_PER_DELIVERY = 10_000;
/** Longest delivery id: the header's limit (ingest/route.ts) and the admin API's. */
const MAX_DELIVERY_ID_LENGTH = 200;

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Parses a body as Enode sends it: a JSON array of objects each with a string `event`, nested at
 * most MAX_JSON_DEPTH levels (checked on the bytes before parsing: deeper values break every
 * recursive serialiser downstream). Anything else is a reason to quarantine.
 */
export function parseEventArray(body: Uint8Array, options: { nestingChecked?: boolean } = {}): ParsedBody {
  const tooDeepAt = options.nestingChecked ? undefined : jsonNestingExceeds(body, MAX_JSON_DEPTH);
  if (tooDeepAt !== undefined) {
    return { ok: false, reason: `body nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels (at byte ${tooDeepAt}); Enode events are far shallower` };
  }
  let value: unknown;
  try {
    value = parseWellFormedJson(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
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
 * Applies a delivery's events in a savepoint: all of them or, when one throws, none, and the
 * error is returned so the delivery can be kept as `failed` and replayed after a fix. Must run
 * inside a transaction. Storage errors (disk full, I/O) propagate: they are not "failed
 * deliveries" but reasons not to acknowledge.
 */
export function applyInSavepoint(
  repo: DeliveryRepo,
  deliveryId: string,
  events: unknown[],
  receivedAt: number,
): { status: 'applied' | 'failed'; error: string | null } {
  try {
    repo.transaction(() => {
      events.forEach((event, eventIndex) => applyEvent(repo, event, { source: 'webhook', deliveryId, eventIndex, receivedAt }));
    });
    return { status: 'applied', error: null };
  } catch (err) {
    if (isStorageError(err)) throw err;
    return { status: 'failed', error: truncate(err instanceof Error ? `${err.name}: ${err.message}` : String(err)) };
  }
}

/**
 * Postgres SQLSTATEs that mean "could not store": connection exceptions (08), insufficient
 * resources (53), the server shutting down or starting (57P01–57P03), system errors (58),
 * internal errors (XX); and a statement cancelled or timed out (57014), a read-only server
 * (25006, a standby after failover), a serialization failure or deadlock left after retries
 * (40001, 40P01) — none of them says anything about the delivery's data (22xxx, 23xxx do).
 */
// 55P03 lock timeout, 25P03/57P05 idle timeouts: the server gave up waiting, not on the data.
const POSTGRES_STORAGE_CODE = /^(08...|53...|57P0[1235]|58...|XX...|57014|25006|25P03|55P03|40001|40P01)$/;
/** Network failures (Node) while talking to the database. */
const NETWORK_CODE = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENOTFOUND|EAI_AGAIN|ECONNABORTED)$/;
/** pg's own connection failures carry no code. */
const PG_CONNECTION_MESSAGE = /Connection terminated|timeout exceeded when trying to connect|connection timeout|Client has encountered a connection error|Cannot use a pool after calling end/i;

/** SQLite and Postgres errors that mean "could not store", as opposed to bad data in a delivery. */
export function isStorageError(err: unknown): boolean {
  // Wrapped errors (drizzle's, an AggregateError of connection attempts) are looked through.
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (/^SQLITE_(FULL|IOERR|BUSY|LOCKED|CANTOPEN|READONLY|CORRUPT|NOTADB|NOMEM|PROTOCOL)/.test(code)) return true;
      if (POSTGRES_STORAGE_CODE.test(code) || NETWORK_CODE.test(code)) return true;
    } else if (e instanceof Error && PG_CONNECTION_MESSAGE.test(e.message)) {
      return true;
    }
  }
  return false;
}

/**
 * Stores a verified delivery as `pending` (or `quarantined` when the body is not an event array),
 * in the caller's transaction. A body already stored (same SHA-256), under this id or any other,
 * is reported as a duplicate of the stored delivery and not stored again: a replayed capture
 * costs a lookup, not a copy. The body is classified by `r.checked` when the route did it (then
 * nothing is parsed here), else parsed here; the events parsed here are returned so that applying
 * a delivery does not parse it again.
 */
export function storeDelivery(repo: DeliveryRepo, r: ReceivedDelivery, logger?: Logger): { outcome: DeliveryOutcome; events?: unknown[] } {
  const body = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
  const bodySha256 = r.checked?.bodySha256 ?? sha256Hex(body);
  let id = r.headerId ?? `sha256-${bodySha256}`;
  let existing = repo.findDelivery(id);
  if (!existing || existing.bodySha256 !== bodySha256) {
    const sameBody = repo.findDeliveryByBody(bodySha256);
    if (sameBody) {
      if (r.headerId !== null) logger?.debug({ deliveryId: r.headerId, storedAs: sameBody.id }, 'delivery body stored before under another id; acknowledged as a duplicate');
      return { outcome: { deliveryId: sameBody.id, status: sameBody.status, duplicate: true, error: sameBody.error, eventCount: sameBody.eventCount } };
    }
  }
  if (existing && existing.bodySha256 !== bodySha256) {
    // Same delivery id, different bytes: Enode does not promise ids are never reused across
    // batches, so this is new data, kept under a derived id rather than dropped as a duplicate.
    // Cut to fit the ids the admin API addresses (1–200 characters), or it could not be replayed.
    const suffix = `~${bodySha256.slice(0, 16)}`;
    const derived = `${id.slice(0, MAX_DELIVERY_ID_LENGTH - suffix.length)}${suffix}`;
    logger?.warn({ deliveryId: id, storedAs: derived }, 'delivery id seen before with a different body; stored as a new delivery');
    id = derived;
    existing = repo.findDelivery(id);
  }
  if (existing) {
    return { outcome: { deliveryId: id, status: existing.status, duplicate: true, error: existing.error, eventCount: existing.eventCount } };
  }
  const parsed = r.checked ? undefined : parseEventArray(body);
  const verdict = r.checked?.verdict ?? verdictOf(parsed!);
  const status = verdict.ok ? 'pending' : 'quarantined';
  const error = verdict.ok ? null : verdict.reason;
  const eventCount = verdict.ok ? verdict.eventCount : 0;
  repo.insertDelivery({ id, receivedAt: r.receivedAt, headers: r.headers, body, bodySha256, status, error, eventCount, appliedAt: null });
  const outcome: DeliveryOutcome = { deliveryId: id, status, duplicate: false, error, eventCount };
  return parsed?.ok ? { outcome, events: parsed.events } : { outcome };
}

/** What the writer still holds of a delivery it stored: its parsed events, or its bytes (classified by the route). */
export type HeldDelivery = { receivedAt: number } & ({ events: unknown[] } | { body: Uint8Array });

/**
 * Applies a stored delivery's events (from what the writer still holds of it, else parsed again
 * from the stored body) and records the result on the delivery, in the caller's transaction.
 */
export function applyDelivery(repo: DeliveryRepo, deliveryId: string, now: number, held?: HeldDelivery): DeliveryOutcome | undefined {
  let receivedAt: number;
  let parsed: ParsedBody;
  if (held && 'events' in held) {
    receivedAt = held.receivedAt;
    parsed = { ok: true, events: held.events };
  } else if (held) {
    receivedAt = held.receivedAt;
    // The route checked its nesting before it was stored.
    parsed = parseEventArray(held.body, { nestingChecked: true });
  } else {
    const stored = repo.deliveryBody(deliveryId);
    if (!stored) return undefined;
    receivedAt = stored.receivedAt;
    parsed = parseEventArray(stored.body);
  }
  if (!parsed.ok) {
    repo.finishDelivery(deliveryId, 'quarantined', parsed.reason, null, 0);
    return { deliveryId, status: 'quarantined', duplicate: false, error: parsed.reason, eventCount: 0 };
  }
  const events = parsed.events;
  const result = applyInSavepoint(repo, deliveryId, events, receivedAt);
  repo.finishDelivery(deliveryId, result.status, result.error, result.status === 'applied' ? now : null, events.length);
  // Keyed by the delivery: a replay that fails again raises no second alert.
  if (result.status === 'failed') repo.enqueueAlert(deliveryFailedAlert({ id: deliveryId, error: result.error, eventCount: events.length }, now));
  return { deliveryId, status: result.status, duplicate: false, error: result.error, eventCount: events.length };
}

/**
 * Applies a stored delivery again (after a fix): a quarantined body is parsed anew, a failed or
 * applied one re-applied (idempotent). Returns undefined for an unknown id.
 */
export function replayDelivery(repo: DeliveryRepo, id: string, now: number, logger: Logger): DeliveryOutcome | undefined {
  return repo.transaction(() => {
    if (!repo.findDelivery(id)) return undefined;
    repo.countAttempt(id);
    const outcome = applyDelivery(repo, id, now);
    if (outcome) logger.info({ deliveryId: id, status: outcome.status, error: outcome.error, events: outcome.eventCount }, 'replayed delivery');
    return outcome;
  });
}
