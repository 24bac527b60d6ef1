import type Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { insertCommand } from '../../db/command-repo.js';
import * as schema from '../../db/schema.js';
import type { CommandRecord } from '../port.js';
import type { ProcedureContext } from './context.js';
import { commandEvent } from '../../events/facts.js';
import { appendEvent } from './events.js';

const dbs = new WeakMap<Database.Database, BetterSQLite3Database<typeof schema>>();

/** Writer procedure `recordCommand`: writes one command of the log (a later record of the same id updates its outcome). */
export function recordCommandProcedure(ctx: ProcedureContext, args: CommandRecord): { id: string } {
  let db = dbs.get(ctx.repo.sqlite);
  if (!db) dbs.set(ctx.repo.sqlite, (db = drizzle(ctx.repo.sqlite, { schema })));
  const event = commandEvent(args, ctx.clock.now().getTime());
  // The command and its event commit together (a record of the same outcome again adds no event).
  ctx.repo.transaction(() => {
    insertCommand(db, { ...args, notes: JSON.stringify(args.notes) });
    if (event) appendEvent(ctx.repo.sqlite, event);
  });
  return { id: args.id };
}
