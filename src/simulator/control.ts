import { chargeKw } from './fleet.js';
import {
  OPERATION_MODE_CAPABILITY,
  type HvacTarget,
  type Intent,
  type ModeTarget,
  type OperationMode,
} from './types.js';
import type { ChangeContext, ChargerRecord, DeviceRecord, HvacRecord, VehicleRecord, World } from './world.js';

/**
 * Device-level controls shared by own actions and third-party interference, plus the checks an
 * action needs (capability, "already so", precondition). A paired vehicle and its home charger
 * are one charging session: changing one changes both.
 */

/** The home charger a vehicle is plugged into, if any. */
export function chargerOf(world: World, v: VehicleRecord): ChargerRecord | undefined {
  const id = v.data.chargeState.pluggedInChargerId;
  return id ? world.getTyped('charger', id) : undefined;
}

/** The linked vehicle plugged into a charger, if any. */
export function vehicleOf(world: World, c: ChargerRecord): VehicleRecord | undefined {
  const id = c.data.chargeState.pluggedInVehicleId;
  return id ? world.getTyped('vehicle', id) : undefined;
}

/** kW a vehicle draws now, limited by its own and its charger's max current. */
export function vehicleChargeKw(world: World, v: VehicleRecord): number {
  const charger = chargerOf(world, v);
  const currents = [v.data.chargeState.maxCurrent, charger?.data.chargeState.maxCurrent].filter((x): x is number => typeof x === 'number');
  return chargeKw(currents.length ? Math.min(...currents) : null, v.sim.maxChargeKw);
}

function minutesToLimit(v: VehicleRecord, kw: number): number {
  const cs = v.data.chargeState;
  const limit = cs.chargeLimit ?? 100;
  const kwh = ((limit - v.sim.level) / 100) * (cs.batteryCapacity ?? 50);
  return Math.max(0, Math.round((kwh / kw) * 60));
}

/** Recomputes a vehicle's derived charge fields from its session state. */
export function refreshVehicleCharge(world: World, v: VehicleRecord, data = v.data): void {
  const cs = data.chargeState;
  const limit = cs.chargeLimit ?? 100;
  cs.batteryLevel = Math.floor(v.sim.level);
  cs.range = Math.round((v.sim.level / 100) * (cs.batteryCapacity ?? 50) * v.sim.kmPerKwh);
  cs.isFullyCharged = cs.isPluggedIn ? v.sim.level >= 100 : false;
  if (!cs.isPluggedIn) {
    cs.isCharging = false;
    cs.powerDeliveryState = 'UNPLUGGED';
    cs.chargeRate = null;
    cs.chargeTimeRemaining = null;
    cs.pluggedInChargerId = null;
  } else if (cs.isCharging) {
    const kw = vehicleChargeKw(world, v);
    cs.powerDeliveryState = 'PLUGGED_IN:CHARGING';
    cs.chargeRate = kw;
    cs.chargeTimeRemaining = minutesToLimit(v, kw);
  } else {
    cs.powerDeliveryState = v.sim.level >= limit ? 'PLUGGED_IN:COMPLETE' : 'PLUGGED_IN:STOPPED';
    cs.chargeRate = null;
    cs.chargeTimeRemaining = null;
  }
}

/** Makes a vehicle's home charger show the vehicle's session. */
export function mirrorToCharger(world: World, v: VehicleRecord, ctx: ChangeContext, chargerId = v.homeChargerId): void {
  if (!chargerId) return;
  const c = world.getTyped('charger', chargerId);
  if (!c) return;
  const vcs = v.data.chargeState;
  const atThisCharger = vcs.pluggedInChargerId === c.data.id;
  if (!atThisCharger && c.data.chargeState.pluggedInVehicleId !== v.data.id) return;
  world.update(c, ctx, (d) => {
    const cs = d.chargeState;
    cs.isPluggedIn = atThisCharger;
    cs.isCharging = atThisCharger && vcs.isCharging === true;
    cs.chargeRate = cs.isCharging ? vcs.chargeRate : null;
    cs.pluggedInVehicleId = atThisCharger ? v.data.id : null;
    cs.powerDeliveryState = !atThisCharger ? 'UNPLUGGED' : cs.isCharging ? 'PLUGGED_IN:CHARGING' : 'PLUGGED_IN:STOPPED';
  });
}

