/**
 * One daemon per SQLite file. Two daemons on one file both ran: both ready, both running every
 * job, commands sent twice. The lock is a sidecar SQLite file `<database>.lock` held by a
 * connection in `locking_mode=EXCLUSIVE` after a write: SQLite's own POSIX lock then lasts for
 * the connection's life, is seen by other processes and by other connections of this process,
 * and is dropped by the kernel when the process dies (kill -9 leaves nothing that blocks a
 * restart). The holder writes who it is into the file; POSIX locks are advisory, so a refused
 * contender can still read those bytes to name the holder.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import Database from 'better-sqlite3';
import { StartupError } from '../startup-error.js';
import { describeOpenError } from './open.js';

/** Who holds the lock, as written by the holder. */
export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  startedAt: string;
}

export interface InstanceLock {
  /** The sidecar file. */
  path: string;
  /** Releases the lock (also released by the OS when the process ends). */
  release(): void;
}

/** Thrown when another process (or another part of this one) holds the lock. */
export class InstanceLockedError extends StartupError {
  override name = 'InstanceLockedError';

  constructor(
    message: string,
    path: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(message, path, 'in use by another enode-sync process');
  }
}

const MARKER = 'enode-sync-holder ';
const HOLDER_PATTERN = /enode-sync-holder (\{[^\x00]{1,1000}?\})/;

/** The sidecar lock file of a database path; undefined for `:memory:` (nothing to share). */
export function lockPathFor(databasePath: string): string | undefined {
  if (databasePath === ':memory:') return undefined;
  if (databasePath.startsWith('file:')) {
    // A URI filename (file:data.db, file:/data/x.db?mode=rwc, file:///data/x.db): the lock sits
    // beside the file it names; an in-memory one needs none.
    const [rest = '', query = ''] = databasePath.slice('file:'.length).split('?');
    if (/(^|&)mode=memory(&|$)/.test(query)) return undefined;
    const path = decodeURIComponent(rest.startsWith('//') ? rest.slice(rest.indexOf('/', 2)) : rest);
    return path === '' || path === ':memory:' ? undefined : `${path}.lock`;
  }
  return `${databasePath}.lock`;
}

/** Reads the holder the lock file names, if it can be read and parsed. */
export function readLockHolder(lockPath: string): LockHolder | undefined {
  try {
    const match = HOLDER_PATTERN.exec(readFileSync(lockPath).toString('latin1'));
    if (!match?.[1]) return undefined;
    const h = JSON.parse(match[1]) as Partial<LockHolder>;
    if (typeof h.pid !== 'number') return undefined;
    return { pid: h.pid, host: String(h.host ?? '?'), command: String(h.command ?? '?'), startedAt: String(h.startedAt ?? '?') };
  } catch {
    return undefined;
  }
}

/** "pid 123 on host x, `serve` since …" — or a plain phrase when the holder is not known. */
export function describeHolder(holder: LockHolder | undefined): string {
  if (!holder) return 'another enode-sync process';
  return `pid ${holder.pid} on ${holder.host} (enode-sync ${holder.command}, since ${holder.startedAt})`;
}

function lockFileError(databasePath: string, lockPath: string, err: unknown): StartupError {
  const reason = describeOpenError(err);
  return new StartupError(`Cannot open database ${databasePath}: ${reason} (taking its lock file ${lockPath})`, databasePath, reason, { cause: err });
}

/**
 * Takes the lock of `databasePath` for `command`, or throws InstanceLockedError naming the
 * holder. Never waits: a daemon already running is an answer, not a reason to queue. Returns
 * undefined for `:memory:`.
 */
export function acquireInstanceLock(databasePath: string, command: string, startedAt: Date = new Date()): InstanceLock | undefined {
  const lockPath = lockPathFor(databasePath);
  if (!lockPath) return undefined;
  let sqlite: Database.Database;
  try {
    mkdirSync(dirname(lockPath), { recursive: true });
    sqlite = new Database(lockPath, { timeout: 0 });
  } catch (err) {
    throw lockFileError(databasePath, lockPath, err);
  }
  try {
    // Neither pragma reads the file: the first access is BEGIN EXCLUSIVE, so a contender never
    // holds a shared lock that would stop the rightful holder.
    sqlite.pragma('locking_mode = EXCLUSIVE');
    // The previous holder's line is zeroed on delete, so only the current one can be read.
    sqlite.pragma('secure_delete = ON');
    sqlite.exec('BEGIN EXCLUSIVE');
    sqlite.exec('CREATE TABLE IF NOT EXISTS holder (info TEXT NOT NULL)');
    sqlite.exec('DELETE FROM holder');
    const holder: LockHolder = { pid: process.pid, host: hostname(), command, startedAt: startedAt.toISOString() };
    sqlite.prepare('INSERT INTO holder (info) VALUES (?)').run(`${MARKER}${JSON.stringify(holder)}`);
    sqlite.exec('COMMIT');
  } catch (err) {
    sqlite.close();
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      const holder = readLockHolder(lockPath);
      throw new InstanceLockedError(
        `Database ${databasePath} is in use by ${describeHolder(holder)} (lock file ${lockPath}). ` +
          'One daemon per database file: stop the other one first, or give this one its own DATABASE_PATH.',
        databasePath,
        holder,
      );
    }
    throw lockFileError(databasePath, lockPath, err);
  }
  let released = false;
  return {
    path: lockPath,
    release: () => {
      if (released) return;
      released = true;
      sqlite.close();
    },
  };
}
