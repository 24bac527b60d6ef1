/**
 * The pure core of the interference reconciler (DESIGN.md "Interference: vocabulary and default
 * rules"). Everything here is a function of the stored history of one device (observations and
 * own actions) and `nowMs`: level-triggered, so re-running it after more, reordered or duplicated
 * data never contradicts an earlier run except by learning more, and every episode has one
 * deterministic finding key.
 */
import type { ActionOrigin, ActionRecord } from './actions.js';
import { byTime, controlsAt, controlTurnedTo, expectationContradicts, expectationMatches, type AutomationCause, type ControlAt, type ControlStatus } from './control.js';
import type { FieldChange } from './findings.js';
import { STALE_AFTER_MS } from './polling.js';
import { parseTimeMs } from './time.js';
import { findTransitions, isKnown, orderObservations, sameValue, type ObservationInput, type Transition } from './transitions.js';

export type { ObservationInput, Transition } from './transitions.js';
export type { FieldChange } from './findings.js';
export type { AutomationCause, ControlStatus } from './control.js';

/** Reconciler settings (DESIGN.md; env names in brackets). */
export interface InterferenceSettings {
  /** [INTERFERENCE_GRACE_SECONDS] wall-clock wait for a late action webhook before a finding; also the settle time after a confirmation. */
  graceMs: number;
  /** [ACTION_MATCH_WINDOW] how far from a CONFIRMED action's confirmation a matching change is still its doing. */
  matchWindowMs: number;
  /** [INTENT_TTL] how long a confirmed own action's value stays our intent. */
  intentTtlMs: number;
  /** Whether charging that starts at plug-in is natural (most cars do) or a finding. */
  plugInAutoStartIsNatural: boolean;
  /** How long after plug-in (device time) a charging start still counts as the plug-in's auto-start. */
  plugInWindowMs: number;
}

export const DEFAULT_INTERFERENCE_SETTINGS: Readonly<InterferenceSettings> = Object.freeze({
  graceMs: 60_000,
  matchWindowMs: 15 * 60_000,
  intentTtlMs: 24 * 3_600_000,
  plugInAutoStartIsNatural: true,
  plugInWindowMs: 10 * 60_000,
});

/** What the reconciler needs of an own action (gateway- or Enode-reported: both are ours). */
export interface ActionInput {
  id: string;
  /** When given, only actions for this device raise ACTION_CONFLICT and supersede each other. */
  targetId?: string;
  /** START | STOP for charging actions, else null. */
  kind: string | null;
  /** `{maxCurrent}`, HVAC `{mode, heatSetpoint?, coolSetpoint?, holdType}`, battery `{operationMode}`. */
  target: Record<string, unknown> | null;
  state: string;
  failureReasonType: string | null;
  createdAtMs: number;
  updatedAtMs: number;
  completedAtMs: number | null;
  origin: ActionOrigin;
}

/** Builds the reconciler's view of a stored action. */
export function toActionInput(a: ActionRecord): ActionInput {
  return {
    id: a.id,
    targetId: a.targetId,
    kind: a.kind,
    target: a.target,
    state: a.state,
    failureReasonType: a.failureReason?.type ?? null,
    createdAtMs: parseTimeMs(a.createdAt) ?? a.updatedAtMs,
    updatedAtMs: a.updatedAtMs,
    completedAtMs: parseTimeMs(a.completedAt) ?? null,
    origin: a.origin,
  };
}

export type NaturalCause =
  | 'plug_in'
  | 'unplug'
  | 'charge_complete'
  | 'no_power_or_fault'
  | 'smart_charging'
  | 'became_unreachable'
  /** An HVAC following its own schedule (holdType SCHEDULED before and after) moves mode and setpoints. */
  | 'hvac_schedule';

/** Why a transition happened, recorded on it so the timeline can show it. */
export type Explanation =
  | { kind: 'own_action'; actionId: string }
  | { kind: 'natural'; cause: NaturalCause; deviceProblem?: boolean }
  /**
   * Enode's other levels of control, the retailer's own automation: a schedule execution, a smart
   * charging plan, a smart override. `controlId` is the schedule, the plan or the override's
   * action; `actionId` the vendor action seen doing it, when one was.
   */
  | { kind: 'automation'; cause: AutomationCause; controlId: string | null; actionId?: string }
  | { kind: 'unexplained' };

