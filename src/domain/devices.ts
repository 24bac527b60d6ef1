import { isAheadOfReceipt, parseTimeMs } from './time.js';

/** Device kinds Enode reports through `user:<type>:*` events. */
export const DEVICE_TYPES = ['vehicle', 'charger', 'hvac', 'battery', 'inverter', 'meter'] as const;
export type DeviceType = (typeof DEVICE_TYPES)[number];

type Json = Record<string, unknown>;

function section(snapshot: Json, key: string): Json {
  const value = snapshot[key];
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

/**
 * A watched field's value. Enode sends scalars here; anything else (an object, an array) is
 * unusable and counts as unknown (null), so that no snapshot can carry an arbitrarily deep value
 * into the reconciler's comparisons.
 */
function field(obj: Json, key: string): unknown {
  const v = obj[key];
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : null;
}

/**
 * The fields the reconciler watches, per device type (DESIGN.md "controlled state"):
 * vehicles and chargers `charging` and `maxCurrent`; HVACs `hvacMode`, `holdType`,
 * `heatSetpoint`, `coolSetpoint`; batteries `operationMode`. Missing values are null.
 */
export function controlledState(type: string, snapshot: Json): Json {
  switch (type) {
    case 'vehicle':
    case 'charger': {
      const cs = section(snapshot, 'chargeState');
      return { charging: field(cs, 'isCharging'), maxCurrent: field(cs, 'maxCurrent') };
    }
    case 'hvac': {
      const ts = section(snapshot, 'thermostatState');
      return {
        hvacMode: field(ts, 'mode'),
        holdType: field(ts, 'holdType'),
        heatSetpoint: field(ts, 'heatSetpoint'),
        coolSetpoint: field(ts, 'coolSetpoint'),
      };
    }
    case 'battery':
      return { operationMode: field(section(snapshot, 'config'), 'operationMode') };
    default:
      return {};
  }
}

/**
 * The snapshot fields beside the controlled ones that explain a change without an action:
 * plug state, power delivery, battery level against the limit, reachability.
 */
export function observedContext(type: string, snapshot: Json): Json {
  const isReachable = field(snapshot, 'isReachable');
  switch (type) {
    case 'vehicle': {
      const cs = section(snapshot, 'chargeState');
      return {
        isReachable,
        isPluggedIn: field(cs, 'isPluggedIn'),
        powerDeliveryState: field(cs, 'powerDeliveryState'),
        batteryLevel: field(cs, 'batteryLevel'),
        chargeLimit: field(cs, 'chargeLimit'),
        isFullyCharged: field(cs, 'isFullyCharged'),
        pluggedInChargerId: field(cs, 'pluggedInChargerId'),
        smartChargingEnabled: field(section(snapshot, 'smartChargingPolicy'), 'isEnabled'),
      };
    }
    case 'charger': {
      const cs = section(snapshot, 'chargeState');
      return {
        isReachable,
        isPluggedIn: field(cs, 'isPluggedIn'),
        powerDeliveryState: field(cs, 'powerDeliveryState'),
        chargeRate: field(cs, 'chargeRate'),
        pluggedInVehicleId: field(cs, 'pluggedInVehicleId'),
      };
    }
    case 'battery': {
      const cs = section(snapshot, 'chargeState');
      return { isReachable, status: field(cs, 'status'), batteryLevel: field(cs, 'batteryLevel') };
    }
    default:
      return { isReachable };
  }
}

const TIMESTAMP_SECTIONS = [
  'chargeState',
  'thermostatState',
  'temperatureState',
  'config',
  'productionState',
  'energyState',
  'odometer',
  'location',
];

/**
 * The device's own time for a snapshot: the newest of `lastSeen` and the sections' `lastUpdated`.
 * Snapshots are ordered by this, not by arrival, so a late delivery cannot move state backwards.
 */
export function deviceTimeMs(snapshot: Json): number {
  let newest = parseTimeMs(snapshot.lastSeen) ?? 0;
  for (const key of TIMESTAMP_SECTIONS) {
    const t = parseTimeMs(section(snapshot, key).lastUpdated);
    if (t !== undefined && t > newest) newest = t;
  }
  return newest;
}

/**
 * Order key of a snapshot: first its rank — whether its times are credible and whether it carries
 * state (a `:discovered` snapshot has only `information`, so any snapshot with state beats it, even
 * an older one: a relinked device keeps its last known state until its `:updated` comes) — then
 * device time, then the event's createdAt, then content hash.
 */
export interface SnapshotKey {
  atMs: number;
  /** FUTURE_DATED_RANK for snapshots dated ahead of their receipt, 0 for `:discovered` ones (no state), 1 otherwise. */
  rank: number;
  eventAtMs: number;
  hash: string;
}

/**
 * Rank of a snapshot dated further ahead of its receipt than the tolerated skew: below every other,
 * so it is recorded (and current only while the device has nothing else) but never displaces a
 * snapshot with credible times, whatever the order they arrive in.
 */
export const FUTURE_DATED_RANK = -1;

/**
 * The order key of a snapshot received at `receivedAtMs`: device time `atMs` (deviceTimeMs), the
 * event's createdAt `eventAtMs` (0 when absent), and whether it is a `:discovered` one. Either time
 * ahead of the receipt by more than `toleranceMs` demotes it to FUTURE_DATED_RANK.
 */
export function snapshotKey(
  s: { atMs: number; eventAtMs: number; discovered: boolean; hash: string },
  receivedAtMs: number,
  toleranceMs: number,
): SnapshotKey {
  const future = isAheadOfReceipt(s.atMs, receivedAtMs, toleranceMs) || isAheadOfReceipt(s.eventAtMs, receivedAtMs, toleranceMs);
  return { atMs: s.atMs, rank: future ? FUTURE_DATED_RANK : s.discovered ? 0 : 1, eventAtMs: s.eventAtMs, hash: s.hash };
}

/** Total order on snapshots of one device; the maximum is the current state. */
export function compareSnapshotKeys(a: SnapshotKey, b: SnapshotKey): number {
  if (a.rank !== b.rank) return a.rank - b.rank;
  if (a.atMs !== b.atMs) return a.atMs - b.atMs;
  if (a.eventAtMs !== b.eventAtMs) return a.eventAtMs - b.eventAtMs;
  if (a.hash !== b.hash) return a.hash < b.hash ? -1 : 1;
  return 0;
}

/**
 * Whether a device counts as deleted: its newest deletion is not older than its current snapshot.
 * A future-dated current snapshot has no credible time to hold against a deletion, so any
 * deletion wins over it.
 */
export function isDeviceDeleted(d: { deletedAtMs: number | null; snapshotRank: number; snapshotAtMs: number; snapshotEventAtMs: number }): boolean {
  if (d.deletedAtMs === null) return false;
  return d.snapshotRank === FUTURE_DATED_RANK || d.deletedAtMs >= Math.max(d.snapshotEventAtMs, d.snapshotAtMs);
}
