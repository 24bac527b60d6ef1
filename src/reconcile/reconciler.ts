/**
 * The reconciler's edge (DESIGN.md "Level-triggered reconcile"): takes the devices queued by the
 * apply funnel (a new snapshot or own action) or coming due (a transition's grace ends), reads each
 * one's recent history, runs the pure core (domain/interference.ts) and stores what it decided:
 * every transition with its explanation, findings once per episode, and their alerts in the same
 * transaction. Work follows the changed devices, never the fleet.
 */
import { createHash } from 'node:crypto';
import type { NewAlert } from '../alerts/types.js';
import type { Config } from '../config.js';
import {
  DEFAULT_INTERFERENCE_SETTINGS,
  reconcileDevice,
  transitionFindingKey,
  type ActionInput,
  type Finding,
  type InterferenceSettings,
  type ObservationInput,
  type ReconciledTransition,
} from '../domain/interference.js';
import { STALE_AFTER_MS } from '../domain/polling.js';
import { isAheadOfReceipt, parseTimeMs } from '../domain/time.js';
import { canonical } from '../domain/transitions.js';
import { findingView } from '../domain/findings.js';
import type { Logger } from '../logger.js';
import type { ReconcileIO, StoredAction, StoredControlStatus, StoredObservation, TransitionWrite } from '../store/reconcile.js';
import type { ControlStatus } from '../domain/control.js';

/** How far before its window a charger's history is read again to judge an unexplained stop (the session's power). */
const CHARGER_SESSION_LOOKBACK_MS = 12 * 3_600_000;

/** The reconciler's settings from the configuration. */
export function interferenceSettings(config: Config): InterferenceSettings {
  return {
    ...DEFAULT_INTERFERENCE_SETTINGS,
    graceMs: config.interferenceGraceSeconds * 1000,
    matchWindowMs: config.interference.matchWindowSeconds * 1000,
    intentTtlMs: config.interference.intentTtlSeconds * 1000,
    plugInAutoStartIsNatural: config.interference.plugInAutoStartIsNatural,
  };
}

function toObservation(row: StoredObservation): ObservationInput {
  const context = JSON.parse(row.context) as Record<string, unknown>;
  const smartChargingActive = context.smartChargingEnabled === true;
  return {
    atMs: row.atMs,
    receivedAtMs: row.receivedAtMs,
    controlled: JSON.parse(row.controlled) as Record<string, unknown>,
    context,
    ...(smartChargingActive ? { smartChargingActive } : {}),
    // Both columns are JSON.stringify of objects built field by field (domain/devices.ts), so
    // copies of one snapshot (redeliveries, repeated polls) have the same text: it identifies them
    // without canonical JSON of the parsed values, a third of a reconcile's time. (Equal values
    // written with other key orders count as two snapshots of one instant: the later one is kept.)
    contentKey: `${row.atMs}\n${smartChargingActive}\n${row.controlled}\n${row.context}`,
  };
}

function toControl(row: StoredControlStatus): ControlStatus {
  return JSON.parse(row.status) as ControlStatus;
}

function toAction(row: StoredAction): ActionInput {
  const createdAtMs = parseTimeMs(row.createdAt) ?? row.updatedAtMs;
  return {
    id: row.id,
    targetId: row.targetId,
    kind: row.kind,
    target: row.target ? (JSON.parse(row.target) as Record<string, unknown>) : null,
    state: row.state,
    failureReasonType: row.failureReason ? ((JSON.parse(row.failureReason) as { type?: string }).type ?? null) : null,
    createdAtMs,
    updatedAtMs: row.updatedAtMs,
    completedAtMs: parseTimeMs(row.completedAt) ?? null,
    origin: row.origin,
  };
}

