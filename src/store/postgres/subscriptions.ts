/**
 * Subscriptions on Postgres (subscriptions/types.ts SubscriptionStore), shared by every replica.
 * The rows and their meaning are those of the SQLite adapter (store/sqlite/subscriptions.ts).
 *
 * Several replicas may run the dispatcher at once:
 * - fan-out locks the subscription's row with `FOR UPDATE SKIP LOCKED`, so one replica at a time
 *   reads the log after its cursor, inserts the deliveries and moves the cursor, in one
 *   transaction; another replica skips that subscription for now. Reading the log by position
 *   is safe because positions become visible in commit order (store/postgres/events.ts): a
 *   statement's snapshot always sees a prefix of the log, so the cursor never passes an event.
 * - a claim takes due rows with `FOR UPDATE SKIP LOCKED` and stamps them with its holder and a
 *   claim expiry in the same statement; a re-checked row that another replica claimed meanwhile
 *   no longer qualifies, so each delivery is handed to one sender at a time. A replica that dies
 *   mid-send leaves its claim to expire; another sends again, with the same `webhook-id`.
 * - a result is recorded only by the holder of the claim, on a row still pending.
 */
import type pg from 'pg';
import { encodeEventCursor } from '../../events/cursor.js';
import type { StoredEvent } from '../../events/types.js';
import {
  matchesTypes,
  parseStoredTypes,
  type ClaimedSubscriptionDelivery,
  type SubscriptionRecord,
  type SubscriptionStore,
} from '../../subscriptions/types.js';
import {
  SUBSCRIPTION_COLUMNS,
  SUBSCRIPTION_TARGET_COLUMNS,
  toClaimedEvent,
  toSubscriptionRecord,
  toSubscriptionTarget,
  type SubscriptionRow,
  type SubscriptionTargetRow,
} from '../subscription-rows.js';
import { cleanText } from '../text.js';
import { withTransaction, type PgContext } from './context.js';

async function one(client: pg.ClientBase | pg.Pool, sql: string, params: unknown[]): Promise<SubscriptionRecord | undefined> {
  const { rows } = await client.query<SubscriptionRow>(sql, params);
  return rows[0] && toSubscriptionRecord(rows[0]);
}

/** Inserts the deliveries of `positions` for a subscription; rows already there are left alone, or (replay) made pending again. */
async function insertDeliveries(client: pg.ClientBase, id: string, positions: number[], nowMs: number, requeue: boolean): Promise<number> {
  if (positions.length === 0) return 0;
  const r = await client.query(
    `INSERT INTO subscription_deliveries (subscription_id, position, event_id, status, attempts, next_attempt_at_ms, created_at_ms, updated_at_ms)
     SELECT $1, u.position, u.event_id, 'pending', 0, $4::int8, $4::int8, $4::int8 FROM unnest($2::int8[], $3::text[]) AS u(position, event_id)
     ON CONFLICT (subscription_id, position) DO ${
       requeue
         ? `UPDATE SET status = 'pending', attempts = 0, next_attempt_at_ms = excluded.next_attempt_at_ms,
             claim_holder = NULL, claim_expires_at_ms = NULL, updated_at_ms = excluded.updated_at_ms`
         : 'NOTHING'
     }`,
    [id, positions, positions.map(encodeEventCursor), nowMs],
  );
  return r.rowCount ?? 0;
}

/** Matching events after the cursor become deliveries and the cursor moves, by one replica at a time per subscription. */
async function fanOut(client: pg.ClientBase, args: { id: string; nowMs: number; limit: number }): Promise<{ queued: number; more: boolean }> {
  const sub = await client.query<{ types: string; cursor: number }>(
    `SELECT types, fanned_out_through AS cursor FROM subscriptions WHERE id = $1 FOR UPDATE SKIP LOCKED`,
    [args.id],
  );
  const row = sub.rows[0];
  // Unknown, or being fanned out by another replica right now (it will have moved the cursor).
  if (!row) return { queued: 0, more: false };
  const { rows: events } = await client.query<{ position: number; type: string }>(`SELECT position, type FROM events WHERE position > $1 ORDER BY position LIMIT $2`, [
    row.cursor,
    args.limit,
  ]);
  const last = events[events.length - 1];
  if (!last) return { queued: 0, more: false };
  const types = parseStoredTypes(row.types);
  const positions = events.filter((e) => matchesTypes(types, e.type)).map((e) => Number(e.position));
  const queued = await insertDeliveries(client, args.id, positions, args.nowMs, false);
  await client.query(`UPDATE subscriptions SET fanned_out_through = $2 WHERE id = $1`, [args.id, last.position]);
  return { queued, more: events.length === args.limit };
}

