/** `enode-sync init`: the production quickstart's secrets, kept in a private .env (issue 18). */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { configWarnings, loadConfig } from '../../src/config.js';
import { runCli } from '../support/cli.js';
import { removeDir, tempDir } from '../support/daemon.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

describe('enode-sync init', () => {
  it('writes strong secrets to a new env file readable by its owner only, and says what to give Enode', () => {
    const dir = tempDir('enode-sync-init-');
    dirs.push(dir);
    const path = join(dir, 'conf', 'enode-sync.env');
    const r = runCli(['init', '--out', path, '--public-url', 'https://sync.example.com/']);
    expect(r.code).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const env = parseEnv(readFileSync(path, 'utf8')) as Record<string, string>;
    expect(env.ENODE_WEBHOOK_SECRET).toMatch(/^[0-9a-f]{64}$/);
    expect(env.ADMIN_TOKEN).toMatch(/^[0-9a-f]{64}$/);
    expect(env.METRICS_TOKEN).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set([env.ENODE_WEBHOOK_SECRET, env.ADMIN_TOKEN, env.METRICS_TOKEN]).size).toBe(3);
    // The file is a valid configuration for serve, with nothing to warn about.
    const config = loadConfig(env, { require: ['ENODE_WEBHOOK_SECRET', 'ADMIN_TOKEN'] });
    expect(configWarnings(config)).toEqual([]);
    expect(config.alerts.publicUrl).toBe('https://sync.example.com');
    expect(r.stdout).toContain(`Wrote ${path}`);
    expect(r.stdout).toMatch(/url +https:\/\/sync\.example\.com\/webhooks\/enode/);
    expect(r.stdout).toContain(`secret   ${env.ENODE_WEBHOOK_SECRET}`);
    // The admin token stays in the file.
    expect(r.stdout).not.toContain(env.ADMIN_TOKEN as string);
  });

  it('never overwrites an existing file (exit 1, file unchanged), and rejects a bad URL', () => {
    const dir = tempDir('enode-sync-init-');
    dirs.push(dir);
    const path = join(dir, '.env');
    writeFileSync(path, 'ADMIN_TOKEN=mine\n');
    const again = runCli(['init', '--out', path]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${path} already exists: init never overwrites it`);
    expect(readFileSync(path, 'utf8')).toBe('ADMIN_TOKEN=mine\n');
    const bad = runCli(['init', '--out', join(dir, 'other.env'), '--public-url', 'sync.example.com']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--public-url must be an http(s) URL');
    expect(runCli(['init', '--bogus']).code).toBe(2);
  });
});