/** Starts or stops charging on a vehicle or charger (and its pair). */
export function setCharging(world: World, rec: VehicleRecord | ChargerRecord, on: boolean, ctx: ChangeContext): void {
  if (rec.type === 'charger') {
    const v = vehicleOf(world, rec);
    if (v) return setCharging(world, v, on, ctx);
    world.update(rec, ctx, (d) => {
      const cs = d.chargeState;
      if (!cs.isPluggedIn) return;
      cs.isCharging = on;
      cs.powerDeliveryState = on ? 'PLUGGED_IN:CHARGING' : 'PLUGGED_IN:STOPPED';
      cs.chargeRate = on ? chargeKw(cs.maxCurrent, 11) : null;
    });
    return;
  }
  world.update(rec, ctx, (d) => {
    if (!d.chargeState.isPluggedIn) return;
    d.chargeState.isCharging = on;
    refreshVehicleCharge(world, rec, d);
  });
  mirrorToCharger(world, rec, ctx);
}

export function setMaxCurrent(world: World, rec: VehicleRecord | ChargerRecord, maxCurrent: number, ctx: ChangeContext): void {
  if (rec.type === 'charger') {
    world.update(rec, ctx, (d) => {
      d.chargeState.maxCurrent = maxCurrent;
      if (d.chargeState.isCharging && !vehicleOf(world, rec)) d.chargeState.chargeRate = chargeKw(maxCurrent, 11);
    });
    const v = vehicleOf(world, rec);
    if (v && v.data.chargeState.isCharging) {
      world.update(v, ctx, () => refreshVehicleCharge(world, v));
      mirrorToCharger(world, v, ctx);
    }
    return;
  }
  world.update(rec, ctx, (d) => {
    d.chargeState.maxCurrent = maxCurrent;
    refreshVehicleCharge(world, rec, d);
  });
  mirrorToCharger(world, rec, ctx);
}

export function setHvacTarget(world: World, rec: HvacRecord, target: HvacTarget, ctx: ChangeContext, scheduled?: ModeTarget): void {
  world.update(rec, ctx, (d) => {
    const t = d.thermostatState;
    const effective = target.holdType === 'SCHEDULED' ? scheduled : target;
    t.holdType = target.holdType;
    if (effective && 'mode' in effective) {
      t.mode = effective.mode;
      t.heatSetpoint = 'heatSetpoint' in effective ? effective.heatSetpoint : null;
      t.coolSetpoint = 'coolSetpoint' in effective ? effective.coolSetpoint : null;
    }
  });
}

export function setOperationMode(world: World, rec: DeviceRecord & { type: 'battery' }, mode: OperationMode, ctx: ChangeContext): void {
  world.update(rec, ctx, (d) => {
    d.config.operationMode = mode;
  });
}

/** Why the device cannot take this intent at all (→ HTTP 400), or null. */
export function capabilityProblem(rec: DeviceRecord, intent: Intent): string | null {
  switch (intent.kind) {
    case 'charging': {
      if (rec.type !== 'vehicle' && rec.type !== 'charger') return 'Device does not support charging control';
      const cap = intent.action === 'START' ? rec.data.capabilities.startCharging : rec.data.capabilities.stopCharging;
      if (!cap.isCapable) return `${rec.type} is not capable of ${intent.action === 'START' ? 'starting' : 'stopping'} charging`;
      if (rec.type === 'vehicle' && intent.action === 'START' && rec.data.chargeState.isPluggedIn) {
        const cs = rec.data.chargeState;
        if (!cs.isCharging && rec.sim.level >= (cs.chargeLimit ?? 100)) return 'Vehicle is fully charged to its charge limit';
      }
      return null;
    }
    case 'maxCurrent':
      if (rec.type !== 'vehicle' && rec.type !== 'charger') return 'Device does not support max current';
      return rec.data.capabilities.setMaxCurrent.isCapable ? null : `${rec.type} is not capable of setting max current`;
    case 'hvac': {
      if (rec.type !== 'hvac') return 'Device is not an HVAC unit';
      const caps = rec.data.capabilities;
      const t = intent.target;
      if (t.holdType === 'SCHEDULED') return caps.setFollowSchedule.isCapable ? null : 'HVAC is not capable of following a schedule';
      if (!caps.setPermanentHold.isCapable) return 'HVAC is not capable of a permanent hold';
      if (!(caps.capableModes ?? []).includes(t.mode)) return `HVAC does not support mode ${t.mode}`;
      const inRange = (v: number, r: { min: number | null; max: number | null } | null) =>
        r !== null && (r.min === null || v >= r.min) && (r.max === null || v <= r.max);
      if ('heatSetpoint' in t && !inRange(t.heatSetpoint, caps.heatSetpointRange)) return `heatSetpoint ${t.heatSetpoint} is outside the supported range`;
      if ('coolSetpoint' in t && !inRange(t.coolSetpoint, caps.coolSetpointRange)) return `coolSetpoint ${t.coolSetpoint} is outside the supported range`;
      if (t.mode === 'AUTO') {
        const d = t.coolSetpoint - t.heatSetpoint;
        const r = caps.setpointDifferenceRange;
        if (!r || (r.min !== null && d < r.min) || (r.max !== null && d > r.max)) return 'coolSetpoint − heatSetpoint is outside the supported difference range';
      }
      return null;
    }
    case 'operationMode':
      if (rec.type !== 'battery') return 'Device is not a battery';
      return rec.data.capabilities[OPERATION_MODE_CAPABILITY[intent.operationMode]].isCapable
        ? null
        : `Battery is not capable of ${intent.operationMode}`;
  }
}

