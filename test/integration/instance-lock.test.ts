// SQLite-only: one daemon per database file; on Postgres many replicas share one database by design.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireInstanceLock, InstanceLockedError, lockPathFor, readLockHolder } from '../../src/db/instance-lock.js';
import { describeOpenError } from '../../src/db/open.js';
import { removeDir, tempDir } from '../support/daemon.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

function dbPath(): string {
  const d = tempDir('enode-sync-lock-unit-');
  dirs.push(d);
  return join(d, 'x.db');
}

describe('instance lock', () => {
  it('is exclusive within one process too, and names its holder to whoever is refused', () => {
    const path = dbPath();
    const startedAt = new Date('2026-03-01T12:00:00.000Z');
    const lock = acquireInstanceLock(path, 'serve', startedAt)!;
    expect(lock.path).toBe(`${path}.lock`);
    let refused: unknown;
    try {
      acquireInstanceLock(path, 'migrate');
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(InstanceLockedError);
    const e = refused as InstanceLockedError;
    expect(e.holder).toEqual({ pid: process.pid, host: hostname(), command: 'serve', startedAt: startedAt.toISOString() });
    expect(e.message).toContain(`Database ${path} is in use by pid ${process.pid} on ${hostname()} (enode-sync serve, since 2026-03-01T12:00:00.000Z)`);
    // Taking the lock never touched the database file itself.
    expect(existsSync(path)).toBe(false);
    lock.release();
  });

  it('is free again once released, and the new holder replaces the old one in the file', () => {
    const path = dbPath();
    acquireInstanceLock(path, 'serve')!.release();
    const again = acquireInstanceLock(path, 'replay')!;
    expect(readLockHolder(`${path}.lock`)?.command).toBe('replay');
    again.release();
  });

  it('takes nothing for :memory:', () => {
    expect(lockPathFor(':memory:')).toBeUndefined();
    expect(acquireInstanceLock(':memory:', 'serve')).toBeUndefined();
  });

  it('locks beside the file a file: URI names; in-memory URIs take nothing', () => {
    expect(lockPathFor('file:/data/x.db?mode=rwc')).toBe('/data/x.db.lock');
    expect(lockPathFor('file:///data/x.db')).toBe('/data/x.db.lock');
    expect(lockPathFor('file://localhost/data/x%20y.db')).toBe('/data/x y.db.lock');
    expect(lockPathFor('file:data.db')).toBe('data.db.lock');
    expect(lockPathFor('file:memdb1?mode=memory&cache=shared')).toBeUndefined();
    expect(lockPathFor('file::memory:')).toBeUndefined();
  });
});

describe('open errors in plain words', () => {
  it('names the reason of each expected failure and keeps the code for searching', () => {
    const cases: Array<[string, string]> = [
      ['EACCES', 'permission denied (EACCES)'],
      ['SQLITE_READONLY', 'the file or its file system is read-only (SQLITE_READONLY)'],
      ['SQLITE_FULL', 'no space left on the device (SQLITE_FULL)'],
      ['SQLITE_NOTADB', 'the file is not a SQLite database (SQLITE_NOTADB)'],
      ['SQLITE_CORRUPT', 'the database file is corrupt (restore it from a backup) (SQLITE_CORRUPT)'],
      ['SQLITE_IOERR_WRITE', 'an I/O error (SQLITE_IOERR_WRITE)'],
    ];
    for (const [code, words] of cases) expect(describeOpenError(Object.assign(new Error('x'), { code }))).toBe(words);
    expect(describeOpenError(new Error('something else'))).toBe('something else');
  });
});
