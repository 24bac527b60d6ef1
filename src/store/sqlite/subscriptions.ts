/**
 * Subscriptions on SQLite (subscriptions/types.ts SubscriptionStore), written only by the single
 * writer: every procedure here runs on its connection, so fan-out and claims never race (the
 * Postgres adapter gets the same from row locks and SKIP LOCKED). One `subscription_deliveries`
 * row per subscription and event: `pending` → `sent`, or `dead` after the last attempt.
 */
import type Database from 'better-sqlite3';
import { fillSnapshotsSync } from './events.js';
import { encodeEventCursor } from '../../events/cursor.js';
import type { StoredEvent } from '../../events/types.js';
import {
  matchesTypes,
  parseStoredTypes,
  type ClaimedSubscriptionDelivery,
  type CreateSubscriptionArgs,
  type RetryDeliveryOutcome,
  type SubscriptionAttemptResult,
  type SubscriptionRecord,
  type SubscriptionTarget,
  type UpdateSubscriptionArgs,
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
import type { ProcedureContext } from './context.js';

const now = (ctx: ProcedureContext, nowMs: number | undefined) => nowMs ?? ctx.clock.now().getTime();

function load(sqlite: Database.Database, id: string): SubscriptionRow | undefined {
  return sqlite.prepare<[string], SubscriptionRow>(`SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?`).get(id);
}

/** The log's end: the greatest position written (kept after pruning by `event_log.pruned_through`). */
function logEnd(sqlite: Database.Database): number {
  const row = sqlite
    .prepare<[], { v: number | null }>(`SELECT max(coalesce((SELECT max(position) FROM events), 0), coalesce((SELECT pruned_through FROM event_log WHERE id = 1), 0)) AS v`)
    .get();
  return row?.v ?? 0;
}

export function subscriptionCreateProcedure(ctx: ProcedureContext, args: CreateSubscriptionArgs): SubscriptionRecord {
  const nowMs = now(ctx, args.nowMs);
  return ctx.repo.transaction(() => {
    const sqlite = ctx.repo.sqlite;
    sqlite
      .prepare(
        `INSERT INTO subscriptions (id, url, types, description, secret, paused, created_at_ms, updated_at_ms, fanned_out_through)
         VALUES (@id, @url, @types, @description, @secret, 0, @nowMs, @nowMs, @end)`,
      )
      .run({ id: args.id, url: args.url, types: JSON.stringify(args.types), description: args.description, secret: args.secret, nowMs, end: logEnd(sqlite) });
    return toSubscriptionRecord(load(sqlite, args.id)!);
  });
}

export function subscriptionUpdateProcedure(ctx: ProcedureContext, args: UpdateSubscriptionArgs): SubscriptionRecord | undefined {
  const nowMs = now(ctx, args.nowMs);
  return ctx.repo.transaction(() => {
    const sqlite = ctx.repo.sqlite;
    const changed = sqlite
      .prepare(
        `UPDATE subscriptions SET url = coalesce(@url, url), types = coalesce(@types, types),
           description = CASE WHEN @setDescription = 1 THEN @description ELSE description END,
           paused = coalesce(@paused, paused), updated_at_ms = @nowMs
         WHERE id = @id`,
      )
      .run({
        id: args.id,
        url: args.url ?? null,
        types: args.types ? JSON.stringify(args.types) : null,
        setDescription: args.description !== undefined ? 1 : 0,
        description: args.description ?? null,
        paused: args.paused === undefined ? null : args.paused ? 1 : 0,
        nowMs,
      }).changes;
    return changed > 0 ? toSubscriptionRecord(load(sqlite, args.id)!) : undefined;
  });
}

export function subscriptionRemoveProcedure(ctx: ProcedureContext, args: { id: string }): boolean {
  return ctx.repo.transaction(() => {
    const sqlite = ctx.repo.sqlite;
    const removed = sqlite.prepare(`DELETE FROM subscriptions WHERE id = ?`).run(args.id).changes > 0;
    sqlite.prepare(`DELETE FROM subscription_deliveries WHERE subscription_id = ?`).run(args.id);
    return removed;
  });
}

export function subscriptionRotateProcedure(ctx: ProcedureContext, args: { id: string; secret: string; overlapMs: number; nowMs?: number | undefined }): SubscriptionRecord | undefined {
  const nowMs = now(ctx, args.nowMs);
  return ctx.repo.transaction(() => {
    const sqlite = ctx.repo.sqlite;
    const changed = sqlite
      .prepare(
        `UPDATE subscriptions SET previous_secret = secret, previous_secret_until_ms = @until, secret = @secret, updated_at_ms = @nowMs WHERE id = @id`,
      )
      .run({ id: args.id, secret: args.secret, until: nowMs + args.overlapMs, nowMs }).changes;
    return changed > 0 ? toSubscriptionRecord(load(sqlite, args.id)!) : undefined;
  });
}

export function subscriptionTargetsProcedure(ctx: ProcedureContext, _args: Record<string, never>): SubscriptionTarget[] {
  const rows = ctx.repo.sqlite.prepare<[], SubscriptionTargetRow>(`SELECT ${SUBSCRIPTION_TARGET_COLUMNS} FROM subscriptions ORDER BY id`).all();
  return rows.map(toSubscriptionTarget);
}

/** Queues matching events after the cursor and advances it (state derived from the log: redone if a crash loses it). */
export function subscriptionFanOutProcedure(ctx: ProcedureContext, args: { id: string; nowMs: number; limit: number }): { queued: number; more: boolean } {
  return ctx.repo.derivedTransaction(() => {
    const sqlite = ctx.repo.sqlite;
    const sub = sqlite.prepare<[string], { types: string; cursor: number }>(`SELECT types, fanned_out_through AS cursor FROM subscriptions WHERE id = ?`).get(args.id);
    if (!sub) return { queued: 0, more: false };
    const events = sqlite.prepare<[number, number], { position: number; type: string }>(`SELECT position, type FROM events WHERE position > ? ORDER BY position LIMIT ?`).all(sub.cursor, args.limit);
    const last = events[events.length - 1];
    if (!last) return { queued: 0, more: false };
    const types = parseStoredTypes(sub.types);
    const insert = sqlite.prepare(
      `INSERT INTO subscription_deliveries (subscription_id, position, event_id, status, attempts, next_attempt_at_ms, created_at_ms, updated_at_ms)
       VALUES (?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    let queued = 0;
    for (const e of events) {
      if (matchesTypes(types, e.type)) queued += insert.run(args.id, e.position, encodeEventCursor(e.position), args.nowMs, args.nowMs, args.nowMs).changes;
    }
    sqlite.prepare(`UPDATE subscriptions SET fanned_out_through = ? WHERE id = ?`).run(last.position, args.id);
    return { queued, more: events.length === args.limit };
  });
}

const EVENT_COLUMNS = `e.type AS type, e.occurred_at AS "occurredAtMs", e.recorded_at AS "recordedAtMs", e.device_id AS "deviceId", e.user_id AS "userId", e.data AS data`;

type ClaimRow = Omit<ClaimedSubscriptionDelivery, 'event'> & Omit<StoredEvent, 'position' | 'type'> & { type: string | null };

/** Turns a claim row (the event joined, absent once retention deleted it) into a claimed delivery. */
export function claimedFromRow(r: ClaimRow): ClaimedSubscriptionDelivery {
  return {
    subscriptionId: r.subscriptionId,
    position: Number(r.position),
    eventId: r.eventId,
    attempts: Number(r.attempts),
    event: r.type === null ? null : toClaimedEvent({ ...r, type: r.type }),
  };
}

/** Claims the due deliveries of a subscription that is not paused, oldest event first (state derived: a lost claim only means a resend). */
export function subscriptionClaimProcedure(ctx: ProcedureContext, args: { id: string; holder: string; nowMs: number; limit: number; leaseMs: number }): ClaimedSubscriptionDelivery[] {
  return ctx.repo.derivedTransaction(() => {
    const sqlite = ctx.repo.sqlite;
    const rows = sqlite
      .prepare<{ id: string; nowMs: number; limit: number }, ClaimRow>(
        `SELECT d.subscription_id AS "subscriptionId", d.position AS position, d.event_id AS "eventId", d.attempts AS attempts, ${EVENT_COLUMNS}
           FROM subscription_deliveries d
           JOIN subscriptions s ON s.id = d.subscription_id
           LEFT JOIN events e ON e.position = d.position
          WHERE d.subscription_id = @id AND s.paused = 0 AND d.status = 'pending' AND d.next_attempt_at_ms <= @nowMs
            AND (d.claim_expires_at_ms IS NULL OR d.claim_expires_at_ms <= @nowMs)
          ORDER BY d.position LIMIT @limit`,
      )
      .all({ id: args.id, nowMs: args.nowMs, limit: args.limit });
    const lease = sqlite.prepare(`UPDATE subscription_deliveries SET claim_holder = ?, claim_expires_at_ms = ? WHERE subscription_id = ? AND position = ?`);
    for (const r of rows) lease.run(args.holder, args.nowMs + args.leaseMs, args.id, r.position);
    fillSnapshotsSync(sqlite, rows.filter((r): r is ClaimRow & { data: string } => r.type !== null));
    return rows.map(claimedFromRow);
  });
}

export function subscriptionRecordProcedure(ctx: ProcedureContext, args: { id: string; holder: string; nowMs: number; results: SubscriptionAttemptResult[] }): number {
  return ctx.repo.transaction(() => {
    const update = ctx.repo.sqlite.prepare(
      `UPDATE subscription_deliveries
          SET status = @status, attempts = attempts + 1, next_attempt_at_ms = @nextAttemptAtMs, last_status = @lastStatus, last_error = @lastError,
              updated_at_ms = @nowMs, sent_at_ms = CASE WHEN @status = 'sent' THEN @nowMs ELSE sent_at_ms END, claim_holder = NULL, claim_expires_at_ms = NULL
        WHERE subscription_id = @id AND position = @position AND status = 'pending' AND claim_holder = @holder`,
    );
    let changed = 0;
    for (const r of args.results) changed += update.run({ ...r, id: args.id, holder: args.holder, nowMs: args.nowMs }).changes;
    return changed;
  });
}

export function subscriptionRetryProcedure(ctx: ProcedureContext, args: { id: string; position: number; nowMs?: number | undefined }): RetryDeliveryOutcome {
  const nowMs = now(ctx, args.nowMs);
  return ctx.repo.transaction(() => {
    const sqlite = ctx.repo.sqlite;
    const changed = sqlite
      .prepare(
        `UPDATE subscription_deliveries SET status = 'pending', attempts = 0, next_attempt_at_ms = @nowMs, claim_holder = NULL, claim_expires_at_ms = NULL, updated_at_ms = @nowMs
          WHERE subscription_id = @id AND position = @position AND status = 'dead'`,
      )
      .run({ id: args.id, position: args.position, nowMs }).changes;
    if (changed > 0) return 'retried';
    const exists = sqlite.prepare(`SELECT 1 FROM subscription_deliveries WHERE subscription_id = ? AND position = ?`).get(args.id, args.position);
    return exists ? 'not_dead' : 'not_found';
  });
}

export function subscriptionReplayProcedure(
  ctx: ProcedureContext,
  args: { id: string; after: number; sinceMs?: number | undefined; limit: number; nowMs?: number | undefined },
): { queued: number; through: number | null } | undefined {
  const nowMs = now(ctx, args.nowMs);
  // One batch per transaction: the single writer is held for `limit` events at most, and ingest goes on between batches.
  return ctx.repo.transaction(() => {
    const sqlite = ctx.repo.sqlite;
    const sub = sqlite.prepare<[string], { types: string; cursor: number }>(`SELECT types, fanned_out_through AS cursor FROM subscriptions WHERE id = ?`).get(args.id);
    if (!sub) return undefined;
    const events = sqlite
      .prepare<[number, number, number], { position: number; type: string; recordedAt: number }>(
        `SELECT position, type, recorded_at AS "recordedAt" FROM events WHERE position > ? AND position <= ? ORDER BY position LIMIT ?`,
      )
      .all(args.after, sub.cursor, args.limit);
    const types = parseStoredTypes(sub.types);
    const upsert = sqlite.prepare(
      `INSERT INTO subscription_deliveries (subscription_id, position, event_id, status, attempts, next_attempt_at_ms, created_at_ms, updated_at_ms)
       VALUES (@id, @position, @eventId, 'pending', 0, @nowMs, @nowMs, @nowMs)
       ON CONFLICT (subscription_id, position) DO UPDATE SET status = 'pending', attempts = 0, next_attempt_at_ms = @nowMs,
         claim_holder = NULL, claim_expires_at_ms = NULL, updated_at_ms = @nowMs`,
    );
    let queued = 0;
    for (const e of events) {
      if (e.recordedAt < (args.sinceMs ?? 0) || !matchesTypes(types, e.type)) continue;
      queued += upsert.run({ id: args.id, position: e.position, eventId: encodeEventCursor(e.position), nowMs }).changes;
    }
    const last = events[events.length - 1];
    return { queued, through: events.length === args.limit && last ? last.position : null };
  });
}
