/**
 * The alert outbox on SQLite (store/port.ts AlertOutbox), written only by the single writer. One
 * `alert_deliveries` row per alert and sink: `pending` (due at `next_attempt_at_ms`) →
 * `delivered`, or `dead` after the last attempt.
 */
import type Database from 'better-sqlite3';
import { acceptsType, alertId, SINK_GONE, type NewAlert } from '../../alerts/types.js';
import type { AlertAttemptResult, AlertClaimArgs, AlertRetryOutcome, ClaimedAlertAttempt, SinkSpec } from '../port.js';
import { enqueueAlert } from './outbox.js';
import type { ProcedureContext } from './context.js';

type ClaimedDelivery = ClaimedAlertAttempt;
type DeliveryResult = AlertAttemptResult;

/** Alerts fanned out per claim call at most; the rest follow at the next call. */
const FAN_OUT_BATCH = 500;

function statements(sqlite: Database.Database) {
  return {
    unfanned: sqlite.prepare<[number], { id: string; type: string }>(
      `SELECT id, type FROM alerts WHERE fanned_out_at_ms IS NULL ORDER BY created_at_ms, id LIMIT ?`,
    ),
    insertDelivery: sqlite.prepare(
      `INSERT INTO alert_deliveries (alert_id, sink, status, attempts, next_attempt_at_ms, updated_at_ms)
       VALUES (@alertId, @sink, 'pending', 0, @nowMs, @nowMs)
       ON CONFLICT (alert_id, sink) DO NOTHING`,
    ),
    markFannedOut: sqlite.prepare(`UPDATE alerts SET fanned_out_at_ms = ? WHERE id = ?`),
    due: sqlite.prepare<[string, number, number], ClaimedDelivery>(
      `SELECT d.alert_id AS alertId, d.sink AS sink, d.attempts AS attempts, a.type AS type, a.device_id AS deviceId,
              a.user_id AS userId, a.created_at_ms AS createdAtMs, a.data AS data
         FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
        WHERE d.status = 'pending' AND d.sink = ? AND d.next_attempt_at_ms <= ?
        ORDER BY d.next_attempt_at_ms, d.alert_id
        LIMIT ?`,
    ),
    lease: sqlite.prepare(`UPDATE alert_deliveries SET next_attempt_at_ms = ? WHERE alert_id = ? AND sink = ? AND status = 'pending'`),
    record: sqlite.prepare(
      `UPDATE alert_deliveries
          SET status = @status, attempts = attempts + @counted, next_attempt_at_ms = @nextAttemptAtMs, last_status = @lastStatus,
              last_error = @lastError, updated_at_ms = @nowMs, delivered_at_ms = @deliveredAtMs
        WHERE alert_id = @alertId AND sink = @sink AND status = 'pending'`,
    ),
    alertExists: sqlite.prepare<[string], { id: string }>(`SELECT id FROM alerts WHERE id = ?`),
    deadSinks: sqlite.prepare<[string], { sink: string }>(`SELECT sink FROM alert_deliveries WHERE alert_id = ? AND status = 'dead' ORDER BY sink`),
    revive: sqlite.prepare(
      `UPDATE alert_deliveries SET status = 'pending', attempts = 0, next_attempt_at_ms = ?, updated_at_ms = ? WHERE alert_id = ? AND status = 'dead'`,
    ),
  };
}

const cache = new WeakMap<Database.Database, ReturnType<typeof statements>>();
function prepared(sqlite: Database.Database) {
  let s = cache.get(sqlite);
  if (!s) {
    s = statements(sqlite);
    cache.set(sqlite, s);
  }
  return s;
}

/**
 * Creates the per-sink deliveries of alerts not fanned out yet: one row for each sink whose type
 * filter accepts the alert. An alert no sink accepts is marked fanned out all the same. Run in
 * the caller's transaction.
 */
export function fanOut(sqlite: Database.Database, sinks: readonly SinkSpec[], nowMs: number, limit = FAN_OUT_BATCH): { alerts: number; deliveries: number } {
  const s = prepared(sqlite);
  let deliveries = 0;
  const rows = s.unfanned.all(limit);
  for (const alert of rows) {
    for (const sink of sinks) {
      if (acceptsType(sink.types, alert.type)) deliveries += s.insertDelivery.run({ alertId: alert.id, sink: sink.name, nowMs }).changes;
    }
    s.markFannedOut.run(nowMs, alert.id);
  }
  return { alerts: rows.length, deliveries };
}

/**
 * The sink's due deliveries, oldest due first, each leased until `nowMs + leaseMs`: a crash while
 * sending leaves it pending, and it is sent again (same `webhook-id`) once the lease runs out.
 */
