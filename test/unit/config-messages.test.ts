import { describe, expect, it } from 'vitest';
import { ConfigError, configWarnings, loadConfig } from '../../src/config.js';

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

describe('configuration errors in plain words', () => {
  it('says what a number must be and what it got, never "received NaN"', () => {
    expect(problemsOf({ ...VALID, PORT: 'abc' })).toEqual(['PORT: must be a whole number from 0 to 65535, got "abc"']);
    expect(problemsOf({ ...VALID, POLL_INTERVAL_SECONDS: '1.5' })).toEqual(['POLL_INTERVAL_SECONDS: must be a whole number from 1 to 86400, got "1.5"']);
    expect(problemsOf({ ...VALID, RETENTION_DAYS: '-1' })).toEqual(['RETENTION_DAYS: must be a whole number from 0 to 3650, got "-1"']);
    expect(problemsOf({ ...VALID, PORT: '70000' })).toEqual(['PORT: must be a whole number from 0 to 65535, got "70000"']);
  });

  it('names the allowed values of a choice', () => {
    expect(problemsOf({ ...VALID, ENODE_ENV: 'staging' })).toEqual(['ENODE_ENV: must be one of sandbox, production, got "staging"']);
    expect(problemsOf({ ...VALID, LOG_LEVEL: 'loud' })).toEqual(['LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"']);
    expect(problemsOf({ ...VALID, TRUST_PROXY: 'maybe' })).toEqual(['TRUST_PROXY: must be true or false, got "maybe"']);
  });

  it('says a URL must be http(s) without echoing it (URLs may hold secrets)', () => {
    const problems = problemsOf({ ...VALID, PUBLIC_URL: 'ftp://user:pw@host', ALERT_WEBHOOK_URLS: 'https://ok.example, nope', ALERT_WEBHOOK_SECRET: 'whsec_AAAA' });
    expect(problems).toEqual(['ALERT_WEBHOOK_URLS: each must be an http:// or https:// URL', 'PUBLIC_URL: must be an http:// or https:// URL']);
  });

  it('reports every problem at once, the checks across variables too, even when another value is bad', () => {
    const problems = problemsOf({ PORT: 'abc', LOG_LEVEL: 'loud', ENODE_CLIENT_ID: 'client-only', WEBHOOK_BODY_LIMIT_BYTES: '2000000', WEBHOOK_UNVERIFIED_BYTES_LIMIT: '1000000' }, ['ADMIN_TOKEN']);
    expect(problems).toEqual([
      'PORT: must be a whole number from 0 to 65535, got "abc"',
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      'ADMIN_TOKEN: is required',
      'ENODE_CLIENT_ID and ENODE_CLIENT_SECRET: set both or neither',
      'WEBHOOK_UNVERIFIED_BYTES_LIMIT: must be at least WEBHOOK_BODY_LIMIT_BYTES (2000000), or one whole webhook body could never be received',
    ]);
    expect(problems.join('\n')).not.toMatch(/NaN|Invalid input|expected (number|string)/);
  });

  it('accepts numbers with surrounding spaces, as .env files often have', () => {
    expect(loadConfig({ ...VALID, PORT: ' 8081 ' }).port).toBe(8081);
  });
});

describe('METRICS_TOKEN', () => {
  it('is optional, at least 16 characters, never echoed, and warned about when weak', () => {
    expect(loadConfig(VALID).metricsToken).toBeUndefined();
    expect(problemsOf({ ...VALID, METRICS_TOKEN: 'short-metrics' })).toEqual(['METRICS_TOKEN: must be at least 16 characters']);
    const weak = loadConfig({ ...VALID, METRICS_TOKEN: 'aaaaaaaaaaaaaaaaaaaa' });
    expect(weak.metricsToken).toBe('aaaaaaaaaaaaaaaaaaaa');
    const warnings = configWarnings(weak).filter((w) => w.startsWith('METRICS_TOKEN'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).not.toContain('aaaa');
    expect(configWarnings(loadConfig({ ...VALID, METRICS_TOKEN: '3f9c1a7be2d84c06a5e1f2b9d7c34e8a' })).some((w) => w.startsWith('METRICS_TOKEN'))).toBe(false);
  });
});
