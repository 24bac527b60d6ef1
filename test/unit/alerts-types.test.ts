import { describe, expect, it } from 'vitest';
import { acceptsType, ALERT_TYPES, DEFAULT_ALERT_TYPES, parseTypeFilter } from '../../src/alerts/types.js';
import { ConfigError, loadConfig } from '../../src/config.js';

const VALID = { ENODE_WEBHOOK_SECRET: 'webhook-secret', ADMIN_TOKEN: 'admin-token-0123456789' };
const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('alert type filters', () => {
  it('by default sends every type except action.cancelled', () => {
    const { types, unknown } = parseTypeFilter([]);
    expect(unknown).toEqual([]);
    expect(types).not.toContain('action.cancelled');
    expect([...types].sort()).toEqual(
      ['interference.detected', 'action.failed', 'credentials.invalidated', 'webhook.inactive', 'webhook.reactivated', 'delivery.failed', 'device.fault', 'apply.stalled', 'webhook.version_mismatch'].sort(),
    );
    expect(DEFAULT_ALERT_TYPES).toEqual(types);
  });

  it('takes exactly the listed types, or every type for *', () => {
    expect(parseTypeFilter(['action.cancelled', 'action.failed']).types.sort()).toEqual(['action.cancelled', 'action.failed']);
    expect(parseTypeFilter(['*']).types).toEqual([...ALERT_TYPES]);
    expect(parseTypeFilter(['*']).types).toContain('action.cancelled');
  });

  it('reports unknown names instead of muting alerts silently', () => {
    expect(parseTypeFilter(['action.failed', 'action.faild']).unknown).toEqual(['action.faild']);
  });

  it('accepts an alert only when its type is in the filter', () => {
    const slack = parseTypeFilter(['interference.detected']).types;
    expect(acceptsType(slack, 'interference.detected')).toBe(true);
    expect(acceptsType(slack, 'action.failed')).toBe(false);
    expect(acceptsType(parseTypeFilter([]).types, 'action.cancelled')).toBe(false);
  });
});

describe('alert configuration', () => {
  it('parses per-sink filters, PUBLIC_URL and the dispatcher settings', () => {
    const c = loadConfig({
      ...VALID,
      ALERT_WEBHOOK_URLS: 'https://a.example/hook, https://b.example/hook',
      ALERT_WEBHOOK_SECRET: WHSEC,
      ALERT_WEBHOOK_TYPES: '*',
      ALERT_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/X',
      ALERT_SLACK_TYPES: 'interference.detected, webhook.inactive',
      PUBLIC_URL: 'https://sync.example.com/enode/',
      ALERT_DISPATCH_INTERVAL_SECONDS: '2',
      ALERT_TIMEOUT_SECONDS: '3',
    });
    expect(c.alerts.webhookUrls).toEqual(['https://a.example/hook', 'https://b.example/hook']);
    expect(c.alerts.webhookTypes).toEqual([...ALERT_TYPES]);
    expect(c.alerts.slackTypes.sort()).toEqual(['interference.detected', 'webhook.inactive']);
    expect(c.alerts.publicUrl).toBe('https://sync.example.com/enode');
    expect(c.alerts.dispatchIntervalSeconds).toBe(2);
    expect(c.alerts.timeoutSeconds).toBe(3);
  });

  it('defaults: every 5 s, 10 s per attempt, no public URL, default filters', () => {
    const c = loadConfig(VALID);
    expect(c.alerts).toMatchObject({ dispatchIntervalSeconds: 5, timeoutSeconds: 10, publicUrl: undefined });
    expect(c.alerts.slackTypes).toEqual([...DEFAULT_ALERT_TYPES]);
  });

  it('names an unknown alert type, a missing signing secret and a secret that is not base64, all at once', () => {
    const problems = problemsOf({ ...VALID, ALERT_SLACK_TYPES: 'interference', ALERT_WEBHOOK_URLS: 'https://a.example/hook' });
    expect(problems).toHaveLength(2);
    expect(problems.find((p) => p.startsWith('ALERT_SLACK_TYPES:'))).toContain('"interference"');
    expect(problems.find((p) => p.startsWith('ALERT_WEBHOOK_SECRET:'))).toMatch(/required when ALERT_WEBHOOK_URLS/);
    expect(problemsOf({ ...VALID, ALERT_WEBHOOK_SECRET: 'whsec_not base64!' })).toEqual([expect.stringMatching(/^ALERT_WEBHOOK_SECRET: must start with whsec_/)]);
  });
});
