import type { SimClock } from './clock.js';
import {
  createBattery,
  createCharger,
  createHvac,
  createVehicle,
  type BatterySim,
  type ChargerSim,
  type HvacSim,
  type VehicleSim,
} from './fleet.js';
import type { FleetSize } from './options.js';
import { scheduledTarget } from './schedule.js';
import type { Rng } from './random.js';
import type { TruthLog } from './truth.js';
import {
  API_VERSION,
  type AutomationRef,
  type Battery,
  type ChangeCause,
  type Charger,
  type Device,
  type DeviceType,
  type Hvac,
  type SimEvent,
  type Vehicle,
} from './types.js';

interface RecordBase {
  seq: number;
}
export type VehicleRecord = RecordBase & { type: 'vehicle'; data: Vehicle; sim: VehicleSim; homeChargerId: string | null };
export type ChargerRecord = RecordBase & { type: 'charger'; data: Charger; sim: ChargerSim; homeVehicleId: string | null };
export type HvacRecord = RecordBase & { type: 'hvac'; data: Hvac; sim: HvacSim };
export type BatteryRecord = RecordBase & { type: 'battery'; data: Battery; sim: BatterySim };
export type DeviceRecord = VehicleRecord | ChargerRecord | HvacRecord | BatteryRecord;

export interface SimUser {
  id: string;
  seq: number;
}

/** Why a change happens: recorded in the truth log with every field it touches. */
export interface ChangeContext {
  cause: ChangeCause;
  detail: string;
  actionId?: string;
  /** The Enode automation behind a change with cause `own_automation`. */
  automation?: AutomationRef;
}

/** One changed leaf of a device (bookkeeping fields excluded, telemetry included). */
export interface FieldChange {
  path: string;
  from: unknown;
  to: unknown;
}

/** Fields that drift continuously: reported in `updatedFields` but not in the truth log. */
const TELEMETRY: Record<DeviceType, ReadonlySet<string>> = {
  vehicle: new Set([
    'chargeState.batteryLevel',
    'chargeState.range',
    'chargeState.chargeRate',
    'chargeState.chargeTimeRemaining',
    'odometer.distance',
    'location.longitude',
    'location.latitude',
  ]),
  charger: new Set(['chargeState.chargeRate']),
  hvac: new Set(['temperatureState.currentTemperature', 'temperatureState.isActive', 'consumptionRate']),
  battery: new Set(['chargeState.batteryLevel', 'chargeState.chargeRate']),
};

export interface WorldDeps {
  clock: SimClock;
  rng: Rng;
  ids: Rng;
  truth: TruthLog;
  incapableRate: number;
  emit: (event: SimEvent) => void;
}

/** Users and their devices, and the one way to change a device: `update`. */
export class World {
  readonly users = new Map<string, SimUser>();
  private readonly devices = new Map<string, DeviceRecord>();
  private seq = 0;
  private readonly removedListeners: Array<(rec: DeviceRecord) => void> = [];
  private readonly changedListeners: Array<(rec: DeviceRecord, ctx: ChangeContext, changes: readonly FieldChange[]) => void> = [];

  constructor(private readonly deps: WorldDeps) {}

  get clock(): SimClock {
    return this.deps.clock;
  }

  /** Creates the initial fleet silently (it exists before anyone listens). */
  populate(size: FleetSize): void {
    const types: DeviceType[] = [
      ...Array<DeviceType>(size.vehicles).fill('vehicle'),
      ...Array<DeviceType>(size.chargers).fill('charger'),
      ...Array<DeviceType>(size.hvacs).fill('hvac'),
      ...Array<DeviceType>(size.batteries).fill('battery'),
    ];
    const shuffled = this.deps.rng.shuffle(types);
    let i = 0;
    while (i < shuffled.length) {
      const user = this.addUser();
      const count = Math.min(this.deps.rng.int(1, 3), shuffled.length - i);
      for (let k = 0; k < count; k++) this.createDevice(shuffled[i + k] as DeviceType, user.id);
      i += count;
    }
  }

  addUser(id?: string): SimUser {
    const userId = id ?? `sim-user-${String(this.users.size + 1).padStart(3, '0')}`;
    const existing = this.users.get(userId);
    if (existing) return existing;
    const user = { id: userId, seq: ++this.seq };
    this.users.set(userId, user);
    return user;
  }

