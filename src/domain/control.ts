/**
 * Enode's other two levels of control (DESIGN.md "Interference"): Schedules and Smart Charging.
 * Both are this client's own automation: Enode sends the device commands on the retailer's behalf.
 * This module turns their status payloads (`user:schedule:execution-updated`,
 * `user:vehicle:smart-charging-status-updated`, or the same objects read through the API) into one
 * shape, and answers what a device was expected to do at a time. Pure: no I/O, no clock.
 */
import { isKnown, sameValue } from './transitions.js';
import { parseTimeMs } from './time.js';

export type ControlSource = 'schedule' | 'smart_charging';

/** How an own automation explains a change (the transition's explanation `cause`). */
export type AutomationCause = 'enode_schedule' | 'smart_charging_plan' | 'smart_override';

/** A smart override: charge now, whatever the schedule or plan says, until charging stops or it is ended. */
export interface ControlOverride {
  createdAtMs: number;
  endedAtMs: number | null;
  /** The vendor action that started charging (Enode's `vendorActionId`). */
  actionId: string | null;
  targetId: string;
}

/** One status of a schedule or of a vehicle's smart charging, as the reconciler and the gateway read it. */
export interface ControlStatus {
  source: ControlSource;
  /** The schedule's id; for smart charging the plan's id (null when there is no plan). */
  id: string | null;
  /** What the status is grouped by: the schedule id, or the vehicle for smart charging (plans come and go). */
  subjectId: string;
  /** The controlled device: the schedule's target, or the vehicle. */
  deviceId: string;
  userId: string;
  /** Enode's state (ScheduleState or SmartChargeState), as sent. */
  state: string;
  /** When this status took effect (schedule `changedAt`, smart charging `stateChangedAt`), epoch ms. */
  atMs: number;
  /** When Enode last updated it (smart charging `updatedAt`), epoch ms: orders statuses of one `atMs`. */
  updatedAtMs?: number;
  /** Whether it controls the device: an enabled schedule not INACTIVE, a plan executing (not overridden). */
  active: boolean;
  /** The controlled values it asks for (reconciler field names); empty when it asks nothing. */
  expected: Record<string, unknown>;
  /** Later changes of `expected` it already announces, oldest first. */
  upcoming: Array<{ atMs: number; expected: Record<string, unknown> }>;
  override: ControlOverride | null;
  /**
   * What a CHARGE schedule's expectation is made of (`isChargingExpectedParts`): the schedule's own
   * rule (`shouldCharge`) and whether the device is plugged in. Enode acts when its rule turns; a
   * `needsCharge` that follows the device (a charger with a car Enode does not know) does not.
   */
  basis?: { shouldCharge: boolean | null; isPluggedIn: boolean | null };
}

/**
 * Not Enode's: the state enode-sync records for a schedule Enode answers 404 for (deleted without a
 * last status reaching us), so that its last status stops being in force.
 */
export const DELETED_SCHEDULE_STATE = 'DELETED';

/** A payload we cannot read as a status; the event is then kept as a system event only. */
export class InvalidControlStatusError extends Error {
  override name = 'InvalidControlStatusError';
}

type Obj = Record<string, unknown>;

function obj(value: unknown, what: string): Obj {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidControlStatusError(`${what}: not an object`);
  return value as Obj;
}

function str(o: Obj, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw new InvalidControlStatusError(`${what}.${key}: not a string`);
  return v;
}

function time(o: Obj, key: string, what: string): number {
  const ms = parseTimeMs(o[key] as string | null | undefined);
  if (ms === undefined) throw new InvalidControlStatusError(`${what}.${key}: not a date-time`);
  return ms;
}

function optionalTime(v: unknown): number | null {
  return typeof v === 'string' ? (parseTimeMs(v) ?? null) : null;
}

function parseOverride(value: unknown): ControlOverride | null {
  if (value === null || value === undefined || typeof value !== 'object') return null;
  const o = value as Obj;
  const createdAtMs = optionalTime(o.createdAt);
  if (createdAtMs === null || typeof o.targetId !== 'string') return null;
  return {
    createdAtMs,
    endedAtMs: optionalTime(o.endedAt),
    actionId: typeof o.vendorActionId === 'string' ? o.vendorActionId : null,
    targetId: o.targetId,
  };
}

