/**
 * The alert outbox (DESIGN.md data flow: findings ──▶ alert outbox ──▶ dispatcher ──▶ sinks).
 * An alert row is written in the same transaction as the fact that causes it, so a fact is never
 * committed without its alert, nor an alert without its fact. `dedupeKey` names the fact: the
 * same fact seen again (redelivery, re-evaluation) never makes a second alert.
 */
import type Database from 'better-sqlite3';
import { alertId, type NewAlert } from '../../alerts/types.js';
import { alertEvent } from '../../events/facts.js';
import { appendEvent } from './events.js';
import { perConnection } from './per-connection.js';

const insertStatement = perConnection((sqlite) =>
  sqlite.prepare(
    `INSERT INTO alerts (id, type, dedupe_key, device_id, user_id, data, created_at_ms)
     VALUES (@id, @type, @dedupeKey, @deviceId, @userId, @data, @createdAtMs)
     ON CONFLICT (dedupe_key) DO NOTHING`,
  ),
);

/**
 * Inserts the alert inside the caller's transaction; false when the fact already has its alert.
 * Portable SQL (`ON CONFLICT DO NOTHING`).
 */
export function enqueueAlert(sqlite: Database.Database, alert: NewAlert): boolean {
  const inserted = insertStatement(sqlite).run({ ...alert, id: alertId(alert.dedupeKey), data: JSON.stringify(alert.data) }).changes > 0;
  // Alerts are events of the log too, written with the alert (the outbox is the log's first consumer).
  if (inserted) appendEvent(sqlite, alertEvent(alert));
  return inserted;
}
