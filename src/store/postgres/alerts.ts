/**
 * The alert outbox on Postgres (store/port.ts AlertOutbox), shared by every replica. The rows and
 * their meaning are those of the SQLite outbox (store/sqlite/alerts.ts): one `alert_deliveries`
 * row per alert and sink, `pending` (due at `next_attempt_at_ms`) → `delivered`, or `dead`.
 *
 * Several replicas run the dispatcher at once, so both steps that hand out work claim rows with
 * `FOR UPDATE SKIP LOCKED` and change them in the same statement:
 * - fan-out marks the alerts it claimed as fanned out, so each alert is fanned out once;
 * - a claim moves each attempt's `next_attempt_at_ms` to the end of its lease, so no replica sees
 *   it due again before then. A replica that dies after sending leaves the attempt pending; once
 *   the lease ends another replica sends it again, with the same alert id (the `webhook-id`).
 */
import type pg from 'pg';
import { alertId, SINK_GONE, type NewAlert } from '../../alerts/types.js';
import type { AlertAttemptResult, AlertClaimArgs, AlertOutbox, AlertRetryOutcome, ClaimedAlertAttempt, SinkSpec } from '../port.js';
import { alertEvent } from '../../events/facts.js';
import { cleanText } from '../text.js';
import { appendEventsPostgres } from './events.js';
import { withTransaction, type PgContext } from './context.js';

/** Alerts fanned out per claim call at most (as on SQLite); the rest follow at the next call. */
const FAN_OUT_BATCH = 500;

/** Compares as SQLite's BINARY collation does for these ASCII ids: by code unit, not by locale. */
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Inserts alerts in the caller's transaction (one statement); a fact that already has its alert
 * (same dedupe key) is left alone. Returns the dedupe keys actually inserted.
 */
export async function insertAlerts(client: pg.ClientBase, alerts: readonly NewAlert[]): Promise<Set<string>> {
  if (alerts.length === 0) return new Set();
  const { rows } = await client.query<{ key: string }>(
    `INSERT INTO alerts (id, type, dedupe_key, device_id, user_id, data, created_at_ms)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[])
     ON CONFLICT DO NOTHING
     RETURNING dedupe_key AS key`,
    [
      alerts.map((a) => alertId(a.dedupeKey)),
      alerts.map((a) => a.type),
      alerts.map((a) => a.dedupeKey),
      alerts.map((a) => a.deviceId),
      alerts.map((a) => a.userId),
      // JSON.stringify writes a NUL inside a string as the escape \u0000, never the raw character.
      alerts.map((a) => JSON.stringify(a.data)),
      alerts.map((a) => a.createdAtMs),
    ],
  );
  return new Set(rows.map((r) => r.key));
}

/**
 * Creates the per-sink attempts of alerts not fanned out yet, one per sink whose type filter
 * takes the alert (a sink's filter lists its types: `acceptsType` is list membership, the join
 * below), and marks those alerts fanned out, all in one statement. Alerts another sink's claim
 * (or replica) is fanning out right now are waited for, not skipped: once that commits they no
 * longer match (`fanned_out_at_ms` is re-checked on the locked row) and their attempts are there
 * for this claim to see. Skipping them made a sink miss a new alert until its next run.
 */
async function fanOut(client: pg.ClientBase, sinks: readonly SinkSpec[], nowMs: number): Promise<void> {
  const pairs = sinks.flatMap((s) => s.types.map((type) => [s.name, type] as const));
  await client.query(
    `WITH claimed AS (
       SELECT id, type FROM alerts WHERE fanned_out_at_ms IS NULL ORDER BY created_at_ms, id LIMIT $1 FOR UPDATE
     ), attempts AS (
       INSERT INTO alert_deliveries (alert_id, sink, status, attempts, next_attempt_at_ms, updated_at_ms)
       SELECT DISTINCT c.id, s.sink, 'pending', 0, $4::int8, $4::int8
         FROM claimed c JOIN unnest($2::text[], $3::text[]) AS s(sink, type) ON s.type = c.type
       ON CONFLICT (alert_id, sink) DO NOTHING
     )
     UPDATE alerts a SET fanned_out_at_ms = $4 FROM claimed c WHERE a.id = c.id`,
    [FAN_OUT_BATCH, pairs.map((p) => p[0]), pairs.map((p) => p[1]), nowMs],
  );
}

/** The sink's due attempts, oldest due first, each leased until `nowMs + leaseMs` (one statement). */
async function claimDue(client: pg.ClientBase, args: AlertClaimArgs): Promise<ClaimedAlertAttempt[]> {
  const { rows } = await client.query<ClaimedAlertAttempt & { dueAtMs: number }>(
    `WITH due AS (
       SELECT alert_id, sink, next_attempt_at_ms FROM alert_deliveries
        WHERE status = 'pending' AND sink = $1 AND next_attempt_at_ms <= $2
        ORDER BY next_attempt_at_ms, alert_id COLLATE "C"
        LIMIT $3
        FOR UPDATE SKIP LOCKED
     )
     UPDATE alert_deliveries d SET next_attempt_at_ms = $4
       FROM due JOIN alerts a ON a.id = due.alert_id
      WHERE d.alert_id = due.alert_id AND d.sink = due.sink
     RETURNING d.alert_id AS "alertId", d.sink, d.attempts, a.type, a.device_id AS "deviceId", a.user_id AS "userId",
               a.created_at_ms AS "createdAtMs", a.data, due.next_attempt_at_ms AS "dueAtMs"`,
    [args.sink, args.nowMs, args.limit, args.nowMs + args.leaseMs],
  );
  // RETURNING keeps no order: restore the claim's (oldest due first, then by alert id).
  rows.sort((x, y) => x.dueAtMs - y.dueAtMs || byCodeUnit(x.alertId, y.alertId));
  return rows.map(({ dueAtMs: _due, ...attempt }) => attempt);
}

