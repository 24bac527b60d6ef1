import { describe, expect, it } from 'vitest';
import { boundDepth, parseStoredJson, TOO_DEEP, UNREADABLE_TEXT } from '../../src/reconcile/timeline.js';
import { DevicePage } from '../../src/ui/pages/device.js';
import { DEVICE_PAGE_ENTRIES, deviceTimelineSlice } from '../../src/ui/queries.js';
import { layoutTimeline } from '../../src/ui/timeline-svg.js';
import type { SqlParam } from '../../src/store/sql.js';
import { api, makeApp, NOW, type EngineApp } from '../support/fixtures.js';

const DEVICE = 'v-busy';
const START_MS = NOW.getTime() - 20 * 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** Rows inserted with portable multi-row INSERTs, a few hundred a statement (SQLite and Postgres both take that many parameters). */
async function insertRows(t: EngineApp, table: string, rows: Array<Record<string, SqlParam>>): Promise<void> {
  const columns = Object.keys(rows[0] ?? {});
  for (let i = 0; i < rows.length; i += 500) {
    const batch = rows.slice(i, i + 500);
    const values = batch.map(() => `(${columns.map(() => '?').join(', ')})`).join(', ');
    await t.exec(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}`, batch.flatMap((r) => columns.map((c) => r[c] ?? null)));
  }
}

/** Stores a long history straight into the tables: `n` actions, and every 10th instant an observation, a transition, a command and a finding. */
async function seedHistory(t: EngineApp, n: number): Promise<void> {
  const rows: Record<'actions' | 'observations' | 'transitions' | 'commands' | 'findings', Array<Record<string, SqlParam>>> = {
    actions: [],
    observations: [],
    transitions: [],
    commands: [],
    findings: [],
  };
  for (let i = 0; i < n; i++) {
    // Several entries share one instant (every 3 actions), so the cursor's tie-breaks are exercised.
    const atMs = START_MS + Math.floor(i / 3) * 1000;
    // Updated long after creation for some: the page must still place them at creation.
    const updatedAtMs = atMs + (i % 7 === 0 ? 5 * 3_600_000 : 2000);
    rows.actions.push({
      id: `a-${String(i).padStart(5, '0')}`,
      user_id: 'u1',
      target_id: DEVICE,
      target_type: 'vehicle',
      kind: 'START',
      target: null,
      state: 'CONFIRMED',
      failure_reason: null,
      created_at: iso(atMs),
      updated_at: iso(updatedAtMs),
      updated_at_ms: updatedAtMs,
      completed_at: null,
      origin: 'enode',
      raw: JSON.stringify({ id: `a-${i}` }),
      raw_hash: `h${i}`,
      first_seen_at: atMs,
      last_news_at: atMs,
    });
    if (i % 10 !== 0) continue;
    rows.observations.push({
      device_id: DEVICE,
      device_type: 'vehicle',
      user_id: 'u1',
      event: 'user:vehicle:updated',
      source: 'webhook',
      observed_at_ms: atMs,
      received_at: atMs,
      controlled: JSON.stringify({ charging: i % 20 === 0 }),
      context: '{}',
      // Booleans as 0/1: SQLite stores them so, and Postgres reads '0' and '1' as booleans.
      stale: 0,
      hash: `o${i}`,
    });
    rows.transitions.push({ device_id: DEVICE, at_ms: atMs, field: 'charging', from_value: 'false', to_value: 'true', received_at_ms: atMs, explanation: '{"kind":"unexplained"}', status: 'explained' });
    rows.commands.push({ id: `c-${i}`, device_id: DEVICE, device_type: 'vehicle', command: 'charging', body: '{"action":"START"}', requested_at_ms: atMs, outcome: 'sent', notes: '[]' });
    rows.findings.push({
      id: `f-${i}`,
      key: `k-${i}`,
      device_id: DEVICE,
      device_type: 'vehicle',
      user_id: 'u1',
      kind: 'UNEXPECTED_CHANGE',
      field: 'charging',
      from_value: 'false',
      to_value: 'true',
      observed_at_ms: atMs,
      detected_at_ms: atMs,
      evidence: '{}',
    });
  }
  for (const [table, list] of Object.entries(rows)) if (list.length > 0) await insertRows(t, table, list);
}

interface TimelineBody {
  deviceId: string;
  data: Array<{ type: string; at: string } & Record<string, any>>;
  pagination: { after: string | null };
}

async function getPage(t: EngineApp, query: string) {
  const res = await api(t, `/devices/${DEVICE}/timeline?since=${iso(START_MS - 1000)}${query}`);
  const text = await res.text();
  expect(res.status, text.slice(0, 300)).toBe(200);
  return { bytes: Buffer.byteLength(text), body: JSON.parse(text) as TimelineBody };
}

/** The identity of an entry, to check that paging shows each exactly once. */
const idOf = (e: TimelineBody['data'][number]): string =>
  e.type === 'action' ? e.action.id : e.type === 'command' ? e.command.id : e.type === 'finding' ? e.finding.id : `obs@${e.at}`;

describe('device timeline is bounded and paged', () => {
  it('answers a device with 5,000 actions a page at a time, each bounded, and paging reaches every entry once, oldest first', async () => {
    const t = await makeApp();
    const n = 5_000;
    await seedHistory(t, n);
    const expectedEntries = n + 3 * (n / 10); // actions, then observations (carrying their transitions), commands, findings

    const first = await getPage(t, '');
    expect(first.body.data).toHaveLength(50); // the default page size
    expect(first.body.pagination.after).not.toBeNull();

    const seen: string[] = [];
    const times: number[] = [];
    let after: string | null = null;
    let pages = 0;
    let largest = 0;
    do {
      const { bytes, body }: { bytes: number; body: TimelineBody } = await getPage(t, `&limit=500${after ? `&after=${after}` : ''}`);
      pages++;
      largest = Math.max(largest, bytes);
      expect(body.data.length).toBeLessThanOrEqual(500);
      seen.push(...body.data.map(idOf));
      // Each observation carries its own transition, whatever page it falls on.
      for (const e of body.data) if (e.type === 'observation') expect(e.transitions).toHaveLength(1);
      times.push(...body.data.map((e) => Date.parse(e.at)));
      after = body.pagination.after;
    } while (after && pages < 100);

    expect(seen).toHaveLength(expectedEntries);
    expect(new Set(seen).size).toBe(expectedEntries);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(pages).toBe(Math.ceil(expectedEntries / 500));
    // 500 entries of a few hundred bytes each: far from the 11.9 MB page of the unbounded timeline.
    expect(largest).toBeLessThan(300_000);
  });

  it('places an action updated hours after its creation at its creation, on the page where it belongs', async () => {
    const t = await makeApp();
    await seedHistory(t, 30);
    const { body } = await getPage(t, '&limit=5');
    // a-00000 was created first (and updated 5 hours later): the first entry at the first instant after the command.
    expect(body.data.map(idOf).slice(0, 3)).toEqual(['c-0', 'a-00000', 'a-00001']);
  });

  it('refuses a cursor that is not a timeline cursor', async () => {
    const t = await makeApp();
    await seedHistory(t, 3);
    const bad = [[1, 'x'], [1, 9, 'a'], [1, 2, 'not-digits'], [1.5, 1, 'a']].map((k) => Buffer.from(JSON.stringify(k)).toString('base64url'));
    for (const after of bad) expect((await api(t, `/devices/${DEVICE}/timeline?after=${after}`)).status).toBe(400);
  });

  it('shows a stored record that is not JSON, or nested thousands of levels deep, instead of failing the page', async () => {
    const t = await makeApp();
    await seedHistory(t, 1);
    // Postgres's json columns (observations.controlled and context, actions.target and
    // failure_reason) refuse text that does not parse, and nesting past its stack depth (about
    // 13,000 levels with the default 2 MB): there they get 10,000 levels and nothing unparsable.
    const pg = t.engine === 'postgres';
    const deep = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
    const deepInJson = deep(pg ? 10_000 : 20_000);
    await t.exec(`UPDATE observations SET controlled = ?, context = ? WHERE device_id = ?`, [`{"charging":${deepInJson}}`, pg ? '{}' : 'not json{', DEVICE]);
    await t.exec(`UPDATE commands SET body = ? WHERE device_id = ?`, [deep(20_000), DEVICE]);
    await t.exec(`UPDATE actions SET target = ?, failure_reason = ? WHERE target_id = ?`, [pg ? null : 'nope', deepInJson, DEVICE]);
    await t.exec(`UPDATE findings SET from_value = ?, to_value = '{' WHERE device_id = ?`, [deep(20_000), DEVICE]);
    const { body } = await getPage(t, '');
    const byType = Object.fromEntries(body.data.map((e) => [e.type, e]));
    if (!pg) expect(byType.observation?.context).toBe(UNREADABLE_TEXT);
    expect(JSON.stringify(byType.observation?.controlled)).toContain(TOO_DEEP);
    expect(JSON.stringify(byType.command?.command.body)).toContain(TOO_DEEP);
    expect(byType.action?.action.target).toBeNull();
    if (!pg) expect(byType.action?.action.note).toContain('target is not valid JSON');
    expect(byType.action?.action.note).toContain('failureReason nests deeper than');
    expect(byType.finding?.finding.to).toBe(UNREADABLE_TEXT);
    expect(JSON.stringify(byType.finding?.finding.from)).toContain(TOO_DEEP);

    const ui = await t.app.request(`/ui/devices/${DEVICE}`, { headers: { authorization: `Bearer ${t.config.adminToken}` } });
    expect(ui.status).toBe(200);
  });
});

describe('stored JSON for presenting', () => {
  it('cuts values deeper than the bound and keeps shallower ones whole', () => {
    expect(boundDepth({ a: [1, { b: 2 }] })).toEqual({ a: [1, { b: 2 }] });
    expect(boundDepth({ a: { b: { c: 1 } } }, 2)).toEqual({ a: { b: TOO_DEEP } });
    expect(parseStoredJson('{"x":')).toBe(UNREADABLE_TEXT);
    expect(parseStoredJson(null)).toBeNull();
    expect(() => JSON.stringify(parseStoredJson('['.repeat(50_000) + ']'.repeat(50_000)))).not.toThrow();
  });
});

describe('dashboard device page is paged', () => {
  it('pages a long window 500 entries at a time, reaching every entry once, and links to the later entries', async () => {
    const t = await makeApp();
    await seedHistory(t, 1_500);
    const window = { fromMs: NOW.getTime() - 24 * 3_600_000, untilMs: NOW.getTime() };
    const seen = new Set<string>();
    let after: string | undefined;
    let pages = 0;
    do {
      const slice = await deviceTimelineSlice(t.deps.read, DEVICE, window, after);
      pages++;
      expect(slice.entries.length).toBeLessThanOrEqual(DEVICE_PAGE_ENTRIES);
      expect(slice.drawWindow.fromMs).toBeGreaterThanOrEqual(window.fromMs);
      expect(slice.drawWindow.untilMs).toBeLessThanOrEqual(window.untilMs);
      for (const e of slice.entries) seen.add(idOf(e as TimelineBody['data'][number]));
      if (pages === 1) {
        const data = { deviceId: DEVICE, device: undefined, nowMs: window.untilMs, hours: 24, entries: slice.entries, layout: layoutTimeline(slice.entries, slice.drawWindow, ['charging']), truncated: false, next: slice.next };
        const html = String(await DevicePage({ data })!.toString());
        expect(html).toContain(`/ui/devices/${DEVICE}?hours=24&amp;after=${slice.next}`);
        expect(html).toContain('Later entries');
      }
      after = slice.next ?? undefined;
    } while (after && pages < 20);
    expect(seen.size).toBe(1_500 + 3 * 150);
    expect(pages).toBe(Math.ceil(seen.size / DEVICE_PAGE_ENTRIES));
  });

  it('refuses a cursor that was not given by a page', async () => {
    const t = await makeApp();
    const window = { fromMs: 0, untilMs: NOW.getTime() };
    await expect(deviceTimelineSlice(t.deps.read, DEVICE, window, 'x'.repeat(3000))).rejects.toThrow(/cursor/);
    await expect(deviceTimelineSlice(t.deps.read, DEVICE, window, Buffer.from('[1,"a"]').toString('base64url'))).rejects.toThrow(/cursor/);
  });
});

describe('dashboard device route', () => {
  it('answers a device with 5,000 actions in pages of at most 500 entries, each page linking to the next', async () => {
    const t = await makeApp();
    await seedHistory(t, 5_000);
    const auth = { headers: { authorization: `Bearer ${t.config.adminToken}` } };
    const seen = new Set<string>();
    let next: string | null = `/ui/devices/${DEVICE}?hours=24`;
    let pages = 0;
    while (next && pages < 30) {
      const res = await t.app.request(next, auth);
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(Buffer.byteLength(html)).toBeLessThan(1_000_000);
      const rows = html.match(/<tr[ >]/g)?.length ?? 0;
      expect(rows - 1).toBeLessThanOrEqual(DEVICE_PAGE_ENTRIES); // minus the header row
      for (const m of html.matchAll(/<code>(a-\d{5}|f-\d+)<\/code>|>(c-\d+)<|charging \{&quot;action&quot;/g)) seen.add(m[1] ?? m[2] ?? m[0]);
      pages++;
      const link = html.match(/href="(\/ui\/devices\/[^"]+after=[^"]+)">Later entries/);
      next = link?.[1]?.replace(/&amp;/g, '&') ?? null;
    }
    expect(pages).toBe(Math.ceil((5_000 + 3 * 500) / DEVICE_PAGE_ENTRIES));
    expect([...seen].filter((s) => s.startsWith('a-'))).toHaveLength(5_000);
    expect((await t.app.request(`/ui/devices/${DEVICE}?after=bad`, auth)).status).toBe(400);
  });
});