/** The schedule or plan a finding's change went against, as its evidence shows it. */
export interface ControlEvidence {
  source: ControlStatus['source'];
  id: string | null;
  state: string;
  /** When the status in force took effect (epoch ms). */
  atMs: number;
  /** What it asked of the device at the change. */
  expected: Record<string, unknown>;
}

export type FindingKind = 'ACTION_OVERRIDDEN' | 'UNEXPECTED_CHANGE' | 'ACTION_CONFLICT';

/** One interference episode. `key` is deterministic: the same episode always has the same key. */
export interface Finding {
  key: string;
  deviceId: string;
  deviceType: string;
  userId: string;
  kind: FindingKind;
  /** The changed field (the first of `fields` in the type's field order); null for ACTION_CONFLICT. */
  field: string | null;
  from: unknown;
  to: unknown;
  /** Every controlled field the change moved at once, `field` first; empty for ACTION_CONFLICT. */
  fields: FieldChange[];
  /** Device time of the change; for ACTION_CONFLICT the cancellation time. */
  observedAtMs: number;
  /** Wall-clock ms from which the episode is a finding (end of its grace). */
  dueAtMs: number;
  /** The overridden or conflicted own action. */
  actionId: string | null;
  evidence: { before: ObservationInput | null; after: ObservationInput | null; fields: FieldChange[]; action?: ActionInput; control?: ControlEvidence };
}

export type TransitionStatus = 'explained' | 'waiting' | 'finding';

export type ReconciledTransition = Transition & {
  explanation: Explanation;
  status: TransitionStatus;
  findingKey: string | null;
  /** Wall-clock ms when an unexplained transition's episode becomes a finding; null when explained. */
  dueAtMs: number | null;
};

export interface ReconcileInput {
  deviceId: string;
  deviceType: string;
  userId: string;
  observations: readonly ObservationInput[];
  /** Own actions for this device (a paired device's charging actions may be included). */
  actions: readonly ActionInput[];
  /** Observations of the linked device (a charger's car, a car's charger): what a charger cannot tell itself. */
  partnerObservations?: readonly ObservationInput[];
  /** Schedule and smart charging statuses of this device (and, for charging, of its linked device). */
  controls?: readonly ControlStatus[];
  settings?: Partial<InterferenceSettings>;
  nowMs: number;
}

export interface ReconcileResult {
  transitions: ReconciledTransition[];
  findings: Finding[];
}

// ---------------------------------------------------------------------------------------------
// What an action sets

/**
 * The controlled values an action sets, by field. Fields it leaves to the device are absent:
 * follow-schedule sets only `holdType`, a HEAT hold no `coolSetpoint`.
 */
export function intendedValues(action: ActionInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (action.kind === 'START') out.charging = true;
  if (action.kind === 'STOP') out.charging = false;
  const t = action.target ?? {};
  const map: Array<[string, string]> = [
    ['maxCurrent', 'maxCurrent'],
    ['operationMode', 'operationMode'],
    ['mode', 'hvacMode'],
    ['holdType', 'holdType'],
    ['heatSetpoint', 'heatSetpoint'],
    ['coolSetpoint', 'coolSetpoint'],
  ];
  for (const [from, to] of map) if (isKnown(t[from])) out[to] = t[from];
  return out;
}

/** Thermostat fields move together: one HVAC command sets mode, hold and setpoints at once. */
const HVAC_FIELDS = new Set(['hvacMode', 'holdType', 'heatSetpoint', 'coolSetpoint']);

/** The intended entries that may account for a change of `field` it leaves open: HVAC siblings only. */
function companions(field: string, intended: Record<string, unknown>): Array<[string, unknown]> {
  return HVAC_FIELDS.has(field) ? Object.entries(intended).filter(([g]) => HVAC_FIELDS.has(g)) : [];
}

/**
 * Whether the action accounts for the transition's new value: equal to the value it sets, or, for
 * an HVAC field it leaves open, changed in the same step as a field it does set (follow-schedule
 * moves the setpoints with the hold). A charging or max-current command never accounts for the
 * other field.
 */
