// SQLite-only: SQLite's single write lock and SQLITE_BUSY; Postgres locks rows and retries serialization failures instead.
/**
 * Writes wait for the write lock instead of failing: the checkpointer's truncating checkpoint (or
 * a CLI command) may hold it for a moment, and a deferred transaction that read first would get
 * SQLITE_BUSY at once when it tries to write (SQLite does not busy-wait an upgrade). The daemon
 * answered such deliveries 503 under a burst before transactions began IMMEDIATE.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createIngestRepo } from '../../src/db/ingest-repo.js';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { removeDir, tempDir } from '../support/daemon.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/** Another process takes the write lock, says so, holds it `holdMs`, then commits. */
function holdWriteLock(dbPath: string, holdMs: number): Promise<{ released: Promise<void> }> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const script = `
    const Database = require(${JSON.stringify(driver)});
    const db = new Database(${JSON.stringify(dbPath)});
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${holdMs});
    db.exec('COMMIT');
    db.close();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const released = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve) => child.stdout.once('data', () => resolve({ released })));
}

describe('write transactions under a held write lock', () => {
  it('a transaction that reads, then writes, waits for the lock and commits', async () => {
    const dir = tempDir('enode-sync-lock-wait-');
    dirs.push(dir);
    const dbPath = join(dir, 'enode-sync.db');
    const db = openDatabase(dbPath);
    runMigrations(db);
    const repo = createIngestRepo(db.$client);

    const holder = await holdWriteLock(dbPath, 300);
    const startedMs = Date.now();
    repo.transaction(() => {
      // Read first (as storing a delivery does: is it a duplicate?), then write.
      expect(repo.findDelivery('d-1')).toBeUndefined();
      db.$client.prepare('INSERT INTO health_probe (id, at_ms) VALUES (1, ?)').run(startedMs);
    });
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(200);
    expect(db.$client.prepare('SELECT at_ms FROM health_probe WHERE id = 1').pluck().get()).toBe(startedMs);
    await holder.released;
    db.$client.close();
  });
});
