// SQLite-only: the WAL, its fsync and the writer's group commit exist only in the SQLite adapter (Postgres commits durably itself).
/**
 * Group commit with the fsync beside the writer (db/wal-sync.ts): stores commit without their own
 * fsync and a delivery is acknowledged only after a WAL sync that started after its commit has
 * completed. These tests hold the sync in their hand (an injected fdatasync) to watch the order.
 */
import { existsSync, fdatasync, fstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createIngestRepo } from '../../src/db/ingest-repo.js';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { createWalSyncer, type DataSync } from '../../src/db/wal-sync.js';
import { checkBody, type ReceivedDelivery } from '../../src/ingest/deliveries.js';
import { Ingestor } from '../../src/store/sqlite/ingestor.js';
import { createLogger } from '../../src/logger.js';
import { removeDir, tempDir } from '../support/daemon.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/** An fdatasync whose completions the test releases one by one. */
function heldSync() {
  const calls: Array<{ fd: number; done: (err: NodeJS.ErrnoException | null) => void }> = [];
  const dataSync: DataSync = (fd, done) => calls.push({ fd, done });
  return { calls, dataSync };
}

const tick = () => new Promise((r) => setImmediate(r));

function delivery(n: number): ReceivedDelivery {
  const body = Buffer.from(JSON.stringify([{ event: 'system:heartbeat', createdAt: '2026-01-01T00:00:00.000Z', pendingEvents: n }]));
  return { headerId: `d-${n}`, receivedAt: Date.now(), headers: {}, body, checked: checkBody(body) };
}

function fileDb() {
  const dir = tempDir('enode-sync-wal-sync-');
  dirs.push(dir);
  const path = join(dir, 'db.sqlite');
  const db = openDatabase(path);
  runMigrations(db);
  return { db, path, repo: createIngestRepo(db.$client) };
}

describe('WAL syncer', () => {
  it('a sync asked for while one is in flight waits for the next one, which starts after the first ends', async () => {
    const { db, path } = fileDb();
    const held = heldSync();
    const syncer = createWalSyncer(path, held.dataSync);
    let firstDone = false;
    let secondDone = false;
    void syncer.sync().then(() => (firstDone = true));
    void syncer.sync().then(() => (secondDone = true));
    void syncer.sync().then(() => undefined);
    await tick();
    // The first sync covers the WAL and, the first time, the database file as well.
    const first = held.calls.splice(0);
    expect(first.length).toBeGreaterThanOrEqual(1);
    expect(first.map((c) => fstatSync(c.fd).ino)).toContain(statSync(`${path}-wal`).ino);
    for (const c of first) c.done(null);
    await tick();
    expect(firstDone).toBe(true);
    expect(secondDone).toBe(false);
    // Both later callers share the one sync that began after the first completed.
    expect(held.calls).toHaveLength(1);
    held.calls[0]!.done(null);
    await tick();
    expect(secondDone).toBe(true);
    expect(syncer.syncs).toBe(2);
    syncer.close();
    db.$client.close();
  });

  it('with two syncs allowed in flight, a third caller waits for the next one to start', async () => {
    const { db, path } = fileDb();
    const held = heldSync();
    const syncer = createWalSyncer(path, held.dataSync, 2);
    const done: number[] = [];
    for (const n of [1, 2, 3]) void syncer.sync().then(() => done.push(n));
    await tick();
    // The first sync syncs the database file too (first open); count syncs, not calls.
    expect(syncer.syncs).toBe(2);
    for (const c of held.calls.splice(0)) c.done(null);
    await tick();
    expect(done.sort()).toEqual([1, 2]);
    expect(syncer.syncs).toBe(3);
    for (const c of held.calls.splice(0)) c.done(null);
    await tick();
    expect(done).toContain(3);
    syncer.close();
    db.$client.close();
  });

  it('follows the WAL when SQLite replaces it, and syncs the database file then (its frames were checkpointed there)', async () => {
    const { db, path } = fileDb();
    // The inodes synced, noted while their descriptors are open.
    const synced: number[] = [];
    const syncer = createWalSyncer(path, (fd, done) => {
      synced.push(fstatSync(fd).ino);
      fdatasync(fd, done);
    });
    await syncer.sync();
    synced.splice(0);
    await syncer.sync();
    const firstWal = statSync(`${path}-wal`).ino;
    expect(synced.splice(0)).toEqual([firstWal]);
    // The last connection closes: SQLite checkpoints and deletes the WAL. A new one writes a new WAL.
    db.$client.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    const reopened = openDatabase(path);
    reopened.$client.prepare('INSERT INTO health_probe (id, at_ms) VALUES (1, 1)').run();
    // Keep the old inode in use elsewhere so the new WAL cannot reuse its number.
    const newWal = statSync(`${path}-wal`).ino;
    await syncer.sync();
    expect(synced).toEqual(expect.arrayContaining([statSync(path).ino]));
    if (newWal !== firstWal) expect(synced).toContain(newWal);
    synced.splice(0);
    await syncer.sync();
    expect(synced).toEqual([newWal]);
    syncer.close();
    reopened.$client.close();
  });
});