/** Deterministic finding id from its first key (kept when the key later moves). */
function findingIdFor(key: string): string {
  return `fnd_${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}

/**
 * Reconciles one queued device at `nowMs`; returns the ids of findings raised. Transitions from
 * `rewriteFrom` on are rewritten; everything read before it is context (plug-in just before, an
 * intent confirmed earlier and the unplugs that end it).
 */
export function reconcileQueued(repo: ReconcileIO, logger: Logger, s: InterferenceSettings, q: { deviceId: string; fromMs: number }, nowMs: number): string[] {
  const actionRows = repo.actions(q.deviceId, q.fromMs - s.graceMs - s.matchWindowMs - s.intentTtlMs - STALE_AFTER_MS);
  const device = repo.device(q.deviceId);
  const deviceType = device?.type ?? actionRows[0]?.targetType;
  const userId = device?.userId ?? actionRows[0]?.userId;
  if (!deviceType || !userId) return [];
  // A snapshot dated too far past its receipt is recorded, never judged: it is no history.
  const toleranceMs = repo.settings.clockSkewToleranceMs;
  const history = (deviceId: string, fromMs: number) => repo.observations(deviceId, fromMs).filter((o) => !isAheadOfReceipt(o.atMs, o.receivedAtMs, toleranceMs));

  const rewriteFrom = q.fromMs - s.graceMs - s.matchWindowMs;
  let contextFrom = rewriteFrom - Math.max(s.plugInWindowMs, s.matchWindowMs) - s.graceMs;
  const actions = actionRows.map(toAction);
  // The intent in force at rewriteFrom is ended by an unplug after its confirmation: read from there.
  const latest = actions.filter((a) => a.createdAtMs <= rewriteFrom).sort((a, b) => b.createdAtMs - a.createdAtMs)[0];
  if (latest) contextFrom = Math.min(contextFrom, Math.max(latest.completedAtMs ?? latest.updatedAtMs, rewriteFrom - s.intentTtlMs));
  let observations = history(q.deviceId, contextFrom).map(toObservation);

  // A vehicle and the charger it is plugged into are one session: either's charging command explains both.
  const partners = new Set<string>();
  for (const o of observations) {
    for (const id of [o.context.pluggedInChargerId, o.context.pluggedInVehicleId]) if (typeof id === 'string' && id !== q.deviceId) partners.add(id);
  }
  const partnerObservations: ObservationInput[] = [];
  // Schedules and smart charging of the device and of its linked device: the session is one. Every
  // status is kept (the newest of each decides, an ended plan included); a linked device's ask only
  // for charging, so they judge nothing else.
  const controls: ControlStatus[] = repo.controls(q.deviceId, contextFrom).map(toControl);
  for (const partner of partners) {
    for (const row of repo.controls(partner, contextFrom)) controls.push(toControl(row));
    for (const row of repo.actions(partner, contextFrom - s.intentTtlMs - STALE_AFTER_MS)) {
      if (row.kind === 'START' || row.kind === 'STOP') actions.push(toAction(row));
    }
    for (const row of history(partner, contextFrom)) partnerObservations.push(toObservation(row));
  }

  let result = reconcileDevice({ deviceId: q.deviceId, deviceType, userId, observations, actions, partnerObservations, controls, settings: s, nowMs });
  // A charger's stop with an unknown car is told by the session's power tapering off, which may
  // have begun hours before the stop. When a stop in the rewritten range is left unexplained, judge
  // again with the history back to the session's start: a later pass with a shorter window must
  // not turn a stop an earlier pass explained into a finding.
  if (deviceType === 'charger' && result.transitions.some((t) => t.atMs >= rewriteFrom && t.field === 'charging' && t.to === false && t.explanation.kind === 'unexplained')) {
    observations = history(q.deviceId, contextFrom - CHARGER_SESSION_LOOKBACK_MS).map(toObservation);
    result = reconcileDevice({ deviceId: q.deviceId, deviceType, userId, observations, actions, partnerObservations, controls, settings: s, nowMs });
  }
  const findingsByKey = new Map(result.findings.map((f) => [f.key, f]));
  const raised: string[] = [];
  const idOf = new Map<string, string>();
  const store = (f: Finding, runEndOf: (field: string) => number) => {
    // The transitions of one episode share its finding: store it once.
    if (idOf.has(f.key)) return;
    const { id, isNew } = storeFinding(repo, f, runEndOf, nowMs);
    idOf.set(f.key, id);
    if (isNew) {
      raised.push(id);
      repo.enqueueAlert(findingAlert(logger, f, id, nowMs));
    }
  };

  const rows: TransitionWrite[] = [];
  let nextDueAtMs = Number.POSITIVE_INFINITY;
  let nextFromMs = Number.POSITIVE_INFINITY;
  result.transitions.forEach((t, i) => {
    if (t.atMs < rewriteFrom) return;
    if (t.status === 'waiting') {
      nextDueAtMs = Math.min(nextDueAtMs, t.dueAtMs ?? t.receivedAtMs + s.graceMs);
      nextFromMs = Math.min(nextFromMs, t.atMs);
    }
    const finding = t.findingKey ? findingsByKey.get(t.findingKey) : undefined;
    if (finding) store(finding, (field) => runEnd(result.transitions, i, field));
    if (t.explanation.kind === 'natural' && t.explanation.deviceProblem) {
      const fault = { deviceId: q.deviceId, deviceType, userId, transition: t };
      if (repo.enqueueAlert(faultAlert(fault, nowMs))) logger.warn({ deviceId: q.deviceId, powerDeliveryState: t.after.context.powerDeliveryState }, 'device reports no power or a fault');
    }
    rows.push({
      deviceId: q.deviceId,
      atMs: t.atMs,
      field: t.field,
      fromValue: canonical(t.from),
      toValue: canonical(t.to),
      receivedAtMs: t.receivedAtMs,
      explanation: JSON.stringify(t.explanation),
      status: t.status,
      findingId: t.findingKey ? (idOf.get(t.findingKey) ?? null) : null,
    });
  });
  repo.replaceTransitions(q.deviceId, rewriteFrom, rows);

  for (const f of result.findings) if (f.kind === 'ACTION_CONFLICT') store(f, () => Number.POSITIVE_INFINITY);
  // A conflict cancellation still inside its grace (our newer action may yet show up) comes due later.
  for (const a of actions) {
    if (a.targetId !== q.deviceId || a.state !== 'CANCELLED' || a.failureReasonType !== 'CONFLICT') continue;
    const dueAtMs = (a.completedAtMs ?? a.updatedAtMs) + s.graceMs;
    if (dueAtMs > nowMs) {
      nextDueAtMs = Math.min(nextDueAtMs, dueAtMs);
      nextFromMs = Math.min(nextFromMs, a.createdAtMs);
    }
  }
  if (Number.isFinite(nextDueAtMs)) repo.markForReconcile(q.deviceId, nextFromMs, nextDueAtMs);
  return raised;
}

/** Device time at which `field` next changes after transition i (the end of the run of the value it reached then). */
function runEnd(transitions: readonly ReconciledTransition[], i: number, field: string): number {
  const t = transitions[i] as ReconciledTransition;
  for (let j = i + 1; j < transitions.length; j++) {
    const next = transitions[j] as ReconciledTransition;
    if (next.field === field && next.atMs > t.atMs) return next.atMs;
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * The keys an episode may be stored under: its own, then those its other fields would give it
 * (an earlier run judged the same change with another first field, e.g. before a late action
 * explained that field).
 */
function episodeKeys(f: Finding): string[] {
  return [f.key, ...f.fields.slice(1).map((c) => transitionFindingKey(f.deviceId, { field: c.field, atMs: f.observedAtMs }))];
}

/**
 * Stores a finding once per episode: known by one of its keys; or one of its fields moving to the
 * same value within that value's run (a late snapshot showed the change began earlier: the finding
 * keeps its id and moves, its columns telling that field); else new.
 */
function storeFinding(repo: ReconcileIO, f: Finding, runEndOf: (field: string) => number, nowMs: number): { id: string; isNew: boolean } {
  for (const key of episodeKeys(f)) {
    const known = repo.findingByKey(key);
    if (known) return { id: known.id, isNew: false };
  }
  const evidence = JSON.stringify(f.evidence);
  for (const c of f.fields) {
    const earlier = repo.findingInRun(f.deviceId, c.field, canonical(c.to), f.observedAtMs, Math.min(runEndOf(c.field), Number.MAX_SAFE_INTEGER));
    if (earlier) {
      repo.moveFinding(earlier.id, f.key, f.observedAtMs, canonical(c.from), evidence);
      return { id: earlier.id, isNew: false };
    }
  }
  let id = findingIdFor(f.key);
  // A key once moved away may come back as a new episode: its first id is taken, so derive another.
  for (let n = 2; repo.findingById(id); n++) id = findingIdFor(`${f.key}#${n}`);
  repo.insertFinding({ ...findingColumns(f, id, nowMs), key: f.key, evidence });
  return { id, isNew: true };
}

