import { describe, expect, it } from 'vitest';
import { eventLabel } from '../../src/ingest/events.js';
import { actionEvent, makeApp, postWebhook, vehicleEvent } from '../support/fixtures.js';

describe('enode_sync_events_applied_total labels', () => {
  it('keeps documented Enode event names and maps every other name to "other"', () => {
    for (const name of ['user:vehicle:updated', 'user:hem-system:deleted', 'user:vendor-action:updated', 'system:heartbeat', 'enode:webhook:test', 'user:inverter:statistics-updated']) {
      expect(eventLabel(name)).toBe(name);
    }
    for (const name of ['user:vehicle:exploded', 'x'.repeat(5_000), '', 'user:vehicle:updated ', 'USER:VEHICLE:UPDATED']) {
      expect(eventLabel(name)).toBe('other');
    }
  });

  it('a thousand invented event names from signed payloads make one "other" series, not a thousand', async () => {
    const t = await makeApp();
    const invented = Array.from({ length: 1_000 }, (_, i) => ({ event: `user:made-up-${i}:updated`, createdAt: '2026-03-01T11:00:00.000Z', user: { id: 'u1' } }));
    for (let i = 0; i < invented.length; i += 100) await postWebhook(t, invented.slice(i, i + 100));
    await postWebhook(t, [vehicleEvent('vehicle-1', 0, { charging: false })]);

    const text = await (await t.app.request('/metrics')).text();
    const series = text.split('\n').filter((l) => l.startsWith('enode_sync_events_applied_total{'));
    expect(series.filter((l) => l.includes('event="other"'))).toEqual(['enode_sync_events_applied_total{event="other",outcome="recorded"} 1000']);
    expect(series.some((l) => l.includes('event="user:vehicle:updated"'))).toBe(true);
    expect(series.length).toBeLessThanOrEqual(3);
  });
});

describe('enode_sync_actions labels', () => {
  it("Enode's four action states are labels; invented states from payloads are counted as one 'other'", async () => {
    const t = await makeApp();
    const events = Array.from({ length: 50 }, (_, i) => actionEvent(`a-${i}`, `MADE_UP_${i}`, 1));
    await postWebhook(t, [...events, actionEvent('a-pending', 'PENDING', 1), actionEvent('a-done', 'CONFIRMED', 2)]);

    const text = await (await t.app.request('/metrics')).text();
    const series = text.split('\n').filter((l) => l.startsWith('enode_sync_actions{'));
    expect(series.sort()).toEqual(['enode_sync_actions{state="CONFIRMED"} 1', 'enode_sync_actions{state="PENDING"} 1', 'enode_sync_actions{state="other"} 50']);
  });
});
