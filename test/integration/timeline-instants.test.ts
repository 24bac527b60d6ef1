import { describe, expect, it } from 'vitest';
import { api, makeApp, postWebhook, type EngineApp } from '../support/fixtures.js';
import { afterGrace, iso, vehicle } from '../support/episodes.js';

/**
 * Several events of one device may share a device time (a webhook and a poll, or two snapshots of
 * one instant that differ elsewhere). The timeline lists that instant's transitions once, on its
 * first observation, on whichever page that observation is: a consumer counting them counts each once.
 */

type Entry = { type: string; at: string; transitions?: Array<{ field: string; to: unknown }> };

async function pages(t: EngineApp, deviceId: string, limit: number): Promise<Entry[][]> {
  const out: Entry[][] = [];
  let after: string | null = null;
  do {
    const res = await api(t, `/devices/${deviceId}/timeline?since=${iso(-60)}&limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: Entry[]; pagination: { after: string | null } };
    out.push(body.data);
    after = body.pagination.after;
  } while (after && out.length < 50);
  return out;
}

const transitionsIn = (entries: Entry[]) => entries.filter((e) => e.type === 'observation').flatMap((e) => (e.transitions ?? []).map((x) => [e.at, x.field, x.to]));

describe('device timeline: an instant with several observations', () => {
  it('lists its transitions once, on the first observation, however the pages fall', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v-inst', 0, { charging: false, pluggedIn: true, batteryLevel: 40 })]);
    // Three snapshots of minute 10, each a little different (battery level): three observations of one instant.
    for (const batteryLevel of [41, 42, 43]) await postWebhook(t, [vehicle('v-inst', 10, { charging: true, pluggedIn: true, batteryLevel })]);
    await afterGrace(t);

    const whole = (await pages(t, 'v-inst', 500)).flat();
    const atTen = whole.filter((e) => e.type === 'observation' && e.at === iso(10));
    expect(atTen).toHaveLength(3);
    expect(transitionsIn(whole)).toEqual([[iso(10), 'charging', true]]);
    // The first observation of the instant carries them; the others list none.
    expect(atTen.map((e) => (e.transitions ?? []).length)).toEqual([1, 0, 0]);

    // Page by page, with the instant's observations split across pages: still once.
    for (const limit of [1, 2, 3]) {
      const paged = await pages(t, 'v-inst', limit);
      expect(paged.flat().length, `limit ${limit}`).toBe(whole.length);
      expect(transitionsIn(paged.flat()), `limit ${limit}`).toEqual([[iso(10), 'charging', true]]);
    }
  });
});
