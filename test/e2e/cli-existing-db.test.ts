/**
 * The one-shot commands that use a database (status, alerts, replay) never create one: a missing
 * file is an error naming the path, exit 1, and nothing appears on disk. `status` never calls a
 * webhook healthy that never delivered, and shows alerts held for want of a sink (issue 18).
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createIngestRepo } from '../../src/db/ingest-repo.js';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { applyDelivery, storeDelivery } from '../../src/ingest/deliveries.js';
import { runCli } from '../support/cli.js';
import { removeDir, tempDir } from '../support/daemon.js';
import { actionEvent } from '../support/fixtures.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});
function dir(): string {
  const d = tempDir('enode-sync-cli-db-');
  dirs.push(d);
  return d;
}

/** A migrated database holding one applied delivery (a FAILED action, which raises an alert), or none. */
function database(path: string, withDelivery: boolean): void {
  const db = openDatabase(path);
  runMigrations(db);
  if (withDelivery) {
    const repo = createIngestRepo(db.$client);
    const body = Buffer.from(JSON.stringify([actionEvent('a1', 'FAILED', 1, { failureReason: { type: 'NO_RESPONSE', detail: 'x' } })]));
    const { outcome } = storeDelivery(repo, { headerId: 'd1', receivedAt: Date.now(), headers: {}, body });
    applyDelivery(repo, outcome.deliveryId, Date.now());
  }
  db.$client.close();
}

describe('read commands on a database that is not there', () => {
  const commands = [['status'], ['alerts', 'list'], ['alerts', 'retry', 'alr_x'], ['replay', 'd-1']];

  it.each(commands.map((args) => ({ name: args.join(' '), args })))('$name: exit 1 naming the path; no file, directory or lock created', ({ args }) => {
    const d = dir();
    const path = join(d, 'nested', 'enode-sync.db');
    const r = runCli(args, { DATABASE_PATH: path, PORT: '9' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`No database at ${path}`);
    expect(r.stderr).toContain('DATABASE_PATH');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(d, 'nested'))).toBe(false);
    expect(readdirSync(d)).toEqual([]);
  });

  it('an empty file is not taken for the daemon\'s database, and stays empty', () => {
    const path = join(dir(), 'empty.db');
    writeFileSync(path, '');
    const r = runCli(['status'], { DATABASE_PATH: path, PORT: '9' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${path}: the file holds no enode-sync tables`);
    const db = openDatabase(path);
    expect(db.$client.prepare(`SELECT count(*) AS n FROM sqlite_master`).get()).toEqual({ n: 0 });
    db.$client.close();
  });
});

describe('status verdicts', () => {
  it('a database no webhook ever reached is NEVER DELIVERED, not healthy (exit 1)', () => {
    const path = join(dir(), 'fresh.db');
    database(path, false);
    const text = runCli(['status', '--url', 'http://127.0.0.1:9'], { DATABASE_PATH: path });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`database:\\s+${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    expect(text.stdout).toMatch(/webhook:\s+NEVER DELIVERED: no webhook has reached this database yet/);
    expect(text.stdout).not.toMatch(/webhook:\s+healthy/);
    const json = JSON.parse(runCli(['status', '--json', '--url', 'http://127.0.0.1:9'], { DATABASE_PATH: path }).stdout) as { webhook: { healthy: boolean; state: string } };
    expect(json.webhook).toMatchObject({ healthy: false, state: 'never_delivered' });
  });

  it('alerts held because no sink is configured are shown with how to configure one; with a sink they are only waiting', () => {
    const path = join(dir(), 'held.db');
    database(path, true);
    const held = runCli(['status', '--url', 'http://127.0.0.1:9'], { DATABASE_PATH: path });
    expect(held.stdout).toMatch(/held alerts:\s+1 HELD: no alert sink is configured; configure a sink .*ALERT_WEBHOOK_URLS.*ALERT_SLACK_WEBHOOK_URL/);
    const json = JSON.parse(runCli(['status', '--json', '--url', 'http://127.0.0.1:9'], { DATABASE_PATH: path }).stdout) as { heldAlerts: { count: number; sinksConfigured: boolean; hint: string | null } };
    expect(json.heldAlerts).toMatchObject({ count: 1, sinksConfigured: false });
    expect(json.heldAlerts.hint).toContain('ALERT_WEBHOOK_URLS');
    const withSink = runCli(['status', '--url', 'http://127.0.0.1:9'], { DATABASE_PATH: path, ALERT_SLACK_WEBHOOK_URL: 'https://hooks.slack.example/services/T/B/x' });
    expect(withSink.stdout).toMatch(/held alerts:\s+1 waiting for the next dispatch run/);
    const list = runCli(['alerts', 'list'], { DATABASE_PATH: path });
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout.trim())).toMatchObject({ sink: null, status: 'held', alert: { type: 'action.failed' } });
    expect(list.stderr).toMatch(/1 alert\(s\) held: no alert sink is configured; configure a sink/);
  });
});
