// SQLite-only: one daemon per database file; on Postgres many replicas share one database by design.
/**
 * One daemon per database file (issue 14, item 2): a second `serve` or `demo` on the same
 * DATABASE_PATH refuses to start, names the path and the holder; writing CLI commands refuse
 * and point at the API; reading ones still run; kill -9 leaves no stale lock.
 */
import { once } from 'node:events';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { deliver, E2E_ADMIN, E2E_SECRET, removeDir, startDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { freePort } from '../support/process.js';

const dirs: string[] = [];
const daemons: Daemon[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.proc.stop();
  for (const d of dirs.splice(0)) removeDir(d);
});

async function daemonIn(prefix: string) {
  const dir = tempDir(prefix);
  dirs.push(dir);
  const daemon = await startDaemon(dir);
  daemons.push(daemon);
  const env = { DATABASE_PATH: daemon.dbPath, ENODE_WEBHOOK_SECRET: E2E_SECRET, ADMIN_TOKEN: E2E_ADMIN, HOST: '127.0.0.1' };
  return { dir, daemon, pid: daemon.proc.child.pid!, env };
}

describe('one daemon per SQLite file', () => {
  it('a second serve or demo on the file refuses, naming it and the holder; after kill -9 of the holder a restart starts', async () => {
    const { dir, daemon: first, pid, env } = await daemonIn('enode-sync-lock-');

    // /readyz (polled by startDaemon until 200) wrote the probe row through the writer thread.
    const ro = new Database(first.dbPath, { readonly: true });
    expect(ro.prepare('SELECT id, at_ms FROM health_probe').all()).toEqual([{ id: 1, at_ms: expect.any(Number) }]);
    ro.close();

    const second = runCli(['serve'], { ...env, PORT: String(await freePort()) });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`Database ${first.dbPath} is in use by pid ${pid}`);
    expect(second.stderr).toContain('enode-sync serve');
    expect(second.stderr).not.toMatch(/\n\s+at /); // no stack trace

    const demo = runCli(['demo'], { ...env, PORT: String(await freePort()) });
    expect(demo.code).not.toBe(0);
    expect(demo.stderr).toContain(`Database ${first.dbPath} is in use by pid ${pid}`);

    // The first daemon still answers, untouched by the refused ones.
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);

    // kill -9: the kernel drops the lock with the process; a restart on the same file starts.
    first.proc.child.kill('SIGKILL');
    await once(first.proc.child, 'exit');
    const restarted = await startDaemon(dir);
    daemons.push(restarted);
    expect((await fetch(`${restarted.url}/readyz`)).status).toBe(200);
  }, 60_000);

  it('beside a daemon, writing commands refuse and point at the API, reading ones run; once it stops they run', async () => {
    const { daemon, pid, env } = await daemonIn('enode-sync-lock-cli-');

    const migrate = runCli(['migrate'], env);
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toContain(`database ${daemon.dbPath} is in use by pid ${pid}`);
    const replay = runCli(['replay', 'd-1'], env);
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain('POST /api/v1/deliveries/d-1/replay');
    const retry = runCli(['alerts', 'retry', 'al-1'], env);
    expect(retry.code).toBe(1);
    expect(retry.stderr).toContain('POST /api/v1/alerts/al-1/retry');

    // A webhook has reached the database: only then is the webhook healthy (never delivered is exit 1).
    const never = runCli(['status', '--url', daemon.url], env);
    expect(never.stdout).toMatch(/webhook:\s+NEVER DELIVERED/);
    expect(never.code).toBe(1);
    expect((await deliver(daemon.url, 'd-lock-1', [])).status).toBe(200);
    const status = runCli(['status', '--url', daemon.url], env);
    expect(status.stdout).toMatch(/daemon:\s+ready/);
    expect(status.code).toBe(0);

    expect(await daemon.proc.stop()).toBe(0);
    expect(runCli(['migrate'], env).code).toBe(0);
  }, 60_000);
});
