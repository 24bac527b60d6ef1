/**
 * Outbound subscriptions to the event log: the vocabulary shared by the API, the dispatcher and
 * both store adapters (store/port.ts `Store.subscriptions`). Free of I/O.
 *
 * A subscription is a URL, a type filter and a Standard Webhooks secret. Its deliveries are one
 * row per (subscription, event): fanned out from the log after the subscription's cursor, sent
 * with `webhook-id` = the event id (stable across retries), retried on the alert schedule, dead
 * after the last attempt and retryable by hand.
 */
import { EVENT_TYPES, type StoredEvent } from '../events/types.js';

export type SubscriptionDeliveryStatus = 'pending' | 'sent' | 'dead';

/** A subscription as the API shows it: never its secrets. */
export interface SubscriptionRecord {
  id: string;
  url: string;
  /** Exact types and `x.*` prefixes; empty: every type. */
  types: string[];
  description: string | null;
  paused: boolean;
  createdAtMs: number;
  updatedAtMs: number;
  /** The log position through which matching events have been queued. */
  fannedOutThrough: number;
  /** Until when the secret replaced by the last rotation still signs; null when none does. */
  previousSecretUntilMs: number | null;
}

/** What the dispatcher needs to send to a subscription: its record and the secrets that sign now. */
export interface SubscriptionTarget extends SubscriptionRecord {
  secret: string;
  previousSecret: string | null;
}

/** A due delivery claimed for sending, with its event as stored (null once retention deleted it). */
export interface ClaimedSubscriptionDelivery {
  subscriptionId: string;
  position: number;
  eventId: string;
  /** Attempts made before this one. */
  attempts: number;
  event: Omit<StoredEvent, 'position'> | null;
}

/** What became of one attempt (decided by the dispatcher with alerts/backoff.ts). */
export interface SubscriptionAttemptResult {
  position: number;
  status: SubscriptionDeliveryStatus;
  nextAttemptAtMs: number;
  lastStatus: number | null;
  lastError: string | null;
}

export interface CreateSubscriptionArgs {
  id: string;
  url: string;
  types: string[];
  description: string | null;
  secret: string;
  /** Default: the store's clock. */
  nowMs?: number | undefined;
}

export interface UpdateSubscriptionArgs {
  id: string;
  url?: string | undefined;
  types?: string[] | undefined;
  description?: string | null | undefined;
  paused?: boolean | undefined;
  nowMs?: number | undefined;
}

export type RetryDeliveryOutcome = 'retried' | 'not_found' | 'not_dead';

/** Subscriptions and their deliveries (the write side; reads are in store/subscriptions-read.ts). */
export interface SubscriptionStore {
  /** Creates a subscription whose cursor is the log's current end: it receives events written from now on. */
  create(args: CreateSubscriptionArgs): Promise<SubscriptionRecord>;
  /** Changes the given fields; undefined for an unknown id. */
  update(args: UpdateSubscriptionArgs): Promise<SubscriptionRecord | undefined>;
  /** Deletes the subscription and its deliveries (pending ones are dropped); false for an unknown id. */
  remove(args: { id: string }): Promise<boolean>;
  /** Installs `secret`; the one it replaces keeps signing for `overlapMs`. Undefined for an unknown id. */
  rotate(args: { id: string; secret: string; overlapMs: number; nowMs?: number | undefined }): Promise<SubscriptionRecord | undefined>;
  /** Every subscription with its signing secrets, for the dispatcher. */
  targets(): Promise<SubscriptionTarget[]>;
  /**
   * Queues the events after the subscription's cursor that match its types (at most `limit`
   * events looked at) and advances the cursor, in one transaction; one replica at a time per
   * subscription (a replica that finds it being fanned out skips it). `more` when events remain.
   */
  fanOut(args: { id: string; nowMs: number; limit: number }): Promise<{ queued: number; more: boolean }>;
  /** Claims the subscription's due deliveries, oldest event first, for `holder` until `nowMs + leaseMs` (none while paused). */
  claim(args: { id: string; holder: string; nowMs: number; limit: number; leaseMs: number }): Promise<ClaimedSubscriptionDelivery[]>;
  /** Records results of `holder`'s claims; a delivery no longer claimed by it is left alone. Returns how many changed. */
  record(args: { id: string; holder: string; nowMs: number; results: SubscriptionAttemptResult[] }): Promise<number>;
  /** Makes a dead delivery pending and due now, with the full schedule again. */
  retry(args: { id: string; position: number; nowMs?: number | undefined }): Promise<RetryDeliveryOutcome>;
  /**
   * Queues again one batch of the matching events after `after` (a position) — those recorded
   * since `sinceMs` when given — up to the subscription's cursor (later ones are fanned out as
   * usual): new rows, or rows made pending and due now. At most `limit` events are looked at, in
   * one short transaction; `through` is the last position looked at (the next batch's `after`),
   * null once the range is done. Undefined for an unknown id.
   */
  replay(args: { id: string; after: number; sinceMs?: number | undefined; limit: number; nowMs?: number | undefined }): Promise<{ queued: number; through: number | null } | undefined>;
}

/** Why a delivery is dead when retention deleted its event before it could be sent (no quote: it is inlined in SQL). */
export const SUBSCRIPTION_EVENT_PRUNED = 'event deleted by retention (RETENTION_DAYS) before it was sent';

/** How long the secret replaced by a rotation keeps signing. */
export const ROTATION_OVERLAP_MS = 24 * 60 * 60 * 1000;

const TYPE_PATTERN = /^[a-z]+(\.[a-z][a-z_]*)*(\.\*)?$/;

/** True when `type` passes the filter (exact types and `x.*` prefixes; an empty filter passes all). */
export function matchesTypes(filter: readonly string[], type: string): boolean {
  if (filter.length === 0) return true;
  return filter.some((f) => (f.endsWith('.*') ? type.startsWith(f.slice(0, -1)) : f === type));
}

/** The reason a filter entry is refused, or null: known types, or prefixes of known types. */
export function typeFilterError(entry: string): string | null {
  const known = entry.endsWith('.*') ? EVENT_TYPES.some((e) => e.startsWith(entry.slice(0, -1))) : (EVENT_TYPES as readonly string[]).includes(entry);
  if (TYPE_PATTERN.test(entry) && known) return null;
  return `Unknown event type "${entry}": one of ${EVENT_TYPES.join(', ')}, or a prefix such as device.*`;
}

/** Reads the stored JSON list of types. A list that does not parse matches nothing: never "every type", which would send what was not asked for. */
export function parseStoredTypes(text: string): string[] {
  try {
    const v: unknown = JSON.parse(text);
    if (Array.isArray(v) && v.every((t) => typeof t === 'string')) return v;
  } catch {
    // fall through
  }
  return ['invalid.*'];
}
