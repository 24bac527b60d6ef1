import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { StartupError } from '../startup-error.js';
import * as schema from './schema.js';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

const BUSY_TIMEOUT_MS = 5_000;
/**
 * Bound of the WAL file kept after a checkpoint resets it (SQLite truncates it to this). Without
 * it a burst leaves the file at its peak size for good; the checkpointer also forces a reset
 * once the WAL passes WAL_RESET_BYTES (db/checkpointer.ts).
 */
export const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** Node and SQLite error codes in the words an operator needs. */
const REASONS: Array<[RegExp, string]> = [
  [/^(EACCES|EPERM|SQLITE_PERM|SQLITE_AUTH)/, 'permission denied'],
  [/^(ENOTDIR|EEXIST)$/, 'a part of the path is a file, not a directory'],
  [/^EISDIR$/, 'the path is a directory, not a file'],
  [/^ENOENT$/, 'no such file or directory'],
  [/^EROFS$|^SQLITE_READONLY/, 'the file or its file system is read-only'],
  [/^ENOSPC$|^SQLITE_FULL/, 'no space left on the device'],
  [/^SQLITE_NOTADB/, 'the file is not a SQLite database'],
  [/^SQLITE_CORRUPT/, 'the database file is corrupt (restore it from a backup)'],
  [/^SQLITE_BUSY|^SQLITE_LOCKED/, 'the database is locked by another process'],
  [/^SQLITE_IOERR/, 'an I/O error'],
  [/^SQLITE_CANTOPEN/, 'the file cannot be opened (missing directory, no permission, or a directory in its place)'],
];

/** The reason an open failed, in plain words (the code stays in parentheses for searching). */
export function describeOpenError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    for (const [pattern, words] of REASONS) if (pattern.test(code)) return `${words} (${code})`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** SQLite says only "unable to open database file": look at the path for the likely cause. */
function diagnoseCantOpen(path: string, err: unknown): string {
  try {
    if (statSync(path).isDirectory()) return 'the path is a directory, not a file';
  } catch (statErr) {
    if ((statErr as { code?: unknown }).code === 'ENOENT') {
      try {
        if (!statSync(dirname(path)).isDirectory()) return `${dirname(path)} is not a directory`;
      } catch {
        return `the directory ${dirname(path)} does not exist`;
      }
    } else {
      return describeOpenError(statErr);
    }
  }
  return describeOpenError(err);
}

/**
 * Opens the SQLite database with the pragmas the durability promise rests on: WAL with
 * `synchronous=FULL` (a committed transaction is on disk when COMMIT returns; the writer's store
 * commits skip it and wait for the WAL syncer instead, db/wal-sync.ts), foreign keys,
 * and a busy timeout so that a CLI command beside the daemon waits instead of failing. Throws a
 * StartupError naming the path and the reason when the file cannot be used. `mustExist`: a missing
 * file is that error too, and nothing is created (the one-shot commands besides `migrate`).
 */
export function openDatabase(path: string, options: { mustExist?: boolean } = {}): Db {
  const isFile = path !== ':memory:' && !path.startsWith('file:');
  let sqlite: Database.Database | undefined;
  try {
    // A command that only uses an existing database never creates a directory or a file.
    if (isFile && !options.mustExist) mkdirSync(dirname(path), { recursive: true });
    sqlite = new Database(path, { fileMustExist: options.mustExist === true && isFile });
    sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // The first statement that reads the file: a non-database or a corrupt header fails here.
    if (isFile) sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
  } catch (err) {
    sqlite?.close();
    const code = (err as { code?: unknown }).code;
    const reason = typeof code === 'string' && code.startsWith('SQLITE_CANTOPEN') ? diagnoseCantOpen(path, err) : describeOpenError(err);
    throw new StartupError(`Cannot open database ${path}: ${reason}`, path, reason, { cause: err });
  }
  return drizzle(sqlite, { schema }) as Db;
}
