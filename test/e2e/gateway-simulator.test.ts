import { afterAll, expect, it } from 'vitest';
import { createSimulator, inProcessFetch, pickDevices } from '../../src/simulator/index.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import type { SyncDeps } from '../../src/sync/types.js';
import { describeEngines, dropEngineApps, engineApp, type Engine } from '../support/engines-e2e.js';
import { makeEnodeClient } from '../support/enode.js';
import { api, SECRET } from '../support/fixtures.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

interface Explanation {
  kind: string;
  actionId?: string;
  cause?: string;
}

/**
 * The daemon's app on `engine` (in process, manual clock) fed by an in-process simulator, with the
 * gateway's Enode client on the same simulator. test/support/sync-harness.ts builds the same on
 * SQLite only; this test needs the engine as a parameter.
 */
async function harness(engine: Engine, simOptions: Parameters<typeof createSimulator>[0]) {
  const t = await engineApp(engine);
  const sim = createSimulator({
    webhookUrl: 'http://daemon.test/webhooks/enode',
    webhookSecret: SECRET,
    fetch: ((url: string, init?: RequestInit) => t.app.request(url, init)) as typeof fetch,
    ...simOptions,
  });
  t.clock.set(sim.clock.nowMs());
  // The gateway reads deps.enode per request.
  t.deps.enode = makeEnodeClient({ baseUrl: 'http://sim.local', clock: t.clock, fetch: inProcessFetch(sim.app) });
  const deps: SyncDeps = { config: t.config, logger: t.deps.logger, clock: t.clock, enode: t.deps.enode, store: t.deps.store, read: t.deps.read, state: { startedAt: t.clock.now().getTime(), lastFullResyncAt: null } };
  return {
    t,
    sim,
    deps,
    /** Moves the simulator and the app's clock together, then lets the app apply what arrived. */
    async step(ms: number) {
      await sim.runFor(ms);
      t.clock.set(sim.clock.nowMs());
      await t.deps.store.idle();
    },
  };
}

afterAll(dropEngineApps);

/**
 * A day of commands for one car through the gateway, against the in-process simulator (Enode's
 * actions, webhooks and the car's physics on simulated time), with the reconciler running as the
 * daemon runs it.
 */
