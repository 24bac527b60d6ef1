/**
 * SQLite only: the event log's filter indexes hold 48-bit keys of the device and user ids
 * (store/id-key.ts, migration 0011). Postgres indexes the ids themselves (events.test.ts covers
 * the filters on both engines).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterEach, describe, expect, it } from 'vitest';
import { migrationsFolder, runMigrations } from '../../src/db/migrate.js';
import { openDatabase, type Db } from '../../src/db/open.js';
import { idKey } from '../../src/store/id-key.js';
import { eventReads } from '../../src/store/events-read.js';
import { createSqliteReader } from '../../src/store/sqlite/reader.js';
import { appendEvent } from '../../src/store/sqlite/events.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A copy of the migrations folder that stops before `tag`: a database as an older release left it. */
function migrationsBefore(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'enode-sync-migrations-'));
  dirs.push(dir);
  cpSync(migrationsFolder(), dir, { recursive: true });
  const journalPath = join(dir, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
  const at = journal.entries.findIndex((e) => e.tag === tag);
  expect(at).toBeGreaterThan(0);
  journal.entries = journal.entries.slice(0, at);
  writeFileSync(journalPath, JSON.stringify(journal));
  return dir;
}

function append(db: Db, n: number, deviceId: string | null, userId: string | null): void {
  appendEvent(db.$client, { type: 'device.updated', factKey: `f${n}`, occurredAtMs: n, recordedAtMs: n, deviceId, userId, data: { n } });
}

const positions = async (db: Db, f: { deviceId?: string; userId?: string; after?: number }) =>
  (await eventReads(createSqliteReader(db.$client)).events({ limit: 100, ...f })).map((e) => JSON.parse(e.data).n as number);

describe('event log id keys (SQLite)', () => {
  it('0011 computes the keys of the events already stored, and the filters find them', async () => {
    const db = openDatabase(':memory:');
    migrate(db, { migrationsFolder: migrationsBefore('0011_event_filter_keys') });
    const insertOld = db.$client.prepare(
      `INSERT INTO events (type, fact_key, occurred_at, recorded_at, device_id, user_id, data) VALUES ('device.updated', ?, 1, 1, ?, ?, ?)`,
    );
    insertOld.run('a', 'dev-1', 'user-1', '{"n":1}');
    insertOld.run('b', 'dev-2', 'user-1', '{"n":2}');
    insertOld.run('c', null, null, '{"n":3}');
    runMigrations(db);
    const rows = db.$client.prepare('SELECT device_id AS d, user_id AS u, device_key AS dk, user_key AS uk, typeof(device_key) AS t FROM events ORDER BY position').all() as Array<{
      d: string | null;
      u: string | null;
      dk: number | null;
      uk: number | null;
      t: string;
    }>;
    expect(rows).toEqual([
      { d: 'dev-1', u: 'user-1', dk: idKey('dev-1'), uk: idKey('user-1'), t: 'integer' },
      { d: 'dev-2', u: 'user-1', dk: idKey('dev-2'), uk: idKey('user-1'), t: 'integer' },
      { d: null, u: null, dk: null, uk: null, t: 'null' },
    ]);
    // Events written after the upgrade sit beside them under the same keys.
    append(db, 4, 'dev-1', 'user-2');
    expect(await positions(db, { deviceId: 'dev-1' })).toEqual([1, 4]);
    expect(await positions(db, { userId: 'user-1' })).toEqual([1, 2]);
    expect(await positions(db, { userId: 'user-1', after: 1 })).toEqual([2]);
    db.$client.close();
  });

  it('two ids that share a key still read apart: the id confirms what the key found', async () => {
    const db = openDatabase(':memory:');
    runMigrations(db);
    append(db, 1, 'dev-a', 'user-a');
    append(db, 2, 'dev-b', 'user-b');
    append(db, 3, 'dev-a', 'user-a');
    // A collision is too rare to meet by chance (48 bits): give dev-b's row dev-a's keys.
    db.$client.prepare('UPDATE events SET device_key = ?, user_key = ? WHERE device_id = ?').run(idKey('dev-a'), idKey('user-a'), 'dev-b');
    expect(await positions(db, { deviceId: 'dev-a' })).toEqual([1, 3]);
    expect(await positions(db, { userId: 'user-a' })).toEqual([1, 3]);
    expect(await positions(db, { deviceId: 'dev-b' })).toEqual([]);
    db.$client.close();
  });

  it('a filtered page is read through the key index, not by scanning the log', () => {
    const db = openDatabase(':memory:');
    runMigrations(db);
    const plan = (sql: string) =>
      (db.$client.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(idKey('d'), 'd', 0) as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
    expect(plan('SELECT * FROM events WHERE device_key = ? AND device_id = ? AND position > ? ORDER BY position LIMIT 10')).toMatch(/USING INDEX events_device_key_idx/);
    expect(plan('SELECT * FROM events WHERE user_key = ? AND user_id = ? AND position > ? ORDER BY position LIMIT 10')).toMatch(/USING INDEX events_user_key_idx/);
    db.$client.close();
  });
});
