/**
 * Retention on Postgres (see retention/prune.ts for what is kept): the same targets and rules as
 * store/sqlite/prune.ts, deleted in batches chosen by primary key (Postgres has no rowid; the
 * keys, unlike `ctid`, stay valid while a concurrent writer moves a row), each batch its own
 * short transaction, within a time box.
 *
 * Each batch repeats its condition on the rows it deletes: a row changed between the batch's
 * choice and its delete (another replica re-judging a device, an alert attempt recorded) is
 * left alone when it no longer qualifies. VACUUM is left to autovacuum, which reclaims the
 * deleted rows' space for new rows; nothing here shrinks the files.
 */
import { SUBSCRIPTION_EVENT_PRUNED } from '../../subscriptions/types.js';
import type { PruneArgs, PruneResult } from '../port.js';
import { withTransaction, type PgContext } from './context.js';

/** Rows deleted per statement (as on SQLite): short transactions holding few row locks. */
const BATCH = 2_000;
/** Default time box of one call: the deletes do not block writers on Postgres, the box bounds a job run's steps. */
const DEFAULT_BUDGET_MS = 100;

/**
 * Each target: the table and the batch delete of its old rows ($1 the cutoff, $2 the batch size);
 * or, with `then`, a first statement that marks what goes and then, in a transaction of its own,
 * the batch delete ($1 the batch size).
 */
const TARGETS: ReadonlyArray<{ table: string; sql: string; then?: string }> = [
  {
    // Webhook observations point into their delivery's body: they go first, with or before it.
    table: 'observations',
    sql: `DELETE FROM observations WHERE id IN (SELECT id FROM observations WHERE received_at < $1 ORDER BY received_at LIMIT $2)
          AND received_at < $1`,
  },
  {
    // The trigger of drizzle-pg/0001 deletes each delivery's body with it.
    table: 'deliveries',
    sql: `DELETE FROM deliveries WHERE id IN (
            SELECT id FROM deliveries WHERE received_at < $1 AND status IN ('applied', 'quarantined') ORDER BY received_at LIMIT $2)
          AND received_at < $1 AND status IN ('applied', 'quarantined')`,
  },
  {
    table: 'transitions',
    sql: `DELETE FROM transitions t USING (
            SELECT device_id, at_ms, field FROM transitions WHERE received_at_ms < $1 AND finding_id IS NULL LIMIT $2) old
          WHERE t.device_id = old.device_id AND t.at_ms = old.at_ms AND t.field = old.field
            AND t.received_at_ms < $1 AND t.finding_id IS NULL`,
  },
  {
    table: 'system_events',
    sql: `DELETE FROM system_events WHERE id IN (SELECT id FROM system_events WHERE received_at < $1 ORDER BY received_at LIMIT $2)
          AND received_at < $1`,
  },
  {
    // The newest status of each control stays whatever its age: it is the one in force.
    table: 'control_statuses',
    sql: `DELETE FROM control_statuses WHERE id IN (
            SELECT c.id FROM control_statuses c WHERE c.received_at < $1
               AND EXISTS (SELECT 1 FROM control_statuses n WHERE n.device_id = c.device_id AND n.source = c.source AND n.subject_id = c.subject_id AND n.at_ms > c.at_ms)
             ORDER BY c.received_at LIMIT $2)
          AND received_at < $1`,
  },
  {
    table: 'alert_deliveries',
    sql: `DELETE FROM alert_deliveries d USING (
            SELECT alert_id, sink FROM alert_deliveries WHERE status = 'delivered' AND updated_at_ms < $1 LIMIT $2) old
          WHERE d.alert_id = old.alert_id AND d.sink = old.sink AND d.status = 'delivered' AND d.updated_at_ms < $1`,
  },
  {
    table: 'alerts',
    sql: `DELETE FROM alerts WHERE id IN (
            SELECT id FROM alerts a WHERE a.created_at_ms < $1 AND a.fanned_out_at_ms IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id) LIMIT $2)
          AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = alerts.id)`,
  },
  {
    // A prefix of the log (an event recorded later stops it). Its last position is first kept as
    // pruned_through (the 410 of older cursors), in a transaction of its own: the counter row it
    // updates is the one every event-writing transaction takes last, so it is held for one short
    // UPDATE, never across the deletes. GREATEST: a pruner that lost its lease mid-batch and
    // computed an older bound never moves the mark back. Then the events up to the mark go.
    table: 'events',
    sql: `WITH head AS (SELECT position, recorded_at FROM events ORDER BY position LIMIT $2),
          bound AS (SELECT max(position) AS p FROM head
                    WHERE position < coalesce((SELECT min(position) FROM head WHERE recorded_at >= $1), 9223372036854775807))
          UPDATE event_log SET pruned_through = GREATEST(event_log.pruned_through, bound.p) FROM bound WHERE event_log.id = 1 AND bound.p IS NOT NULL`,
    then: `DELETE FROM events WHERE position IN (
             SELECT position FROM events WHERE position <= (SELECT pruned_through FROM event_log WHERE id = 1) ORDER BY position LIMIT $1)`,
  },
];

