import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { alertId } from '../../src/alerts/types.js';
import { createIngestRepo } from '../../src/db/ingest-repo.js';
import { silentLogger } from '../../src/logger.js';
import { reconcileProcedure } from '../../src/store/sqlite/reconcile.js';
import { ADMIN_TOKEN, api, makeApp, postWebhook, type EngineApp } from '../support/fixtures.js';
import { itOn } from '../support/engines.js';
import { action, iso, vehicle } from '../support/episodes.js';


/**
 * Reconciles every due device, as the reconcile job does: one time-boxed call after another until
 * none is left. A single call stops starting devices once its box (10 ms by default, wall clock)
 * is spent, so reading findings after one call would depend on the machine's speed.
 */
async function reconcile(t: EngineApp, budgetMs?: number) {
  const total = { devices: 0, findings: [] as string[], errors: 0, more: false, deferred: false };
  for (let calls = 0; calls < 1_000; calls++) {
    const run = await t.deps.store.reconcile(budgetMs === undefined ? {} : { budgetMs });
    total.devices += run.devices;
    total.findings.push(...run.findings);
    total.errors += run.errors;
    total.deferred = run.deferred;
    if (!run.more) return total;
  }
  throw new Error('reconcile never ran out of due devices');
}

/** Lets the grace pass (wall clock) and reconciles what came due. */
async function afterGrace(t: EngineApp, seconds = 61, budgetMs?: number) {
  t.clock.advance(seconds * 1000);
  return reconcile(t, budgetMs);
}

