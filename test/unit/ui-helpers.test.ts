import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createSessionKeeper, safeNext, secretMatches, SESSION_TTL_MS } from '../../src/ui/auth.js';
import { memoryRevocations } from '../../src/ui/session-store.js';
import { describeExplanation, formatAge, formatControlled, formatValue } from '../../src/ui/format.js';
import { webhookHealth } from '../../src/ui/health.js';

const NOW_MS = Date.parse('2026-03-01T12:00:00.000Z');
const TOKEN = 'ui-admin-token-0123456789';

describe('dashboard sessions', () => {
  it('verifies a value it issued, which does not contain the token', async () => {
    const keeper = createSessionKeeper(TOKEN, new ManualClock(NOW_MS));
    const value = keeper.issue();
    expect(value).not.toContain(TOKEN);
    expect(value).toMatch(/^[\w-]+\.\d+\.[\w-]+$/);
    expect(await keeper.verify(value)).toBe(true);
  });

  it('refuses a tampered, foreign, malformed or missing value', async () => {
    const clock = new ManualClock(NOW_MS);
    const keeper = createSessionKeeper(TOKEN, clock);
    const value = keeper.issue();
    const [id, exp, mac] = value.split('.') as [string, string, string];
    expect(await keeper.verify(`${id}.${Number(exp) + 3600}.${mac}`)).toBe(false);
    expect(await keeper.verify(`${id}x.${exp}.${mac}`)).toBe(false);
    expect(await keeper.verify(`${id}.${exp}.${mac.slice(0, -2)}`)).toBe(false);
    expect(await keeper.verify(createSessionKeeper(`${TOKEN}-rotated`, clock).issue())).toBe(false);
    for (const bad of [undefined, '', 'a.b', 'a.b.c.d', `${id}.notanumber.${mac}`, 'x'.repeat(500)]) expect(await keeper.verify(bad)).toBe(false);
  });

  it('expires after the session lifetime', async () => {
    const clock = new ManualClock(NOW_MS);
    const keeper = createSessionKeeper(TOKEN, clock);
    const value = keeper.issue();
    clock.advance(SESSION_TTL_MS - 1000);
    expect(await keeper.verify(value)).toBe(true);
    clock.advance(2000);
    expect(await keeper.verify(value)).toBe(false);
  });

  it('ends a session on logout without touching the others', async () => {
    const keeper = createSessionKeeper(TOKEN, new ManualClock(NOW_MS));
    const a = keeper.issue();
    const b = keeper.issue();
    await keeper.revoke(a);
    expect(await keeper.verify(a)).toBe(false);
    expect(await keeper.verify(b)).toBe(true);
  });

  it('keeps logouts in its revocation store, so a new keeper over the same store refuses them', async () => {
    const clock = new ManualClock(NOW_MS);
    const revocations = memoryRevocations();
    const before = createSessionKeeper(TOKEN, clock, { revocations });
    const a = before.issue();
    await before.revoke(a);
    await before.revoke('forged.99999999999.value');
    const after = createSessionKeeper(TOKEN, clock, { revocations });
    expect(await after.verify(a)).toBe(false);
    expect(await after.verify(before.issue())).toBe(true);
    // Without the store a restart would forget the logout.
    expect(await createSessionKeeper(TOKEN, clock).verify(a)).toBe(true);
  });

  it('compares secrets whatever their lengths', () => {
    expect(secretMatches(TOKEN, TOKEN)).toBe(true);
    expect(secretMatches(`${TOKEN}x`, TOKEN)).toBe(false);
    expect(secretMatches('', TOKEN)).toBe(false);
  });

  it('redirects after login only inside the dashboard', () => {
    expect(safeNext('/ui/devices/v1?hours=6')).toBe('/ui/devices/v1?hours=6');
    expect(safeNext('/ui')).toBe('/ui');
    for (const evil of ['https://evil.example/', '//evil.example', '/uix', '/api/v1/devices', '/ui\\@evil', '/ui/ x', undefined]) expect(safeNext(evil)).toBe('/ui');
  });
});

describe('webhook health verdict', () => {
  it('is unknown before anything arrived', () => {
    expect(webhookHealth({ lastWebhookMs: null, lastHeartbeatMs: null, pendingEvents: null }, NOW_MS).verdict).toBe('unknown');
  });

  it('is ok while heartbeats arrive and little is queued', () => {
    expect(webhookHealth({ lastWebhookMs: NOW_MS - 5_000, lastHeartbeatMs: NOW_MS - 10 * 60_000, pendingEvents: 3 }, NOW_MS)).toEqual({ verdict: 'ok', reason: 'heartbeats arrive on time' });
  });

  it('is a problem after 30 silent minutes or with a backlog of 500 events', () => {
    const silent = webhookHealth({ lastWebhookMs: NOW_MS - 60 * 60_000, lastHeartbeatMs: NOW_MS - 45 * 60_000, pendingEvents: 0 }, NOW_MS);
    expect(silent).toEqual({ verdict: 'problem', reason: 'no heartbeat for 45 minutes: Enode may be failing to deliver' });
    expect(webhookHealth({ lastWebhookMs: NOW_MS, lastHeartbeatMs: NOW_MS, pendingEvents: 500 }, NOW_MS).verdict).toBe('problem');
  });

  it('warns when webhooks arrive but no heartbeat ever did', () => {
    expect(webhookHealth({ lastWebhookMs: NOW_MS, lastHeartbeatMs: null, pendingEvents: null }, NOW_MS).verdict).toBe('warning');
  });
});

describe('formatting', () => {
  it('shows controlled values briefly', () => {
    expect([formatValue(true), formatValue(false), formatValue(null), formatValue(16), formatValue('HEAT')]).toEqual(['yes', 'no', 'unknown', '16', 'HEAT']);
    expect(formatControlled({ charging: true, maxCurrent: null })).toBe('charging=yes, maxCurrent=unknown');
  });

  it('puts explanations in words', () => {
    expect(describeExplanation({ kind: 'own_action', actionId: 'a1' }, 'explained', null)).toBe('explained by own action a1');
    expect(describeExplanation({ kind: 'automation', cause: 'enode_schedule', controlId: 'sch-1', actionId: 'a2' }, 'explained', null)).toBe(
      'explained by own automation: Enode schedule sch-1 (action a2)',
    );
    expect(describeExplanation({ kind: 'automation', cause: 'smart_override', controlId: null }, 'explained', null)).toBe('explained by own automation: smart override');
    expect(describeExplanation({ kind: 'natural', cause: 'no_power_or_fault', deviceProblem: true }, 'explained', null)).toBe(
      'explained by a natural cause: no power or fault (device problem)',
    );
    expect(describeExplanation({ kind: 'unexplained' }, 'waiting', null)).toBe('unexplained so far: waiting for the grace period');
    expect(describeExplanation({ kind: 'unexplained' }, 'finding', 'f1')).toBe('unexplained: interference finding f1');
  });

  it('tells ages coarsely', () => {
    expect(formatAge(null, NOW_MS)).toBe('never');
    expect(formatAge(NOW_MS - 30_000, NOW_MS)).toBe('30 s ago');
    expect(formatAge(NOW_MS - 5 * 60_000, NOW_MS)).toBe('5 min ago');
    expect(formatAge(NOW_MS - 3 * 3_600_000, NOW_MS)).toBe('3 h ago');
    expect(formatAge(NOW_MS - 3 * 86_400_000, NOW_MS)).toBe('3 d ago');
  });
});