/**
 * Fans out new alerts (committed first, so that concurrent claims of other sinks see the attempts
 * it made), then claims the sink's due attempts.
 */
export async function claimAlertsPostgres(ctx: PgContext, args: AlertClaimArgs): Promise<ClaimedAlertAttempt[]> {
  await withTransaction(ctx, (client) => fanOut(client, args.sinks, args.nowMs));
  return withTransaction(ctx, (client) => claimDue(client, args));
}

/**
 * Records attempts' results for one sink; an attempt no longer pending (recorded by another
 * replica, retired) is left alone. One statement for all results; results naming the same alert
 * twice go one statement each, in order, as the SQLite loop applies them.
 */
export async function recordAlertsPostgres(ctx: PgContext, args: { nowMs: number; sink: string; results: AlertAttemptResult[] }): Promise<number> {
  if (args.results.length === 0) return 0;
  const unique = new Set(args.results.map((r) => r.alertId)).size === args.results.length;
  const groups = unique ? [args.results] : args.results.map((r) => [r]);
  return withTransaction(ctx, async (client) => {
    let changed = 0;
    for (const results of groups) {
      const r = await client.query(
        `UPDATE alert_deliveries d
            SET status = r.status, attempts = d.attempts + r.counted, next_attempt_at_ms = r.next_at, last_status = r.last_status,
                last_error = r.last_error, updated_at_ms = $1,
                delivered_at_ms = CASE WHEN r.status = 'delivered' THEN $1::int8 ELSE NULL END
           FROM unnest($3::text[], $4::text[], $5::int4[], $6::int8[], $7::int4[], $8::text[]) AS r(alert_id, status, counted, next_at, last_status, last_error)
          WHERE d.alert_id = r.alert_id AND d.sink = $2 AND d.status = 'pending'`,
        [
          args.nowMs,
          args.sink,
          results.map((x) => x.alertId),
          results.map((x) => x.status),
          results.map((x) => (x.counted ? 1 : 0)),
          results.map((x) => x.nextAttemptAtMs),
          results.map((x) => x.lastStatus),
          results.map((x) => cleanText(x.lastError)),
        ],
      );
      changed += r.rowCount ?? 0;
    }
    return changed;
  });
}

/** Attempts pending for sinks not configured become dead with SINK_GONE, in the caller's transaction. */
async function retireUnconfigured(client: pg.ClientBase, configured: readonly string[], nowMs: number): Promise<number> {
  const r = await client.query(
    `UPDATE alert_deliveries SET status = 'dead', last_error = $1, updated_at_ms = $2, next_attempt_at_ms = $2
      WHERE status = 'pending' AND NOT (sink = ANY($3::text[]))`,
    [SINK_GONE, nowMs, [...configured]],
  );
  return r.rowCount ?? 0;
}

/** Attempts still pending for sinks the configuration no longer names become dead (at start and daily). */
export async function retireSinksPostgres(ctx: PgContext, args: { nowMs: number; configured: string[] }): Promise<number> {
  return withTransaction(ctx, (client) => retireUnconfigured(client, args.configured, args.nowMs));
}

/**
 * Manual retry (API): the alert's dead attempts become pending and due now with the full retry
 * schedule again (attempts reset; the last error kept until the next attempt), only to sinks still
 * configured; dead attempts of sinks no longer configured are retired again with the reason.
 */
export async function retryAlertPostgres(ctx: PgContext, args: { alertId: string; nowMs: number; configured?: string[] | undefined }): Promise<AlertRetryOutcome> {
  return withTransaction(ctx, async (client) => {
    const exists = await client.query(`SELECT 1 FROM alerts WHERE id = $1`, [args.alertId]);
    if (exists.rowCount === 0) return { found: false, sinks: [] };
    const { rows } = await client.query<{ sink: string }>(
      `UPDATE alert_deliveries SET status = 'pending', attempts = 0, next_attempt_at_ms = $2, updated_at_ms = $2
        WHERE alert_id = $1 AND status = 'dead' RETURNING sink`,
      [args.alertId, args.nowMs],
    );
    const sinks = rows.map((r) => r.sink).sort(byCodeUnit);
    const configured = args.configured;
    if (configured === undefined) return { found: true, sinks };
    if (sinks.some((s) => !configured.includes(s))) await retireUnconfigured(client, configured, args.nowMs);
    return { found: true, sinks: sinks.filter((s) => configured.includes(s)) };
  });
}

/**
 * Raises an alert for a fact the store did not see (the Enode webhook's health, a stalled apply),
 * with its event in the same transaction, appended last (events.ts: positions in commit order).
 * An alert already raised adds no event either.
 */
export async function raiseAlertPostgres(ctx: PgContext, alert: NewAlert): Promise<{ id: string; inserted: boolean }> {
  const inserted = await withTransaction(ctx, async (client) => {
    const keys = await insertAlerts(client, [alert]);
    if (keys.size > 0) await appendEventsPostgres(client, [alertEvent(alert)]);
    return keys;
  });
  return { id: alertId(alert.dedupeKey), inserted: inserted.size > 0 };
}

/** The outbox of store/port.ts over the context's pool. */
export function alertsPostgres(ctx: PgContext): AlertOutbox {
  return {
    claim: (args) => claimAlertsPostgres(ctx, args),
    record: (args) => recordAlertsPostgres(ctx, args),
    retry: (args) => retryAlertPostgres(ctx, args),
    raise: (alert) => raiseAlertPostgres(ctx, alert),
    retireSinks: (args) => retireSinksPostgres(ctx, args),
  };
}
