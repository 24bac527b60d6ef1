/**
 * Support of the Postgres feature tests (pg-reconcile, pg-alerts, pg-prune, pg-commands-sessions):
 * a PgContext over a test schema, and copies of SQLite rows into Postgres, so that one input
 * (deliveries applied by the SQLite app of test/support/fixtures.ts) is judged, pruned or
 * dispatched by both adapters and their results compared row for row.
 */
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { Clock } from '../../src/clock.js';
import type { Config } from '../../src/config.js';
import { ingestSettings } from '../../src/db/ingest-repo.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import type { PgContext } from '../../src/store/postgres/context.js';

/** A Postgres adapter context on `pool` with the test app's configuration and clock. */
export function pgContext(pool: pg.Pool, t: { config: Config; clock: Clock }, logger: Logger = silentLogger()): PgContext {
  return { pool, clock: t.clock, logger, config: t.config, settings: ingestSettings(t.config), retries: new Map() };
}

const columnTypes = new Map<string, Map<string, string>>();

/** The Postgres data type of each column of `table` (cached per schema and table). */
async function typesOf(pool: pg.Pool, table: string): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ schema: string }>('SELECT current_schema() AS schema');
  const cacheKey = `${rows[0]?.schema}.${table}`;
  let types = columnTypes.get(cacheKey);
  if (!types) {
    const r = await pool.query<{ column_name: string; data_type: string }>(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`,
      [table],
    );
    types = new Map(r.rows.map((c) => [c.column_name, c.data_type]));
    columnTypes.set(cacheKey, types);
  }
  return types;
}

/**
 * Inserts SQLite rows (as `SELECT *` returns them) into the same Postgres table, 200 rows per
 * statement; SQLite's 0/1 become booleans where Postgres has a boolean. `conflict` is appended
 * to each statement (e.g. an upsert clause).
 */
export async function insertRows(pool: pg.Pool, table: string, rows: Array<Record<string, unknown>>, conflict = ''): Promise<void> {
  if (rows.length === 0) return;
  const types = await typesOf(pool, table);
  const columns = Object.keys(rows[0] as object);
  for (let i = 0; i < rows.length; i += 200) {
    const chunk = rows.slice(i, i + 200);
    const params: unknown[] = [];
    const values = chunk.map((row) => {
      const marks = columns.map((c) => {
        const v = row[c];
        params.push(types.get(c) === 'boolean' && typeof v === 'number' ? v !== 0 : v);
        return `$${params.length}`;
      });
      return `(${marks.join(', ')})`;
    });
    await pool.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values.join(', ')} ${conflict}`, params);
  }
}

/** Replaces the whole Postgres table with SQLite's rows. */
export async function copyTable(sqlite: Database.Database, pool: pg.Pool, table: string): Promise<void> {
  await pool.query(`DELETE FROM ${table}`);
  await insertRows(pool, table, sqlite.prepare(`SELECT * FROM ${table}`).all() as Array<Record<string, unknown>>);
}

/**
 * Keeps Postgres's reconcile inputs equal to SQLite's: devices and actions upserted, new
 * observations appended (they are only ever inserted), and the queue replaced. Call it before
 * reconciling both with the same `nowMs`.
 */
export function reconcileInputs(sqlite: Database.Database, pool: pg.Pool) {
  let lastObservation = 0;
  const upsert = (table: string, columns: string[]) =>
    `ON CONFLICT (id) DO UPDATE SET ${columns.filter((c) => c !== 'id').map((c) => `${c} = excluded.${c}`).join(', ')}`;
  return async function sync(): Promise<void> {
    for (const table of ['devices', 'actions']) {
      const rows = sqlite.prepare(`SELECT * FROM ${table}`).all() as Array<Record<string, unknown>>;
      if (rows.length > 0) await insertRows(pool, table, rows, upsert(table, Object.keys(rows[0] as object)));
    }
    const observations = sqlite.prepare(`SELECT * FROM observations WHERE id > ? ORDER BY id`).all(lastObservation) as Array<Record<string, unknown>>;
    await insertRows(pool, 'observations', observations);
    lastObservation = Number(observations.at(-1)?.id ?? lastObservation);
    await copyTable(sqlite, pool, 'reconcile_queue');
  };
}

/** Rows sorted by their JSON text (collation-free), values normalised: bigint-as-number, booleans as on Postgres. */
function normalise(rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]))).sort((a, b) => {
    const x = JSON.stringify(a);
    const y = JSON.stringify(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** The same columns of one table on both engines, normalised for comparison. */
export async function bothTables(sqlite: Database.Database, pool: pg.Pool, table: string, columns = '*') {
  const sql = `SELECT ${columns} FROM ${table}`;
  return { sqlite: normalise(sqlite.prepare(sql).all() as Array<Record<string, unknown>>), postgres: normalise((await pool.query(sql)).rows) };
}
