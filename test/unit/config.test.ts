import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, storageChoice } from '../../src/config.js';

const VALID = { ENODE_WEBHOOK_SECRET: 'webhook-secret', ADMIN_TOKEN: 'admin-token-0123456789' };

function problemsOf(env: Record<string, string | undefined>, require: Array<'ENODE_WEBHOOK_SECRET' | 'ADMIN_TOKEN'> = []): string[] {
  try {
    loadConfig(env, { require });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(VALID);
    expect(c.port).toBe(8080);
    expect(c.host).toBe('0.0.0.0');
    expect(c.databasePath).toBe('./data/enode-sync.db');
    expect(c.enode.env).toBe('sandbox');
    expect(c.enode.apiUrl).toBe('https://enode-api.sandbox.enode.io');
    expect(c.enode.oauthUrl).toBe('https://oauth.sandbox.enode.io/oauth2/token');
    expect(c.pollIntervalSeconds).toBe(30);
    expect(c.dailyCommandLimit).toBe(6);
    expect(c.interferenceGraceSeconds).toBe(60);
    expect(c.webhookBodyLimitBytes).toBe(5 * 1024 * 1024);
    expect(c.logLevel).toBe('info');
  });

  it('picks production URLs and lets explicit URLs override them', () => {
    expect(loadConfig({ ...VALID, ENODE_ENV: 'production' }).enode.apiUrl).toBe('https://enode-api.production.enode.io');
    const c = loadConfig({ ...VALID, ENODE_API_URL: 'http://127.0.0.1:9000/', ENODE_OAUTH_URL: 'http://127.0.0.1:9000/oauth2/token' });
    expect(c.enode.apiUrl).toBe('http://127.0.0.1:9000');
    expect(c.enode.oauthUrl).toBe('http://127.0.0.1:9000/oauth2/token');
  });

  it('splits comma-separated webhook secrets for rotation', () => {
    expect(loadConfig({ ...VALID, ENODE_WEBHOOK_SECRET: 'old-secret, new-secret' }).webhookSecrets).toEqual(['old-secret', 'new-secret']);
  });

  it('names every bad variable in one error', () => {
    const problems = problemsOf({ PORT: 'eighty', ENODE_ENV: 'staging', POLL_INTERVAL_SECONDS: '0', LOG_LEVEL: 'loud', ALERT_WEBHOOK_URLS: 'not a url' });
    const names = problems.map((p) => p.split(':')[0]);
    expect(names).toEqual(expect.arrayContaining(['PORT', 'ENODE_ENV', 'POLL_INTERVAL_SECONDS', 'LOG_LEVEL', 'ALERT_WEBHOOK_URLS']));
    expect(problems).toHaveLength(5);
  });

  it('requires the secret and admin token for serve, and says so for both at once', () => {
    const problems = problemsOf({}, ['ENODE_WEBHOOK_SECRET', 'ADMIN_TOKEN']);
    expect(problems).toEqual(['ENODE_WEBHOOK_SECRET: is required', 'ADMIN_TOKEN: is required']);
  });

  it('treats empty strings as unset, so "ADMIN_TOKEN=" is still missing', () => {
    expect(problemsOf({ ENODE_WEBHOOK_SECRET: 'webhook-secret', ADMIN_TOKEN: '' }, ['ADMIN_TOKEN'])).toEqual(['ADMIN_TOKEN: is required']);
  });

  it('never echoes a secret value in its error', () => {
    const problems = problemsOf({ ENODE_WEBHOOK_SECRET: 'abc', ADMIN_TOKEN: 'short-tok' });
    expect(problems.join('\n')).not.toContain('abc');
    expect(problems.join('\n')).not.toContain('short-tok');
    expect(problems).toHaveLength(2);
  });

  it('wants Enode client id and secret together', () => {
    expect(problemsOf({ ...VALID, ENODE_CLIENT_ID: 'id' })).toEqual(['ENODE_CLIENT_ID and ENODE_CLIENT_SECRET: set both or neither']);
  });

  it('checks the alert secret format', () => {
    expect(problemsOf({ ...VALID, ALERT_WEBHOOK_SECRET: 'plain' })[0]).toMatch(/^ALERT_WEBHOOK_SECRET: must start with whsec_/);
  });
});

describe('DATABASE_URL and storageChoice', () => {
  const URL = 'postgres://enode:s3cret-pw@db.internal:5432/enode';

  it('uses SQLite at DATABASE_PATH (or its default) without DATABASE_URL', () => {
    expect(storageChoice(loadConfig(VALID))).toEqual({ engine: 'sqlite', path: './data/enode-sync.db' });
    expect(storageChoice(loadConfig({ ...VALID, DATABASE_PATH: '/var/lib/x.db' }))).toEqual({ engine: 'sqlite', path: '/var/lib/x.db' });
    expect(storageChoice(loadConfig({ ...VALID, DATABASE_URL: '' }))).toEqual({ engine: 'sqlite', path: './data/enode-sync.db' });
  });

  it('uses Postgres when DATABASE_URL is set, and names an explicit DATABASE_PATH it ignores', () => {
    expect(storageChoice(loadConfig({ ...VALID, DATABASE_URL: URL }))).toEqual({ engine: 'postgres', url: URL });
    expect(storageChoice(loadConfig({ ...VALID, DATABASE_URL: 'postgresql://u@h/d' }))).toEqual({ engine: 'postgres', url: 'postgresql://u@h/d' });
    expect(storageChoice(loadConfig({ ...VALID, DATABASE_URL: URL, DATABASE_PATH: '/var/lib/x.db' }))).toEqual({ engine: 'postgres', url: URL, ignoredPath: '/var/lib/x.db' });
  });

  it('refuses another scheme with a clear message that does not echo the URL', () => {
    for (const bad of ['mysql://enode:s3cret-pw@db/enode', 'file:./x.db', 's3cret-pw', 'postgres://']) {
      const problems = problemsOf({ ...VALID, DATABASE_URL: bad });
      expect(problems).toEqual(['DATABASE_URL: must be a postgres:// or postgresql:// URL (a SQLite file is DATABASE_PATH)']);
      expect(problems.join('\n')).not.toContain('s3cret-pw');
    }
  });
});
