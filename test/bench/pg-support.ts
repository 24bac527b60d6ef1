/**
 * What the Postgres benchmarks share: the server to run on (`BENCH_POSTGRES_URL`, else
 * `POSTGRES_TEST_URL`), a fresh database per daemon (CREATE DATABASE, DROP … WITH (FORCE), as
 * test/support/postgres.ts does without vitest), the server's version and settings, and the CPU
 * the server's processes use during a measurement.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { redactUrl } from '../../src/store/postgres/connect.js';

/** Databases made here are named so; leftovers of a killed run can be found (and dropped) by it. */
const PREFIX = 'enode_sync_bench_';

/** The admin URL and how to say where it points, or why the Postgres figures are skipped. */
export async function benchPostgres(): Promise<{ url: string; where: string } | { skip: string }> {
  const url = process.env.BENCH_POSTGRES_URL ?? process.env.POSTGRES_TEST_URL;
  if (!url) return { skip: 'neither BENCH_POSTGRES_URL nor POSTGRES_TEST_URL is set (a postgres:// URL; a role that may CREATE DATABASE gets a database per daemon, otherwise a schema)' };
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { url, where: redactUrl(url) };
  } catch (err) {
    return { skip: `${redactUrl(url)} does not answer: ${(err as Error).message}` };
  } finally {
    await client.end().catch(() => {});
  }
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

async function withAdmin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, application_name: 'enode-sync-bench-admin' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export interface BenchDatabase {
  url: string;
  name: string;
  /** `database`: a database of its own; `schema`: a schema of its own in the admin URL's database (the role may not CREATE DATABASE). */
  kind: 'database' | 'schema';
  /** Bytes its tables and indexes take. */
  sizeBytes(): Promise<number>;
  drop(): Promise<void>;
}

/**
 * A new, empty database on the admin URL's server (same role); `drop()` ends its sessions and
 * drops it. A role without CREATEDB gets a schema of its own instead, in the admin URL's
 * database, named in the URL's search_path (as the Postgres tests do): the daemon migrates into
 * it and keeps its migrations journal there, and for the figures the two are the same server,
 * the same WAL and the same buffers.
 */
export async function freshDatabase(adminUrl: string, label: string): Promise<BenchDatabase> {
  const name = `${PREFIX}${label}_${Date.now()}_${randomBytes(3).toString('hex')}`;
  try {
    await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${quoteIdent(name)}`));
  } catch (err) {
    if ((err as { code?: unknown }).code !== '42501') throw err;
    return freshSchema(adminUrl, name);
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    url: u.toString(),
    name,
    kind: 'database',
    sizeBytes: async () => (await queryOnce<{ n: string }>(adminUrl, 'SELECT pg_database_size($1)::text AS n', [name])).map((r) => Number(r.n))[0]!,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
    },
  };
}

async function freshSchema(adminUrl: string, name: string): Promise<BenchDatabase> {
  await withAdmin(adminUrl, (c) => c.query(`CREATE SCHEMA ${quoteIdent(name)}`));
  const u = new URL(adminUrl);
  u.searchParams.set('options', `-c search_path=${name}`);
  let dropped = false;
  return {
    url: u.toString(),
    name,
    kind: 'schema',
    sizeBytes: async () =>
      (
        await queryOnce<{ n: string }>(
          adminUrl,
          `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::text AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
          [name],
        )
      ).map((r) => Number(r.n))[0]!,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      // The daemons on it are stopped first; a killed one's sessions ended with its process.
      await withAdmin(adminUrl, (c) => c.query(`DROP SCHEMA IF EXISTS ${quoteIdent(name)} CASCADE`));
    },
  };
}

/** The server's version and the settings a durable-ingest figure depends on. */
export async function serverSettings(adminUrl: string): Promise<Record<string, string>> {
  return withAdmin(adminUrl, async (c) => {
    const out: Record<string, string> = {};
    out.version = (await c.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v;
    for (const name of ['synchronous_commit', 'shared_buffers', 'wal_level', 'fsync', 'commit_delay', 'max_wal_size', 'max_connections']) {
      out[name] = (await c.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name]!;
    }
    return out;
  });
}

/** Runs `sql` on a short-lived connection to `url` and returns its rows. */
export async function queryOnce<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  return withAdmin(url, async (c) => (await c.query<R>(sql, params)).rows);
}

/**
 * CPU time (ms, user + system) of every process whose command is `postgres` (the server's
 * backends, WAL writer, checkpointer …), by pid; /proc is readable for other users' processes.
 * Empty off Linux.
 */
export function postgresCpu(): Map<number, number> {
  const out = new Map<number, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (name !== 'postgres') continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(pid), ((Number(fields[11]) + Number(fields[12])) * 1000) / 100);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU (ms) the server's processes used between two readings (backends that ended meanwhile are not counted). */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, t] of after) ms += t - (before.get(pid) ?? 0);
  return ms;
}
