import { describe, expect, it } from 'vitest';
import { actionAlert } from '../../src/alerts/facts.js';
import { slackMessage, webhookPayload, type AlertMessage } from '../../src/alerts/payload.js';

const CREATED = Date.parse('2026-03-01T12:00:00.000Z');

function failedAction(): AlertMessage {
  const alert = actionAlert(
    {
      id: 'act-1',
      userId: 'user-1',
      targetId: 'vehicle-1',
      targetType: 'vehicle',
      kind: 'START',
      target: null,
      state: 'FAILED',
      failureReason: { type: 'NO_RESPONSE', detail: 'Vendor <Tesla> did not answer & timed out' },
      createdAt: '2026-03-01T11:00:00.000Z',
      updatedAt: '2026-03-01T11:05:00.000Z',
      completedAt: '2026-03-01T11:05:00.000Z',
      origin: 'gateway',
    },
    CREATED,
  );
  if (!alert) throw new Error('FAILED must raise an alert');
  return { id: 'alr_1', type: alert.type, createdAtMs: alert.createdAtMs, deviceId: alert.deviceId, userId: alert.userId, data: alert.data };
}

describe('alert payloads', () => {
  it('is { type, timestamp, data } with device, user, action and the timeline link', () => {
    const p = webhookPayload(failedAction(), undefined);
    expect(Object.keys(p)).toEqual(['type', 'timestamp', 'data']);
    expect(p.type).toBe('action.failed');
    expect(p.timestamp).toBe('2026-03-01T12:00:00.000Z');
    expect(p.data).toMatchObject({
      action: { id: 'act-1', state: 'FAILED', failureReason: { type: 'NO_RESPONSE' } },
      device: { id: 'vehicle-1', type: 'vehicle', userId: 'user-1' },
      user: { id: 'user-1' },
      links: { timeline: '/api/v1/devices/vehicle-1/timeline', action: '/api/v1/actions/act-1' },
    });
  });

  it('makes links absolute under PUBLIC_URL, keeping its path', () => {
    const p = webhookPayload(failedAction(), 'https://sync.example.com/enode');
    expect(p.data.links).toEqual({ timeline: 'https://sync.example.com/enode/api/v1/devices/vehicle-1/timeline', action: 'https://sync.example.com/enode/api/v1/actions/act-1' });
  });

  it('adds the user to alerts that name one but carry no user object (e.g. the reconciler’s)', () => {
    const p = webhookPayload({ id: 'a', type: 'interference.detected', createdAtMs: CREATED, deviceId: 'v1', userId: 'u1', data: { device: { id: 'v1' } } }, undefined);
    expect(p.data.user).toEqual({ id: 'u1' });
    expect(p.data.links).toEqual({});
  });

  it('renders a readable Slack message, escaping Slack’s control characters', () => {
    const msg = slackMessage('alr_1', webhookPayload(failedAction(), 'https://sync.example.com'));
    expect(msg.text).toContain('Action FAILED on vehicle `vehicle-1`');
    expect(msg.text).toContain('NO_RESPONSE');
    expect(msg.text).toContain('Vendor &lt;Tesla&gt; did not answer &amp; timed out');
    expect(msg.blocks[0]).toMatchObject({ type: 'section', text: { type: 'mrkdwn' } });
    expect(JSON.stringify(msg.blocks[1])).toContain('<https://sync.example.com/api/v1/devices/vehicle-1/timeline|timeline>');
  });

  it('alerts only for FAILED and CANCELLED actions', () => {
    const base = failedAction().data.action as Parameters<typeof actionAlert>[0];
    expect(actionAlert({ ...base, state: 'CONFIRMED' }, CREATED)).toBeUndefined();
    expect(actionAlert({ ...base, state: 'PENDING' }, CREATED)).toBeUndefined();
    expect(actionAlert({ ...base, state: 'CANCELLED' }, CREATED)?.dedupeKey).toBe('action.cancelled:act-1');
  });
});

describe('interference alert summaries', () => {
  const finding = (extra: Record<string, unknown>): AlertMessage => ({
    id: 'alr_f',
    type: 'interference.detected',
    createdAtMs: CREATED,
    deviceId: 'h1',
    userId: 'u1',
    data: { device: { id: 'h1', type: 'hvac' }, finding: { kind: 'UNEXPECTED_CHANGE', observedAt: '2026-03-01T11:59:00.000Z', actionId: null, ...extra } },
  });

  it('lists every field one change moved (issue 17: one episode, one alert)', () => {
    const fields = [
      { field: 'hvacMode', from: 'HEAT', to: 'COOL' },
      { field: 'holdType', from: 'SCHEDULED', to: 'PERMANENT' },
      { field: 'coolSetpoint', from: 26, to: 23 },
    ];
    const msg = slackMessage('alr_f', webhookPayload(finding({ field: 'hvacMode', from: 'HEAT', to: 'COOL', fields }), undefined));
    expect(msg.text).toContain('UNEXPECTED_CHANGE: 3 fields changed: `hvacMode` `HEAT` → `COOL`, `holdType` `SCHEDULED` → `PERMANENT`, `coolSetpoint` `26` → `23` at 2026-03-01T11:59:00.000Z');
  });

  it('names the one field of a one-field change, and of an alert stored before `fields`', () => {
    const one = { field: 'charging', from: true, to: false };
    for (const extra of [{ ...one, fields: [one] }, one]) {
      const msg = slackMessage('alr_f', webhookPayload(finding(extra), undefined));
      expect(msg.text).toContain('UNEXPECTED_CHANGE: `charging` changed `true` → `false` at 2026-03-01T11:59:00.000Z');
    }
  });
});
