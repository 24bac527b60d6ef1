/**
 * The event log on Postgres: appending a transaction's events, as its last statement.
 *
 * Positions must be handed out in commit order, or a reader paging by position could pass a
 * smaller position whose transaction commits later and never see it (sequence order is not
 * commit order: `nextval` is taken at insert time, commits happen in any order). So each
 * transaction that writes events takes its positions from the one-row counter `event_log` as
 * its very last statement before COMMIT (`UPDATE … SET last_position = last_position + k`),
 * and holds that row lock until it commits:
 *
 * - The next writer's counter update waits for the previous one to end. Postgres makes a commit
 *   visible to new snapshots before it releases the transaction's locks, so when a writer obtains
 *   positions p+1…p+k, every transaction holding positions ≤ p has committed (visible) or rolled
 *   back — and a rollback takes its counter update with it, so it leaves no hole. A reader's
 *   snapshot therefore always sees a prefix of the log: paging with `after` skips nothing.
 * - Only this last step (the insert of the events and the commit) is serialised; the work of the
 *   transaction (locks, loads, the flush of the projections) runs in parallel as before.
 * - It is taken after every other lock of the transaction (device, action and system-event
 *   advisory locks, claimed delivery rows), so it adds no deadlock: its holder waits for nothing
 *   but the commit. The events' fact keys are covered by those locks (a device's events by its
 *   device lock, an action's by its action lock, an alert's by the lock of the fact it names), so
 *   the insert's ON CONFLICT never waits on another writer's uncommitted row either.
 * - Per-device order follows: a device's state changes under its advisory lock, and the counter
 *   is taken before that lock is released (at commit), so a device's events get positions in the
 *   order its stored state changed.
 *
 * The alternative — stamp rows with `pg_current_xact_id()` and let readers stop at
 * `pg_snapshot_xmin(pg_current_snapshot())` — is gap-free too and serialises nothing, but orders
 * the log by transaction id, which is assigned at a transaction's first write: a transaction that
 * took its xid and then waited on a device lock commits that device's change after a transaction
 * with a greater xid, so the log would show the device's changes out of order; and one long
 * transaction holds every reader back. The counter costs one serialised commit per writing
 * transaction (batches of deliveries: the throughput is in events per batch), which is the price
 * of a log whose order is the order of the changes.
 *
 * A fact already in the log (same `fact_key`) is skipped by ON CONFLICT; its position is then
 * simply unused (readers never wait for a position, they read what is there in order).
 */
import type pg from 'pg';
import type { NewEvent } from '../../events/types.js';

/** Postgres text cannot hold U+0000: one in a key is written as the six characters `\u0000`. */
const cleanText = (v: string | null): string | null => (v === null || !v.includes('\u0000') ? v : v.replaceAll('\u0000', '\\u0000'));

const APPEND_SQL = `WITH counter AS (
    INSERT INTO event_log (id, last_position, pruned_through) VALUES (1, $1::int8, 0)
    ON CONFLICT (id) DO UPDATE SET last_position = event_log.last_position + $1::int8
    RETURNING last_position - $1::int8 AS base
  )
  INSERT INTO events (position, type, fact_key, occurred_at, recorded_at, device_id, user_id, data)
  SELECT counter.base + u.n, u.type, u.fact_key, u.occurred_at, u.recorded_at, u.device_id, u.user_id, u.data
  FROM counter, unnest($2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[], $8::text[]) WITH ORDINALITY
    AS u(type, fact_key, occurred_at, recorded_at, device_id, user_id, data, n)
  ORDER BY u.n
  ON CONFLICT (fact_key) DO NOTHING
  RETURNING type`;

/**
 * Appends `events` in the caller's transaction, in their order, as its last statement before
 * COMMIT (see above). Events with the same fact key as one before them in the list are dropped
 * here. Returns the types of the events inserted (facts already logged are skipped).
 */
export async function appendEventsPostgres(client: pg.ClientBase, events: readonly NewEvent[]): Promise<string[]> {
  const seen = new Set<string>();
  const list = events.filter((e) => !seen.has(e.factKey) && seen.add(e.factKey));
  if (list.length === 0) return [];
  const { rows } = await client.query<{ type: string }>(APPEND_SQL, [
    list.length,
    list.map((e) => e.type),
    list.map((e) => cleanText(e.factKey)!),
    list.map((e) => e.occurredAtMs),
    list.map((e) => e.recordedAtMs),
    list.map((e) => cleanText(e.deviceId)),
    list.map((e) => cleanText(e.userId)),
    // JSON.stringify writes a NUL inside a string as the escape \\u0000, never the raw character.
    list.map((e) => JSON.stringify(e.data)),
  ]);
  return rows.map((r) => r.type);
}