export function actionMatches(action: ActionInput, t: Transition): boolean {
  const intended = intendedValues(action);
  // One thermostat command sets mode, hold and setpoints together: a step that reaches some of
  // them but contradicts another (an owner's COOL hold while our HEAT hold is pending) is not ours.
  if (HVAC_FIELDS.has(t.field) && companions(t.field, intended).some(([g, v]) => isKnown(t.after.controlled[g]) && !sameValue(t.after.controlled[g], v))) {
    return false;
  }
  if (t.field in intended) return sameValue(intended[t.field], t.to);
  return companions(t.field, intended).some(
    ([g, v]) => sameValue(t.after.controlled[g], v) && !sameValue(t.before.controlled[g], t.after.controlled[g]),
  );
}

function confirmedAtMs(a: ActionInput): number {
  return a.completedAtMs ?? a.updatedAtMs;
}

/**
 * Whether the action did nothing to the device: CANCELLED as UNNECESSARY means Enode found the
 * device already holding the value and sent no command, so no change is its doing, whenever seen.
 */
export function didNothing(a: Pick<ActionInput, 'state' | 'failureReasonType'>): boolean {
  return a.state === 'CANCELLED' && a.failureReasonType === 'UNNECESSARY';
}

/**
 * Whether a change the device dates up to graceMs before the action's creation may still be its
 * doing (the device's clock behind Enode's). Only while the action may yet succeed (PENDING) or
 * once it did (CONFIRMED: Enode saw the device reach the value after it created the action).
 * Any other outcome (FAILED, CANCELLED for any reason, a state Enode may add) says Enode never saw
 * the device reach the value while the action lived, so a change dated before the action was
 * there already: someone else's.
 */
export function mayPrecedeCreation(a: Pick<ActionInput, 'state'>): boolean {
  return a.state === 'PENDING' || a.state === 'CONFIRMED';
}

/**
 * Whether the action was PENDING when the device changed, so that the change may be its doing.
 * Judged on the action's whole life, not its state now, so the explanation does not flip when the
 * action later resolves, except by what the outcome tells (didNothing, mayPrecedeCreation). A
 * command cannot act before it exists; an action still PENDING past Enode's give-up time explains
 * nothing more.
 */
export function pendingAt(a: ActionInput, atMs: number, s: InterferenceSettings): boolean {
  if (didNothing(a)) return false;
  const start = a.createdAtMs - (mayPrecedeCreation(a) ? s.graceMs : 0);
  const end = a.state === 'PENDING' ? a.createdAtMs + STALE_AFTER_MS : confirmedAtMs(a);
  return atMs >= start && atMs <= end;
}

function confirmedNear(a: ActionInput, atMs: number, s: InterferenceSettings): boolean {
  return a.state === 'CONFIRMED' && atMs >= a.createdAtMs - s.graceMs && Math.abs(atMs - confirmedAtMs(a)) <= s.matchWindowMs;
}

