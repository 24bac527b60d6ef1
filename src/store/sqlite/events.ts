/**
 * The event log on SQLite: an event row is written in the caller's transaction, by the one
 * writer, so its autoincrement position is commit order and a reader paging by position never
 * skips one that commits later. `fact_key` names the fact: writing it again inserts nothing.
 */
import type Database from 'better-sqlite3';
import type { NewEvent } from '../../events/types.js';
import { perConnection } from './per-connection.js';

const insertStatement = perConnection((sqlite) =>
  sqlite.prepare(
    `INSERT INTO events (type, fact_key, occurred_at, recorded_at, device_id, user_id, data)
     VALUES (@type, @factKey, @occurredAtMs, @recordedAtMs, @deviceId, @userId, @data)
     ON CONFLICT (fact_key) DO NOTHING`,
  ),
);

/** Appends the event inside the caller's transaction; false when its fact is already in the log. */
export function appendEvent(sqlite: Database.Database, e: NewEvent): boolean {
  return insertStatement(sqlite).run({ ...e, data: JSON.stringify(e.data) }).changes > 0;
}

const pruneStatements = perConnection((sqlite) => ({
  bound: sqlite.prepare(
    `SELECT max(position) FROM (SELECT position, recorded_at FROM events ORDER BY position LIMIT @batch) head
     WHERE position < coalesce((SELECT min(position) FROM (SELECT position, recorded_at FROM events ORDER BY position LIMIT @batch) h
                                WHERE recorded_at >= @cutoff), 9007199254740991)`,
  ),
  mark: sqlite.prepare(
    `INSERT INTO event_log (id, last_position, pruned_through) VALUES (1, 0, @bound)
     ON CONFLICT (id) DO UPDATE SET pruned_through = excluded.pruned_through`,
  ),
  remove: sqlite.prepare(`DELETE FROM events WHERE position <= @bound`),
}));

/**
 * Deletes the oldest events recorded before `cutoffMs`, at most `batch`, as a prefix of the log
 * (an event recorded later stops it, so what is kept is always a suffix), and records the last
 * position deleted in `event_log.pruned_through`: a reader whose cursor is before it has missed
 * events. Returns how many were deleted. Runs in the caller's transaction.
 */
export function pruneEvents(sqlite: Database.Database, cutoffMs: number, batch: number): number {
  const s = pruneStatements(sqlite);
  const bound = s.bound.pluck().get({ batch, cutoff: cutoffMs }) as number | null;
  if (bound === null) return 0;
  s.mark.run({ bound });
  return s.remove.run({ bound }).changes;
}