describe('Ingestor with a WAL syncer', () => {
  it('answers a stored delivery only after a sync that began after its commit, and applies it meanwhile', async () => {
    const { db, path, repo } = fileDb();
    const held = heldSync();
    const ingestor = new Ingestor(repo, systemClock, createLogger('silent'), { syncer: createWalSyncer(path, held.dataSync) });
    let answered = false;
    const outcome = ingestor.submit(delivery(1)).then((o) => {
      answered = true;
      return o;
    });
    for (let i = 0; i < 5 && held.calls.length === 0; i++) await tick();
    // Committed, and applied (light load: at once), but not answered while its sync is in flight.
    for (let i = 0; i < 20 && (db.$client.prepare('SELECT status FROM deliveries WHERE id = ?').get('d-1') as { status: string }).status !== 'applied'; i++) await tick();
    expect(db.$client.prepare('SELECT status FROM deliveries WHERE id = ?').get('d-1')).toEqual({ status: 'applied' });
    expect(answered).toBe(false);
    // A duplicate of it waits for a sync of its own: the copy it answers for may not be on disk yet.
    let duplicateAnswered = false;
    const duplicate = ingestor.submit(delivery(1)).then((o) => {
      duplicateAnswered = true;
      return o;
    });
    for (const c of held.calls.splice(0)) c.done(null);
    expect(await outcome).toMatchObject({ deliveryId: 'd-1', duplicate: false, status: 'pending' });
    for (let i = 0; i < 5 && held.calls.length === 0; i++) await tick();
    expect(duplicateAnswered).toBe(false);
    for (const c of held.calls.splice(0)) c.done(null);
    expect(await duplicate).toMatchObject({ deliveryId: 'd-1', duplicate: true });
    await ingestor.idle();
    expect(db.$client.prepare('SELECT status FROM deliveries WHERE id = ?').get('d-1')).toEqual({ status: 'applied' });
    await ingestor.close();
    db.$client.close();
  });

  it('a failed sync is final: every delivery waiting on any later sync is refused too, even one the kernel reports done', async () => {
    const { db, path, repo } = fileDb();
    const held = heldSync();
    const failures: unknown[] = [];
    const ingestor = new Ingestor(repo, systemClock, createLogger('silent'), { syncer: createWalSyncer(path, held.dataSync), onSyncFailure: (err) => failures.push(err) });
    // More than one store group (256 a commit): the second group's sync waits behind the first.
    const outcomes = Array.from({ length: 300 }, (_, n) => ingestor.submit(delivery(n)).then(() => 'acknowledged', (err: Error) => err.message));
    for (let i = 0; i < 5 && held.calls.length === 0; i++) await tick();
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    for (const c of held.calls.splice(0)) c.done(eio);
    // Whatever sync comes next (none should) reports success, as Linux may after a failed fsync.
    for (let i = 0; i < 5; i++) {
      await tick();
      for (const c of held.calls.splice(0)) c.done(null);
    }
    const answers = await Promise.all(outcomes);
    expect(answers.filter((a) => a === 'acknowledged')).toEqual([]);
    expect(answers.every((a) => /EIO/.test(a))).toBe(true);
    expect(failures).toEqual([eio]);
    await expect(ingestor.submit(delivery(301))).rejects.toThrow(/closed/);
    db.$client.close();
  });
});