/** A new finding's stored columns (besides its key and evidence), as stored and as its alert shows them. */
function findingColumns(f: Finding, id: string, nowMs: number) {
  return {
    id,
    deviceId: f.deviceId,
    deviceType: f.deviceType,
    userId: f.userId,
    kind: f.kind,
    field: f.field,
    fromValue: canonical(f.from),
    toValue: canonical(f.to),
    observedAtMs: f.observedAtMs,
    detectedAtMs: nowMs,
    actionId: f.actionId,
  };
}

function timelineLink(deviceId: string): string {
  return `/api/v1/devices/${encodeURIComponent(deviceId)}/timeline`;
}

/** The `interference.detected` alert of a new finding (logged as it is raised). */
function findingAlert(logger: Logger, f: Finding, id: string, nowMs: number): NewAlert {
  const view = findingView(findingColumns(f, id, nowMs), f.evidence);
  logger.warn({ finding: view }, 'interference detected');
  return {
    type: 'interference.detected',
    dedupeKey: `finding:${id}`,
    deviceId: f.deviceId,
    userId: f.userId,
    data: { finding: view, device: { id: f.deviceId, type: f.deviceType, userId: f.userId }, links: { timeline: timelineLink(f.deviceId) } },
    createdAtMs: nowMs,
  };
}

/** The `device.fault` alert of a transition the device's own problem explains (once per transition). */
function faultAlert(f: { deviceId: string; deviceType: string; userId: string; transition: ReconciledTransition }, nowMs: number): NewAlert {
  const t = f.transition;
  return {
    type: 'device.fault',
    dedupeKey: `device.fault:${f.deviceId}:${t.atMs}`,
    deviceId: f.deviceId,
    userId: f.userId,
    data: {
      device: { id: f.deviceId, type: f.deviceType, userId: f.userId },
      fault: { powerDeliveryState: t.after.context.powerDeliveryState ?? null, observedAt: new Date(t.atMs).toISOString(), field: t.field, from: t.from, to: t.to },
      links: { timeline: timelineLink(f.deviceId) },
    },
    createdAtMs: nowMs,
  };
}
