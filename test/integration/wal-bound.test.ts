// SQLite-only: the WAL file and its checkpointer belong to the SQLite adapter; Postgres manages its own WAL.
/**
 * The WAL stays bounded through a burst (issue 14: it reached 3.9 GB). PASSIVE checkpoints alone
 * never catch up with a writer that keeps appending; past its bound the checkpointer forces a
 * TRUNCATE checkpoint.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createWalGuard, startCheckpointer, type Checkpointer, type WalReset } from '../../src/db/checkpointer.js';
import { openDatabase } from '../../src/db/open.js';
import { removeDir, tempDir } from '../support/daemon.js';

const MiB = 1024 * 1024;
const WAL_BOUND_BYTES = 4 * MiB;
const BURST_BYTES = 48 * MiB;

const dirs: string[] = [];
const checkpointers: Checkpointer[] = [];
afterEach(async () => {
  for (const c of checkpointers.splice(0)) await c.close();
  for (const d of dirs.splice(0)) removeDir(d);
});

const walSize = (path: string) => (existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0);

/** A file database set up as the writer thread's: no automatic checkpoints, one table of blobs. */
function writerDb(prefix: string) {
  const dir = tempDir(prefix);
  dirs.push(dir);
  const path = join(dir, 'wal.db');
  const db = openDatabase(path);
  // As the writer thread: checkpoints belong to the checkpointer thread (and the writer's guard).
  db.$client.pragma('wal_autocheckpoint = 0');
  // The bound does not depend on fsyncs; skipping them keeps the test short.
  db.$client.pragma('synchronous = OFF');
  db.$client.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)');
  return { db, path };
}

describe('WAL bound', () => {
  it(`after a ${BURST_BYTES / MiB} MiB burst the -wal file is back under ${WAL_BOUND_BYTES / MiB} MiB once a long reader lets go`, async () => {
    const { db, path } = writerDb('enode-sync-wal-');
    const resets: WalReset[] = [];
    const errors: string[] = [];
    const checkpointer = startCheckpointer(path, 10, (m) => errors.push(m), () => errors.push('checkpointer died'), { walResetBytes: WAL_BOUND_BYTES, onReset: (r) => resets.push(r) });
    checkpointers.push(checkpointer);
    await checkpointer.ready;

    // A long reader (a slow scrape, a big page) holds its snapshot through the burst: no
    // checkpoint can pass it, so the WAL takes the whole burst whatever the thread timing.
    const reader = openDatabase(path);
    reader.$client.exec('BEGIN');
    reader.$client.prepare('SELECT count(*) FROM blobs').get();

    const insert = db.$client.prepare('INSERT INTO blobs (data) VALUES (?)');
    const chunk = Buffer.alloc(256 * 1024, 7);
    let peak = 0;
    for (let written = 0; written < BURST_BYTES; written += chunk.length * 4) {
      db.$client.transaction(() => {
        for (let i = 0; i < 4; i++) insert.run(chunk);
      })();
      // The writer yields between its turns (setImmediate), as here.
      await new Promise((r) => setImmediate(r));
      peak = Math.max(peak, walSize(path));
    }

    expect(peak).toBeGreaterThanOrEqual(BURST_BYTES);
    reader.$client.exec('COMMIT');
    reader.$client.close();

    // The checkpointer's next runs bring it back under the bound (bounded wait, polled).
    const deadline = Date.now() + 20_000;
    while ((walSize(path) > WAL_BOUND_BYTES || !resets.some((r) => r.done)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(walSize(path)).toBeLessThanOrEqual(WAL_BOUND_BYTES);
    expect(resets.some((r) => r.done)).toBe(true);
    expect(errors).toEqual([]);
    expect(db.$client.prepare('SELECT count(*) FROM blobs').pluck().get()).toBe(BURST_BYTES / chunk.length);
    db.$client.close();
  }, 60_000);

  it('a writer that commits back to back (a backlog) bounds the WAL itself between its transactions, unless a reader holds an old snapshot', async () => {
    const { db, path } = writerDb('enode-sync-wal-guard-');
    const resets: WalReset[] = [];
    const guard = createWalGuard(db.$client, path, (r) => resets.push(r), WAL_BOUND_BYTES);
    const insert = db.$client.prepare('INSERT INTO blobs (data) VALUES (?)');
    const chunk = Buffer.alloc(256 * 1024, 7);
    const burst = async () => {
      let peak = 0;
      for (let written = 0; written < BURST_BYTES; written += chunk.length * 4) {
        db.$client.transaction(() => {
          for (let i = 0; i < 4; i++) insert.run(chunk);
        })();
        peak = Math.max(peak, walSize(path));
        guard();
        // Its checks are 100 ms apart: let them come due as a long backlog would.
        await new Promise((r) => setTimeout(r, 25));
      }
      return peak;
    };
    // No checkpointer thread at all: the guard alone keeps the WAL near its bound.
    const peak = await burst();
    expect(peak).toBeLessThan(WAL_BOUND_BYTES + 8 * MiB);
    expect(resets.filter((r) => r.done).length).toBeGreaterThan(2);
    expect(resets.every((r) => r.afterBytes === 0)).toBe(true);

    // A reader holding an old snapshot keeps the reset from completing: the guard gives up at once, says so, and waits.
    const reader = openDatabase(path);
    reader.$client.exec('BEGIN');
    reader.$client.prepare('SELECT count(*) FROM blobs').get();
    resets.length = 0;
    const started = performance.now();
    const held = await burst();
    expect(held).toBeGreaterThanOrEqual(BURST_BYTES);
    expect(resets.length).toBeGreaterThan(0);
    expect(resets.every((r) => !r.done)).toBe(true);
    // Retried once a second, not every 100 ms, while the reader holds on (the burst took about 2 s).
    expect(resets.length).toBeLessThanOrEqual(Math.ceil((performance.now() - started) / 1000) + 1);
    reader.$client.exec('COMMIT');
    reader.$client.close();
    db.$client.close();
  }, 60_000);
});
