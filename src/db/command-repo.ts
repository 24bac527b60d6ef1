import { and, asc, eq, gt, inArray, ne } from 'drizzle-orm';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type { Db } from './open.js';
import * as schema from './schema.js';
import { actions, commands } from './schema.js';

/** A row of the command log as the gateway writes it (`notes` already JSON text). */
export type CommandInsert = typeof commands.$inferInsert;

/**
 * The gateway's reads (main thread, drizzle on the read connection): what the guards decide on.
 * Every query is bounded by an index: actions by target, commands by device and time.
 */
export function createCommandRepo(db: Db) {
  return {
    /** The device's actions in state PENDING (any origin). */
    pendingActionsFor(deviceId: string) {
      return db
        .select()
        .from(actions)
        .where(and(eq(actions.targetId, deviceId), eq(actions.state, 'PENDING')))
        .all();
    },

    /**
     * Request times of the device's commands that count against the daily budget since `sinceMs`
     * (exclusive), oldest first: those that reached or may have reached Enode (`sending`, `sent`,
     * `unknown`), cancels excepted — a cancel stops Enode's retries, it sends the device nothing.
     */
    budgetedCommandTimes(deviceId: string, sinceMs: number): number[] {
      return db
        .select({ at: commands.requestedAtMs })
        .from(commands)
        .where(and(eq(commands.deviceId, deviceId), gt(commands.requestedAtMs, sinceMs), inArray(commands.outcome, ['sending', 'sent', 'unknown']), ne(commands.command, 'cancel')))
        .orderBy(asc(commands.requestedAtMs))
        .all()
        .map((r) => r.at);
    },

    /** One command of the log. */
    getCommand(id: string) {
      return db.select().from(commands).where(eq(commands.id, id)).get();
    },

    /** The device's commands since `sinceMs` (inclusive), oldest first. */
    commandsForDevice(deviceId: string, sinceMs = 0) {
      return db
        .select()
        .from(commands)
        .where(and(eq(commands.deviceId, deviceId), gt(commands.requestedAtMs, sinceMs - 1)))
        .orderBy(asc(commands.requestedAtMs), asc(commands.id))
        .all();
    },
  };
}

export type CommandRepo = ReturnType<typeof createCommandRepo>;

/** Appends one command to the log; called by the writer's `recordCommand` procedure on its connection. */
export function insertCommand(db: BetterSQLite3Database<typeof schema>, row: CommandInsert): void {
  db.insert(commands)
    .values(row)
    .onConflictDoUpdate({ target: commands.id, set: { outcome: row.outcome, actionId: row.actionId ?? null, notes: row.notes, error: row.error ?? null } })
    .run();
}