async function claim(client: pg.ClientBase, args: { id: string; holder: string; nowMs: number; limit: number; leaseMs: number }): Promise<ClaimedSubscriptionDelivery[]> {
  const { rows } = await client.query<{ position: number; eventId: string; attempts: number }>(
    `WITH due AS (
       SELECT d.subscription_id, d.position FROM subscription_deliveries d JOIN subscriptions s ON s.id = d.subscription_id
        WHERE d.subscription_id = $1 AND NOT s.paused AND d.status = 'pending' AND d.next_attempt_at_ms <= $2
          AND (d.claim_expires_at_ms IS NULL OR d.claim_expires_at_ms <= $2)
        ORDER BY d.position LIMIT $3
        FOR UPDATE OF d SKIP LOCKED
     )
     UPDATE subscription_deliveries d SET claim_holder = $4, claim_expires_at_ms = $5
       FROM due WHERE d.subscription_id = due.subscription_id AND d.position = due.position
     RETURNING d.position, d.event_id AS "eventId", d.attempts`,
    [args.id, args.nowMs, args.limit, args.holder, args.nowMs + args.leaseMs],
  );
  if (rows.length === 0) return [];
  const { rows: events } = await client.query<StoredEvent>(
    `SELECT position, type, occurred_at AS "occurredAtMs", recorded_at AS "recordedAtMs", device_id AS "deviceId", user_id AS "userId", data
       FROM events WHERE position = ANY($1::int8[])`,
    [rows.map((r) => r.position)],
  );
  const byPosition = new Map(events.map((e) => [Number(e.position), e]));
  // RETURNING keeps no order: the claim's is by position (log order).
  return rows
    .map((r) => {
      const e = byPosition.get(Number(r.position));
      return {
        subscriptionId: args.id,
        position: Number(r.position),
        eventId: r.eventId,
        attempts: Number(r.attempts),
        event: e ? toClaimedEvent(e) : null,
      };
    })
    .sort((a, b) => a.position - b.position);
}

const now = (ctx: PgContext, nowMs: number | undefined) => nowMs ?? ctx.clock.now().getTime();

