/**
 * Postgres migrations at start, as replicas run them: several at once on one fresh database, each
 * with its own pool; again once everything is applied; behind another session's migration lock;
 * with a wrong password.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { StartupError } from '../../src/startup-error.js';
import { openPostgres } from '../../src/store/postgres/connect.js';
import { MIGRATION_LOCK_KEY, postgresMigrationStatus, postgresMigrationsFolder, runPostgresMigrations } from '../../src/store/postgres/migrate.js';
import { describeIfPostgres, freshPostgresDatabase, freshPostgresSchema, type FreshDatabase } from '../support/postgres.js';

/** The migration files' hashes, as drizzle's migrator records them (sha256 of each file). */
function expectedHashes(): string[] {
  const folder = postgresMigrationsFolder();
  const journal = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> };
  return journal.entries.map((e) => createHash('sha256').update(readFileSync(join(folder, `${e.tag}.sql`))).digest('hex'));
}

describeIfPostgres('Postgres migrations', () => {
  let db: FreshDatabase | undefined;
  const pools: pg.Pool[] = [];
  const open = (url: string) => {
    const pool = openPostgres(url, { max: 2 });
    pools.push(pool);
    return pool;
  };

  afterEach(async () => {
    for (const pool of pools.splice(0)) await pool.end();
    await db?.drop();
    db = undefined;
  });

  it('five replicas starting at once all succeed, each migration applied once; a second run is a no-op', async () => {
    db = await freshPostgresDatabase();
    const replicas = Array.from({ length: 5 }, () => open(db!.url));
    const hashes = expectedHashes();
    expect(await postgresMigrationStatus(replicas[0]!)).toEqual({ applied: 0, expected: hashes.length });

    const results = await Promise.allSettled(replicas.map((pool) => runPostgresMigrations(pool)));
    expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);

    const pool = replicas[0]!;
    const journal = async () => (await pool.query<{ id: number; hash: string; created_at: number }>('SELECT id, hash, created_at FROM public.__drizzle_migrations ORDER BY id')).rows;
    const first = await journal();
    expect(first.map((r) => r.hash)).toEqual(hashes);
    for (const replica of replicas) expect(await postgresMigrationStatus(replica)).toEqual({ applied: hashes.length, expected: hashes.length });

    // The tables are in the database's public schema (the connection's current schema), beside the journal.
    const tables = await pool.query<{ n: number }>(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('deliveries', 'leases')`);
    expect(tables.rows[0]?.n).toBe(2);
    const oid = async () => (await pool.query<{ oid: number }>(`SELECT 'deliveries'::regclass::oid::int8 AS oid`)).rows[0]?.oid;
    const before = await oid();

    await runPostgresMigrations(replicas[3]!);
    expect(await journal()).toEqual(first);
    expect(await oid()).toBe(before);

    // No replica kept the migration lock or a session setting: the lock is free, the pools' connections normal.
    const locks = await pool.query<{ n: number }>(
      `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND ((classid::int8 << 32) | objid::int8) = $1::int8`,
      [MIGRATION_LOCK_KEY],
    );
    expect(locks.rows[0]?.n).toBe(0);
    const timeouts = await Promise.all(replicas.map(async (p) => (await p.query<{ t: string }>("SELECT current_setting('statement_timeout') AS t")).rows[0]?.t));
    expect(timeouts).toEqual(['30s', '30s', '30s', '30s', '30s']);
  });

  it('waits for the lock held by another session, and gives up with a StartupError past its limit', async () => {
    db = await freshPostgresDatabase();
    const holder = await open(db.url).connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
      const started = Date.now();
      const err = await runPostgresMigrations(open(db.url), { lockWaitMs: 300 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StartupError);
      expect((err as Error).message).toMatch(/migration lock for more than 300 ms/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);

      // Once released, a waiting replica goes ahead.
      const waiting = runPostgresMigrations(open(db.url));
      await new Promise((r) => setTimeout(r, 200));
      await holder.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
      await waiting;
      const status = await postgresMigrationStatus(open(db.url));
      expect(status.applied).toBe(status.expected);
    } finally {
      holder.release();
    }
  });

  it('names the server and the reason, never the password, when it cannot log in', async () => {
    db = await freshPostgresDatabase();
    const u = new URL(db.url);
    u.password = 'not-the-password-x7';
    const err = await runPostgresMigrations(open(u.toString())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    const message = (err as StartupError).message;
    expect(message).toMatch(/^Cannot connect to postgres:\/\/[^:]+:\*\*\*@.+: password authentication failed: wrong user name or password \(28P01\)$/);
    expect(message).not.toContain('not-the-password-x7');
    expect((err as StartupError).path).not.toContain('not-the-password-x7');
  });

  it("migrates into the schema a URL's search_path names, with its journal there (not in public)", async () => {
    const fresh = await freshPostgresSchema({ migrate: false });
    try {
      const pool = open(fresh.url); // the URL carries options=-c search_path=<schema>, as a daemon's DATABASE_URL could
      await runPostgresMigrations(pool);
      expect(await postgresMigrationStatus(fresh.pool)).toEqual({ applied: expectedHashes().length, expected: expectedHashes().length });
      // Only this schema and public are asked about: other test files create their own schemas in
      // the same database at the same time, and those are not this test's business.
      const where = await pool.query<{ schema: string }>(
        `SELECT DISTINCT table_schema AS schema FROM information_schema.tables
          WHERE table_name IN ('deliveries', '__drizzle_migrations') AND table_schema IN ($1, 'public')`,
        [fresh.schema],
      );
      expect(where.rows).toEqual([{ schema: fresh.schema }]);
    } finally {
      await fresh.drop();
    }
  });
});
