/**
 * The one-shot commands against Postgres (DATABASE_URL), as an operator runs them beside the
 * replicas: migrate, status, replay, alerts list/retry.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeIfPostgres, freshPostgresDatabase, type FreshDatabase } from '../support/postgres.js';

function cli(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describeIfPostgres('enode-sync CLI on Postgres', () => {
  let db: FreshDatabase;
  beforeEach(async () => {
    db = await freshPostgresDatabase();
  });
  afterEach(() => db.drop());

  it('migrates, reports status, and answers replay and alerts without touching a SQLite file', () => {
    // DATABASE_PATH points nowhere usable: DATABASE_URL must win for every command.
    const env = { DATABASE_URL: db.url, DATABASE_PATH: '/nonexistent/dir/never.db' };

    const before = cli(['status', '--json', '--url', 'http://127.0.0.1:9'], env);
    // A database never migrated is not the daemon's: named, exit 1, and left without tables.
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/the database holds no enode-sync tables .*"enode-sync migrate"/);
    const replayBefore = cli(['replay', 'd-1'], env);
    expect(replayBefore.code).toBe(1);
    expect(replayBefore.stderr).toContain('holds no enode-sync tables');
    expect(cli(['alerts', 'list'], env).code).toBe(1);
    expect(cli(['status', '--json', '--url', 'http://127.0.0.1:9'], env).code).toBe(1);

    expect(cli(['migrate'], env).code).toBe(0);
    const status = cli(['status', '--json', '--url', 'http://127.0.0.1:9'], env);
    const report = JSON.parse(status.stdout);
    expect(report.migrations.applied).toBe(report.migrations.expected);
    expect(report.database).toContain(db.name);
    expect(status.stdout).not.toContain(`:${new URL(db.url).password}@`);
    expect(status.stdout).toContain(":***@");

    const replay = cli(['replay', 'no-such-delivery'], env);
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain('No delivery with id "no-such-delivery"');

    const list = cli(['alerts', 'list'], env);
    expect(list).toMatchObject({ code: 0, stdout: '' });
    const retry = cli(['alerts', 'retry', 'alr_none'], env);
    expect(retry.code).toBe(1);
    expect(retry.stderr).toContain('No alert with id "alr_none"');
  }, 180_000);
});