/** A TemperatureTargetState → the HVAC's controlled fields (domain/devices.ts names). */
function temperatureExpected(value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object') return {};
  const t = value as Obj;
  const out: Record<string, unknown> = {};
  if (isKnown(t.mode)) out.hvacMode = t.mode;
  if (isKnown(t.holdType)) out.holdType = t.holdType;
  if (isKnown(t.heatSetpoint)) out.heatSetpoint = t.heatSetpoint;
  if (isKnown(t.coolSetpoint)) out.coolSetpoint = t.coolSetpoint;
  return out;
}

/**
 * `user:schedule:execution-updated`: `status` (ChargeScheduleStatus or TemperatureScheduleStatus)
 * and `schedule` (its target and whether it is enabled). Throws InvalidControlStatusError when a
 * field the rules need is missing.
 */
export function scheduleStatus(status: unknown, schedule: unknown, userId: string): ControlStatus {
  const s = obj(status, 'status');
  const sch = obj(schedule, 'schedule');
  const id = str(s, 'scheduleId', 'status');
  const state = str(s, 'state', 'status');
  const deviceId = str(sch, 'targetId', 'schedule');
  const enabled = sch.isEnabled !== false;
  const upcomingRaw = Array.isArray(s.upcomingTransitions) ? (s.upcomingTransitions as unknown[]) : [];
  let expected: Record<string, unknown>;
  const upcoming: ControlStatus['upcoming'] = [];
  if (s.scheduleType === 'TEMPERATURE') {
    expected = temperatureExpected(s.expected);
    for (const u of upcomingRaw) {
      const at = optionalTime((u as Obj | null)?.at);
      if (at !== null) upcoming.push({ atMs: at, expected: temperatureExpected((u as Obj).target) });
    }
  } else {
    expected = typeof s.isChargingExpected === 'boolean' ? { charging: s.isChargingExpected } : {};
    for (const u of upcomingRaw) {
      const at = optionalTime((u as Obj | null)?.at);
      const should = (u as Obj | null)?.shouldCharge;
      if (at !== null && typeof should === 'boolean') upcoming.push({ atMs: at, expected: { charging: should } });
    }
  }
  upcoming.sort((a, b) => a.atMs - b.atMs);
  const parts = s.scheduleType === 'TEMPERATURE' ? null : (s.isChargingExpectedParts as Obj | null | undefined);
  const flag = (v: unknown) => (typeof v === 'boolean' ? v : null);
  return {
    ...(parts && typeof parts === 'object' ? { basis: { shouldCharge: flag(parts.shouldCharge), isPluggedIn: flag(parts.isPluggedIn) } } : {}),
    source: 'schedule',
    id,
    subjectId: id,
    deviceId,
    userId,
    state,
    atMs: time(s, 'changedAt', 'status'),
    active: enabled && !state.startsWith('INACTIVE'),
    expected,
    upcoming,
    override: parseOverride(s.smartOverride),
  };
}

/** What a smart charging state asks of the vehicle's charging. */
function smartChargingExpected(state: string): Record<string, unknown> {
  switch (state) {
    case 'PLAN:EXECUTING:STARTING':
    case 'PLAN:EXECUTING:STARTED':
    case 'PLAN:EXECUTING:START_FAILED':
    case 'PLAN:EXECUTING:CHARGE_INTERRUPTED':
      return { charging: true };
    case 'PLAN:EXECUTING:STOPPING':
    case 'PLAN:EXECUTING:STOPPED':
    case 'PLAN:EXECUTING:STOPPED:AWAITING_PRICES':
    case 'PLAN:EXECUTING:STOP_FAILED':
      return { charging: false };
    default:
      // OVERRIDDEN (the override's), CONSIDERING, DISABLED, FULLY_CHARGED, UNKNOWN, PLAN:ENDED:*.
      return {};
  }
}