  private createDevice(type: DeviceType, userId: string): DeviceRecord {
    const { rng, ids, incapableRate } = this.deps;
    const id = ids.uuid();
    const now = this.deps.clock.iso();
    const seq = ++this.seq;
    let rec: DeviceRecord;
    switch (type) {
      case 'vehicle': {
        const v = createVehicle(rng, id, userId, now, incapableRate);
        rec = { type, seq, data: v.data, sim: v.sim, homeChargerId: null };
        break;
      }
      case 'charger': {
        const c = createCharger(rng, id, userId, now, incapableRate);
        rec = { type, seq, data: c.data, sim: c.sim, homeVehicleId: null };
        break;
      }
      case 'hvac': {
        const h = createHvac(rng, id, userId, now, incapableRate);
        const t = scheduledTarget(h.data.information.category, this.deps.clock.nowMs());
        h.data.thermostatState.mode = t.mode;
        h.data.thermostatState.heatSetpoint = 'heatSetpoint' in t ? t.heatSetpoint : null;
        h.data.thermostatState.coolSetpoint = 'coolSetpoint' in t ? t.coolSetpoint : null;
        rec = { type, seq, data: h.data, sim: h.sim };
        break;
      }
      case 'battery': {
        const b = createBattery(rng, id, userId, now, incapableRate);
        rec = { type, seq, data: b.data, sim: b.sim };
        break;
      }
    }
    this.devices.set(id, rec);
    this.pairHome(rec);
    return rec;
  }

  /** A user's first unpaired vehicle and charger become a home pair: the car plugs in there. */
  private pairHome(rec: DeviceRecord): void {
    if (rec.type !== 'vehicle' && rec.type !== 'charger') return;
    for (const other of this.list(undefined, rec.data.userId).reverse()) {
      if (rec.type === 'vehicle' && other.type === 'charger' && other.homeVehicleId === null) {
        rec.homeChargerId = other.data.id;
        other.homeVehicleId = rec.data.id;
        return;
      }
      if (rec.type === 'charger' && other.type === 'vehicle' && other.homeChargerId === null) {
        rec.homeVehicleId = other.data.id;
        other.homeChargerId = rec.data.id;
        return;
      }
    }
  }

  /** Links a new device at runtime: emits `:discovered` (information only) then `:updated`. */
  addDevice(type: DeviceType, userId?: string): DeviceRecord {
    const user = this.addUser(userId);
    const rec = this.createDevice(type, user.id);
    const discovered = discoveredView(rec.data);
    this.emitDevice(rec, 'discovered', discovered);
    this.emitDevice(rec, 'updated', rec.data, leafPaths(rec.data).filter((p) => !isBookkeeping(p)));
    return rec;
  }

  /**
   * Emits `:discovered` then `:updated` for every device, as when users link their devices after
   * the integration's webhook exists (demos start this way so the daemon sees the whole fleet).
   */
  announceAll(): void {
    for (const rec of this.devices.values()) {
      this.emitDevice(rec, 'discovered', discoveredView(rec.data));
      this.emitDevice(rec, 'updated', rec.data, leafPaths(rec.data).filter((p) => !isBookkeeping(p)));
    }
  }

  /** Unlinks a device: emits `:deleted`; listeners cancel its pending actions. */
  removeDevice(id: string): boolean {
    const rec = this.devices.get(id);
    if (!rec) return false;
    for (const l of this.removedListeners) l(rec);
    this.devices.delete(id);
    if (rec.type === 'vehicle' && rec.homeChargerId) {
      const c = this.devices.get(rec.homeChargerId);
      if (c?.type === 'charger') {
        c.homeVehicleId = null;
        if (c.data.chargeState.pluggedInVehicleId === id) {
          this.update(c, { cause: 'natural', detail: 'linked vehicle removed' }, (d) => {
            Object.assign(d.chargeState, { isPluggedIn: false, isCharging: false, chargeRate: null, powerDeliveryState: 'UNPLUGGED', pluggedInVehicleId: null });
          });
        }
      }
    }
    if (rec.type === 'charger' && rec.homeVehicleId) {
      const v = this.devices.get(rec.homeVehicleId);
      if (v?.type === 'vehicle') v.homeChargerId = null;
    }
    this.emitDevice(rec, 'deleted', rec.data);
    return true;
  }

  onRemoved(listener: (rec: DeviceRecord) => void): void {
    this.removedListeners.push(listener);
  }

  /** Called after every real change of a device (after its `:updated` event is emitted). */
  onChanged(listener: (rec: DeviceRecord, ctx: ChangeContext, changes: readonly FieldChange[]) => void): void {
    this.changedListeners.push(listener);
  }

  get(id: string): DeviceRecord | undefined {
    return this.devices.get(id);
  }

