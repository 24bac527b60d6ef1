/**
 * Scores the reconciler against the simulator's ground truth: the daemon (in-process, on the
 * engine of the run: fixtures.ts `makeApp`) runs fed by a simulator with faulty webhooks,
 * third-party interference and our own commands; every transition the daemon saw is then judged
 * by the true cause of the change it shows. Its tables are read with SQL written for both engines.
 */
import type { EnodeRequestStats } from '../../src/enode/stats.js';
import type { Logger } from '../../src/logger.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import { runPendingActions } from '../../src/sync/pending-actions.js';
import { makeApp } from './fixtures.js';
import { harnessOver, sendCommand, sendGatewayCommand } from './sync-harness.js';

/** Simulator state paths → the reconciler's controlled fields. */
const FIELD_OF_PATH: Record<string, string> = {
  'chargeState.isCharging': 'charging',
  'chargeState.maxCurrent': 'maxCurrent',
  'thermostatState.mode': 'hvacMode',
  'thermostatState.holdType': 'holdType',
  'thermostatState.heatSetpoint': 'heatSetpoint',
  'thermostatState.coolSetpoint': 'coolSetpoint',
  'config.operationMode': 'operationMode',
};

export interface ScenarioOptions {
  seed: number;
  devices: number;
  hours: number;
  /** Third-party changes per device per simulated hour. */
  interferenceRate: number;
  dropRate: number;
  duplicateRate: number;
  reorderRate: number;
  /** Minutes between our own commands (a multiple of the 30-second step). */
  commandEveryMinutes: number;
  /** API faults: probability of a 5xx, and of a 429 with Retry-After, per Enode request (default 0). */
  errorRate?: number;
  rateLimitRate?: number;
  /** Share of vehicles, chargers and HVACs under an enabled Enode Schedule, and of vehicles with smart charging (default 0 each). */
  schedulesShare?: number;
  smartChargingShare?: number;
  /** Sim milliseconds each webhook batch waits before it is sent, uniform in [min, max] (default none). */
  delayMs?: readonly [number, number];
  /** Simulated hours after the last command, the poller, resyncs and reconciler still running (default 0). */
  settleHours?: number;
  /**
   * How our commands reach Enode: `harness` sends them as the retailer and applies Enode's answer
   * with origin gateway (default; the retailer does not retry, so use `gateway` with API faults);
   * `gateway` posts them to the daemon's command routes, guards and all.
   */
  commands?: 'harness' | 'gateway';
  /** The daemon's logger (default silent). */
  logger?: Logger;
  /** Called with the harness at the end, before scoring: to look into a run or check more of it. */
  inspect?: (s: Harness) => void | Promise<void>;
}

/** Final action states against the simulator's truth. */
export interface ActionStates {
  /** Actions the simulator created. */
  total: number;
  /** Of those, how many the daemon holds in the same state. */
  right: number;
  /** Up to 20 that differ: the simulator's state and the daemon's (undefined: unknown to the daemon). */
  wrong: Array<{ id: string; truth: string; daemon: string | undefined }>;
  /** Actions the daemon holds that the simulator never created. */
  unknownToEnode: number;
}

/** What happened to our commands: by outcome (`sent`, `collapsed`, or the error code of a refusal or failure). */
export type CommandOutcomes = Record<string, number>;

export interface Score {
  /** Transitions the daemon saw and judged (explained or finding). */
  transitions: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  precision: number;
  recall: number;
  /** Findings by kind. */
  findings: Record<string, number>;
  /** Real third-party changes, and how many of them no delivered snapshot ever showed. */
  interferenceChanges: number;
  /** Real changes of controlled fields made by Enode Schedules, smart charging plans and overrides (never interference). */
  automationChanges: number;
  /** Judged transitions the daemon explained as own automation (`enode_schedule`, `smart_charging_plan`, `smart_override`), by cause. */
  automationExplained: number;
  automationByCause: Record<string, number>;
  /** Webhook faults the simulator injected. */
  faults: { dropped: number; duplicated: number; reordered: number; eventsDelivered: number };
  /** Transitions whose change was first seen together with a later natural event (lost snapshots): not judged. */
  confounded: number;
  /** Still waiting for their grace at the end (should be 0). */
  waiting: number;
  /** Up to 10 misjudged transitions, for diagnosis. */
  mistakes: Array<Record<string, unknown>>;
  /** Wall-clock seconds the scenario took. */
  seconds: number;
  /** Final action states against the simulator's truth (after the settle period). */
  actions: ActionStates;
  /** Our commands by outcome. */
  commands: CommandOutcomes;
  /** The daemon's Enode requests (token, resyncs, polls, commands) by outcome, retries included. */
  enode: EnodeRequestStats;
}

