import { describe, expect, it } from 'vitest';
import { migrationStatus, runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { createIngestRepo } from '../../src/db/ingest-repo.js';

describe('migrations', () => {
  it('create every table on an empty database and are idempotent', () => {
    const db = openDatabase(':memory:');
    expect(migrationStatus(db).applied).toBe(0);
    runMigrations(db);
    runMigrations(db);
    const tables = (db.$client.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__drizzle%'").all() as Array<{ name: string }>)
      .map((r) => r.name)
      .sort();
    expect(tables).toEqual(['actions', 'alert_deliveries', 'alerts', 'commands', 'deliveries', 'devices', 'findings', 'health_probe', 'observations', 'reconcile_queue', 'system_events', 'transitions', 'ui_session_revocations']);
    const status = migrationStatus(db);
    expect(status.applied).toBe(status.expected);
    expect(status.expected).toBeGreaterThan(0);
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
