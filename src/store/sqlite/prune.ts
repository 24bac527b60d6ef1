/**
 * Retention on SQLite (see retention/prune.ts for what is kept): batch deletes by the writer,
 * each in its own short transaction between incoming deliveries.
 *
 * VACUUM strategy: none while running. SQLite reuses the pages freed here, so the file stops
 * growing at about its size for one retention period; shrinking it needs `VACUUM` with the daemon
 * stopped (README "Retention").
 */
import type Database from 'better-sqlite3';
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

const prepared = new WeakMap<Database.Database, Database.Statement[]>();

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
  return { deleted, more: false };
}

