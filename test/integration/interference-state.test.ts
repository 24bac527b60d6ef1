/**
 * Findings acknowledged or resolved with a note through the admin API (engine-neutral): the state
 * in the finding's JSON (the contract's fields kept), the list's state filter (no filter: every
 * state, as before), and one event per state change in the log.
 */
import { describe, expect, it } from 'vitest';
import { api, makeApp, postWebhook, vehicleEvent, type EngineApp } from '../support/fixtures.js';

/** v1 stops charging with no action of ours: one UNEXPECTED_CHANGE once the grace has passed. */
async function withFinding(t: EngineApp, deviceId = 'v1'): Promise<string> {
  await postWebhook(t, [vehicleEvent(deviceId, 0, { charging: true, pluggedIn: true }), vehicleEvent(deviceId, 5, { charging: false, pluggedIn: true })]);
  t.clock.advance(61_000);
  await t.deps.store.reconcile({});
  const body = (await (await api(t, `/interference?deviceId=${deviceId}`)).json()) as { data: Array<{ id: string }> };
  expect(body.data).toHaveLength(1);
  return body.data[0]!.id;
}

const post = (t: EngineApp, path: string, body?: unknown) =>
  api(t, path, body === undefined ? { method: 'POST' } : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function stateEvents(t: EngineApp) {
  const res = await api(t, '/events?type=interference.acknowledged,interference.resolved&limit=100');
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Array<{ type: string; deviceId: string; data: { finding: { id: string }; state: string; previousState: string; note: string | null } }> }).data;
}

describe('finding state through the API', () => {
  it('a new finding is open; the list and the detail keep every contract field and add the state', async () => {
    const t = await makeApp();
    const id = await withFinding(t);
    const list = (await (await api(t, '/interference')).json()) as { data: Array<Record<string, unknown>> };
    expect(Object.keys(list.data[0]!)).toEqual(expect.arrayContaining(['id', 'deviceId', 'deviceType', 'userId', 'kind', 'field', 'from', 'to', 'observedAt', 'detectedAt', 'actionId']));
    expect(list.data[0]).toMatchObject({ id, state: 'open', note: null, stateChangedAt: null });
    const detail = (await (await api(t, `/interference/${id}`)).json()) as Record<string, unknown>;
    expect(detail).toMatchObject({ id, state: 'open', evidence: expect.any(Object) });
  });

  it('a lone surrogate in a note is stored and shown as U+FFFD on every engine', async () => {
    const t = await makeApp();
    const id = await withFinding(t);
    const ack = await api(t, `/interference/${id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"note":"moved by \\ud800 the owner"}' });
    expect(ack.status).toBe(200);
    expect(((await (await api(t, `/interference/${id}`)).json()) as { note: string }).note).toBe('moved by \ufffd the owner');
  });

  it('acknowledges with a note, then resolves: each answers the finding in its state and writes one event', async () => {
    const t = await makeApp();
    const id = await withFinding(t);
    t.clock.advance(5_000);
    const ack = await post(t, `/interference/${id}/ack`, { note: '  customer unplugged to move the car  ' });
    expect(ack.status).toBe(200);
    const acked = (await ack.json()) as Record<string, unknown>;
    expect(acked).toMatchObject({ id, state: 'acknowledged', note: 'customer unplugged to move the car', stateChangedAt: t.clock.now().toISOString() });
    expect(acked.evidence).toBeTypeOf('object');

    t.clock.advance(5_000);
    const resolved = await post(t, `/interference/${id}/resolve`);
    expect(resolved.status).toBe(200);
    expect(await resolved.json()).toMatchObject({ id, state: 'resolved', note: null, stateChangedAt: t.clock.now().toISOString() });

    const events = await stateEvents(t);
    expect(events.map((e) => [e.type, e.data.previousState, e.data.state, e.data.note])).toEqual([
      ['interference.acknowledged', 'open', 'acknowledged', 'customer unplugged to move the car'],
      ['interference.resolved', 'acknowledged', 'resolved', null],
    ]);
    expect(events.every((e) => e.deviceId === 'v1' && e.data.finding.id === id)).toBe(true);
  });

  it('asking again, or acknowledging a resolved finding, changes nothing and writes no event', async () => {
    const t = await makeApp();
    const id = await withFinding(t);
    expect((await post(t, `/interference/${id}/resolve`, { note: 'fixed at the charger' })).status).toBe(200);
    const changedAt = ((await (await api(t, `/interference/${id}`)).json()) as { stateChangedAt: string }).stateChangedAt;
    t.clock.advance(60_000);
    for (const path of [`/interference/${id}/resolve`, `/interference/${id}/ack`]) {
      const res = await post(t, path, { note: 'again' });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ state: 'resolved', note: 'fixed at the charger', stateChangedAt: changedAt });
    }
    expect((await stateEvents(t)).map((e) => e.type)).toEqual(['interference.resolved']);
  });

  it('filters the list by state; without the filter every state is listed (the contract unchanged)', async () => {
    const t = await makeApp();
    const first = await withFinding(t, 'v1');
    const second = await withFinding(t, 'v2');
    await post(t, `/interference/${first}/ack`);
    const ids = async (q: string) => ((await (await api(t, `/interference${q}`)).json()) as { data: Array<{ id: string }> }).data.map((f) => f.id).sort();
    expect(await ids('')).toEqual([first, second].sort());
    expect(await ids('?state=open')).toEqual([second]);
    expect(await ids('?state=acknowledged')).toEqual([first]);
    expect(await ids('?state=resolved')).toEqual([]);
    expect((await api(t, '/interference?state=closed')).status).toBe(400);
  });

  it('answers 404 for an unknown finding and 400 for a bad note, changing nothing', async () => {
    const t = await makeApp();
    const id = await withFinding(t);
    const missing = await post(t, '/interference/nope/ack', { note: 'x' });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    for (const body of [{ note: 'x'.repeat(2001) }, { note: 42 }, { note: 'ok', extra: true }, { note: 'nul\u0000' }]) {
      expect((await post(t, `/interference/${id}/ack`, body)).status).toBe(400);
    }
    expect(((await (await api(t, `/interference/${id}`)).json()) as { state: string }).state).toBe('open');
    expect(await stateEvents(t)).toEqual([]);
  });

  it('needs the admin token', async () => {
    const t = await makeApp();
    const id = await withFinding(t);
    expect((await api(t, `/interference/${id}/ack`, { method: 'POST' }, null)).status).toBe(401);
  });
});