/** Newest first (ties by id), so every choice among actions is deterministic. */
function newestFirst(a: ActionInput, b: ActionInput): number {
  return b.createdAtMs - a.createdAtMs || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** The own action that explains the transition, if any: the newest that matches. */
export function explainingAction(t: Transition, actions: readonly ActionInput[], s: InterferenceSettings): ActionInput | null {
  const candidates = actions.filter((a) => (pendingAt(a, t.atMs, s) || confirmedNear(a, t.atMs, s)) && actionMatches(a, t));
  return candidates.sort(newestFirst)[0] ?? null;
}

// ---------------------------------------------------------------------------------------------
// Natural causes

const DEVICE_PROBLEM_STATES = new Set(['PLUGGED_IN:NO_POWER', 'PLUGGED_IN:FAULT']);

function isUnplugged(ctx: Record<string, unknown>): boolean {
  return ctx.isPluggedIn === false || ctx.powerDeliveryState === 'UNPLUGGED';
}

function isPlugged(ctx: Record<string, unknown>): boolean {
  return ctx.isPluggedIn === true || (typeof ctx.powerDeliveryState === 'string' && ctx.powerDeliveryState.startsWith('PLUGGED_IN'));
}

/** Device time of the earliest observation passing `test`, or null (a loop: histories may be long). */
function earliestAtMs(history: readonly ObservationInput[], test: (o: ObservationInput) => boolean): number | null {
  let best: number | null = null;
  for (const o of history) if (test(o) && (best === null || o.atMs < best)) best = o.atMs;
  return best;
}

function latestAtMs(history: readonly ObservationInput[], test: (o: ObservationInput) => boolean): number | null {
  let best: number | null = null;
  for (const o of history) if (test(o) && (best === null || o.atMs > best)) best = o.atMs;
  return best;
}

/** Charge complete: full, at or above the limit (null limit means 100, per Enode), or COMPLETE. */
function isChargeComplete(ctx: Record<string, unknown>): boolean {
  if (ctx.isFullyCharged === true || ctx.powerDeliveryState === 'PLUGGED_IN:COMPLETE') return true;
  const limit = typeof ctx.chargeLimit === 'number' ? ctx.chargeLimit : 100;
  return typeof ctx.batteryLevel === 'number' && ctx.batteryLevel >= limit;
}

/**
 * Whether charging started as the auto-start of a plug-in: plugged now and unplugged (or still
 * initialising) in the previous snapshot, or plugged in at most plugInWindowMs before, per the
 * history (cars often report the plug first and the charging a moment later). Order-independent.
 */
function startedAtPlugIn(t: Transition, history: readonly ObservationInput[], s: InterferenceSettings, controls: readonly ControlStatus[] = []): boolean {
  if (!isPlugged(t.after.context)) return false;
  if (isUnplugged(t.before.context) || t.before.context.powerDeliveryState === 'PLUGGED_IN:INITIALIZING') return true;
  const lastUnpluggedMs = latestAtMs(history, (o) => o.atMs < t.atMs && isUnplugged(o.context));
  if (lastUnpluggedMs === null) return false;
  const pluggedAtMs = earliestAtMs(history, (o) => o.atMs > lastUnpluggedMs && o.atMs <= t.atMs && isPlugged(o.context));
  if (pluggedAtMs === null || t.atMs - pluggedAtMs > s.plugInWindowMs) return false;
  if (controlAgainst(t, controls) === null) return true;
  // A schedule or plan asks for no charging: a car's auto-start comes with the plug-in (within the
  // grace), not minutes later; and once the session charged and the control stopped it, starting
  // again is no auto-start of the plug-in (the car did that once), it is someone's doing.
  if (t.atMs - pluggedAtMs > s.graceMs) return false;
  return !history.some((o) => o.atMs >= pluggedAtMs && o.atMs < t.atMs && o.controlled.charging === true);
}

/** How far past a charger's stop its linked car's report may come and still tell why. */
const PARTNER_SLACK_MS = 5 * 60_000;

function chargingCause(
  t: Transition,
  history: readonly ObservationInput[],
  s: InterferenceSettings,
  partners: readonly ObservationInput[],
  controls: readonly ControlStatus[],
): Explanation | null {
  const after = t.after.context;
  if (DEVICE_PROBLEM_STATES.has(after.powerDeliveryState as string)) return { kind: 'natural', cause: 'no_power_or_fault', deviceProblem: true };
  // The vehicle's policy flag says only that smart charging is on, not what its plan asks: once
  // its statuses are stored (user:vehicle:smart-charging-status-updated) they judge instead.
  const planKnown = controls.some((c) => c.source === 'smart_charging');
  if (!planKnown && (t.after.smartChargingActive === true || t.before.smartChargingActive === true)) return { kind: 'natural', cause: 'smart_charging' };
  if (t.to === true) {
    return s.plugInAutoStartIsNatural && startedAtPlugIn(t, history, s, controls) ? { kind: 'natural', cause: 'plug_in' } : null;
  }
  if (isUnplugged(after)) return { kind: 'natural', cause: 'unplug' };
  if (isChargeComplete(after)) return { kind: 'natural', cause: 'charge_complete' };
  // A device that drops off the network in this very step stops reporting a live session; no command moved it.
  if (after.isReachable === false && t.before.context.isReachable !== false) return { kind: 'natural', cause: 'became_unreachable' };
  // A charger reports a stopped session alike whether its car finished or someone stopped it (its
  // states have no COMPLETE): the linked car's own report from the same moment tells which.
  const partnerNow = partners.filter((o) => o.atMs >= t.before.atMs && o.atMs <= t.atMs + PARTNER_SLACK_MS);
  if (partnerNow.some((o) => isUnplugged(o.context))) return { kind: 'natural', cause: 'unplug' };
  if (partnerNow.some((o) => isChargeComplete(o.context))) return { kind: 'natural', cause: 'charge_complete' };
  if (guestSession(t) && tapered(t, history)) return { kind: 'natural', cause: 'charge_complete' };
  return null;
}

/** A charger session with a car Enode does not know: plugged in, no linked vehicle before or after. */
function guestSession(t: Transition): boolean {
  const charger = 'pluggedInVehicleId' in t.after.context || 'pluggedInVehicleId' in t.before.context;
  return charger && t.before.context.pluggedInVehicleId == null && t.after.context.pluggedInVehicleId == null && isPlugged(t.after.context);
}

/** A full car's charging power tapers before it stops: the last rate before a stop at most this share of the session's peak. */
const TAPERED_SHARE = 0.5;

/**
 * Whether a charger's power had tapered before charging stopped: a charger has no battery level
 * and no COMPLETE state, so a car filling up shows only as the delivered power (`chargeRate`)
 * falling before the stop. The peak is the highest rate since the session's plug-in in `history`.
 */
function tapered(t: Transition, history: readonly ObservationInput[]): boolean {
  const last = t.before.context.chargeRate;
  if (typeof last !== 'number') return false;
  const sessionStart = latestAtMs(history, (o) => o.atMs < t.atMs && isUnplugged(o.context)) ?? Number.NEGATIVE_INFINITY;
  let peak = 0;
  for (const o of history) {
    const rate = o.context.chargeRate;
    if (o.atMs > sessionStart && o.atMs < t.atMs && typeof rate === 'number' && rate > peak) peak = rate;
  }
  return peak > 0 && last <= peak * TAPERED_SHARE;
}

const SCHEDULE_DRIVEN = new Set(['hvacMode', 'heatSetpoint', 'coolSetpoint']);

/** The natural cause of a transition, if any (DESIGN.md: plug-in, unplug, complete, no power/fault, smart charging). */
export function naturalCause(
  deviceType: string,
  t: Transition,
  history: readonly ObservationInput[],
  s: InterferenceSettings,
  partners: readonly ObservationInput[] = [],
  controls: readonly ControlStatus[] = [],
): Explanation | null {
  if (t.field === 'charging') return chargingCause(t, history, s, partners, controls);
  if (deviceType === 'hvac' && SCHEDULE_DRIVEN.has(t.field)) {
    // On the schedule just before the change, not merely when the old value was last seen: a
    // setpoint is unknown (null) while the HVAC is off, and a hold may have begun and ended since.
    let previous = t.before;
    for (const o of history) if (o.atMs < t.atMs && o.atMs > previous.atMs) previous = o;
    const scheduled = previous.controlled.holdType === 'SCHEDULED' && t.after.controlled.holdType === 'SCHEDULED';
    return scheduled ? { kind: 'natural', cause: 'hvac_schedule' } : null;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Enode's other levels of control: schedules, smart charging plans, smart overrides

const AUTOMATION_OF_SOURCE: Record<ControlStatus['source'], AutomationCause> = { schedule: 'enode_schedule', smart_charging: 'smart_charging_plan' };

/** The instants around a change at which a control's expectation is read: the change ± grace, and every status or announced flip between. */
function instantsAround(atMs: number, controls: readonly ControlStatus[], s: InterferenceSettings): number[] {
  const from = atMs - s.graceMs;
  const until = atMs + s.graceMs;
  const out = new Set([atMs, from, until]);
  for (const c of controls) {
    if (c.atMs > from && c.atMs < until) out.add(c.atMs);
    for (const u of c.upcoming) if (u.atMs > from && u.atMs < until) out.add(u.atMs);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The own automation that accounts for a change, if any:
 * - a smart override created around a charging start (from grace before it to matchWindow after
 *   its creation, not after it ended);
 * - with the vendor action Enode sent for it seen (`withAction`): an active schedule or smart
 *   charging plan that asked for the new value within grace of the change (device and Enode clocks
 *   differ; a status may take effect a moment after the device moved);
 * - without it (its webhook lost): a schedule or plan that turned to the new value within
 *   matchWindow before the change (up to grace after) — an execution, not a mere expectation.
 */
export function automationFor(t: Transition, controls: readonly ControlStatus[], s: InterferenceSettings, withAction = false): Explanation | null {
  if (controls.length === 0) return null;
  if (t.field === 'charging' && t.to === true) {
    for (const c of [...controls].sort(byTime)) {
      const o = c.override;
      if (!o || t.atMs < o.createdAtMs - s.graceMs || t.atMs > o.createdAtMs + s.matchWindowMs) continue;
      if (o.endedAtMs !== null && t.atMs > o.endedAtMs + s.graceMs) continue;
      return { kind: 'automation', cause: 'smart_override', controlId: o.actionId };
    }
  }
  if (!withAction) {
    const turned = controlTurnedTo(controls, t.field, t.to, t.after.controlled, t.atMs - s.matchWindowMs, t.atMs + s.graceMs);
    return turned ? { kind: 'automation', cause: AUTOMATION_OF_SOURCE[turned.source], controlId: turned.id } : null;
  }
  for (const at of instantsAround(t.atMs, controls, s)) {
    for (const c of controlsAt(controls, at)) {
      if (c.status.active && expectationMatches(c.expected, t.field, t.to, t.after.controlled)) {
        return { kind: 'automation', cause: AUTOMATION_OF_SOURCE[c.status.source], controlId: c.status.id };
      }
    }
  }
  return null;
}

/** The active schedule or plan that asked for another value of the field at the change, if any. */
export function controlAgainst(t: Pick<Transition, 'field' | 'to' | 'atMs'>, controls: readonly ControlStatus[]): ControlAt | null {
  if (controls.length === 0) return null;
  return controlsAt(controls, t.atMs).find((c) => c.status.active && !overriding(c.status, t.atMs) && expectationContradicts(c.expected, t.field, t.to)) ?? null;
}

function overriding(c: ControlStatus, atMs: number): boolean {
  const o = c.override;
  return o !== null && o.createdAtMs <= atMs && (o.endedAtMs === null || o.endedAtMs > atMs);
}

/**
 * Explains a transition: an own action or own automation first (the most specific account), then
 * a natural cause, else unexplained. A change the gateway's own action explains stays
 * `own_action`; one that a schedule, plan or override asked for is `automation`, naming the
 * vendor action Enode created for it when one was seen. `history` (any order) lets a charging start
 * a little after plug-in count as the plug-in's auto-start.
 */
export function explainTransition(
  deviceType: string,
  transition: Transition,
  actions: readonly ActionInput[],
  settings: InterferenceSettings = DEFAULT_INTERFERENCE_SETTINGS,
  history: readonly ObservationInput[] = [],
  partners: readonly ObservationInput[] = [],
  controls: readonly ControlStatus[] = [],
): Explanation {
  const own = explainingAction(transition, actions, settings) ?? reachedIntent(transition, actions, history, settings);
  if (own?.origin === 'gateway') return { kind: 'own_action', actionId: own.id };
  const automation = automationFor(transition, controls, settings, own !== null);
  if (automation) return own && automation.kind === 'automation' ? { ...automation, actionId: own.id } : automation;
  if (own) return { kind: 'own_action', actionId: own.id };
  return naturalCause(deviceType, transition, history, settings, partners, controls) ?? { kind: 'unexplained' };
}

// ---------------------------------------------------------------------------------------------
// Intents

/** A confirmed own action's values, in force over [fromMs, untilMs) of device time. */
export interface Intent {
  action: ActionInput;
  values: Record<string, unknown>;
  fromMs: number;
  untilMs: number;
}

/**
 * Whether the action establishes an intent: CONFIRMED, or CANCELLED as UNNECESSARY (the device
 * already held the value: the command re-asserted it rather than being dropped).
 */
function setsIntent(a: ActionInput): boolean {
  return a.state === 'CONFIRMED' || (a.state === 'CANCELLED' && a.failureReasonType === 'UNNECESSARY');
}

/**
 * The intent in force at device time `atMs`: only the newest own action created by then can hold
 * one (the next own action ends the previous intent, whatever becomes of it). It starts graceMs
 * after confirmation (the device settles) and ends at INTENT_TTL or, for plug-in devices, at the
 * first unplug seen after confirmation.
 */
export function intentAt(atMs: number, actions: readonly ActionInput[], history: readonly ObservationInput[], s: InterferenceSettings): Intent | null {
  const latest = actions.filter((a) => a.createdAtMs <= atMs).sort(newestFirst)[0];
  if (!latest || !setsIntent(latest)) return null;
  const values = intendedValues(latest);
  if (Object.keys(values).length === 0) return null;
  const confirmedMs = confirmedAtMs(latest);
  const unplugMs = earliestAtMs(history, (o) => o.atMs > confirmedMs && isUnplugged(o.context)) ?? Number.POSITIVE_INFINITY;
  const intent = { action: latest, values, fromMs: confirmedMs + s.graceMs, untilMs: Math.min(confirmedMs + s.intentTtlMs, unplugMs) };
  return atMs >= intent.fromMs && atMs < intent.untilMs ? intent : null;
}

/**
 * The confirmed own action whose effect the transition is the first sight of: the device was last
 * seen with the old value before the action was confirmed, and next with the action's value, while
 * its intent holds (no newer own action, within INTENT_TTL, no unplug since). That is our command
 * reported late (the snapshots in between were lost), not a third party returning to our value.
 */
export function reachedIntent(t: Transition, actions: readonly ActionInput[], history: readonly ObservationInput[], s: InterferenceSettings): ActionInput | null {
  const intent = intentAt(t.atMs, actions, history, { ...s, graceMs: 0 });
  // An UNNECESSARY cancellation holds an intent but sent nothing: the device had the value before it.
  if (intent === null || didNothing(intent.action) || !(t.field in intent.values) || !actionMatches(intent.action, t)) return null;
  return t.before.atMs <= confirmedAtMs(intent.action) + s.graceMs ? intent.action : null;
}

/**
 * Whether an unexplained transition leaves the intent: its field moves away from the intended
 * value, or (an HVAC field the intent leaves open) it moves in the same step in which an intended
 * HVAC field leaves its value.
 */
export function leavesIntent(t: Transition, intent: Intent): boolean {
  if (t.field in intent.values) return !sameValue(t.to, intent.values[t.field]);
  return companions(t.field, intent.values).some(([g, v]) => {
    const now = t.after.controlled[g];
    return sameValue(t.before.controlled[g], v) && isKnown(now) && !sameValue(now, v);
  });
}

// ---------------------------------------------------------------------------------------------
// Reconcile

/**
 * The finding key of a transition episode: device, field and device time of the change. An
 * episode that moves several fields is keyed by its first field (type order), so a one-field
 * episode keeps the key it always had.
 */
export function transitionFindingKey(deviceId: string, t: Pick<Transition, 'field' | 'atMs'>): string {
  return `${deviceId}:${t.field}:${t.atMs}`;
}

/** The finding key of a conflicted own action. */
export function conflictFindingKey(deviceId: string, actionId: string): string {
  return `${deviceId}:conflict:${actionId}`;
}

interface Ctx {
  input: ReconcileInput;
  s: InterferenceSettings;
  history: ObservationInput[];
}

/**
 * One change of a device: its unexplained transitions at one device instant (the same `after`
 * snapshot), in the type's field order. An HVAC hold moves mode, hold type and setpoints in one
 * step: one episode, one finding listing every field.
 */
interface Episode {
  atMs: number;
  transitions: Transition[];
  /** Wall clock, from the first evidence of any of its fields: a late action webhook may still explain the change. */
  dueAtMs: number;
}

function episodeFinding(ctx: Ctx, e: Episode): Finding {
  const { input, s, history } = ctx;
  const primary = e.transitions[0] as Transition;
  const intent = intentAt(e.atMs, input.actions, history, s);
  const overridden = intent !== null && e.transitions.some((t) => leavesIntent(t, intent));
  const fields = e.transitions.map((t) => ({ field: t.field, from: t.from, to: t.to }));
  const controls = input.controls ?? [];
  let against: ControlAt | null = null;
  for (const t of e.transitions) if ((against = controlAgainst(t, controls))) break;
  const control: ControlEvidence | undefined = against
    ? { source: against.status.source, id: against.status.id, state: against.status.state, atMs: against.status.atMs, expected: against.expected }
    : undefined;
  return {
    key: transitionFindingKey(input.deviceId, primary),
    deviceId: input.deviceId,
    deviceType: input.deviceType,
    userId: input.userId,
    kind: overridden ? 'ACTION_OVERRIDDEN' : 'UNEXPECTED_CHANGE',
    field: primary.field,
    from: primary.from,
    to: primary.to,
    fields,
    observedAtMs: e.atMs,
    dueAtMs: e.dueAtMs,
    actionId: overridden ? intent.action.id : null,
    evidence: { before: primary.before, after: primary.after, fields, ...(overridden ? { action: intent.action } : {}), ...(control ? { control } : {}) },
  };
}

/**
 * Every transition with its explanation and status, and one finding per due episode: the
 * unexplained transitions of one device instant wait together and become one finding together.
 */
function reconcileTransitions(ctx: Ctx): { transitions: ReconciledTransition[]; findings: Finding[] } {
  const { input, s, history } = ctx;
  const judged = findTransitions(input.deviceType, history).map((t) => ({
    t,
    explanation: explainTransition(input.deviceType, t, input.actions, s, history, input.partnerObservations ?? [], input.controls ?? []),
  }));
  const episodes = new Map<number, Episode>();
  for (const { t, explanation } of judged) {
    if (explanation.kind !== 'unexplained') continue;
    const e = episodes.get(t.atMs);
    if (e) {
      e.transitions.push(t);
      e.dueAtMs = Math.min(e.dueAtMs, t.receivedAtMs + s.graceMs);
    } else episodes.set(t.atMs, { atMs: t.atMs, transitions: [t], dueAtMs: t.receivedAtMs + s.graceMs });
  }
  const findings = new Map<number, Finding>();
  for (const e of episodes.values()) if (input.nowMs >= e.dueAtMs) findings.set(e.atMs, episodeFinding(ctx, e));
  const transitions = judged.map(({ t, explanation }): ReconciledTransition => {
    if (explanation.kind !== 'unexplained') return { ...t, explanation, status: 'explained', findingKey: null, dueAtMs: null };
    const dueAtMs = (episodes.get(t.atMs) as Episode).dueAtMs;
    const finding = findings.get(t.atMs);
    return { ...t, explanation, status: finding ? 'finding' : 'waiting', findingKey: finding?.key ?? null, dueAtMs };
  });
  return { transitions, findings: [...findings.values()] };
}

function sameTarget(a: ActionInput, b: ActionInput): boolean {
  return a.targetId === undefined || b.targetId === undefined || a.targetId === b.targetId;
}

/**
 * ACTION_CONFLICT: an own action CANCELLED with CONFLICT means a newer action for the target was
 * created. If none of ours was created by the end of the grace after the cancellation, someone else
 * sent it. Decided only once that grace has passed (wall clock), since our newer action's webhook
 * may be late.
 */
export function conflictFindings(input: ReconcileInput, s: InterferenceSettings): Finding[] {
  const out: Finding[] = [];
  for (const a of input.actions) {
    if (a.state !== 'CANCELLED' || a.failureReasonType !== 'CONFLICT') continue;
    if (a.targetId !== undefined && a.targetId !== input.deviceId) continue;
    const dueAtMs = confirmedAtMs(a) + s.graceMs;
    if (input.nowMs < dueAtMs) continue;
    const ours = input.actions.some((b) => b.id !== a.id && sameTarget(a, b) && b.createdAtMs >= a.createdAtMs && b.createdAtMs <= dueAtMs);
    if (ours) continue;
    out.push({
      key: conflictFindingKey(input.deviceId, a.id),
      deviceId: input.deviceId,
      deviceType: input.deviceType,
      userId: input.userId,
      kind: 'ACTION_CONFLICT',
      field: null,
      from: null,
      to: null,
      fields: [],
      observedAtMs: confirmedAtMs(a),
      dueAtMs,
      actionId: a.id,
      evidence: { before: null, after: null, fields: [], action: a },
    });
  }
  return out;
}

/**
 * Reconciles one device from its whole stored history at `nowMs`: every transition with its
 * explanation and status (explained, waiting for its grace, or a finding), and the findings, sorted
 * by time then key. Pure and level-triggered: the result depends only on the set of observations
 * (not their order or multiplicity), the actions and `nowMs`.
 */
export function reconcileDevice(input: ReconcileInput): ReconcileResult {
  const s: InterferenceSettings = { ...DEFAULT_INTERFERENCE_SETTINGS, ...input.settings };
  const ctx: Ctx = { input, s, history: orderObservations(input.observations) };
  const judged = reconcileTransitions(ctx);
  const findings = [...judged.findings, ...conflictFindings(input, s)];
  findings.sort((a, b) => a.observedAtMs - b.observedAtMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { transitions: judged.transitions, findings };
}
