import { makeTestApp, vehicleAt } from '../support/fixtures.js';
import { runInterferenceScenario, type Score } from '../support/interference-score.js';

/**
 * Findings against the simulator's ground truth: a simulated day of a fleet with 20 % of webhooks
 * dropped, duplicated or reordered, third parties interfering and our own commands every 5 min.
 */
export async function reconcileScoreBench(o: {
  seeds: number[];
  devices: number;
  hours: number;
  /** Enode Schedules and smart charging in the fleet (issue 17; default none). */
  schedulesShare?: number;
  smartChargingShare?: number;
}): Promise<Array<Score & { seed: number }>> {
  const out: Array<Score & { seed: number }> = [];
  for (const seed of o.seeds) {
    const score = await runInterferenceScenario({
      seed,
      devices: o.devices,
      hours: o.hours,
      interferenceRate: 0.4,
      dropRate: 0.1,
      duplicateRate: 0.05,
      reorderRate: 0.05,
      commandEveryMinutes: 5,
      ...(o.schedulesShare === undefined ? {} : { schedulesShare: o.schedulesShare }),
      ...(o.smartChargingShare === undefined ? {} : { smartChargingShare: o.smartChargingShare }),
    });
    out.push({ ...score, seed });
  }
  return out;
}

const MIN = 60_000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/**
 * What one reconcile pass costs per changed device in a fleet of `fleet` devices, each with
 * `history` snapshots: the same `changed` devices get one new snapshot per round.
 */
async function costIn(fleet: number, changed: number, history: number, rounds: number) {
  const t = makeTestApp();
  const base = t.clock.now().getTime() - 24 * 60 * MIN;
  const batch: unknown[] = [];
  const flush = async () => {
    await t.deps.store.applyEvents(batch.splice(0), 'poll');
  };
  for (let d = 0; d < fleet; d++) {
    for (let h = 0; h < history; h++) {
      const vehicle = vehicleAt(`v${d}`, base + h * 10 * MIN, { charging: h % 3 === 0 });
      batch.push({ event: 'user:vehicle:updated', createdAt: vehicle.lastSeen, version: '2024-10-01', user: { id: vehicle.userId }, vehicle });
      if (batch.length >= 2000) await flush();
    }
  }
  await flush();
  // Let every grace pass and drain the queue: the fleet is reconciled and quiet.
  t.clock.advance(2 * 60 * MIN);
  while ((await t.deps.store.reconcile({ budgetMs: 60_000 })).more) {
    /* drain */
  }
  const perDeviceMs: number[] = [];
  // Two unmeasured rounds first: the JIT warms up on the first fleet otherwise.
  for (let r = -2; r < rounds; r++) {
    const at = base + (history + r + 2) * 10 * MIN;
    for (let d = 0; d < changed; d++) {
      const vehicle = vehicleAt(`v${(d * 7919) % fleet}`, at, { charging: (r + 2) % 2 === 0 });
      batch.push({ event: 'user:vehicle:updated', createdAt: vehicle.lastSeen, version: '2024-10-01', user: { id: vehicle.userId }, vehicle });
    }
    await flush();
    const started = performance.now();
    const run = await t.deps.store.reconcile({ budgetMs: 60_000 });
    const ms = performance.now() - started;
    if (run.devices !== changed) throw new Error(`reconcile bench: expected ${changed} devices reconciled, got ${run.devices}`);
    if (r >= 0) perDeviceMs.push(ms / changed);
    t.clock.advance(2 * MIN);
    await t.deps.store.reconcile({ budgetMs: 60_000 });
  }
  const idleStarted = performance.now();
  const idle = await t.deps.store.reconcile({ budgetMs: 60_000 });
  const idleMs = performance.now() - idleStarted;
  return { fleet, perDeviceMs: median(perDeviceMs), idleMs, idleDevices: idle.devices };
}

/** Reconcile cost with the same number of changed devices in a small and a large fleet. */
export async function reconcileCostBench(o: { smallFleet: number; largeFleet: number; changed: number; history: number; rounds: number }) {
  const small = await costIn(o.smallFleet, o.changed, o.history, o.rounds);
  const large = await costIn(o.largeFleet, o.changed, o.history, o.rounds);
  return { small, large, changed: o.changed, history: o.history, ratio: large.perDeviceMs / small.perDeviceMs };
}