/** The subscription store of store/port.ts over the context's pool. */
export function subscriptionsPostgres(ctx: PgContext): SubscriptionStore {
  return {
    create: (args) =>
      withTransaction(ctx, async (client) => {
        const nowMs = now(ctx, args.nowMs);
        // The log's end: positions up to the committed counter are all visible (events.ts).
        const record = await one(
          client,
          `INSERT INTO subscriptions (id, url, types, description, secret, paused, created_at_ms, updated_at_ms, fanned_out_through)
           VALUES ($1, $2, $3, $4, $5, false, $6, $6,
                   greatest(coalesce((SELECT max(position) FROM events), 0), coalesce((SELECT pruned_through FROM event_log WHERE id = 1), 0)))
           RETURNING ${SUBSCRIPTION_COLUMNS}`,
          [args.id, args.url, JSON.stringify(args.types), cleanText(args.description), args.secret, nowMs],
        );
        return record!;
      }),

    update: (args) =>
      withTransaction(ctx, (client) =>
        one(
          client,
          `UPDATE subscriptions SET url = coalesce($2, url), types = coalesce($3, types),
             description = CASE WHEN $4::int = 1 THEN $5 ELSE description END, paused = coalesce($6::boolean, paused), updated_at_ms = $7
           WHERE id = $1 RETURNING ${SUBSCRIPTION_COLUMNS}`,
          [
            args.id,
            args.url ?? null,
            args.types ? JSON.stringify(args.types) : null,
            args.description !== undefined ? 1 : 0,
            cleanText(args.description ?? null),
            args.paused ?? null,
            now(ctx, args.nowMs),
          ],
        ),
      ),

    remove: (args) =>
      withTransaction(ctx, async (client) => {
        // The row lock waits for a fan-out in progress, so its deliveries are deleted below too.
        const removed = await client.query(`DELETE FROM subscriptions WHERE id = $1`, [args.id]);
        await client.query(`DELETE FROM subscription_deliveries WHERE subscription_id = $1`, [args.id]);
        return (removed.rowCount ?? 0) > 0;
      }),

    rotate: (args) =>
      withTransaction(ctx, (client) => {
        const nowMs = now(ctx, args.nowMs);
        return one(
          client,
          `UPDATE subscriptions SET previous_secret = secret, previous_secret_until_ms = $3, secret = $2, updated_at_ms = $4 WHERE id = $1 RETURNING ${SUBSCRIPTION_COLUMNS}`,
          [args.id, args.secret, nowMs + args.overlapMs, nowMs],
        );
      }),

    targets: async () => {
      const { rows } = await ctx.pool.query<SubscriptionTargetRow>(`SELECT ${SUBSCRIPTION_TARGET_COLUMNS} FROM subscriptions ORDER BY id COLLATE "C"`);
      return rows.map(toSubscriptionTarget);
    },

    fanOut: (args) => withTransaction(ctx, (client) => fanOut(client, args)),

    claim: (args) => withTransaction(ctx, (client) => claim(client, args)),

    record: async (args) => {
      if (args.results.length === 0) return 0;
      return withTransaction(ctx, async (client) => {
        const r = await client.query(
          `UPDATE subscription_deliveries d
              SET status = r.status, attempts = d.attempts + 1, next_attempt_at_ms = r.next_at, last_status = r.last_status, last_error = r.last_error,
                  updated_at_ms = $1, sent_at_ms = CASE WHEN r.status = 'sent' THEN $1::int8 ELSE d.sent_at_ms END,
                  claim_holder = NULL, claim_expires_at_ms = NULL
             FROM unnest($4::int8[], $5::text[], $6::int8[], $7::int4[], $8::text[]) AS r(position, status, next_at, last_status, last_error)
            WHERE d.subscription_id = $2 AND d.position = r.position AND d.status = 'pending' AND d.claim_holder = $3`,
          [
            args.nowMs,
            args.id,
            args.holder,
            args.results.map((x) => x.position),
            args.results.map((x) => x.status),
            args.results.map((x) => x.nextAttemptAtMs),
            args.results.map((x) => x.lastStatus),
            args.results.map((x) => cleanText(x.lastError)),
          ],
        );
        return r.rowCount ?? 0;
      });
    },

    retry: (args) =>
      withTransaction(ctx, async (client) => {
        const nowMs = now(ctx, args.nowMs);
        const r = await client.query(
          `UPDATE subscription_deliveries SET status = 'pending', attempts = 0, next_attempt_at_ms = $3, claim_holder = NULL, claim_expires_at_ms = NULL, updated_at_ms = $3
            WHERE subscription_id = $1 AND position = $2 AND status = 'dead'`,
          [args.id, args.position, nowMs],
        );
        if ((r.rowCount ?? 0) > 0) return 'retried';
        const exists = await client.query(`SELECT 1 FROM subscription_deliveries WHERE subscription_id = $1 AND position = $2`, [args.id, args.position]);
        return (exists.rowCount ?? 0) > 0 ? 'not_dead' : 'not_found';
      }),

    replay: (args) =>
      // One batch per transaction: row locks are held for `limit` events at most.
      withTransaction(ctx, async (client) => {
        const nowMs = now(ctx, args.nowMs);
        // Locked like a fan-out: the cursor read here is the one the queued range ends at.
        const sub = await client.query<{ types: string; cursor: number }>(`SELECT types, fanned_out_through AS cursor FROM subscriptions WHERE id = $1 FOR UPDATE`, [args.id]);
        const row = sub.rows[0];
        if (!row) return undefined;
        const { rows: events } = await client.query<{ position: number; type: string; recordedAt: number }>(
          `SELECT position, type, recorded_at AS "recordedAt" FROM events WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3`,
          [args.after, row.cursor, args.limit],
        );
        const types = parseStoredTypes(row.types);
        const positions = events.filter((e) => Number(e.recordedAt) >= (args.sinceMs ?? 0) && matchesTypes(types, e.type)).map((e) => Number(e.position));
        const last = events[events.length - 1];
        return { queued: await insertDeliveries(client, args.id, positions, nowMs, true), through: events.length === args.limit && last ? Number(last.position) : null };
      }),
  };
}
