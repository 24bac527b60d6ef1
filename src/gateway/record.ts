import type Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { insertCommand } from '../db/command-repo.js';
import * as schema from '../db/schema.js';
import type { Note } from '../domain/guards.js';
import type { ProcedureContext } from '../ingest/procedures.js';

/** One entry of the command log, as plain data (it crosses to the writer thread). */
export interface CommandRecord {
  id: string;
  deviceId: string;
  deviceType: string;
  /** `charging`, `max-current`, `permanent-hold`, `follow-schedule`, `operation-mode` or `cancel`. */
  command: string;
  /** The request body as JSON text (`{}` for follow-schedule and cancel). */
  body: string;
  requestedAtMs: number;
  outcome: 'sending' | 'sent' | 'unknown' | 'collapsed' | 'refused' | 'failed';
  actionId: string | null;
  override: boolean;
  notes: Note[];
  error: string | null;
}

const dbs = new WeakMap<Database.Database, BetterSQLite3Database<typeof schema>>();

/** Writer procedure `recordCommand`: writes one command of the log (a later record of the same id updates its outcome). */
export function recordCommandProcedure(ctx: ProcedureContext, args: CommandRecord): { id: string } {
  let db = dbs.get(ctx.repo.sqlite);
  if (!db) dbs.set(ctx.repo.sqlite, (db = drizzle(ctx.repo.sqlite, { schema })));
  insertCommand(db, { ...args, notes: JSON.stringify(args.notes) });
  return { id: args.id };
}