async function findings(t: EngineApp, query = '') {
  const res = await api(t, `/interference${query}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Array<Record<string, unknown>> }).data;
}

async function timeline(t: EngineApp, deviceId: string, query = `?since=${iso(-60)}`) {
  const res = await api(t, `/devices/${deviceId}/timeline${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { data: Array<Record<string, any>>; pagination: { after: string | null } };
}

function transitionsOf(entries: Array<Record<string, any>>) {
  return entries.filter((e) => e.type === 'observation').flatMap((e) => e.transitions as Array<Record<string, any>>);
}

describe('reconciler wired to the funnel', () => {
  it('explains charging that follows our own START and raises nothing', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v1', 0, { charging: false })]);
    await postWebhook(t, [action('a1', 'v1', 'START', 'PENDING', 1, 1)]);
    await postWebhook(t, [vehicle('v1', 2, { charging: true })]);
    await reconcile(t);
    await afterGrace(t);
    expect(await findings(t)).toEqual([]);
    const [transition] = transitionsOf((await timeline(t, 'v1')).data);
    expect(transition).toMatchObject({ field: 'charging', from: false, to: true, status: 'explained', explanation: { kind: 'own_action', actionId: 'a1' } });
  });

  it('waits for a late action webhook: charging seen first, the action 30 s later, no finding', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v1', 0, { charging: false }), vehicle('v1', 2, { charging: true })]);
    await reconcile(t);
    const waiting = transitionsOf((await timeline(t, 'v1')).data);
    expect(waiting).toMatchObject([{ field: 'charging', status: 'waiting', explanation: { kind: 'unexplained' } }]);
    t.clock.advance(30_000);
    await postWebhook(t, [action('a1', 'v1', 'START', 'CONFIRMED', 1, 2)]);
    await reconcile(t);
    await afterGrace(t, 120);
    expect(await findings(t)).toEqual([]);
    expect(transitionsOf((await timeline(t, 'v1')).data)).toMatchObject([{ status: 'explained', explanation: { kind: 'own_action', actionId: 'a1' } }]);
  });

  it('raises one UNEXPECTED_CHANGE for a stop with no action, however often it is delivered', async () => {
    const t = await makeApp();
    const before = vehicle('v1', 0, { charging: true });
    const stop = vehicle('v1', 5, { charging: false });
    await postWebhook(t, [before]);
    for (let i = 0; i < 5; i++) await postWebhook(t, [stop]);
    expect((await reconcile(t)).findings).toEqual([]);
    const run = await afterGrace(t);
    expect(run.findings).toHaveLength(1);
    for (let i = 0; i < 3; i++) await postWebhook(t, [stop, before]);
    await afterGrace(t);
    const list = await findings(t);
    expect(list).toMatchObject([{ deviceId: 'v1', deviceType: 'vehicle', userId: 'user-of-v1', kind: 'UNEXPECTED_CHANGE', field: 'charging', from: true, to: false, observedAt: iso(5), actionId: null }]);
    expect(list[0]?.detectedAt).toBe(new Date(Date.parse('2026-03-01T12:00:00Z') + 61_000).toISOString());
    const outbox = await t.rows(`SELECT id, type FROM alerts`);
    expect(outbox).toEqual([{ id: alertId(`finding:${String(list[0]?.id)}`), type: 'interference.detected' }]);
  });

  it('raises ACTION_OVERRIDDEN when charging resumes after our confirmed STOP', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v1', 0, { charging: true }), action('a1', 'v1', 'STOP', 'CONFIRMED', 1, 2), vehicle('v1', 2, { charging: false })]);
    await postWebhook(t, [vehicle('v1', 30, { charging: true })]);
    await afterGrace(t);
    expect(await findings(t)).toMatchObject([{ kind: 'ACTION_OVERRIDDEN', field: 'charging', from: false, to: true, actionId: 'a1', observedAt: iso(30) }]);
    const detail = await api(t, `/interference/${String((await findings(t))[0]?.id)}`);
    expect(((await detail.json()) as { evidence: { action: { id: string } } }).evidence.action.id).toBe('a1');
  });

  it('explains an unplug and a plug-in auto-start, and flags the auto-start when configured not to count it', async () => {
    for (const natural of ['true', 'false']) {
      const t = await makeApp({ PLUG_IN_AUTO_START_NATURAL: natural });
      await postWebhook(t, [
        vehicle('v1', 0, { charging: true }),
        vehicle('v1', 10, { charging: false, pluggedIn: false }),
        vehicle('v1', 20, { charging: true, pluggedIn: true }),
      ]);
      await afterGrace(t);
      const causes = transitionsOf((await timeline(t, 'v1')).data).map((x) => x.explanation);
      expect(causes[0]).toEqual({ kind: 'natural', cause: 'unplug' });
      if (natural === 'true') {
        expect(causes[1]).toEqual({ kind: 'natural', cause: 'plug_in' });
        expect(await findings(t)).toEqual([]);
      } else {
        expect(causes[1]).toEqual({ kind: 'unexplained' });
        expect(await findings(t)).toMatchObject([{ kind: 'UNEXPECTED_CHANGE', to: true }]);
      }
    }
  });

  it('keeps one finding when a late snapshot shows the change began earlier', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v1', 0, { charging: true }), vehicle('v1', 10, { charging: false })]);
    await afterGrace(t);
    const [first] = await findings(t);
    expect(first?.observedAt).toBe(iso(10));
    await postWebhook(t, [vehicle('v1', 6, { charging: false })]);
    await afterGrace(t);
    const list = await findings(t);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: first?.id, observedAt: iso(6) });
  });

  it('raises ACTION_CONFLICT when a foreign command cancels ours, and not when our own newer command does', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v1', 0, { charging: false }), vehicle('v2', 0, { charging: false })]);
    await postWebhook(t, [action('a1', 'v1', 'START', 'CANCELLED', 1, 2, 'CONFLICT')]);
    await postWebhook(t, [action('b1', 'v2', 'START', 'CANCELLED', 1, 2, 'CONFLICT'), action('b2', 'v2', 'STOP', 'PENDING', 2, 2)]);
    await afterGrace(t);
    expect(await findings(t)).toMatchObject([{ kind: 'ACTION_CONFLICT', deviceId: 'v1', actionId: 'a1', field: null }]);
  });

  it('filters findings by device, user, kind and time', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v1', 0, { charging: true }), vehicle('v1', 5, { charging: false }), vehicle('v2', 0, { charging: true }), vehicle('v2', 50, { charging: false })]);
    await afterGrace(t);
    expect((await findings(t)).map((f) => f.deviceId)).toEqual(['v2', 'v1']);
    expect((await findings(t, '?deviceId=v1')).map((f) => f.deviceId)).toEqual(['v1']);
    expect((await findings(t, '?userId=user-of-v2')).map((f) => f.deviceId)).toEqual(['v2']);
    expect(await findings(t, '?kind=ACTION_CONFLICT')).toEqual([]);
    expect((await findings(t, `?since=${iso(10)}`)).map((f) => f.deviceId)).toEqual(['v2']);
    const firstPage = await api(t, '/interference?limit=1');
    const body = (await firstPage.json()) as { data: unknown[]; pagination: { after: string } };
    expect(body.data).toHaveLength(1);
    const second = (await (await api(t, `/interference?limit=1&after=${body.pagination.after}`)).json()) as { data: Array<{ deviceId: string }> };
    expect(second.data.map((f) => f.deviceId)).toEqual(['v1']);
  });

  it('answers clear errors: bad filters, unknown device, no token', async () => {
    const t = await makeApp();
    expect((await api(t, '/interference?kind=NOPE')).status).toBe(400);
    const bad = await api(t, '/interference?since=yesterday');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain('since');
    expect((await api(t, '/devices/nope/timeline')).status).toBe(404);
    expect((await api(t, '/interference', {}, null)).status).toBe(401);
    expect((await api(t, '/interference', {}, `${ADMIN_TOKEN}x`)).status).toBe(401);
  });

  it('shows the timeline oldest first with actions, explained observations and findings, page by page', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v1', 0, { charging: false }), action('a1', 'v1', 'START', 'CONFIRMED', 1, 2), vehicle('v1', 2, { charging: true }), vehicle('v1', 40, { charging: false })]);
    await afterGrace(t);
    const all = (await timeline(t, 'v1')).data;
    expect(all.map((e) => e.type)).toEqual(['observation', 'action', 'observation', 'observation', 'finding']);
    expect(all.map((e) => e.at)).toEqual([iso(0), iso(1), iso(2), iso(40), iso(40)]);
    expect(all[4]?.finding).toMatchObject({ kind: 'ACTION_OVERRIDDEN', actionId: 'a1' });
    expect(transitionsOf(all).map((x) => x.status)).toEqual(['explained', 'finding']);
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof timeline>> = await timeline(t, 'v1', `?since=${iso(-60)}&limit=2${after ? `&after=${after}` : ''}`);
      seen.push(...page.data.map((e) => `${e.type}@${e.at}`));
      after = page.pagination.after;
    } while (after);
    expect(seen).toEqual(all.map((e) => `${e.type}@${e.at}`));
  });

  it('reconciles a device whose snapshot nests a watched field thousands of levels deep (found by the fuzz suite)', async () => {
    const t = await makeApp();
    let deep: unknown = true;
    for (let i = 0; i < 3_000; i++) deep = i % 2 ? [deep] : { d: deep };
    const odd = vehicle('v1', 2, { charging: true });
    (odd.vehicle.chargeState as Record<string, unknown>)['isCharging'] = deep;
    await postWebhook(t, [vehicle('v1', 0, { charging: false }), odd, vehicle('v1', 4, { charging: false })]);
    expect((await afterGrace(t)).errors).toBe(0);
  });

  it('reconciles only the devices that changed', async () => {
    const t = await makeApp();
    await postWebhook(t, Array.from({ length: 40 }, (_, i) => vehicle(`v${i}`, 0, { charging: false })));
    expect((await reconcile(t)).devices).toBe(40);
    await postWebhook(t, [vehicle('v7', 3, { charging: true })]);
    expect((await reconcile(t)).devices).toBe(1);
    expect((await reconcile(t)).devices).toBe(0);
    expect((await afterGrace(t)).devices).toBe(1);
  });

  // The deferral is the SQLite procedure's (its writer thread and backlog); pg-reconcile.test.ts judges Postgres's reconcile.
  itOn('sqlite', 'drives the SQLite reconcile procedure with a made-up backlog', 'waits while stored deliveries wait over 1 s to be applied, for 30 s at most', async () => {
    const t = await makeApp();
    await postWebhook(t, [vehicle('v1', 0, { charging: false }), vehicle('v1', 2, { charging: true })]);
    let backlog = { deliveries: 3, oldestWaitMs: 200 };
    const ctx = { repo: createIngestRepo(t.deps.db!.$client), clock: t.clock, logger: silentLogger(), config: t.config, applyBacklog: () => backlog };
    // The deferral counts on performance.now(): a reconcile call as if made at `ms`.
    const reconcileAt = (ms: number) => {
      const now = vi.spyOn(performance, 'now').mockReturnValue(ms);
      try {
        return reconcileProcedure(ctx);
      } finally {
        now.mockRestore();
      }
    };
    // A backlog that is applied promptly does not hold reconciling up.
    expect(reconcileAt(1_000)).toMatchObject({ deferred: false, devices: 1 });
    await postWebhook(t, [vehicle('v1', 3, { charging: false })]);
    backlog = { deliveries: 3, oldestWaitMs: 1_500 };
    expect(reconcileAt(1_000)).toMatchObject({ deferred: true, devices: 0 });
    expect(reconcileAt(30_000)).toMatchObject({ deferred: true, devices: 0 });
    // Still behind after 30 s: reconcile anyway, then wait afresh.
    expect(reconcileAt(31_000)).toMatchObject({ deferred: false, devices: 1 });
    await postWebhook(t, [vehicle('v1', 4, { charging: true })]);
    expect(reconcileAt(32_000)).toMatchObject({ deferred: true, devices: 0 });
    // The backlog applied: the device queued meanwhile is reconciled at once.
    backlog = { deliveries: 0, oldestWaitMs: 0 };
    expect(reconcileAt(33_000)).toMatchObject({ deferred: false, devices: 1 });
  });

  it('decides the same findings whatever the order, grouping and duplication of deliveries', async () => {
    const events = [
      vehicle('v1', 0, { charging: false }),
      action('a1', 'v1', 'START', 'PENDING', 1, 1),
      action('a1', 'v1', 'START', 'CONFIRMED', 1, 3),
      vehicle('v1', 3, { charging: true }),
      vehicle('v1', 20, { charging: false }),
      vehicle('v1', 25, { charging: false, pluggedIn: false }),
      vehicle('v1', 30, { charging: true, pluggedIn: true }),
      vehicle('v2', 0, { charging: true }),
      action('b1', 'v2', 'STOP', 'CANCELLED', 4, 5, 'CONFLICT'),
      vehicle('v2', 9, { charging: false }),
    ];
    // What is compared: the findings (with their ids, which derive from the episode key), one
    // `interference.detected` alert per finding, and every transition's explanation and status.
    const outcome = async (t: EngineApp) => ({
      findings: (await findings(t)).map((f) => `${f.id}:${f.deviceId}:${f.kind}:${f.field}:${f.observedAt}:${f.actionId}`).sort(),
      alerts: (await t.column<string>(`SELECT dedupe_key FROM alerts WHERE type = 'interference.detected'`)).sort(),
      transitions: await Promise.all(
        ['v1', 'v2'].map(async (id) =>
          transitionsOf((await timeline(t, id, `?since=${iso(-60)}&limit=500`)).data).map((x) => `${id}:${x.field}:${String(x.from)}>${String(x.to)}@${x.at}:${x.status}:${JSON.stringify(x.explanation)}`),
        ),
      ),
    });
    const reference = await makeApp();
    await postWebhook(reference, events);
    await afterGrace(reference);
    const expected = await outcome(reference);
    expect(expected.findings.length).toBeGreaterThan(0);
    expect(expected.alerts).toHaveLength(expected.findings.length);

    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
        fc.array(fc.nat(events.length - 1), { maxLength: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        // 0: every reconcile call judges one device and leaves the rest for the next call.
        fc.constantFrom(0, undefined),
        async (order, dupes, groupSize, reconcileBetween, budgetMs) => {
          const t = await makeApp();
          const stream = [...order, ...dupes.map((i) => events[i])];
          for (let i = 0; i < stream.length; i += groupSize) {
            await postWebhook(t, stream.slice(i, i + groupSize));
            if (reconcileBetween) await reconcile(t, budgetMs);
          }
          await afterGrace(t, 61, budgetMs);
          expect(await outcome(t)).toEqual(expected);
          // Each run frees its database at once (on Postgres, its schema goes to the next run).
          await t.close();
        },
      ),
      { numRuns: 40 },
    );
  });
});
