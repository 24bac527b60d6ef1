/**
 * Postgres for tests. `POSTGRES_TEST_URL` names a database whose role may CREATE SCHEMA in it and
 * CREATE DATABASE (`.ci/run` makes one). Without it, or when it does not answer, Postgres tests
 * skip with the reason printed once; under CI=true that is a failure instead (throws).
 *
 * Each test gets its own schema (freshPostgresSchema) or database (freshPostgresDatabase), dropped
 * by its `drop()` or, at the latest, by the afterAll that describeIfPostgres registers. Leftovers
 * of a killed run (named enode_sync_t_<epoch ms>_…) older than two hours are swept on first use.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, it } from 'vitest';
import { openPostgres, redactUrl } from '../../src/store/postgres/connect.js';
import { runPostgresMigrations } from '../../src/store/postgres/migrate.js';

const ENV = 'POSTGRES_TEST_URL';
const PREFIX = 'enode_sync_t_';
const SWEEP_AFTER_MS = 2 * 60 * 60_000;

const onCi = process.env.CI === 'true' || process.env.CI === '1';

async function probe(url: string | undefined): Promise<{ url: string } | { skip: string }> {
  if (!url) return { skip: `${ENV} is not set (a postgres:// URL of a database where the role may create schemas and databases; .ci/run sets one up)` };
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { url };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { skip: `${ENV} (${redactUrl(url)}) does not answer: ${(err as Error).message}${typeof code === 'string' ? ` (${code})` : ''}` };
  } finally {
    await client.end().catch(() => {});
  }
}

// Probed once per test process, at import: describe() needs the answer synchronously.
const availability = await probe(process.env[ENV]);

/** The test server's URL, or why Postgres tests skip. Under CI=true a missing or silent server throws. */
export function postgresAvailable(): { url: string } | { skip: string } {
  if ('skip' in availability && onCi) throw new Error(`CI=true requires Postgres for the Postgres tests: ${availability.skip}`);
  return availability;
}

function requireUrl(): string {
  const a = postgresAvailable();
  if ('skip' in a) throw new Error(`Postgres is not available: ${a.skip}`);
  return a.url;
}

let warned = false;

/**
 * `describe` when Postgres is available; otherwise the suite is skipped, with one skipped test
 * naming the reason and the reason printed once (console.warn). Registers an afterAll that drops
 * whatever the suite's fresh schemas and databases left.
 */
export function describeIfPostgres(name: string, fn: () => void): void {
  const a = postgresAvailable();
  if ('skip' in a) {
    if (!warned) console.warn(`Postgres tests skipped: ${a.skip}`);
    warned = true;
    describe.skip(name, () => {
      it(`needs Postgres: ${a.skip}`, () => {});
    });
    return;
  }
  describe(name, () => {
    afterAll(dropAllPostgres, 60_000);
    fn();
  });
}

const cleanups = new Set<() => Promise<void>>();

/** Drops every schema and database made here and not dropped yet. */
export async function dropAllPostgres(): Promise<void> {
  for (const drop of [...cleanups]) await drop();
}

/** A name no other test process picks: prefix, epoch ms (for the sweep), pid, random. */
function uniqueName(): string {
  return `${PREFIX}${Date.now()}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

let swept: Promise<void> | undefined;

/** Drops leftovers of killed runs (older than SWEEP_AFTER_MS by the time in their name). */
async function sweep(admin: pg.Pool): Promise<void> {
  const cutoff = Date.now() - SWEEP_AFTER_MS;
  const old = (name: string) => Number(name.slice(PREFIX.length).split('_')[0]) < cutoff;
  const schemas = await admin.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE starts_with(nspname, $1)`, [PREFIX]);
  for (const { name } of schemas.rows.filter((r) => old(r.name))) await admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(name)} CASCADE`);
  const dbs = await admin.query<{ name: string }>(`SELECT datname AS name FROM pg_database WHERE starts_with(datname, $1)`, [PREFIX]);
  for (const { name } of dbs.rows.filter((r) => old(r.name))) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A short-lived pool on the test database itself, for CREATE/DROP SCHEMA and DATABASE. */
async function withAdmin<T>(fn: (admin: pg.Pool) => Promise<T>): Promise<T> {
  const admin = openPostgres(requireUrl(), { max: 1, applicationName: 'enode-sync-tests-admin' });
  try {
    swept ??= sweep(admin).catch((err: unknown) => console.warn(`sweeping old test schemas failed: ${(err as Error).message}`));
    await swept;
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/** `url` with `-c search_path=<schema>` in its `options` parameter (for a process that only takes a URL). */
export function urlWithSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

export interface FreshSchema {
  /** A pool whose connections have `search_path` set to the schema. */
  pool: pg.Pool;
  schema: string;
  /** The test URL with the schema as its search_path. */
  url: string;
  drop(): Promise<void>;
}

/**
 * A new, uniquely named schema with every migration applied in it (its own migrations journal),
 * and a pool whose search_path is that schema. `migrate: false` leaves it empty.
 */
export async function freshPostgresSchema(options: { migrate?: boolean; max?: number } = {}): Promise<FreshSchema> {
  const schema = uniqueName();
  await withAdmin((admin) => admin.query(`CREATE SCHEMA ${quoteIdent(schema)}`));
  const pool = openPostgres(requireUrl(), { searchPath: schema, max: options.max ?? 4, applicationName: 'enode-sync-tests' });
  let dropped = false;
  const drop = async (): Promise<void> => {
    if (dropped) return;
    dropped = true;
    cleanups.delete(drop);
    await pool.end().catch(() => {});
    await withAdmin((admin) => admin.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`));
  };
  cleanups.add(drop);
  try {
    if (options.migrate !== false) await runPostgresMigrations(pool, { migrationsSchema: schema });
  } catch (err) {
    await drop();
    throw err;
  }
  return { pool, schema, url: urlWithSearchPath(requireUrl(), schema), drop };
}

export interface FreshDatabase {
  /** The new database's URL (same server, role and password as POSTGRES_TEST_URL): pass it to a daemon as DATABASE_URL. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A new, empty database (not migrated: a daemon or a migration test does that), dropped WITH (FORCE). */
export async function freshPostgresDatabase(): Promise<FreshDatabase> {
  const name = uniqueName();
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${quoteIdent(name)}`));
  const u = new URL(requireUrl());
  u.pathname = `/${name}`;
  let dropped = false;
  const drop = async (): Promise<void> => {
    if (dropped) return;
    dropped = true;
    cleanups.delete(drop);
    // FORCE ends the sessions still connected (a daemon killed mid-test, a pool not ended).
    await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
  };
  cleanups.add(drop);
  return { url: u.toString(), name, drop };
}