/** `user:vehicle:smart-charging-status-updated`'s `smartChargingStatus` (or GET /vehicles/{id}/smart-charging-status). */
export function smartChargingStatus(value: unknown, fallbackUserId?: string): ControlStatus {
  const s = obj(value, 'smartChargingStatus');
  const deviceId = str(s, 'vehicleId', 'smartChargingStatus');
  const userId = typeof s.userId === 'string' && s.userId !== '' ? s.userId : fallbackUserId;
  if (!userId) throw new InvalidControlStatusError('smartChargingStatus.userId: not a string');
  const state = str(s, 'state', 'smartChargingStatus');
  const updatedAtMs = optionalTime(s.updatedAt);
  const atMs = optionalTime(s.stateChangedAt) ?? time(s, 'updatedAt', 'smartChargingStatus');
  const plan = s.plan !== null && typeof s.plan === 'object' ? (s.plan as Obj) : null;
  const override = parseOverride(s.smartOverride);
  const expected = smartChargingExpected(state);
  const upcoming: ControlStatus['upcoming'] = [];
  // A plan that stopped charging announces when it starts again.
  const startAtMs = optionalTime(plan?.startAt);
  if (expected.charging === false && startAtMs !== null && startAtMs > atMs) upcoming.push({ atMs: startAtMs, expected: { charging: true } });
  const overriding = override !== null && override.endedAtMs === null;
  return {
    source: 'smart_charging',
    id: typeof plan?.id === 'string' ? plan.id : null,
    subjectId: deviceId,
    deviceId,
    userId,
    state,
    atMs,
    ...(updatedAtMs !== null ? { updatedAtMs } : {}),
    active: state.startsWith('PLAN:EXECUTING') && state !== 'PLAN:EXECUTING:OVERRIDDEN' && !overriding,
    expected,
    upcoming,
    override,
  };
}

/**
 * The order of a control's statuses, a function of their content only (so that every reader,
 * whatever order it read them in, takes the same one as in force): time of effect, then the time
 * Enode last updated it (an override or a new plan may come without a state change), then the
 * content itself.
 */
