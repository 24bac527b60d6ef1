/**
 * The event log's metrics: `enode_sync_events_appended_total{type}` (read from the log, so only
 * what committed, counted from the first scrape on), `enode_sync_event_stream_clients` and
 * `enode_sync_event_stream_disconnects_total{reason}`.
 */
import { expect, it } from 'vitest';
import { api, actionEvent, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { sseReader } from '../support/sse.js';

async function scrape(t: EngineApp): Promise<Map<string, number>> {
  const res = await t.app.request('/metrics');
  expect(res.status).toBe(200);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

it('counts the events appended since the first scrape by type', async () => {
  const t = await makeApp();
  await postWebhook(t, [vehicleEvent('v0', 1)]);
  const first = await scrape(t);
  // What the log held before the first scrape is the counter's zero.
  expect(first.get('enode_sync_events_appended_total{type="device.discovered"}')).toBeUndefined();

  await postWebhook(t, [vehicleEvent('v1', 1), vehicleEvent('v2', 1), actionEvent('a1', 'FAILED', 2, { targetId: 'v1', failureReason: { type: 'X', detail: 'y' } })]);
  await postWebhook(t, [vehicleEvent('v1', 2, { batteryLevel: 70 })]);
  // A redelivery appends nothing, and counts nothing.
  await postWebhook(t, [vehicleEvent('v1', 2, { batteryLevel: 70 })]);
  const m = await scrape(t);
  expect(m.get('enode_sync_events_appended_total{type="device.discovered"}')).toBe(2);
  expect(m.get('enode_sync_events_appended_total{type="device.updated"}')).toBe(1);
  expect(m.get('enode_sync_events_appended_total{type="action.updated"}')).toBe(1);
  expect(m.get('enode_sync_events_appended_total{type="action.failed"}')).toBe(1);
  // A scrape with nothing new keeps the counts.
  expect((await scrape(t)).get('enode_sync_events_appended_total{type="device.discovered"}')).toBe(2);
});

it('gauges the stream clients and counts their disconnects by reason', async () => {
  const t = await makeApp({ EVENTS_STREAM_POLL_MS: '50' });
  const open = async () => {
    const res = await api(t, '/events/stream');
    expect(res.status).toBe(200);
    const reader = sseReader(res.body!);
    expect((await reader.next())?.comments).toEqual(['connected']);
    return reader;
  };
  const a = await open();
  const b = await open();
  expect((await scrape(t)).get('enode_sync_event_stream_clients')).toBe(2);
  await a.close();
  await expect.poll(async () => (await scrape(t)).get('enode_sync_event_stream_clients')).toBe(1);
  expect((await scrape(t)).get('enode_sync_event_stream_disconnects_total{reason="client"}')).toBe(1);
  await t.deps.eventFeed.close();
  const m = await scrape(t);
  expect(m.get('enode_sync_event_stream_clients')).toBe(0);
  expect(m.get('enode_sync_event_stream_disconnects_total{reason="shutdown"}')).toBe(1);
  await b.close();
});
