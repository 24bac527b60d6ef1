// SQLite-only: the SQLite migrations and sqlite_master; pg-migrate.test.ts and schema-parity.test.ts cover Postgres's.
import { describe, expect, it } from 'vitest';
import { migrationStatus, runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { createIngestRepo } from '../../src/db/ingest-repo.js';
import { createReadStore } from '../../src/store/read.js';
import { createSqliteReader, sqliteEngineReads } from '../../src/store/sqlite/reader.js';

describe('migrations', () => {
  it('create every table on an empty database and are idempotent', () => {
    const db = openDatabase(':memory:');
    expect(migrationStatus(db).applied).toBe(0);
    runMigrations(db);
    runMigrations(db);
    const tables = (db.$client.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__drizzle%'").all() as Array<{ name: string }>)
      .map((r) => r.name)
      .sort();
    expect(tables).toEqual(['actions', 'alert_deliveries', 'alerts', 'commands', 'control_statuses', 'deliveries', 'delivery_bodies', 'devices', 'event_log', 'events', 'findings', 'health_probe', 'leases', 'observations', 'reconcile_queue', 'subscription_deliveries', 'subscriptions', 'system_events', 'transitions', 'ui_session_revocations']);
    const status = migrationStatus(db);
    expect(status.applied).toBe(status.expected);
    expect(status.expected).toBeGreaterThan(0);
  });

  it('0005: a new delivery keeps its body apart; one stored before still reads; a deleted delivery takes its body', async () => {
    const db = openDatabase(':memory:');
    runMigrations(db);
    const repo = createIngestRepo(db.$client);
    const reads = createReadStore(createSqliteReader(db.$client), sqliteEngineReads(db.$client));
    const body = Buffer.from('[{"event":"system:heartbeat"}]');
    repo.transaction(() => repo.insertDelivery({ id: 'new', receivedAt: 1, headers: {}, body, bodySha256: 'h1', status: 'pending', error: null, eventCount: 1, appliedAt: null }));
    const row = db.$client.prepare('SELECT length(body) AS inRow, body_id AS bodyId FROM deliveries WHERE id = ?').get('new') as { inRow: number; bodyId: number };
    expect(row.inRow).toBe(0);
    expect(db.$client.prepare('SELECT body FROM delivery_bodies WHERE id = ?').pluck().get(row.bodyId)).toEqual(body);
    expect(repo.deliveryBody('new')?.body).toEqual(body);
    expect((await reads.getDelivery('new'))?.body).toEqual(body);
    // As a database migrated from 0004 holds them: the body in the row, no body_id.
    const old = Buffer.from('[{"event":"enode:webhook:test"}]');
    db.$client.prepare(`INSERT INTO deliveries (id, received_at, headers, body, body_sha256, status, event_count) VALUES ('old', 2, '{}', ?, 'h2', 'applied', 1)`).run(old);
    expect(repo.deliveryBody('old')?.body).toEqual(old);
    expect((await reads.getDelivery('old'))?.body).toEqual(old);
    // Marking it applied leaves the body row alone; deleting the delivery removes it.
    repo.transaction(() => repo.finishDelivery('new', 'applied', null, 5, 1));
    expect(db.$client.prepare('SELECT count(*) FROM delivery_bodies').pluck().get()).toBe(1);
    db.$client.prepare('DELETE FROM deliveries').run();
    expect(db.$client.prepare('SELECT count(*) FROM delivery_bodies').pluck().get()).toBe(0);
    db.$client.close();
  });

  it('open a file database in WAL mode with synchronous=FULL', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'enode-sync-'));
    try {
      const db = openDatabase(join(dir, 'nested', 'x.db'));
      expect(db.$client.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.$client.pragma('synchronous', { simple: true })).toBe(2);
      expect(db.$client.pragma('foreign_keys', { simple: true })).toBe(1);
      // Applying commits without its own fsync; every other commit (stores above all) must be FULL again after it.
      runMigrations(db);
      const repo = createIngestRepo(db.$client);
      repo.derivedTransaction(() => expect(db.$client.pragma('synchronous', { simple: true })).toBe(1));
      expect(db.$client.pragma('synchronous', { simple: true })).toBe(2);
      expect(() => repo.derivedTransaction(() => {
        throw new Error('boom');
      })).toThrow('boom');
      expect(db.$client.pragma('synchronous', { simple: true })).toBe(2);
      db.$client.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