interface StoredTransition {
  deviceId: string;
  atMs: number;
  field: string;
  toValue: string;
  status: string;
  explanation: string;
}

/** The simulator-fed harness over the app of the run. */
type Harness = ReturnType<typeof harnessOver<Awaited<ReturnType<typeof makeApp>>>>;

export async function runInterferenceScenario(o: ScenarioOptions): Promise<Score> {
  const started = Date.now();
  const t = await makeApp({}, o.logger ? { logger: o.logger } : {});
  try {
    return await scoreScenario(o, started, t);
  } finally {
    await t.close();
  }
}

async function scoreScenario(o: ScenarioOptions, started: number, t: Awaited<ReturnType<typeof makeApp>>): Promise<Score> {
  const s: Harness = harnessOver(
    t,
    {
      seed: o.seed,
      devices: o.devices,
      interferenceRate: o.interferenceRate,
      dropRate: o.dropRate,
      duplicateRate: o.duplicateRate,
      reorderRate: o.reorderRate,
      heartbeatSeconds: 0,
      ...(o.errorRate === undefined ? {} : { errorRate: o.errorRate }),
      ...(o.rateLimitRate === undefined ? {} : { rateLimitRate: o.rateLimitRate }),
      ...(o.delayMs === undefined ? {} : { delayMs: o.delayMs }),
      ...(o.schedulesShare === undefined ? {} : { schedulesShare: o.schedulesShare }),
      ...(o.smartChargingShare === undefined ? {} : { smartChargingShare: o.smartChargingShare }),
    },
    o.logger,
  );
  const store = s.t.deps.store;
  const commands: CommandOutcomes = {};
  const count = (outcome: string) => {
    commands[outcome] = (commands[outcome] ?? 0) + 1;
  };
  const viaGateway = o.commands === 'gateway';
  if (viaGateway) s.t.deps.enode = s.enode;
  const command = async (n: number) => {
    if (viaGateway) {
      const r = await sendGatewayCommand(s.sim, s.t, n);
      if (r) count(r.outcome);
    } else {
      const status = await sendCommand(s.sim, s.retailer, n, store);
      if (status !== undefined) count(status === 200 ? 'sent' : `HTTP ${status}`);
    }
  };
  await runDeviceResync(s.deps, s.t.clock.now(), 'start');
  const stepMs = 30_000;
  const commandSteps = (o.hours * 3_600_000) / stepMs;
  const steps = commandSteps + ((o.settleHours ?? 0) * 3_600_000) / stepMs;
  const commandEvery = (o.commandEveryMinutes * 60_000) / stepMs;
  let lastResync = s.t.clock.now().getTime();
  for (let i = 0; i < steps; i++) {
    if (i < commandSteps && i % commandEvery === 0) await command(i / commandEvery);
    await s.step(stepMs);
    await runPendingActions(s.deps, s.t.clock.now());
    if (s.t.clock.now().getTime() - lastResync >= s.t.config.resyncIntervalMinutes * 60_000) {
      await runDeviceResync(s.deps, s.t.clock.now(), 'scheduled');
      lastResync = s.t.clock.now().getTime();
    }
    await store.reconcile({ budgetMs: 10_000 });
  }
  // Let every grace end, then decide what is left.
  s.t.clock.advance((s.t.config.interferenceGraceSeconds + 1) * 1000);
  await store.reconcile({ budgetMs: 60_000 });

  await o.inspect?.(s);
  const truth = s.sim.truth();
  const changes = new Map<string, Array<{ atMs: number; to: unknown; cause: string; detail: string }>>();
  let interferenceChanges = 0;
  let automationChanges = 0;
  const naturals = new Map<string, number[]>();
  for (const c of truth.changes) {
    if (c.cause === 'natural') naturals.set(c.deviceId, [...(naturals.get(c.deviceId) ?? []), Date.parse(c.at)]);
  }
  for (const c of truth.changes) {
    const field = FIELD_OF_PATH[c.field];
    if (!field) continue;
    if (c.cause === 'interference') interferenceChanges++;
    if (c.cause === 'own_automation') automationChanges++;
    const key = `${c.deviceId}:${field}`;
    const list = changes.get(key) ?? [];
    list.push({ atMs: Date.parse(c.at), to: c.to, cause: c.cause, detail: c.detail });
    changes.set(key, list);
  }

  const rows = await t.rows<StoredTransition>(
    `SELECT device_id AS "deviceId", at_ms AS "atMs", field, to_value AS "toValue", status, explanation FROM transitions ORDER BY device_id, at_ms`,
  );
  const score: Score = {
    transitions: 0,
    truePositives: 0,
    falsePositives: 0,
    falseNegatives: 0,
    precision: 1,
    recall: 1,
    findings: {},
    interferenceChanges,
    automationChanges,
    automationExplained: 0,
    automationByCause: {},
    faults: { dropped: truth.webhookStats.dropped, duplicated: truth.webhookStats.duplicated, reordered: truth.webhookStats.reordered, eventsDelivered: truth.webhookStats.eventsDelivered },
    waiting: 0,
    confounded: 0,
    mistakes: [],
    seconds: 0,
    actions: compareActions(truth.actions, await t.rows<{ id: string; state: string }>('SELECT id, state FROM actions')),
    commands,
    enode: s.enode.stats(),
  };
  const previousObservation = async (deviceId: string, atMs: number) =>
    (await t.column<number | null>('SELECT MAX(observed_at_ms) FROM observations WHERE device_id = ? AND observed_at_ms < ?', [deviceId, atMs]))[0] ?? null;
  for (const r of rows) {
    if (r.status === 'waiting') {
      score.waiting++;
      continue;
    }
    // The true cause of what the daemon saw: the last real change of the field by the snapshot's time.
    const history = changes.get(`${r.deviceId}:${r.field}`) ?? [];
    let cause: { atMs: number; to: unknown; cause: string; detail: string } | undefined;
    // Several changes may share one instant (a start the car refuses at once): take the one that set the value seen.
    const seen = JSON.parse(r.toValue) as unknown;
    for (const c of history) if (c.atMs <= r.atMs && (c.atMs < r.atMs || JSON.stringify(c.to) === JSON.stringify(seen))) cause = c;
    // Lost snapshots can merge a change with a later natural event (a stop first seen with the
    // unplug that followed): no receiver could tell them apart, so such transitions are not judged.
    if (cause && cause.atMs < r.atMs && (naturals.get(r.deviceId) ?? []).some((n) => n > cause.atMs && n <= r.atMs)) {
      score.confounded++;
      continue;
    }
    score.transitions++;
    const explanation = JSON.parse(r.explanation) as { kind?: string; cause?: string };
    if (explanation.kind === 'automation') {
      score.automationExplained++;
      score.automationByCause[String(explanation.cause)] = (score.automationByCause[String(explanation.cause)] ?? 0) + 1;
    }
    // Only a third party's change is interference: own actions and own automations (Enode Schedules,
    // smart charging plans and overrides run for this client) never are, nor is the world itself.
    const expected = cause?.cause === 'interference';
    const flagged = r.status === 'finding';
    if (expected && flagged) score.truePositives++;
    else if (!expected && flagged) score.falsePositives++;
    else if (expected && !flagged) score.falseNegatives++;
    if (expected !== flagged && score.mistakes.length < 40) {
      // Diagnosis: device events lost between the snapshot the daemon saw before this one and this one.
      const previousMs = await previousObservation(r.deviceId, r.atMs);
      const lostBefore = truth.droppedEvents.filter((e) => e.subject === r.deviceId && Date.parse(e.createdAt) > (previousMs ?? 0) && Date.parse(e.createdAt) <= r.atMs).length;
      score.mistakes.push({ ...r, truth: cause ?? null, lostBefore, history: history.filter((c) => Math.abs(c.atMs - r.atMs) < 3_600_000) });
    }
  }
  const findingRows = await t.rows<{ kind: string; n: number }>(`SELECT kind, COUNT(*) AS n FROM findings GROUP BY kind`);
  for (const f of findingRows) score.findings[f.kind] = Number(f.n);
  // The simulator's third parties never send actions, so every ACTION_CONFLICT is a false alarm.
  score.falsePositives += score.findings.ACTION_CONFLICT ?? 0;
  const flaggedTotal = score.truePositives + score.falsePositives;
  score.precision = flaggedTotal === 0 ? 1 : score.truePositives / flaggedTotal;
  const actual = score.truePositives + score.falseNegatives;
  score.recall = actual === 0 ? 1 : score.truePositives / actual;
  score.seconds = (Date.now() - started) / 1000;
  return score;
}

function compareActions(truth: ReadonlyArray<{ id: string; state: string }>, mine: Array<{ id: string; state: string }>): ActionStates {
  const held = new Map(mine.map((a) => [a.id, a.state]));
  const out: ActionStates = { total: truth.length, right: 0, wrong: [], unknownToEnode: 0 };
  for (const a of truth) {
    const state = held.get(a.id);
    if (state === a.state) out.right++;
    else if (out.wrong.length < 20) out.wrong.push({ id: a.id, truth: a.state, daemon: state });
  }
  const created = new Set(truth.map((a) => a.id));
  out.unknownToEnode = mine.filter((a) => !created.has(a.id)).length;
  return out;
}