describeEngines('command gateway against the simulator', (engine) => {
  it('a day of commands for one car: duplicates collapsed, the 7th refused, every change explained by our actions', async () => {
    const s = await harness(engine, {
      seed: 11,
      devices: 0,
      fleet: { vehicles: 3, chargers: 0, hvacs: 0, batteries: 0 },
      userActivityRate: 0,
      interferenceRate: 0,
      noResponseRate: 0,
      incapableRate: 0,
      actionDelaySeconds: [10, 90],
    });
    const reconcile = async () => {
      for (let i = 0; i < 20 && (await s.t.deps.store.reconcile({})).more; i++);
    };
    /** Lets simulated time pass in steps, the reconciler running after each, as its job does. */
    const wait = async (ms: number) => {
      for (let left = ms; left > 0; left -= 5 * MIN) {
        await s.step(Math.min(left, 5 * MIN));
        await reconcile();
      }
    };

    const car = pickDevices(s.sim.world, 'vehicle').sort((a, b) => (a.chargeState.batteryLevel ?? 100) - (b.chargeState.batteryLevel ?? 100))[0];
    if (!car) throw new Error('the fleet has no vehicle');
    await runDeviceResync(s.deps, s.t.clock.now(), 'start');
    await wait(5 * MIN);
    // The owner plugs in: charging starts by itself (a natural cause, not ours).
    s.sim.control.setPlugged(car.id, true);
    await wait(10 * MIN);

    const send = (action: 'START' | 'STOP', query = '') =>
      api(s.t, `/vehicles/${car.id}/charging${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ action }) });

    const sent: Array<{ id: string; atMs: number }> = [];
    const plan: Array<{ action: 'START' | 'STOP'; after: number; duplicate: boolean }> = [
      { action: 'STOP', after: 3 * HOUR, duplicate: true },
      { action: 'START', after: 30 * MIN, duplicate: true },
      { action: 'STOP', after: 3 * HOUR, duplicate: false },
      { action: 'START', after: 30 * MIN, duplicate: true },
      { action: 'STOP', after: 3 * HOUR, duplicate: false },
      { action: 'START', after: 3 * HOUR, duplicate: false },
    ];
    let collapsed = 0;
    for (const step of plan) {
      const atMs = s.t.clock.now().getTime();
      const res = await send(step.action);
      expect(res.status).toBe(200);
      const out = await res.json();
      expect(out).toMatchObject({ outcome: 'sent', action: { state: 'PENDING', origin: 'gateway', kind: step.action } });
      sent.push({ id: out.action.id, atMs });
      if (step.duplicate) {
        // The same command again while the first is PENDING: answered with it, nothing sent.
        const again = await (await send(step.action)).json();
        expect(again).toMatchObject({ outcome: 'collapsed', action: { id: out.action.id } });
        collapsed++;
      }
      await wait(step.after);
    }

    // The 7th command within 24 h is refused, with when the next one is allowed.
    const refused = await send('STOP');
    expect(refused.status).toBe(429);
    const err = (await refused.json()).error;
    const nextAllowedMs = (sent[0] as { atMs: number }).atMs + 24 * HOUR;
    expect(err).toMatchObject({ code: 'DAILY_COMMAND_LIMIT', used: 6, limit: 6, nextAllowedAt: new Date(nextAllowedMs).toISOString() });

    // Enode saw exactly the six commands: duplicates and the refused one never reached it.
    const enodeActions = s.sim.truth().actions.filter((a) => a.targetId === car.id);
    expect(enodeActions.map((a) => a.id).sort()).toEqual(sent.map((a) => a.id).sort());
    const log = await s.t.rows('SELECT outcome, COUNT(*) AS n FROM commands WHERE device_id = ? GROUP BY outcome ORDER BY outcome', [car.id]);
    expect(log).toEqual([
      { outcome: 'collapsed', n: collapsed },
      { outcome: 'refused', n: 1 },
      { outcome: 'sent', n: 6 },
    ]);

    // The reconciler explains every change of the car's charging state: ours by our actions.
    await wait(10 * MIN);
    const confirmed = enodeActions.filter((a) => a.state === 'CONFIRMED').map((a) => a.id);
    expect(confirmed.length).toBeGreaterThanOrEqual(5);
    const transitions = (
      await s.t.rows<{ atMs: number; toValue: string; status: string; explanation: string }>(
        `SELECT at_ms AS "atMs", to_value AS "toValue", status, explanation FROM transitions WHERE device_id = ? AND field = 'charging' ORDER BY at_ms`,
        [car.id],
      )
    ).map((t) => ({ ...t, explanation: JSON.parse(t.explanation) as Explanation }));
    expect(transitions.every((t) => t.status === 'explained')).toBe(true);
    const explainedBy = transitions.filter((t) => t.explanation.kind === 'own_action').map((t) => t.explanation.actionId);
    expect([...explainedBy].sort()).toEqual([...confirmed].sort());
    // Anything else has a natural cause: the plug-in start, the car reaching its charge limit.
    const others = transitions.filter((x) => x.explanation.kind !== 'own_action');
    expect(others[0]).toMatchObject({ toValue: 'true', explanation: { kind: 'natural' } });
    for (const t of others) expect(t.explanation.kind).toBe('natural');
    expect(await s.t.row('SELECT COUNT(*) AS n FROM findings WHERE device_id = ?', [car.id])).toEqual({ n: 0 });

    // A rolling window: at the announced time a command is allowed again.
    await wait(nextAllowedMs - s.t.clock.now().getTime());
    expect((await send('STOP')).status).toBe(200);
  }, 60_000);
});
