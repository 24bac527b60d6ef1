/**
 * Shared by the Postgres intake and funnel tests: Postgres stores over a fresh schema, a SQLite
 * inline store beside them, deliveries to feed both, and the projections read with plain SQL from
 * either engine, normalised so that equal data compares equal (booleans 0/1, JSON parsed).
 */
import type pg from 'pg';
import { ManualClock } from '../../src/clock.js';
import type { ReceivedDelivery } from '../../src/ingest/deliveries.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { ingestSettings } from '../../src/db/ingest-repo.js';
import type { Store } from '../../src/store/port.js';
import type { PgContext } from '../../src/store/postgres/context.js';
import { createPostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/store.js';
import { makeTestApp, NOW, testConfig } from '../support/fixtures.js';

export { NOW };

/** A delivery to submit: an id (or none) and a body (events, or raw text). */
export interface Delivery {
  id: string | null;
  body: unknown[] | string;
  receivedAt?: number;
}

export function received(d: Delivery): ReceivedDelivery {
  const text = typeof d.body === 'string' ? d.body : JSON.stringify(d.body);
  return { headerId: d.id, receivedAt: d.receivedAt ?? NOW.getTime(), headers: { 'content-type': 'application/json' }, body: Buffer.from(text) };
}

export async function pgStore(pool: pg.Pool, extra: Partial<PostgresStoreOptions> = {}): Promise<Store> {
  return createPostgresStore({ pool, clock: new ManualClock(NOW), logger: extra.logger ?? silentLogger(), config: testConfig(), ...extra });
}

/** A SQLite inline store over a fresh :memory: database, and a way to read it. */
export function sqliteStore(logger?: Logger) {
  const t = makeTestApp({}, logger ? { logger } : {});
  const read = async (sql: string) => t.db.$client.prepare(sql).all() as Array<Record<string, unknown>>;
  return { store: t.deps.store, read };
}

/** A bare adapter context over `pool` (no apply loop): to store deliveries that one batch then applies. */
export function pgContext(pool: pg.Pool): PgContext {
  const config = testConfig();
  return { pool, clock: new ManualClock(NOW), logger: silentLogger(), config, settings: ingestSettings(config), retries: new Map() };
}

export const pgReader = (pool: pg.Pool) => async (sql: string) => (await pool.query(sql)).rows as Array<Record<string, unknown>>;

type Reader = (sql: string) => Promise<Array<Record<string, unknown>>>;

/** Equal data compares equal: booleans as 0/1, JSON text and json values parsed, numbers as numbers. */
function normalise(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && /^[[{]/.test(value)) {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}

const rows = async (read: Reader, sql: string) =>
  (await read(sql)).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, normalise(v)])));

/** Which columns a comparison leaves out: by design they depend on the order deliveries were applied in. */
export interface ProjectionOptions {
  orderFree?: boolean;
}

/** The projections, read with plain SQL (the same text on both engines), sorted by their keys. */
export async function projections(read: Reader, options: ProjectionOptions = {}) {
  const observationCols = options.orderFree
    ? 'device_id, device_type, user_id, event, source, observed_at_ms, event_created_at, received_at, updated_fields, snapshot, controlled, context, hash'
    : 'device_id, device_type, user_id, event, source, delivery_id, event_index, observed_at_ms, event_created_at, received_at, updated_fields, snapshot, controlled, context, stale, hash';
  const systemCols = options.orderFree
    ? 'event, user_id, vendor, created_at, pending_events, payload, received_at, hash'
    : 'event, user_id, vendor, created_at, pending_events, payload, delivery_id, received_at, hash';
  return {
    devices: await rows(read, 'SELECT * FROM devices ORDER BY id'),
    actions: await rows(read, 'SELECT * FROM actions ORDER BY id'),
    observations: await rows(read, `SELECT ${observationCols} FROM observations ORDER BY device_id, observed_at_ms, hash`),
    // Which action versions were ever current (queueing their target, raising their alert) depends on order by design.
    reconcileQueue: options.orderFree ? [] : await rows(read, 'SELECT * FROM reconcile_queue ORDER BY device_id'),
    alerts: options.orderFree ? [] : await rows(read, 'SELECT id, type, dedupe_key, device_id, user_id, data, created_at_ms FROM alerts ORDER BY dedupe_key'),
    systemEvents: await rows(read, `SELECT ${systemCols} FROM system_events ORDER BY hash`),
    deliveries: options.orderFree
      ? []
      : await rows(read, 'SELECT id, status, error, event_count, applied_at, attempts, body_sha256 FROM deliveries ORDER BY id'),
  };
}

/** Empties the tables the intake writes (between property runs on one schema). */
export async function truncateIntake(pool: pg.Pool): Promise<void> {
  await pool.query(
    'TRUNCATE deliveries, delivery_bodies, devices, actions, observations, system_events, reconcile_queue, alerts, alert_deliveries',
  );
}

/** Sums appliedEventCounts of several stores: events applied, by outcome, across them. */
export async function totalApplied(stores: Store[]): Promise<number> {
  let n = 0;
  for (const s of stores) for (const c of await s.appliedEventCounts()) n += c.count;
  return n;
}