  getTyped<T extends DeviceType>(type: T, id: string): Extract<DeviceRecord, { type: T }> | undefined {
    const rec = this.devices.get(id);
    return rec && rec.type === type ? (rec as Extract<DeviceRecord, { type: T }>) : undefined;
  }

  /** Devices, newest first, optionally of one type and/or one user. */
  list(type?: DeviceType, userId?: string): DeviceRecord[] {
    const out: DeviceRecord[] = [];
    for (const rec of this.devices.values()) {
      if (type && rec.type !== type) continue;
      if (userId && rec.data.userId !== userId) continue;
      out.push(rec);
    }
    return out.sort((a, b) => b.seq - a.seq);
  }

  /** Devices in creation order (the order physics visits them). */
  all(): DeviceRecord[] {
    return this.list().reverse();
  }

  /**
   * The only way device state changes. Runs `mutate` on the device, diffs it, and when something
   * changed bumps `lastSeen` and the touched sections' `lastUpdated` to sim time, records each
   * changed state field with `ctx` in the truth log and emits `user:<type>:updated`.
   * Returns the changed field paths.
   */
  update<R extends DeviceRecord>(rec: R, ctx: ChangeContext, mutate: (data: R['data']) => void): string[] {
    const before = structuredClone(rec.data) as unknown as Record<string, unknown>;
    mutate(rec.data);
    const after = rec.data as unknown as Record<string, unknown>;
    const changes: Array<{ path: string; from: unknown; to: unknown }> = [];
    diff(before, after, '', changes);
    const real = changes.filter((c) => !isBookkeeping(c.path));
    if (real.length === 0) {
      // Nothing real changed: undo any bookkeeping field a mutator touched.
      for (const c of changes) setPath(after, c.path, c.from);
      return [];
    }
    const now = this.deps.clock.iso();
    after['lastSeen'] = now;
    const sections = new Set(real.map((c) => c.path.split('.')[0] as string));
    for (const s of sections) {
      const section = after[s];
      if (section && typeof section === 'object' && 'lastUpdated' in section) {
        (section as Record<string, unknown>)['lastUpdated'] = now;
      }
    }
    const telemetry = TELEMETRY[rec.type];
    for (const c of real) {
      if (telemetry.has(c.path)) continue;
      this.deps.truth.recordChange({
        deviceId: rec.data.id,
        deviceType: rec.type,
        userId: rec.data.userId,
        field: c.path,
        from: c.from,
        to: c.to,
        at: now,
        cause: ctx.cause,
        ...(ctx.actionId ? { actionId: ctx.actionId } : {}),
        ...(ctx.automation ? { automation: { ...ctx.automation } } : {}),
        detail: ctx.detail,
      });
    }
    const fields = real.map((c) => c.path);
    this.emitDevice(rec, 'updated', rec.data, fields);
    for (const l of this.changedListeners) l(rec, ctx, real);
    return fields;
  }

  private emitDevice(rec: DeviceRecord, what: 'discovered' | 'updated' | 'deleted', body: unknown, updatedFields?: string[]): void {
    const event: SimEvent = {
      event: `user:${rec.type}:${what}`,
      createdAt: this.deps.clock.iso(),
      version: API_VERSION,
      user: { id: rec.data.userId },
      [rec.type]: structuredClone(body),
    };
    if (updatedFields) event['updatedFields'] = updatedFields;
    this.deps.emit(event);
  }

  /** Emits a non-device event (actions use it). */
  emit(event: SimEvent): void {
    this.deps.emit(event);
  }
}

function isBookkeeping(path: string): boolean {
  return path === 'lastSeen' || path.endsWith('.lastUpdated');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function diff(a: unknown, b: unknown, path: string, out: Array<{ path: string; from: unknown; to: unknown }>): void {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) diff(a[k], b[k], path ? `${path}.${k}` : k, out);
    return;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path, from: a, to: b });
    return;
  }
  if (a !== b) out.push({ path, from: a ?? null, to: b ?? null });
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (!isPlainObject(next)) return;
    cur = next;
  }
  cur[parts[parts.length - 1] as string] = value;
}

function leafPaths(obj: unknown, prefix = ''): string[] {
  if (!isPlainObject(obj)) return [prefix];
  return Object.entries(obj).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

/** The `:discovered` view: identity and `information` only, every other section null. */
function discoveredView(device: Device): Record<string, unknown> {
  const keep = new Set(['id', 'userId', 'vendor', 'lastSeen', 'information']);
  return Object.fromEntries(Object.entries(device).map(([k, v]) => [k, keep.has(k) ? v : null]));
}