export function claimDue(sqlite: Database.Database, sink: string, nowMs: number, limit: number, leaseMs: number): ClaimedDelivery[] {
  const s = prepared(sqlite);
  const rows = s.due.all(sink, nowMs, limit);
  for (const r of rows) s.lease.run(nowMs + leaseMs, r.alertId, sink);
  return rows;
}

/** Records attempts' results; a delivery changed meanwhile (e.g. no longer pending) is left alone. */
export function recordResults(sqlite: Database.Database, sink: string, nowMs: number, results: readonly DeliveryResult[]): number {
  const s = prepared(sqlite);
  let changed = 0;
  for (const r of results) {
    changed += s.record.run({
      alertId: r.alertId,
      sink,
      status: r.status,
      counted: r.counted ? 1 : 0,
      nextAttemptAtMs: r.nextAttemptAtMs,
      lastStatus: r.lastStatus,
      lastError: r.lastError,
      nowMs,
      deliveredAtMs: r.status === 'delivered' ? nowMs : null,
    }).changes;
  }
  return changed;
}


/**
 * Makes an alert's dead deliveries pending and due now, with the full retry schedule again
 * (attempts reset; the last error is kept until the next attempt).
 */
export function retryDead(sqlite: Database.Database, id: string, nowMs: number): AlertRetryOutcome {
  const s = prepared(sqlite);
  if (!s.alertExists.get(id)) return { found: false, sinks: [] };
  const sinks = s.deadSinks.all(id).map((r) => r.sink);
  if (sinks.length > 0) s.revive.run(nowMs, nowMs, id);
  return { found: true, sinks };
}

// ── Writer procedures (plain data in and out: they cross a thread boundary) ──

/** Fans out new alerts, then claims the sink's due deliveries (state derived: redone if a crash loses it). */
export function alertClaimProcedure(ctx: ProcedureContext, args: AlertClaimArgs): ClaimedDelivery[] {
  return ctx.repo.derivedTransaction(() => {
    fanOut(ctx.repo.sqlite, args.sinks, args.nowMs);
    return claimDue(ctx.repo.sqlite, args.sink, args.nowMs, args.limit, args.leaseMs);
  });
}

/** Records the results of attempts to one sink. */
export function alertRecordProcedure(ctx: ProcedureContext, args: { nowMs: number; sink: string; results: DeliveryResult[] }): number {
  return ctx.repo.transaction(() => recordResults(ctx.repo.sqlite, args.sink, args.nowMs, args.results));
}

/**
 * Deliveries still pending for sinks the configuration no longer names (a URL removed or rotated)
 * would wait forever: they become dead, listed with the reason, instead. Returns how many.
 */
export function retireUnconfiguredSinks(sqlite: Database.Database, configured: readonly string[], nowMs: number): number {
  const placeholders = configured.map(() => '?').join(', ');
  const sql = `UPDATE alert_deliveries SET status = 'dead', last_error = ?, updated_at_ms = ?, next_attempt_at_ms = ?
    WHERE status = 'pending'${configured.length > 0 ? ` AND sink NOT IN (${placeholders})` : ''}`;
  return sqlite.prepare(sql).run(SINK_GONE, nowMs, nowMs, ...configured).changes;
}

/** Writer procedure: retires the deliveries of sinks no longer configured (at start and daily). */
export function alertRetireSinksProcedure(ctx: ProcedureContext, args: { nowMs: number; configured: string[] }): number {
  return ctx.repo.transaction(() => retireUnconfiguredSinks(ctx.repo.sqlite, args.configured, args.nowMs));
}

/** Manual retry of an alert's dead deliveries (API): only to sinks still configured. */
export function alertRetryProcedure(ctx: ProcedureContext, args: { alertId: string; nowMs: number; configured?: string[] | undefined }): AlertRetryOutcome {
  return ctx.repo.transaction(() => {
    const outcome = retryDead(ctx.repo.sqlite, args.alertId, args.nowMs);
    const configured = args.configured;
    if (configured === undefined) return outcome;
    if (outcome.sinks.some((s) => !configured.includes(s))) retireUnconfiguredSinks(ctx.repo.sqlite, configured, args.nowMs);
    return { found: outcome.found, sinks: outcome.sinks.filter((s) => configured.includes(s)) };
  });
}

/** Raises an alert from the main thread (facts the writer does not see, e.g. the Enode webhook's health). */
export function alertRaiseProcedure(ctx: ProcedureContext, alert: NewAlert): { id: string; inserted: boolean } {
  return ctx.repo.transaction(() => ({ id: alertId(alert.dedupeKey), inserted: enqueueAlert(ctx.repo.sqlite, alert) }));
}
