/**
 * The SQLite side of the read port: a SqlReader over a better-sqlite3 connection (synchronous
 * under the hood, answered as promises), and the numbers only SQLite has (migrations journal,
 * file and WAL sizes, pages). Reads run on the caller's own connection, beside the writer thread:
 * WAL lets them see every committed transaction without waiting for it.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { migrationsFolder } from '../../db/migrate.js';
import type { EngineReads, StorageInfo } from '../read.js';
import type { SqlParam, SqlReader } from '../sql.js';

/** Statements kept prepared per SQL text; the read side builds a bounded set of texts, so this stays small. */
const MAX_CACHED_STATEMENTS = 256;

export function createSqliteReader(sqlite: Database.Database): SqlReader {
  const cache = new Map<string, Database.Statement>();
  const statement = (sql: string): Database.Statement => {
    let s = cache.get(sql);
    if (!s) {
      // A text built with a varying shape (an IN list) must not grow the cache without end.
      if (cache.size >= MAX_CACHED_STATEMENTS) cache.clear();
      s = sqlite.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  };
  const run = <R>(fn: () => R): Promise<R> => {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  };
  return {
    engine: 'sqlite',
    all: <T>(sql: string, params: readonly SqlParam[] = []) => run(() => statement(sql).all(...params) as T[]),
    get: <T>(sql: string, params: readonly SqlParam[] = []) => run(() => statement(sql).get(...params) as T | undefined),
  };
}

const fileBytes = (path: string): number | null => {
  try {
    return statSync(path).size;
  } catch {
    return null;
  }
};

/** Migrations in drizzle/ versus applied in this database (0 before the journal table exists). */
export function sqliteMigrationStatus(sqlite: Database.Database): { applied: number; expected: number } {
  const journal = readFileSync(join(migrationsFolder(), 'meta', '_journal.json'), 'utf8');
  const expected = (JSON.parse(journal) as { entries: unknown[] }).entries.length;
  let applied = 0;
  try {
    applied = (sqlite.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number }).n;
  } catch {
    applied = 0;
  }
  return { applied, expected };
}

/** What only SQLite answers: its migrations journal and the sizes of its file. */
export function sqliteEngineReads(sqlite: Database.Database): EngineReads {
  return {
    migrations: () => Promise.resolve(sqliteMigrationStatus(sqlite)),
    storageInfo(): Promise<StorageInfo> {
      const pageSize = sqlite.pragma('page_size', { simple: true }) as number;
      const pageCount = sqlite.pragma('page_count', { simple: true }) as number;
      const freePages = sqlite.pragma('freelist_count', { simple: true }) as number;
      const file = sqlite.memory ? null : sqlite.name;
      return Promise.resolve({
        engine: 'sqlite',
        databaseBytes: file === null ? pageSize * pageCount : fileBytes(file),
        walBytes: file === null ? null : fileBytes(`${file}-wal`),
        pageSize,
        pageCount,
        freePages,
      });
    },
  };
}
