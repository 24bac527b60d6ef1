/**
 * Retention on SQLite (see retention/prune.ts for what is kept): batch deletes by the writer,
 * each in its own short transaction between incoming deliveries.
 *
 * VACUUM strategy: none while running. SQLite reuses the pages freed here, so the file stops
 * growing at about its size for one retention period; shrinking it needs `VACUUM` with the daemon
 * stopped (README "Retention").
 */
import type Database from 'better-sqlite3';
import { SUBSCRIPTION_EVENT_PRUNED } from '../../subscriptions/types.js';
import type { PruneArgs, PruneResult } from '../port.js';
import type { ProcedureContext } from './context.js';
import { pruneEvents } from './events.js';

/** Rows deleted per statement: short write transactions between incoming deliveries. */
const BATCH = 2_000;
const DEFAULT_BUDGET_MS = 100;

/** Each target: table and the batch delete of its old rows (portable SQL: a keyed subquery with LIMIT). */
const TARGETS: Array<{ table: string; sql: string }> = [
  {
    // Webhook observations point into their delivery's body: they go first, with or before it.
    table: 'observations',
    sql: `DELETE FROM observations WHERE id IN (SELECT id FROM observations WHERE received_at < @cutoff ORDER BY received_at LIMIT ${BATCH})`,
  },
  {
    // A webhook observation carries its delivery's received_at (replays too), so by the time its
    // delivery is old enough here, the observation was deleted above, in an earlier batch.
    table: 'deliveries',
    sql: `DELETE FROM deliveries WHERE id IN (
            SELECT id FROM deliveries WHERE received_at < @cutoff AND status IN ('applied', 'quarantined')
            ORDER BY received_at LIMIT ${BATCH})`,
  },
  {
    table: 'transitions',
    sql: `DELETE FROM transitions WHERE rowid IN (SELECT rowid FROM transitions WHERE received_at_ms < @cutoff AND finding_id IS NULL LIMIT ${BATCH})`,
  },
  {
    table: 'system_events',
    sql: `DELETE FROM system_events WHERE id IN (SELECT id FROM system_events WHERE received_at < @cutoff ORDER BY received_at LIMIT ${BATCH})`,
  },
  {
    // The newest status of each control stays whatever its age: it is the one in force.
    table: 'control_statuses',
    sql: `DELETE FROM control_statuses WHERE id IN (
            SELECT c.id FROM control_statuses c WHERE c.received_at < @cutoff
               AND EXISTS (SELECT 1 FROM control_statuses n WHERE n.device_id = c.device_id AND n.source = c.source AND n.subject_id = c.subject_id AND n.at_ms > c.at_ms)
             ORDER BY c.received_at LIMIT ${BATCH})`,
  },
  {
    table: 'alert_deliveries',
    sql: `DELETE FROM alert_deliveries WHERE rowid IN (
            SELECT rowid FROM alert_deliveries WHERE status = 'delivered' AND updated_at_ms < @cutoff LIMIT ${BATCH})`,
  },
  {
    table: 'alerts',
    sql: `DELETE FROM alerts WHERE id IN (
            SELECT id FROM alerts a WHERE a.created_at_ms < @cutoff AND a.fanned_out_at_ms IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.alert_id = a.id) LIMIT ${BATCH})`,
  },
];

/**
 * Subscription deliveries, after the event log: a delivery goes once its event is gone and it
 * is finished (sent or dead) and last changed before the cutoff. A pending one whose event is
 * gone can never be sent (its body is deleted): it is made dead with the reason — unless a send
 * of it is in flight (its claim runs past now) — and goes a retention period later, so it shows
 * in GET /api/v1/subscriptions/{id}/deliveries?status=dead meanwhile. Chosen per subscription
 * through the primary key (subscription_id, position): no scan of the table.
 */