/**
 * Subscription deliveries, after the log, with the rules of store/sqlite/prune.ts: a pending one
 * whose event is gone and that no send has claimed past now becomes dead with the reason ($3
 * now); a finished one whose event is gone and last changed before the cutoff is deleted. Chosen
 * per subscription through the primary key, conditions repeated on the rows changed.
 */
const PRUNED_THROUGH = `(SELECT coalesce(max(pruned_through), 0) FROM event_log WHERE id = 1)`;
const SUBSCRIPTION_TARGETS: ReadonlyArray<{ table: string; sql: string; params: (a: { cutoffMs: number; nowMs: number }) => number[] }> = [
  {
    table: 'subscription_deliveries_expired',
    sql: `UPDATE subscription_deliveries d SET status = 'dead', last_error = '${SUBSCRIPTION_EVENT_PRUNED}', next_attempt_at_ms = $2,
            updated_at_ms = $2, claim_holder = NULL, claim_expires_at_ms = NULL
          FROM (SELECT d.subscription_id, d.position FROM subscriptions s JOIN subscription_deliveries d
                  ON d.subscription_id = s.id AND d.position <= ${PRUNED_THROUGH}
                 WHERE d.status = 'pending' AND (d.claim_expires_at_ms IS NULL OR d.claim_expires_at_ms <= $2) LIMIT $1) old
          WHERE d.subscription_id = old.subscription_id AND d.position = old.position AND d.status = 'pending'
            AND (d.claim_expires_at_ms IS NULL OR d.claim_expires_at_ms <= $2)`,
    params: ({ nowMs }) => [BATCH, nowMs],
  },
  {
    table: 'subscription_deliveries',
    sql: `DELETE FROM subscription_deliveries d USING (
            SELECT d.subscription_id, d.position FROM subscriptions s JOIN subscription_deliveries d
              ON d.subscription_id = s.id AND d.position <= ${PRUNED_THROUGH}
             WHERE d.status IN ('sent', 'dead') AND d.updated_at_ms < $1 LIMIT $2) old
          WHERE d.subscription_id = old.subscription_id AND d.position = old.position AND d.status IN ('sent', 'dead') AND d.updated_at_ms < $1`,
    params: ({ cutoffMs }) => [cutoffMs, BATCH],
  },
];

/**
 * Deletes old rows batch by batch within the time budget; always one batch of every target that
 * is reached, so each call makes progress whatever the budget. `more` when the budget ran out
 * with a full batch just deleted.
 */
export async function prunePostgres(ctx: Pick<PgContext, 'pool' | 'retries' | 'clock'>, args: PruneArgs): Promise<PruneResult> {
  const deleted: Record<string, number> = Object.fromEntries([...TARGETS, ...SUBSCRIPTION_TARGETS].map((t) => [t.table, 0]));
  const started = performance.now();
  const budgetMs = args.budgetMs ?? DEFAULT_BUDGET_MS;
  for (const t of TARGETS) {
    for (;;) {
      let n = await withTransaction(ctx, async (client) => (await client.query(t.sql, [args.cutoffMs, BATCH])).rowCount ?? 0);
      if (t.then !== undefined) {
        const then = t.then;
        n = await withTransaction(ctx, async (client) => (await client.query(then, [BATCH])).rowCount ?? 0);
      }
      deleted[t.table] = (deleted[t.table] ?? 0) + n;
      if (n < BATCH) break;
      if (performance.now() - started >= budgetMs) return { deleted, more: true };
    }
  }
  const nowMs = args.nowMs ?? ctx.clock.now().getTime();
  for (const t of SUBSCRIPTION_TARGETS) {
    for (;;) {
      const n = await withTransaction(ctx, async (client) => (await client.query(t.sql, t.params({ cutoffMs: args.cutoffMs, nowMs }))).rowCount ?? 0);
      deleted[t.table] = (deleted[t.table] ?? 0) + n;
      if (n < BATCH) break;
      if (performance.now() - started >= budgetMs) return { deleted, more: true };
    }
  }
  return { deleted, more: false };
}
