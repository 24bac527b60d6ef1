/**
 * Reads of subscriptions and their deliveries for the API, in portable SQL over a SqlReader (the
 * conventions of store/read.ts). Secrets are never selected here: the API shows a secret once,
 * when it is made, and the dispatcher reads secrets through the write port.
 */
import type { SubscriptionDeliveryStatus, SubscriptionRecord } from '../subscriptions/types.js';
import { SUBSCRIPTION_COLUMNS, toSubscriptionRecord, type SubscriptionRow } from './subscription-rows.js';
import type { SqlParam, SqlReader } from './sql.js';

export interface SubscriptionDeliveryRecord {
  subscriptionId: string;
  position: number;
  eventId: string;
  status: SubscriptionDeliveryStatus;
  attempts: number;
  nextAttemptAtMs: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAtMs: number;
  updatedAtMs: number;
  sentAtMs: number | null;
}

/** One alert to one configured alert sink, as a subscription defined by configuration shows it (the alert id is its webhook-id). */
export interface SinkDeliveryRecord {
  alertId: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  nextAttemptAtMs: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAtMs: number;
  updatedAtMs: number;
  deliveredAtMs: number | null;
}

export interface SubscriptionReads {
  /**
   * An alert sink's deliveries (the attempts of a subscription defined by configuration), most
   * recently updated first; keyset `[updatedAtMs, alertId]`; `limit + 1` rows.
   */
  listSinkDeliveries(f: { sink: string; status?: SinkDeliveryRecord['status'] | undefined; after?: [number, string] | undefined; limit: number }): Promise<SinkDeliveryRecord[]>;
  /** When the oldest event still kept was recorded; undefined for an empty log (a replay `since` older than it may have lost events to retention). */
  oldestEventRecordedAtMs(): Promise<number | undefined>;
  /**
   * The position just before the first event recorded at or after `sinceMs` (undefined: none is),
   * where a replay `since` starts: one scan, instead of reading the log from its start in batches.
   */
  positionBeforeRecordedSince(sinceMs: number): Promise<number | undefined>;
  getSubscription(id: string): Promise<SubscriptionRecord | undefined>;
  /** By id; keyset: the last id shown; `limit + 1` rows. */
  listSubscriptions(f: { after?: string | undefined; limit: number }): Promise<SubscriptionRecord[]>;
  /** A subscription's deliveries, newest event first; keyset: the last position shown; `limit + 1` rows. */
  listSubscriptionDeliveries(f: { subscriptionId: string; status?: SubscriptionDeliveryStatus | undefined; before?: number | undefined; limit: number }): Promise<
    SubscriptionDeliveryRecord[]
  >;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

function toDelivery(r: Record<string, unknown>): SubscriptionDeliveryRecord {
  return {
    subscriptionId: String(r['subscriptionId']),
    position: num(r['position']),
    eventId: String(r['eventId']),
    status: r['status'] as SubscriptionDeliveryStatus,
    attempts: num(r['attempts']),
    nextAttemptAtMs: num(r['nextAttemptAtMs']),
    lastStatus: numOrNull(r['lastStatus']),
    lastError: (r['lastError'] as string | null) ?? null,
    createdAtMs: num(r['createdAtMs']),
    updatedAtMs: num(r['updatedAtMs']),
    sentAtMs: numOrNull(r['sentAtMs']),
  };
}

/** The subscriptions' reads over `reader`. */
export function subscriptionReads(reader: SqlReader): SubscriptionReads {
  return {
    async listSinkDeliveries(f) {
      // Alert ids are ASCII (`alr_` and hex): "C" order on Postgres is SQLite's BINARY order.
      const alertId = reader.engine === 'postgres' ? 'd.alert_id COLLATE "C"' : 'd.alert_id';
      const conditions = ['d.sink = ?'];
      const params: SqlParam[] = [f.sink];
      if (f.status !== undefined) (conditions.push('d.status = ?'), params.push(f.status));
      if (f.after !== undefined) {
        const [ms, id] = f.after;
        conditions.push(`(d.updated_at_ms < ? OR (d.updated_at_ms = ? AND ${alertId} < ?))`);
        params.push(ms, ms, id);
      }
      const rows = await reader.all<Record<string, unknown>>(
        `SELECT d.alert_id AS "alertId", d.status, d.attempts, d.next_attempt_at_ms AS "nextAttemptAtMs", d.last_status AS "lastStatus", d.last_error AS "lastError",
                a.created_at_ms AS "createdAtMs", d.updated_at_ms AS "updatedAtMs", d.delivered_at_ms AS "deliveredAtMs"
           FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
          WHERE ${conditions.join(' AND ')} ORDER BY d.updated_at_ms DESC, ${alertId} DESC LIMIT ?`,
        [...params, f.limit + 1],
      );
      return rows.map((r) => ({
        alertId: String(r['alertId']),
        status: r['status'] as SinkDeliveryRecord['status'],
        attempts: num(r['attempts']),
        nextAttemptAtMs: num(r['nextAttemptAtMs']),
        lastStatus: numOrNull(r['lastStatus']),
        lastError: (r['lastError'] as string | null) ?? null,
        createdAtMs: num(r['createdAtMs']),
        updatedAtMs: num(r['updatedAtMs']),
        deliveredAtMs: numOrNull(r['deliveredAtMs']),
      }));
    },

    async oldestEventRecordedAtMs() {
      const row = await reader.get<{ recordedAt: number | string }>(`SELECT recorded_at AS "recordedAt" FROM events ORDER BY position LIMIT 1`);
      return row === undefined ? undefined : num(row.recordedAt);
    },

    async positionBeforeRecordedSince(sinceMs) {
      const row = await reader.get<{ p: number | string | null }>(`SELECT min(position) AS "p" FROM events WHERE recorded_at >= ?`, [sinceMs]);
      return row === undefined || row.p === null ? undefined : num(row.p) - 1;
    },

    async getSubscription(id) {
      const row = await reader.get<SubscriptionRow>(`SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?`, [id]);
      return row && toSubscriptionRecord(row);
    },

    async listSubscriptions(f) {
      // Ids are ASCII (`sub_` and base64url): "C" order on Postgres is SQLite's BINARY order.
      const id = reader.engine === 'postgres' ? 'id COLLATE "C"' : 'id';
      const where = f.after !== undefined ? `WHERE ${id} > ?` : '';
      const params: SqlParam[] = f.after !== undefined ? [f.after] : [];
      const rows = await reader.all<SubscriptionRow>(`SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions ${where} ORDER BY ${id} LIMIT ?`, [...params, f.limit + 1]);
      return rows.map(toSubscriptionRecord);
    },

    async listSubscriptionDeliveries(f) {
      const conditions = ['subscription_id = ?'];
      const params: SqlParam[] = [f.subscriptionId];
      if (f.status !== undefined) (conditions.push('status = ?'), params.push(f.status));
      if (f.before !== undefined) (conditions.push('position < ?'), params.push(f.before));
      const rows = await reader.all<Record<string, unknown>>(
        `SELECT subscription_id AS "subscriptionId", position, event_id AS "eventId", status, attempts, next_attempt_at_ms AS "nextAttemptAtMs",
                last_status AS "lastStatus", last_error AS "lastError", created_at_ms AS "createdAtMs", updated_at_ms AS "updatedAtMs", sent_at_ms AS "sentAtMs"
           FROM subscription_deliveries WHERE ${conditions.join(' AND ')} ORDER BY position DESC LIMIT ?`,
        [...params, f.limit + 1],
      );
      return rows.map(toDelivery);
    },
  };
}
