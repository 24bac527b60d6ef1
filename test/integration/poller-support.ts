/**
 * The poller tests' harness on the engine of this run (fixtures.ts `makeApp`): sync-harness.ts's
 * simulator-fed daemon over that app, with the tables read through portable SQL so that the same
 * assertions hold on SQLite and Postgres.
 */
import { silentLogger } from '../../src/logger.js';
import type { createSimulator } from '../../src/simulator/index.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import { runPendingActions } from '../../src/sync/pending-actions.js';
import { makeApp } from '../support/fixtures.js';
import { harnessOver, sendCommand, type ActionOutcome } from '../support/sync-harness.js';

/** Daemon (in-process app on this run's engine) fed by an in-process simulator; the client counts its action GETs. */
export async function engineSyncHarness(simOptions: Parameters<typeof createSimulator>[0], env: Record<string, string> = {}) {
  const logger = silentLogger();
  return harnessOver(await makeApp(env, { logger }), simOptions, logger);
}

export type EngineSyncHarness = Awaited<ReturnType<typeof engineSyncHarness>>;

/** The `controlled` column of a device as parsed JSON, or null when the daemon has no such device. */
export async function controlledOf(s: EngineSyncHarness, id: string): Promise<unknown> {
  const row = await s.t.row<{ controlled: string }>('SELECT controlled FROM devices WHERE id = ?', [id]);
  return row ? JSON.parse(row.controlled) : null;
}

/**
 * The 20 %-drops scenario of sync-harness.ts `runDropScenario` on this run's engine: a command
 * every 5 simulated minutes for `hours`, the poller every 30 s, then `settleHours` without
 * commands so every action resolves; what happened to each action, from the simulator's truth
 * and the daemon's tables.
 */
export async function runEngineDropScenario(s: EngineSyncHarness, o: { hours: number; settleHours: number }): Promise<ActionOutcome[]> {
  const resolvedAt = new Map<string, number>();
  const noteResolved = async () => {
    const ids = await s.t.column<string>("SELECT id FROM actions WHERE state IN ('CONFIRMED', 'FAILED', 'CANCELLED')");
    for (const id of ids) if (!resolvedAt.has(id)) resolvedAt.set(id, s.t.clock.now().getTime());
  };
  await runDeviceResync(s.deps, s.t.clock.now(), 'start');
  const ticks = (o.hours + o.settleHours) * 120;
  for (let tick = 0; tick < ticks; tick++) {
    if (tick < o.hours * 120 && tick % 10 === 0) await sendCommand(s.sim, s.retailer, tick / 10, s.t.deps.store);
    await s.step(30_000);
    await noteResolved();
    await runPendingActions(s.deps, s.t.clock.now());
    await noteResolved();
  }
  const truth = s.sim.truth();
  const droppedActionEvents = truth.droppedEvents.filter((e) => e.event === 'user:vendor-action:updated');
  const states = new Map((await s.t.rows<{ id: string; state: string }>('SELECT id, state FROM actions')).map((r) => [r.id, r.state]));
  return truth.actions.map((a) => ({
    id: a.id,
    trueState: a.state,
    daemonState: states.get(a.id),
    missedResolution: droppedActionEvents.some((e) => e.subject === a.id && a.completedAt !== null && e.createdAt >= a.completedAt),
    gets: s.actionGets.get(a.id) ?? 0,
    createdAtMs: Date.parse(a.createdAt),
    completedAtMs: a.completedAt === null ? null : Date.parse(a.completedAt),
    daemonResolvedAtMs: resolvedAt.get(a.id) ?? null,
  }));
}