export function byTime(a: ControlStatus, b: ControlStatus): number {
  const d = a.atMs - b.atMs || (a.updatedAtMs ?? a.atMs) - (b.updatedAtMs ?? b.atMs);
  if (d !== 0) return d;
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A schedule or smart charging at one instant: the status in force and what it expects then. */
export interface ControlAt {
  status: ControlStatus;
  expected: Record<string, unknown>;
}

/**
 * Each control of the device at `atMs` (one per schedule, one for smart charging): the newest
 * status taken effect by then, with the expectation its announced transitions reached. Order-free:
 * a function of the set of statuses.
 */
export function controlsAt(statuses: readonly ControlStatus[], atMs: number): ControlAt[] {
  const latest = new Map<string, ControlStatus>();
  for (const s of statuses) {
    if (s.atMs > atMs) continue;
    const key = `${s.source}\n${s.subjectId}\n${s.deviceId}`;
    const held = latest.get(key);
    if (!held || byTime(held, s) < 0) latest.set(key, s);
  }
  const out: ControlAt[] = [];
  for (const status of latest.values()) {
    let expected = status.expected;
    for (const u of status.upcoming) if (u.atMs <= atMs) expected = { ...expected, ...u.expected };
    out.push({ status, expected });
  }
  return out.sort((a, b) => byTime(a.status, b.status));
}

/** Thermostat fields one schedule target sets together. */
const HVAC_FIELDS = new Set(['hvacMode', 'holdType', 'heatSetpoint', 'coolSetpoint']);

/**
 * Whether an expectation accounts for a field's new value: equal to what it asks, or, for an HVAC
 * field it leaves open, the step reached every HVAC field it does ask (a schedule's HEAT target
 * leaves coolSetpoint to the device).
 */
export function expectationMatches(expected: Record<string, unknown>, field: string, to: unknown, after: Record<string, unknown>): boolean {
  const siblings = HVAC_FIELDS.has(field) ? Object.entries(expected).filter(([g]) => HVAC_FIELDS.has(g)) : [];
  // One thermostat target sets mode, hold and setpoints together: a step that contradicts any of
  // them (an owner's hold of another mode or setpoint) is not the schedule's.
  if (siblings.some(([g, v]) => isKnown(after[g]) && !sameValue(after[g], v))) return false;
  if (field in expected) return sameValue(expected[field], to);
  return siblings.length > 0 && siblings.every(([g, v]) => sameValue(after[g], v));
}

/**
 * States in which a status reports the control acting on the device (a schedule executing or
 * aligned, a plan starting or stopping): a change towards what such a status asks, near its time,
 * is its doing. MISALIGNED, a failed start or stop, an interruption report someone else's change.
 */
const ACTING_STATES = new Set([
  'ALIGNED',
  'PENDING',
  'PLAN:EXECUTING:STARTING',
  'PLAN:EXECUTING:STARTED',
  'PLAN:EXECUTING:STOPPING',
  'PLAN:EXECUTING:STOPPED',
  'PLAN:EXECUTING:STOPPED:AWAITING_PRICES',
]);

/**
 * Whether a schedule's own rule turned (`shouldCharge`); true when either side does not say. A
 * plug-in is left out: a start at plug-in is the plug-in's (natural), and between two statuses
 * we hold the device may have been plugged in with the status that said so lost.
 */
function basisTurned(before: ControlStatus['basis'], now: ControlStatus['basis']): boolean {
  if (!before || !now || before.shouldCharge === null || now.shouldCharge === null) return true;
  return before.shouldCharge !== now.shouldCharge;
}

/** States that report the control sending its command now: evidence of acting by themselves. */
const EXECUTING_NOW = new Set(['PENDING', 'PLAN:EXECUTING:STARTING', 'PLAN:EXECUTING:STOPPING']);

/**
 * Where a control turned to asking `field = to` within [fromMs, untilMs]: a status of an acting
 * state taking effect then, or a flip the status in force announced for then. Null when none did:
 * a control that merely still asks for the value does not account for a change long after it
 * acted (it acts when its expectation turns; a third party may move the device at any time).
 */
export function controlTurnedTo(
  statuses: readonly ControlStatus[],
  field: string,
  to: unknown,
  after: Record<string, unknown>,
  fromMs: number,
  untilMs: number,
): ControlStatus | null {
  const sameControl = (a: ControlStatus, b: ControlStatus) => a.source === b.source && a.subjectId === b.subjectId && a.deviceId === b.deviceId;
  // In their own order, so that the answer (which control, named in the explanation) is the same whatever order they were read in.
  const ordered = [...statuses].sort(byTime);
  for (const s of ordered) {
    if (s.atMs < fromMs || s.atMs > untilMs || !s.active || !ACTING_STATES.has(s.state) || !expectationMatches(s.expected, field, to, after)) continue;
    // A turn: the control is executing now (PENDING, STARTING, STOPPING), or it asked otherwise
    // just before. A status that only reports the device back where the control already wanted it
    // (MISALIGNED → ALIGNED), or the first we know of the control, says nothing of who moved it.
    if (EXECUTING_NOW.has(s.state)) return s;
    const before = controlsAt(statuses, s.atMs - 1).find((c) => sameControl(c.status, s));
    if (before && !expectationMatches(before.expected, field, to, after) && basisTurned(before.status.basis, s.basis)) return s;
  }
  for (const s of ordered) {
    if (!s.active) continue;
    for (const u of s.upcoming) {
      if (u.atMs < fromMs || u.atMs > untilMs) continue;
      // Announced by the status still in force when the flip came (a newer status replaces the announcement).
      const inForce = controlsAt(statuses, u.atMs).find((c) => sameControl(c.status, s));
      if (inForce?.status === s && expectationMatches(inForce.expected, field, to, after)) return s;
    }
  }
  return null;
}

/** Whether an expectation asks for another value of the field than the one it moved to. */
export function expectationContradicts(expected: Record<string, unknown>, field: string, to: unknown): boolean {
  return field in expected && isKnown(expected[field]) && !sameValue(expected[field], to);
}

/** The controls active at `atMs` (with no active smart override), for the gateway's refusal. */
export function activeControls(statuses: readonly ControlStatus[], atMs: number): ControlAt[] {
  return controlsAt(statuses, atMs).filter((c) => c.status.active && Object.keys(c.expected).length > 0 && !overrideActive(c.status, atMs));
}

function overrideActive(s: ControlStatus, atMs: number): boolean {
  const o = s.override;
  return o !== null && o.createdAtMs <= atMs && (o.endedAtMs === null || o.endedAtMs > atMs);
}
