import type Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { insertCommand } from '../../db/command-repo.js';
import * as schema from '../../db/schema.js';
import type { CommandRecord } from '../port.js';
import type { ProcedureContext } from './context.js';

const dbs = new WeakMap<Database.Database, BetterSQLite3Database<typeof schema>>();

/** Writer procedure `recordCommand`: writes one command of the log (a later record of the same id updates its outcome). */
export function recordCommandProcedure(ctx: ProcedureContext, args: CommandRecord): { id: string } {
  let db = dbs.get(ctx.repo.sqlite);
  if (!db) dbs.set(ctx.repo.sqlite, (db = drizzle(ctx.repo.sqlite, { schema })));
  insertCommand(db, { ...args, notes: JSON.stringify(args.notes) });
  return { id: args.id };
}