const SUBSCRIPTION_TARGETS: Array<{ table: string; sql: string }> = [
  {
    table: 'subscription_deliveries_expired',
    sql: `UPDATE subscription_deliveries SET status = 'dead', last_error = '${SUBSCRIPTION_EVENT_PRUNED}', next_attempt_at_ms = @now,
            updated_at_ms = @now, claim_holder = NULL, claim_expires_at_ms = NULL
          WHERE rowid IN (
            SELECT d.rowid FROM subscriptions s JOIN subscription_deliveries d
              ON d.subscription_id = s.id AND d.position <= (SELECT coalesce(max(pruned_through), 0) FROM event_log WHERE id = 1)
             WHERE d.status = 'pending' AND (d.claim_expires_at_ms IS NULL OR d.claim_expires_at_ms <= @now) LIMIT ${BATCH})`,
  },
  {
    table: 'subscription_deliveries',
    sql: `DELETE FROM subscription_deliveries WHERE rowid IN (
            SELECT d.rowid FROM subscriptions s JOIN subscription_deliveries d
              ON d.subscription_id = s.id AND d.position <= (SELECT coalesce(max(pruned_through), 0) FROM event_log WHERE id = 1)
             WHERE d.status IN ('sent', 'dead') AND d.updated_at_ms < @cutoff LIMIT ${BATCH})`,
  },
];

const prepared = new WeakMap<Database.Database, Database.Statement[]>();
const preparedSubscriptions = new WeakMap<Database.Database, Database.Statement[]>();

/** Writer procedure: deletes old rows batch by batch within the time budget. */
export function pruneProcedure(ctx: ProcedureContext, args: PruneArgs): PruneResult {
  const sqlite = ctx.repo.sqlite;
  let statements = prepared.get(sqlite);
  if (!statements) prepared.set(sqlite, (statements = TARGETS.map((t) => sqlite.prepare(t.sql))));
  const deleted: Record<string, number> = {};
  const started = performance.now();
  const budgetMs = args.budgetMs ?? DEFAULT_BUDGET_MS;
  for (const t of TARGETS) deleted[t.table] = 0;
  deleted['events'] = 0;
  for (const t of SUBSCRIPTION_TARGETS) deleted[t.table] = 0;
  // Always one batch at least, so every call makes progress whatever the budget.
  for (let i = 0; i < TARGETS.length; i++) {
    const table = (TARGETS[i] as { table: string }).table;
    for (;;) {
      // Deleting derived or finished history: a crash may undo the last batch, which is deleted again.
      const n = ctx.repo.derivedTransaction(() => (statements as Database.Statement[])[i]!.run({ cutoff: args.cutoffMs }).changes);
      deleted[table] = (deleted[table] ?? 0) + n;
      if (n < BATCH) break;
      if (performance.now() - started >= budgetMs) return { deleted, more: true };
    }
  }
  // The event log: a prefix at a time, with the position retention reached (store/sqlite/events.ts).
  for (;;) {
    const n = ctx.repo.derivedTransaction(() => pruneEvents(sqlite, args.cutoffMs, BATCH));
    deleted['events'] = (deleted['events'] ?? 0) + n;
    if (n < BATCH) break;
    if (performance.now() - started >= budgetMs) return { deleted, more: true };
  }
  let subscriptionStatements = preparedSubscriptions.get(sqlite);
  if (!subscriptionStatements) preparedSubscriptions.set(sqlite, (subscriptionStatements = SUBSCRIPTION_TARGETS.map((t) => sqlite.prepare(t.sql))));
  const nowMs = args.nowMs ?? ctx.clock.now().getTime();
  for (let i = 0; i < SUBSCRIPTION_TARGETS.length; i++) {
    const table = SUBSCRIPTION_TARGETS[i]!.table;
    for (;;) {
      const n = ctx.repo.derivedTransaction(() => subscriptionStatements![i]!.run({ cutoff: args.cutoffMs, now: nowMs }).changes);
      deleted[table] = (deleted[table] ?? 0) + n;
      if (n < BATCH) break;
      if (performance.now() - started >= budgetMs) return { deleted, more: true };
    }
  }
  return { deleted, more: false };
}

