/**
 * A subscription row as both adapters and the read side select it, and its one mapping to the
 * record the API and the dispatcher use. The drivers answer the same columns a little
 * differently (SQLite 0/1 for `paused`, Postgres a boolean; int8 as a number or, unparsed, text),
 * so the mapping accepts either and every caller gets the same record.
 */
import { parseStoredTypes, type ClaimedSubscriptionDelivery, type SubscriptionRecord, type SubscriptionTarget } from '../subscriptions/types.js';

/** The record's columns, named as its fields. Secrets are not among them: only `targets` reads those. */
export const SUBSCRIPTION_COLUMNS = `id, url, types, description, paused, created_at_ms AS "createdAtMs", updated_at_ms AS "updatedAtMs",
  fanned_out_through AS "fannedOutThrough", previous_secret_until_ms AS "previousSecretUntilMs"`;

/** The record's columns and the secrets that sign now. */
export const SUBSCRIPTION_TARGET_COLUMNS = `${SUBSCRIPTION_COLUMNS}, secret, previous_secret AS "previousSecret"`;

type Int8 = number | string;

/** A row of SUBSCRIPTION_COLUMNS as a driver gives it: types as stored JSON text, numbers perhaps as text. */
export type SubscriptionRow = Omit<SubscriptionRecord, 'types' | 'paused' | 'createdAtMs' | 'updatedAtMs' | 'fannedOutThrough' | 'previousSecretUntilMs'> & {
  types: string;
  paused: boolean | number;
  createdAtMs: Int8;
  updatedAtMs: Int8;
  fannedOutThrough: Int8;
  previousSecretUntilMs: Int8 | null;
};

/** A row of SUBSCRIPTION_TARGET_COLUMNS. */
export type SubscriptionTargetRow = SubscriptionRow & Pick<SubscriptionTarget, 'secret' | 'previousSecret'>;

export function toSubscriptionRecord(r: SubscriptionRow): SubscriptionRecord {
  return {
    id: r.id,
    url: r.url,
    types: parseStoredTypes(r.types),
    description: r.description ?? null,
    paused: r.paused === true || r.paused === 1,
    createdAtMs: Number(r.createdAtMs),
    updatedAtMs: Number(r.updatedAtMs),
    fannedOutThrough: Number(r.fannedOutThrough),
    previousSecretUntilMs: r.previousSecretUntilMs === null || r.previousSecretUntilMs === undefined ? null : Number(r.previousSecretUntilMs),
  };
}

export function toSubscriptionTarget(r: SubscriptionTargetRow): SubscriptionTarget {
  return { ...toSubscriptionRecord(r), secret: r.secret, previousSecret: r.previousSecret ?? null };
}

type ClaimedEvent = NonNullable<ClaimedSubscriptionDelivery['event']>;

/** The event of a claimed delivery, from the `events` row both adapters read it from. */
export function toClaimedEvent(e: ClaimedEvent): ClaimedEvent {
  return { type: e.type, occurredAtMs: Number(e.occurredAtMs), recordedAtMs: Number(e.recordedAtMs), deviceId: e.deviceId, userId: e.userId, data: String(e.data) };
}
