import { describe, expect, it } from 'vitest';
import { makeApp, postWebhook, vehicleEvent, actionEvent, type EngineApp } from '../support/fixtures.js';

/** Parses Prometheus text into `name{labels}` → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function scrape(t: EngineApp) {
  const res = await t.app.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return parse(await res.text());
}

describe('GET /metrics', () => {
  it('counts deliveries by result, events by type, actions by state and the time since the last webhook', async () => {
    const t = await makeApp();
    const before = await scrape(t);
    expect(before.get('enode_sync_seconds_since_last_webhook')).toBe(-1);
    expect(before.get('enode_sync_findings{kind="UNEXPECTED_CHANGE"}')).toBe(0);

    const body = [vehicleEvent('vehicle-1', 0, { charging: false }), actionEvent('a1', 'PENDING', 1), actionEvent('a2', 'FAILED', 2, { failureReason: { type: 'NO_RESPONSE', detail: 'x' } })];
    await postWebhook(t, body, { deliveryId: 'd1' });
    await postWebhook(t, body, { deliveryId: 'd1' });
    // d2: the same events in other bytes (an identical body would be a duplicate whatever its id).
    await postWebhook(t, JSON.stringify(body, null, 1), { deliveryId: 'd2' });
    await postWebhook(t, body, { signature: 'sha1=00' });
    await postWebhook(t, '{"not":"an array"}', { deliveryId: 'd3' });
    t.clock.advance(30_000);

    const m = await scrape(t);
    expect(m.get('enode_sync_webhook_requests_total{result="accepted"}')).toBe(2);
    expect(m.get('enode_sync_webhook_requests_total{result="duplicate"}')).toBe(1);
    expect(m.get('enode_sync_webhook_requests_total{result="unauthorized"}')).toBe(1);
    expect(m.get('enode_sync_webhook_requests_total{result="quarantined"}')).toBe(1);
    expect(m.get('enode_sync_webhook_ack_seconds_count{result="accepted"}')).toBe(2);
    expect(m.get('enode_sync_deliveries{status="applied"}')).toBe(2);
    expect(m.get('enode_sync_deliveries{status="quarantined"}')).toBe(1);
    // d2 repeats d1's events: applied once, then duplicates.
    expect(m.get('enode_sync_events_applied_total{event="user:vehicle:updated",outcome="applied"}')).toBe(1);
    expect(m.get('enode_sync_events_applied_total{event="user:vehicle:updated",outcome="duplicate"}')).toBe(1);
    expect(m.get('enode_sync_events_applied_total{event="user:vendor-action:updated",outcome="applied"}')).toBe(2);
    expect(m.get('enode_sync_actions{state="PENDING"}')).toBe(1);
    expect(m.get('enode_sync_actions{state="FAILED"}')).toBe(1);
    expect(m.get('enode_sync_devices{type="vehicle"}')).toBe(1);
    expect(m.get('enode_sync_seconds_since_last_webhook')).toBe(30);
    expect(m.get('enode_sync_seconds_since_last_heartbeat')).toBe(-1);
    expect(m.get('enode_sync_oldest_pending_action_seconds')).toBe(30);
    expect(m.get('enode_sync_alerts{status="unrouted"}')).toBeGreaterThanOrEqual(1);
    expect([...m.keys()].some((k) => k.startsWith('enode_sync_process_cpu'))).toBe(true);
  });

  it('counts findings by kind after the reconciler raised one', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicleEvent('vehicle-1', 0, { charging: true }), vehicleEvent('vehicle-1', 5, { charging: false })]);
    t.clock.advance(61_000);
    await t.deps.store.reconcile({});
    const m = await scrape(t);
    expect(m.get('enode_sync_findings{kind="UNEXPECTED_CHANGE"}')).toBe(1);
    expect(m.get('enode_sync_reconcile_queue_due')).toBe(0);
  });
});
