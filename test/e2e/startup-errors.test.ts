/**
 * Start-up errors name the path and the reason in plain words, exit non-zero, and print no stack
 * trace for the expected cases (issue 14, item 10).
 */
import { chmodSync, mkdirSync, openSync, readSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { runCli } from '../support/cli.js';
import { E2E_ADMIN, E2E_SECRET, removeDir, tempDir } from '../support/daemon.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) {
    chmodSync(d, 0o700);
    removeDir(d);
  }
});

function dir(): string {
  const d = tempDir('enode-sync-startup-');
  dirs.push(d);
  return d;
}

/** Exit 1, one line on stderr naming the path and the reason, no stack frames. */
function expectPlainFailure(r: ReturnType<typeof runCli>, path: string, reason: string) {
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`Cannot open database ${path}: ${reason}`);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
}

describe('start-up errors', () => {
  it('a file that is not a database: serve names it in stderr and in the fatal log line, exit 1', () => {
    const path = join(dir(), 'notes.db');
    writeFileSync(path, 'these are my notes, not a database\n'.repeat(20));
    const r = runCli(['serve'], { DATABASE_PATH: path, ENODE_WEBHOOK_SECRET: E2E_SECRET, ADMIN_TOKEN: E2E_ADMIN, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' });
    expectPlainFailure(r, path, 'the file is not a SQLite database');
    const fatal = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: string; path?: string; reason?: string; msg: string })
      .find((l) => l.level === 'fatal');
    expect(fatal).toMatchObject({ path, reason: 'the file is not a SQLite database (SQLITE_NOTADB)' });
    expect(fatal?.msg).toContain(path);
  });

  it('a corrupt database: migrate says so and exits 1', () => {
    const path = join(dir(), 'corrupt.db');
    const db = openDatabase(path);
    runMigrations(db);
    db.$client.pragma('wal_checkpoint(TRUNCATE)');
    db.$client.close();
    // Keep the header page, overwrite every other page with a pattern SQLite cannot read as a b-tree.
    const size = statSync(path).size;
    const fd = openSync(path, 'r+');
    const header = Buffer.alloc(100);
    readSync(fd, header, 0, 100, 0);
    const pageSize = header.readUInt16BE(16);
    writeSync(fd, Buffer.alloc(size - pageSize, 0xa5), 0, size - pageSize, pageSize);
    closeSync(fd);
    expectPlainFailure(runCli(['migrate'], { DATABASE_PATH: path }), path, 'the database file is corrupt');
  });

  it('a directory where the file should be, and a file where a directory should be', () => {
    const d = dir();
    const asDir = join(d, 'data.db');
    mkdirSync(asDir);
    expectPlainFailure(runCli(['migrate'], { DATABASE_PATH: asDir }), asDir, 'the path is a directory, not a file');
    const file = join(d, 'plain-file');
    writeFileSync(file, 'x');
    const under = join(file, 'x.db');
    expectPlainFailure(runCli(['migrate'], { DATABASE_PATH: under }), under, 'a part of the path is a file, not a directory');
  });

  // Root bypasses file permissions, so there is nothing to observe when the suite runs as root.
  it.skipIf(process.getuid?.() === 0)('a directory without write permission: permission denied', () => {
    const d = dir();
    chmodSync(d, 0o500);
    const path = join(d, 'x.db');
    expectPlainFailure(runCli(['migrate'], { DATABASE_PATH: path }), path, 'permission denied');
  });
});
