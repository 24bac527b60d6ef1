/**
 * Transitions of a device's controlled state (DESIGN.md "Interference"): pure functions over the
 * stored observations of one device. Order comes from the device's own timestamps, never from
 * arrival, and duplicates collapse, so the same set of snapshots always yields the same transitions
 * however often and in whatever order they were delivered.
 */
import { controlledState, deviceTimeMs, observedContext } from './devices.js';

type Json = Record<string, unknown>;

/** One stored snapshot of a device, reduced to what the reconciler needs. */
export interface ObservationInput {
  /** Device time of the snapshot (deviceTimeMs): what orders snapshots. */
  atMs: number;
  /** Wall-clock ms when we received it: what the grace for late action webhooks counts from. */
  receivedAtMs: number;
  /** controlledState(type, snapshot). */
  controlled: Json;
  /** observedContext(type, snapshot). */
  context: Json;
  /** True while Enode smart charging executes a plan for the device (from smart-charging status). */
  smartChargingActive?: boolean;
  /**
   * Content identity, when the caller has a cheaper one than canonical JSON of the parsed values
   * (the reconciler: the stored JSON text, written by one serializer). Copies of one snapshot
   * must have equal keys; equal content under another key is read as a second snapshot of the
   * same instant (orderObservations keeps the later one).
   */
  contentKey?: string;
}

/** A change of one controlled field between two snapshots in device order. */
export interface Transition {
  field: string;
  from: unknown;
  to: unknown;
  /** Device time of the first snapshot showing the new value: the episode's identity. */
  atMs: number;
  /**
   * Wall-clock ms of the first evidence of the change: the earliest receipt among the snapshots
   * from `after` on that still show the new value. A late copy of an intermediate snapshot
   * therefore never restarts the grace of a change we already knew about.
   */
  receivedAtMs: number;
  /** The last snapshot (in device order) that showed the old value. */
  before: ObservationInput;
  /** The first snapshot (in device order) that shows the new value. */
  after: ObservationInput;
}

/** Controlled fields per device type, in the order transitions of one instant are listed. */
export const CONTROLLED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  vehicle: ['charging', 'maxCurrent'],
  charger: ['charging', 'maxCurrent'],
  hvac: ['hvacMode', 'holdType', 'heatSetpoint', 'coolSetpoint'],
  battery: ['operationMode'],
};

/** Builds the reconciler's view of a stored Enode device snapshot. */
export function toObservationInput(deviceType: string, snapshot: Json, receivedAtMs: number, smartChargingActive?: boolean): ObservationInput {
  return {
    atMs: deviceTimeMs(snapshot),
    receivedAtMs,
    controlled: controlledState(deviceType, snapshot),
    context: observedContext(deviceType, snapshot),
    ...(smartChargingActive !== undefined ? { smartChargingActive } : {}),
  };
}

/** Null and undefined mean "unknown" (discovered devices, UNKNOWN states), never a new state. */
export function isKnown(value: unknown): boolean {
  return value !== null && value !== undefined;
}

/** Value equality for snapshot fields: primitives by value (numbers with a float tolerance), objects structurally. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) < 1e-9;
  if (a === b) return true;
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null) return canonical(a) === canonical(b);
  return false;
}

/** JSON with sorted keys: a content identity independent of key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(sortedKeys(value));
}

/**
 * A copy with every object's keys in sorted order, as JSON.stringify would see it (toJSON
 * applied). One pass without a replacer: the reconciler keys every observation by it.
 */
function sortedKeys(value: unknown): unknown {
  let v = value;
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON: () => unknown }).toJSON();
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(sortedKeys);
  // No prototype: a "__proto__" key stays an own property, as JSON has it.
  const out = Object.create(null) as Json;
  for (const key of Object.keys(v).sort()) out[key] = sortedKeys((v as Json)[key]);
  return out;
}

function contentKey(o: ObservationInput): string {
  if (o.contentKey !== undefined) return o.contentKey;
  return canonical({ at: o.atMs, c: o.controlled, x: o.context, s: o.smartChargingActive === true });
}

/**
 * The observations in device order, one per device instant:
 * - identical copies (redeliveries, repeated polls) collapse into one that keeps the earliest
 *   receipt, so duplicates can neither add transitions nor delay a grace;
 * - different snapshots claiming the same device time keep the one received last (Enode's later
 *   view; a device holds one state per instant), ties broken by content so the choice never
 *   depends on input order.
 */
export function orderObservations(observations: readonly ObservationInput[]): ObservationInput[] {
  const unique = new Map<string, ObservationInput>();
  for (const o of observations) {
    const key = contentKey(o);
    const seen = unique.get(key);
    if (!seen || o.receivedAtMs < seen.receivedAtMs) unique.set(key, o);
  }
  const byInstant = new Map<number, { obs: ObservationInput; key: string }>();
  for (const [key, obs] of unique) {
    const held = byInstant.get(obs.atMs);
    if (!held || obs.receivedAtMs > held.obs.receivedAtMs || (obs.receivedAtMs === held.obs.receivedAtMs && key > held.key)) {
      byInstant.set(obs.atMs, { obs, key });
    }
  }
  return [...byInstant.values()].map((v) => v.obs).sort((a, b) => a.atMs - b.atMs);
}

/** The controlled fields to compare: the type's list, or (unknown types) every field seen, sorted. */
export function controlledFields(deviceType: string, observations: readonly ObservationInput[]): readonly string[] {
  const known = CONTROLLED_FIELDS[deviceType];
  if (known) return known;
  return [...new Set(observations.flatMap((o) => Object.keys(o.controlled)))].sort();
}

/**
 * Every change of a controlled field between snapshots in device order (ties: see
 * orderObservations). A field compares against its last known (non-null) value, so a
 * `:discovered` snapshot without state, or an UNKNOWN gap, neither starts nor hides a transition.
 * Sorted by device time, then field order.
 */
export function findTransitions(deviceType: string, observations: readonly ObservationInput[]): Transition[] {
  const ordered = orderObservations(observations);
  const fields = controlledFields(deviceType, ordered);
  const out = fields.flatMap((field) => fieldTransitions(field, ordered));
  return out.sort((a, b) => a.atMs - b.atMs || fields.indexOf(a.field) - fields.indexOf(b.field));
}

function fieldTransitions(field: string, ordered: readonly ObservationInput[]): Transition[] {
  const out: Transition[] = [];
  let last: { value: unknown; obs: ObservationInput } | null = null;
  ordered.forEach((obs, i) => {
    const value = obs.controlled[field];
    if (!isKnown(value)) return;
    if (last && !sameValue(last.value, value)) {
      out.push({ field, from: last.value, to: value, atMs: obs.atMs, receivedAtMs: firstEvidenceMs(ordered, i, field, value), before: last.obs, after: obs });
    }
    last = { value, obs };
  });
  return out;
}

/** Earliest receipt among the snapshots from index `i` on that still show `value` (unknowns do not end the run). */
function firstEvidenceMs(ordered: readonly ObservationInput[], i: number, field: string, value: unknown): number {
  let min = Number.POSITIVE_INFINITY;
  for (let j = i; j < ordered.length; j++) {
    const o = ordered[j] as ObservationInput;
    const v = o.controlled[field];
    if (isKnown(v) && !sameValue(v, value)) break;
    min = Math.min(min, o.receivedAtMs);
  }
  return min;
}
