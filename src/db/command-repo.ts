import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import * as schema from './schema.js';
import { commands } from './schema.js';

/** A row of the command log as the gateway writes it (`notes` already JSON text). */
export type CommandInsert = typeof commands.$inferInsert;

/**
 * Appends one command to the log (a later record of the same id updates its outcome); called by
 * the writer's `recordCommand` procedure on its connection. The gateway's reads of the log go
 * through the read port (store/read.ts).
 */
export function insertCommand(db: BetterSQLite3Database<typeof schema>, row: CommandInsert): void {
  db.insert(commands)
    .values(row)
    .onConflictDoUpdate({ target: commands.id, set: { outcome: row.outcome, actionId: row.actionId ?? null, notes: row.notes, error: row.error ?? null } })
    .run();
}
