/**
 * The Postgres half of the engine-neutral test app (fixtures.ts `makeApp`): a migrated schema
 * for each app, built the way the daemon builds its storage (src/storage.ts), and SQL for the
 * assertions that must look at tables.
 *
 * Migrating a schema costs about 0.7 s; emptying one costs a few milliseconds. So each test
 * process keeps the schemas its apps used: an app that closes hands its schema back, emptied
 * (its rows deleted and its identities restarted, so ids start again at 1 as in a new database), and the next app
 * takes it. A test that runs two apps at once gets two schemas. They are dropped when the test
 * file ends (engine-setup.ts calls dropTestSchemas).
 */
import pg from 'pg';
import type { Clock } from '../../src/clock.js';
import type { Config } from '../../src/config.js';
import type { Logger } from '../../src/logger.js';
import type { Storage } from '../../src/storage.js';
import { createPostgresReader, numberPlaceholders, postgresEngineReads } from '../../src/store/postgres/reader.js';
import { createPostgresStore } from '../../src/store/postgres/store.js';
import { createReadStore } from '../../src/store/read.js';
import type { SqlParam } from '../../src/store/sql.js';
import { freshPostgresSchema, postgresAvailable, type FreshSchema } from './postgres.js';

function requireTestUrl(): string {
  const a = postgresAvailable();
  if ('skip' in a) throw new Error(`Postgres is not available: ${a.skip}`);
  return a.url;
}

/**
 * The statement that empties a migrated schema (the migrations journal is kept): a DELETE per
 * table and its identity sequences set back to 1, so that ids start as in a new database. DELETE,
 * not TRUNCATE: a test leaves a few rows, and TRUNCATE's new files cost ~0.5 s per schema here.
 */
async function emptyingSql(pool: pg.Pool): Promise<string> {
  const tables = await pool.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '__drizzle_migrations' ORDER BY 1`,
  );
  const sequences = await pool.query<{ name: string }>(`SELECT sequencename AS name FROM pg_sequences WHERE schemaname = current_schema()`);
  return [
    'BEGIN',
    'SET LOCAL synchronous_commit = off',
    ...tables.rows.map((r) => `DELETE FROM "${r.name}"`),
    ...sequences.rows.map((r) => `SELECT setval('"${r.name}"', 1, false)`),
    'COMMIT',
  ].join(';\n');
}

interface PooledSchema {
  schema: FreshSchema;
  /** Empties it (see emptyingSql). */
  emptying: string;
  /** The test ended its pool on purpose (the database "went away"): drop it rather than reuse it. */
  lost?: boolean;
}

/**
 * Migrated schemas of this test process not in use. Per process on purpose: a schema outlives
 * the app that used it, and vitest runs each test file in its own process, which drops them at
 * the end (a killed run leaves them to postgres.ts's sweep).
 */
const spare: PooledSchema[] = [];
const all = new Set<PooledSchema>();

async function takeSchema(): Promise<PooledSchema> {
  const reused = spare.pop();
  if (reused) return reused;
  const schema = await freshPostgresSchema({ max: 6 });
  const pooled = { schema, emptying: await emptyingSql(schema.pool) };
  all.add(pooled);
  return pooled;
}

/** Empties the schema (identities restarted) and keeps it for the next app; drops it when that fails. */
async function giveBack(pooled: PooledSchema): Promise<void> {
  if (pooled.lost) {
    all.delete(pooled);
    await pooled.schema.drop();
    return;
  }
  try {
    await pooled.schema.pool.query(pooled.emptying);
    spare.push(pooled);
  } catch (err) {
    all.delete(pooled);
    await pooled.schema.drop();
    throw err;
  }
}

/** Drops every schema this process made for apps (the end of a test file). */
export async function dropTestSchemas(): Promise<void> {
  spare.length = 0;
  for (const pooled of [...all]) {
    all.delete(pooled);
    await pooled.schema.drop();
  }
}

/** pg's parsers for rows shaped as SQLite gives them: booleans 0/1, json as its text, numeric as a number. */
const BOOL = 16;
const JSON_OID = 114;
const NUMERIC = 1700;
const sqliteShaped = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === BOOL) return (v: string) => (v === 't' ? 1 : 0);
    if (oid === JSON_OID) return (v: string) => v;
    if (oid === NUMERIC) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * The server goes away for this pool, as in an outage: new connections are refused (the pool is
 * pointed at a closed port) and its open ones are terminated by the server. Ending the pool
 * instead would not be an outage (pg refuses at once with "Cannot use a pool after calling end").
 */
async function loseServer(pool: pg.Pool): Promise<void> {
  const clients = (pool as unknown as { _clients?: Array<{ processID?: number }> })._clients ?? [];
  const pids = clients.map((c) => c.processID).filter((pid): pid is number => typeof pid === 'number');
  const options = (pool as unknown as { options: { connectionString?: string; port?: number; host?: string } }).options;
  const closed = new URL(options.connectionString ?? requireTestUrl());
  closed.hostname = '127.0.0.1';
  closed.port = '1';
  options.connectionString = closed.toString();
  options.host = '127.0.0.1';
  options.port = 1;
  if (pids.length === 0) return;
  const admin = new pg.Client({ connectionString: requireTestUrl() });
  await admin.connect();
  try {
    await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
  } finally {
    await admin.end();
  }
}

export interface PostgresTestStorage {
  storage: Storage;
  /** Every row of portable SQL (`?` placeholders), shaped as SQLite returns them. */
  sql<T>(query: string, params?: readonly SqlParam[]): Promise<T[]>;
  /** Runs a portable statement that returns nothing (test setup: an UPDATE, a DELETE). */
  exec(query: string, params?: readonly SqlParam[]): Promise<void>;
  /** The app's pool (for a test that must reach the engine itself). */
  pool: pg.Pool;
  /** Ends the pool: every later query of the app fails as if the server were gone. */
  loseDatabase(): Promise<void>;
}

/** Storage as src/storage.ts builds it on Postgres, over an empty migrated schema of this process. */
export async function openPostgresTestStorage(base: { config: Config; clock: Clock; logger: Logger }): Promise<PostgresTestStorage> {
  const pooled = await takeSchema();
  const pool = pooled.schema.pool;
  const store = await createPostgresStore({ pool, clock: base.clock, logger: base.logger.child({ component: 'store' }), config: base.config });
  let closing: Promise<void> | undefined;
  const storage: Storage = {
    engine: 'postgres',
    store,
    read: createReadStore(createPostgresReader(pool), postgresEngineReads(pool)),
    where: pooled.schema.schema,
    shared: true,
    close: () => {
      closing ??= store.close().then(() => giveBack(pooled));
      return closing;
    },
  };
  const query = (q: string, params: readonly SqlParam[] = []) =>
    pool.query({ text: numberPlaceholders(q), values: [...params], types: sqliteShaped });
  return {
    storage,
    pool,
    sql: async <T>(q: string, params: readonly SqlParam[] = []) => (await query(q, params)).rows as T[],
    exec: async (q, params = []) => {
      await query(q, params);
    },
    loseDatabase: async () => {
      pooled.lost = true;
      await loseServer(pool);
    },
  };
}
