/**
 * The event log on SQLite: an event row is written in the caller's transaction, by the one
 * writer, so its autoincrement position is commit order and a reader paging by position never
 * skips one that commits later. `fact_key` names the fact: writing it again inserts nothing.
 */
import type Database from 'better-sqlite3';
import type { NewEvent } from '../../events/types.js';
import { perConnection } from './per-connection.js';
import { bodiesSql, dataWithSnapshotRef, fillSnapshots, referencedDeliveries } from '../../events/snapshot-ref.js';

const insertStatement = perConnection((sqlite) =>
  sqlite.prepare(
    `INSERT INTO events (type, fact_key, occurred_at, recorded_at, device_id, user_id, data)
     VALUES (@type, @factKey, @occurredAtMs, @recordedAtMs, @deviceId, @userId, @data)
     ON CONFLICT (fact_key) DO NOTHING`,
  ),
);

/**
 * Appends the event inside the caller's transaction; false when its fact is already in the log.
 * A device event whose snapshot is in a stored delivery keeps a reference instead of a copy
 * (events/snapshot-ref.ts): the writer's cost per event is then a few hundred bytes.
 */
export function appendEvent(sqlite: Database.Database, e: NewEvent): boolean {
  const ref = e.snapshotRef;
  const data = ref && isDeviceData(e.data) ? dataWithSnapshotRef(e.data, ref) : JSON.stringify(e.data);
  return (
    insertStatement(sqlite).run({ type: e.type, factKey: e.factKey, occurredAtMs: e.occurredAtMs, recordedAtMs: e.recordedAtMs, deviceId: e.deviceId, userId: e.userId, data }).changes >
    0
  );
}

function isDeviceData(data: Record<string, unknown>): boolean {
  const device = data.device;
  return device !== null && typeof device === 'object' && 'snapshot' in device;
}

/** Puts the referenced snapshots back into events read on this connection (the subscription claim). */
export function fillSnapshotsSync<T extends { data: string }>(sqlite: Database.Database, rows: T[]): T[] {
  const ids = referencedDeliveries(rows);
  if (ids.length === 0) return rows;
  const found = sqlite.prepare<string[], { id: string; body: Buffer }>(bodiesSql(ids.length)).all(...ids);
  return fillSnapshots(rows, new Map(found.map((r) => [r.id, r.body])));
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
