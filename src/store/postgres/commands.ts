/**
 * The gateway's command log on Postgres: one row per command, written when it is sent and again
 * when its outcome is known (store/port.ts recordCommand; the SQLite twin is db/command-repo.ts
 * insertCommand). A later record of the same id updates the outcome, action, notes and error and
 * leaves what the first record said about the request alone.
 */
import type { CommandRecord } from '../port.js';
import { cleanText } from '../text.js';
import type pg from 'pg';
import { commandEvent } from '../../events/facts.js';
import { withTransaction, type PgContext } from './context.js';
import { appendEventsPostgres } from './events.js';

/**
 * Writes one command (a single statement: its own transaction; with its event of the log, when it
 * was sent or refused, in one transaction). Notes are stored as JSON text,
 * as on SQLite. The error and the body may quote upstream text: a NUL in them is escaped
 * (store/text.ts cleanText), since Postgres text cannot hold one.
 */
export async function recordCommandPostgres(ctx: Pick<PgContext, 'pool' | 'retries' | 'clock'>, record: CommandRecord): Promise<{ id: string }> {
  const write = (q: pg.ClientBase | pg.Pool) => q.query(
    `INSERT INTO commands (id, device_id, device_type, command, body, requested_at_ms, outcome, action_id, override, notes, error)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (id) DO UPDATE SET outcome = excluded.outcome, action_id = excluded.action_id, notes = excluded.notes, error = excluded.error`,
    [
      record.id,
      record.deviceId,
      record.deviceType,
      record.command,
      cleanText(record.body),
      record.requestedAtMs,
      record.outcome,
      record.actionId,
      record.override,
      JSON.stringify(record.notes),
      cleanText(record.error),
    ],
  );
  // A sent or refused command is an event of the log, committed with its record; other records stay one statement.
  const event = commandEvent(record, ctx.clock.now().getTime());
  if (!event) await write(ctx.pool);
  else {
    await withTransaction(ctx, async (client) => {
      await write(client);
      await appendEventsPostgres(client, [event]);
    });
  }
  return { id: record.id };
}
