/**
 * A proof's view of a daemon's database, on either engine: SQL written for both (no placeholders)
 * read beside the running daemon or after it stopped — its SQLite file opened read-only for each
 * query, or its Postgres schema over a pool of one.
 */
import Database from 'better-sqlite3';
import { openPostgres } from '../../src/store/postgres/connect.js';
import type { DaemonDatabase } from './engines-e2e.js';

export interface DaemonReader {
  all<T>(sql: string): Promise<T[]>;
  close(): Promise<void>;
}

/** `dbPath` is asked at each query: the SQLite file is the daemon's, known once it started. */
export function daemonReader(database: DaemonDatabase, dbPath: () => string, name = 'proof-reader'): DaemonReader {
  const pool = database.engine === 'postgres' ? openPostgres(database.env['DATABASE_URL'] as string, { max: 1, applicationName: name }) : undefined;
  return {
    async all<T>(sql: string): Promise<T[]> {
      if (pool) return (await pool.query(sql)).rows as T[];
      const db = new Database(dbPath(), { readonly: true, fileMustExist: true });
      try {
        return db.prepare(sql).all() as T[];
      } finally {
        db.close();
      }
    },
    close: async () => {
      await pool?.end();
    },
  };
}
