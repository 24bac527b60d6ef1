import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { createIngestRepo } from '../../src/db/ingest-repo.js';
import { applyDelivery, storeDelivery } from '../../src/ingest/deliveries.js';
import { actionEvent } from '../support/fixtures.js';
import { removeDir, tempDir } from '../support/daemon.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('enode-sync CLI', () => {
  it('prints help for the program and for each command', () => {
    const main = cli(['--help']);
    expect(main.code).toBe(0);
    expect(main.stdout).toMatch(/serve[\s\S]*migrate[\s\S]*replay/);
    for (const command of ['serve', 'migrate', 'replay', 'status', 'alerts']) {
      const r = cli([command, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: enode-sync ${command}`);
    }
    // Six process starts in a row: a loaded 2-core machine takes several seconds for each.
  }, 120_000);

  it('prints the simulator flags for simulate --help and demo --help', () => {
    for (const command of ['simulate', 'demo']) {
      const r = cli([command, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('--drop-rate');
      expect(r.stdout).toContain('--interference-rate');
    }
  });

  it('names every bad simulator flag at once, exit code 2', () => {
    const r = cli(['simulate', '--drop-rate', '2', '--bogus', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--drop-rate');
    expect(r.stderr).toContain('--bogus: unknown flag');
  });

  it('rejects an unknown command with exit code 2', () => {
    const r = cli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Unknown command "frobnicate"');
  });

  it('refuses to serve without its secrets and names both, exit code 2', () => {
    const r = cli(['serve'], { PORT: 'x' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PORT:');
    expect(r.stderr).toContain('ENODE_WEBHOOK_SECRET: is required');
    expect(r.stderr).toContain('ADMIN_TOKEN: is required');
  });

  it('migrates a new database file', () => {
    const dir = tempDir();
    dirs.push(dir);
    const dbPath = join(dir, 'sub', 'x.db');
    expect(cli(['migrate'], { DATABASE_PATH: dbPath }).code).toBe(0);
    const db = new Database(dbPath, { readonly: true });
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'deliveries'").get()).toEqual({ n: 1 });
    db.close();
  });

  it('replays a failed delivery: exit 1 while it still fails, 0 once applied, 1 for an unknown id', () => {
    const dir = tempDir();
    dirs.push(dir);
    const dbPath = join(dir, 'x.db');
    const db = openDatabase(dbPath);
    runMigrations(db);
    const broken = actionEvent('action-1', 'PENDING', 1);
    (broken.vendorAction as Record<string, unknown>).updatedAt = 'not a date';
    const repo = createIngestRepo(db.$client);
    repo.transaction(() => {
      storeDelivery(repo, { headerId: 'd-1', receivedAt: Date.now(), headers: {}, body: Buffer.from(JSON.stringify([broken])) });
      applyDelivery(repo, 'd-1', Date.now());
    });

    const failing = cli(['replay', 'd-1'], { DATABASE_PATH: dbPath });
    expect(failing.code).toBe(1);
    expect(JSON.parse(failing.stdout)).toMatchObject({ deliveryId: 'd-1', status: 'failed' });

    db.$client.prepare('UPDATE delivery_bodies SET body = ? WHERE id = (SELECT body_id FROM deliveries WHERE id = ?)').run(Buffer.from(JSON.stringify([actionEvent('action-1', 'PENDING', 1)])), 'd-1');
    const ok = cli(['replay', 'd-1'], { DATABASE_PATH: dbPath });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ deliveryId: 'd-1', status: 'applied' });
    expect(db.$client.prepare('SELECT state FROM actions WHERE id = ?').get('action-1')).toEqual({ state: 'PENDING' });

    const unknown = cli(['replay', 'nope'], { DATABASE_PATH: dbPath });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No delivery with id "nope"');
    db.$client.close();
  });

  it('status reports counts, webhook health and whether the daemon answers; --json gives the same as data', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir, 'status.db');
    const db = openDatabase(path);
    runMigrations(db);
    const repo = createIngestRepo(db.$client);
    const body = Buffer.from(JSON.stringify([actionEvent('a1', 'PENDING', 1), actionEvent('a2', 'FAILED', 2)]));
    const { outcome } = storeDelivery(repo, { headerId: 'd1', receivedAt: Date.now(), headers: {}, body });
    applyDelivery(repo, outcome.deliveryId, Date.now());
    db.$client.close();
    // A port nothing listens on: the daemon is reported not ready, and the exit code says so.
    const env = { DATABASE_PATH: path, PORT: '9' };
    const text = cli(['status'], env);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/actions:\s+(FAILED 1, PENDING 1|PENDING 1, FAILED 1)/);
    expect(text.stdout).toMatch(/deliveries:\s+applied 1/);
    expect(text.stdout).toMatch(/daemon:\s+NOT READY/);
    const json = cli(['status', '--json'], env);
    const report = JSON.parse(json.stdout) as { actions: Record<string, number>; lastWebhookAt: string | null; daemon: { ready: boolean }; migrations: { applied: number; expected: number } };
    expect(report.actions).toEqual({ PENDING: 1, FAILED: 1 });
    expect(report.lastWebhookAt).not.toBeNull();
    expect(report.daemon.ready).toBe(false);
    expect(report.migrations.applied).toBe(report.migrations.expected);
  });

  it('status without a database exits 1, with bad flags 2, each with a clear message', () => {
    const dir = tempDir();
    dirs.push(dir);
    const missing = cli(['status'], { DATABASE_PATH: join(dir, 'nope.db') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('No database at');
    const bad = cli(['status', '--bogus'], { DATABASE_PATH: join(dir, 'nope.db') });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Usage: enode-sync status');
  });
});