/** Whether the device already is as the intent wants. */
export function isSatisfied(rec: DeviceRecord, intent: Intent): boolean {
  switch (intent.kind) {
    case 'charging':
      if (rec.type !== 'vehicle' && rec.type !== 'charger') return false;
      return (rec.data.chargeState.isCharging === true) === (intent.action === 'START');
    case 'maxCurrent':
      return (rec.type === 'vehicle' || rec.type === 'charger') && rec.data.chargeState.maxCurrent === intent.maxCurrent;
    case 'hvac': {
      if (rec.type !== 'hvac') return false;
      const s = rec.data.thermostatState;
      const t = intent.target;
      if (t.holdType === 'SCHEDULED') return s.holdType === 'SCHEDULED';
      return (
        s.holdType === 'PERMANENT' &&
        s.mode === t.mode &&
        ('heatSetpoint' in t ? s.heatSetpoint === t.heatSetpoint : true) &&
        ('coolSetpoint' in t ? s.coolSetpoint === t.coolSetpoint : true)
      );
    }
    case 'operationMode':
      return rec.type === 'battery' && rec.data.config.operationMode === intent.operationMode;
  }
}

/** A precondition that is not met now (→ action CANCELLED FAILED_PRECONDITION), or null. */
export function unmetPrecondition(rec: DeviceRecord, intent: Intent): string | null {
  if (!rec.data.isReachable) return 'Device is not reachable';
  if (intent.kind === 'charging' && intent.action === 'START' && (rec.type === 'vehicle' || rec.type === 'charger')) {
    if (!rec.data.chargeState.isPluggedIn) return `${rec.type === 'vehicle' ? 'Vehicle' : 'Charger'} is not plugged in`;
    // An unlinked car that is full takes no power: the charger cannot start a session.
    if (rec.type === 'charger' && rec.data.chargeState.pluggedInVehicleId === null && !rec.data.chargeState.isCharging && rec.sim.sessionKwhLeft <= 0) {
      return 'The car plugged into the charger accepts no more energy';
    }
  }
  return null;
}

/** Applies an intent to a device. `scheduled` is the HVAC's schedule target, for follow-schedule. */
export function applyIntent(world: World, rec: DeviceRecord, intent: Intent, ctx: ChangeContext, scheduled?: ModeTarget): void {
  switch (intent.kind) {
    case 'charging':
      if (rec.type === 'vehicle' || rec.type === 'charger') setCharging(world, rec, intent.action === 'START', ctx);
      return;
    case 'maxCurrent':
      if (rec.type === 'vehicle' || rec.type === 'charger') setMaxCurrent(world, rec, intent.maxCurrent, ctx);
      return;
    case 'hvac':
      if (rec.type === 'hvac') setHvacTarget(world, rec, intent.target, ctx, scheduled);
      return;
    case 'operationMode':
      if (rec.type === 'battery') setOperationMode(world, rec, intent.operationMode, ctx);
      return;
  }
}

