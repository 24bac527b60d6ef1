/**
 * Reads of the event log, in portable SQL over a SqlReader (the conventions of store/read.ts):
 * a page after a position, oldest first, and where retention has pruned the log up to.
 */
import type { StoredEvent } from '../events/types.js';
import type { SqlParam, SqlReader } from './sql.js';
import { bodiesSql, fillSnapshots, referencedDeliveries } from '../events/snapshot-ref.js';

export interface EventFilter {
  /** Only events after this position (none: from the oldest kept). */
  after?: number | undefined;
  /** Exact types and prefixes (`device.*`); none: every type. */
  types?: readonly string[] | undefined;
  deviceId?: string | undefined;
  userId?: string | undefined;
  /** Page size: `limit + 1` rows are returned, so the caller knows whether more follow. */
  limit: number;
}

export interface EventReads {
  /** Up to `limit + 1` events after `after` that match the filter, in log order. */
  events(f: EventFilter): Promise<StoredEvent[]>;
  /** The greatest position retention has deleted (0: none): a cursor before it may have missed events. */
  eventsPrunedThrough(): Promise<number>;
  /** The greatest position in the log now (0: empty), where a live reader starts. */
  lastEventPosition(): Promise<number>;
  /** Up to `limit` events after `after`, position and type only (no data): what a counter needs. */
  eventTypes(after: number, limit: number): Promise<Array<{ position: number; type: string }>>;
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

/** `type IN (…) OR type LIKE 'x.%' …` for exact types and `x.*` prefixes. */
function typeCondition(types: readonly string[]): { sql: string; params: SqlParam[] } {
  const exact = types.filter((t) => !t.endsWith('.*'));
  const prefixes = types.filter((t) => t.endsWith('.*')).map((t) => `${t.slice(0, -1)}%`);
  const parts = [
    ...(exact.length > 0 ? [`type IN (${exact.map(() => '?').join(', ')})`] : []),
    // Types hold only letters and dots (validated by the route), so `%` and `_` cannot appear in them.
    ...prefixes.map(() => `type LIKE ?`),
  ];
  return { sql: `(${parts.join(' OR ')})`, params: [...exact, ...prefixes] };
}

/** The event log's reads over `reader`. */
export function eventReads(reader: SqlReader): EventReads {
  return {
    async events(f) {
      const conditions = ['position > ?'];
      const params: SqlParam[] = [f.after ?? 0];
      if (f.types && f.types.length > 0) {
        const t = typeCondition(f.types);
        conditions.push(t.sql);
        params.push(...t.params);
      }
      if (f.deviceId !== undefined) (conditions.push('device_id = ?'), params.push(f.deviceId));
      if (f.userId !== undefined) (conditions.push('user_id = ?'), params.push(f.userId));
      const rows = await reader.all<Record<string, unknown>>(
        `SELECT position, type, occurred_at AS "occurredAtMs", recorded_at AS "recordedAtMs", device_id AS "deviceId", user_id AS "userId", data
         FROM events WHERE ${conditions.join(' AND ')} ORDER BY position LIMIT ?`,
        [...params, f.limit + 1],
      );
      const events = rows.map((r) => ({
        position: num(r['position']),
        type: String(r['type']),
        occurredAtMs: num(r['occurredAtMs']),
        recordedAtMs: num(r['recordedAtMs']),
        deviceId: (r['deviceId'] as string | null) ?? null,
        userId: (r['userId'] as string | null) ?? null,
        data: String(r['data']),
      }));
      // Device events a webhook carried may hold their snapshot by reference (events/snapshot-ref.ts).
      const ids = referencedDeliveries(events);
      if (ids.length === 0) return events;
      const bodies = await reader.all<{ id: string; body: Uint8Array }>(bodiesSql(ids.length), ids);
      return fillSnapshots(events, new Map(bodies.map((b) => [b.id, b.body])));
    },

    async eventsPrunedThrough() {
      const row = await reader.get<{ v: unknown }>(`SELECT pruned_through AS "v" FROM event_log WHERE id = 1`);
      return row ? num(row.v) : 0;
    },

    async lastEventPosition() {
      // Never below the retention mark: once retention emptied the log, the end is where it stopped.
      const row = await reader.get<{ v: unknown }>(
        `SELECT coalesce(max(p), 0) AS "v" FROM (SELECT max(position) AS p FROM events UNION ALL SELECT pruned_through FROM event_log WHERE id = 1) AS ends`,
      );
      return row && row.v !== null && row.v !== undefined ? num(row.v) : 0;
    },

    async eventTypes(after, limit) {
      const rows = await reader.all<{ position: unknown; type: unknown }>(`SELECT position, type FROM events WHERE position > ? ORDER BY position LIMIT ?`, [after, limit]);
      return rows.map((r) => ({ position: num(r.position), type: String(r.type) }));
    },
  };
}
