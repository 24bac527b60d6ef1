import { chargeKw, round } from './fleet.js';
import { mirrorToCharger, refreshVehicleCharge, setHvacTarget, vehicleChargeKw } from './control.js';
import type { Rng } from './random.js';
import { scheduledTarget } from './schedule.js';
import type { BatteryRecord, ChargerRecord, DeviceRecord, HvacRecord, VehicleRecord, World } from './world.js';

/**
 * Natural behaviour over one physics step: owners plug in, drive and unplug; cars charge to their
 * limit; unlinked cars on chargers fill up; thermostats follow their schedule and rooms warm and
 * cool; home batteries charge and discharge by operation mode and time of day.
 */
export interface PhysicsParams {
  rng: Rng;
  /** Multiplier of random owner behaviour (0 = none). */
  activity: number;
}

const HOUR_MS = 3_600_000;

export function stepDevice(world: World, rec: DeviceRecord, dtMs: number, p: PhysicsParams): void {
  const h = dtMs / HOUR_MS;
  switch (rec.type) {
    case 'vehicle':
      return stepVehicle(world, rec, h, p);
    case 'charger':
      return stepCharger(world, rec, h, p);
    case 'hvac':
      return stepHvac(world, rec, h);
    case 'battery':
      return stepBattery(world, rec, h);
  }
}

function stepVehicle(world: World, v: VehicleRecord, h: number, { rng, activity }: PhysicsParams): void {
  const cs = v.data.chargeState;
  const limit = cs.chargeLimit ?? 100;
  if (!cs.isPluggedIn) {
    if (rng.chance(activity * 0.15 * h)) {
      const used = rng.float(3, 15);
      const km = Math.round((used / 100) * (cs.batteryCapacity ?? 50) * v.sim.kmPerKwh);
      v.sim.level = Math.max(5, v.sim.level - used);
      world.update(v, { cause: 'natural', detail: 'driving' }, (d) => {
        d.odometer.distance = (d.odometer.distance ?? 0) + km;
        refreshVehicleCharge(world, v, d);
      });
    }
    if (rng.chance(activity * 0.2 * h)) plugIn(world, v);
    return;
  }
  if (cs.isCharging) {
    const kw = vehicleChargeKw(world, v);
    v.sim.level = Math.min(limit, v.sim.level + ((kw * h) / (cs.batteryCapacity ?? 50)) * 100);
    const reached = v.sim.level >= limit;
    world.update(v, { cause: 'natural', detail: reached ? 'charge limit reached' : 'charging' }, (d) => {
      if (reached) d.chargeState.isCharging = false;
      refreshVehicleCharge(world, v, d);
    });
    mirrorToCharger(world, v, { cause: 'natural', detail: reached ? 'vehicle reached its charge limit' : 'charging' });
  }
  const complete = v.data.chargeState.powerDeliveryState === 'PLUGGED_IN:COMPLETE';
  if (rng.chance(activity * (complete ? 0.25 : 0.05) * h)) unplug(world, v);
}

/** Owner plugs the car in (at the home charger when it has one); most cars start charging. */
export function plugIn(world: World, v: VehicleRecord): void {
  const home = v.homeChargerId ? world.getTyped('charger', v.homeChargerId) : undefined;
  const chargerId = home && !home.data.chargeState.isPluggedIn ? home.data.id : null;
  world.update(v, { cause: 'natural', detail: 'plugged in' }, (d) => {
    d.chargeState.isPluggedIn = true;
    d.chargeState.pluggedInChargerId = chargerId;
    d.chargeState.isCharging = v.sim.level < (d.chargeState.chargeLimit ?? 100);
    refreshVehicleCharge(world, v, d);
  });
  mirrorToCharger(world, v, { cause: 'natural', detail: 'vehicle plugged in' }, chargerId);
}

export function unplug(world: World, v: VehicleRecord): void {
  const chargerId = v.data.chargeState.pluggedInChargerId;
  world.update(v, { cause: 'natural', detail: 'unplugged' }, (d) => {
    d.chargeState.isPluggedIn = false;
    refreshVehicleCharge(world, v, d);
  });
  mirrorToCharger(world, v, { cause: 'natural', detail: 'vehicle unplugged' }, chargerId);
}

function stepCharger(world: World, c: ChargerRecord, h: number, { rng, activity }: PhysicsParams): void {
  // A charger with a linked car only mirrors that car's session.
  if (c.homeVehicleId !== null || c.data.chargeState.pluggedInVehicleId !== null) return;
  const cs = c.data.chargeState;
  if (!cs.isPluggedIn) {
    if (rng.chance(activity * 0.15 * h)) plugInGuest(world, c, rng.float(5, 40));
    return;
  }
  if (cs.isCharging) {
    const full = chargeKw(cs.maxCurrent, 11);
    c.sim.sessionKwhLeft = Math.max(0, c.sim.sessionKwhLeft - guestKw(full, c.sim.sessionKwhLeft) * h);
    if (c.sim.sessionKwhLeft === 0) {
      world.update(c, { cause: 'natural', detail: 'car full' }, (d) => {
        d.chargeState.isCharging = false;
        d.chargeState.chargeRate = null;
        d.chargeState.powerDeliveryState = 'PLUGGED_IN:STOPPED';
      });
    } else {
      // The charger reports the power it delivers: it tapers as the unknown car fills up.
      world.update(c, { cause: 'natural', detail: 'charging' }, (d) => {
        d.chargeState.chargeRate = guestKw(full, c.sim.sessionKwhLeft);
      });
    }
  }
  if (rng.chance(activity * (c.data.chargeState.isCharging ? 0.05 : 0.3) * h)) unplugGuest(world, c);
}

/** Energy over which an unlinked car's charging power tapers before it is full (constant-voltage phase). */
const GUEST_TAPER_KWH = 3;

/** kW an unlinked car draws with `kwhLeft` to go: full power, then tapering to a sixth near the end. */
export function guestKw(fullKw: number, kwhLeft: number): number {
  const share = Math.max(1 / 6, Math.min(1, kwhLeft / GUEST_TAPER_KWH));
  return Math.round(fullKw * share * 10) / 10;
}

/** An unlinked car is plugged into a charger and starts charging. */
export function plugInGuest(world: World, c: ChargerRecord, sessionKwh: number): void {
  c.sim.sessionKwhLeft = sessionKwh;
  world.update(c, { cause: 'natural', detail: 'plugged in' }, (d) => {
    d.chargeState.isPluggedIn = true;
    d.chargeState.isCharging = true;
    d.chargeState.chargeRate = chargeKw(d.chargeState.maxCurrent, 11);
    d.chargeState.powerDeliveryState = 'PLUGGED_IN:CHARGING';
  });
}

export function unplugGuest(world: World, c: ChargerRecord): void {
  c.sim.sessionKwhLeft = 0;
  world.update(c, { cause: 'natural', detail: 'unplugged' }, (d) => {
    d.chargeState.isPluggedIn = false;
    d.chargeState.isCharging = false;
    d.chargeState.chargeRate = null;
    d.chargeState.powerDeliveryState = 'UNPLUGGED';
  });
}

function stepHvac(world: World, hv: HvacRecord, h: number): void {
  const t = hv.data.thermostatState;
  if (t.holdType === 'SCHEDULED') {
    setHvacTarget(world, hv, { holdType: 'SCHEDULED' }, { cause: 'natural', detail: 'following its schedule' }, scheduledTarget(hv.data.information.category, world.clock.nowMs()));
  }
  const s = hv.data.thermostatState;
  const temp = hv.sim.temperature;
  const heating = (s.mode === 'HEAT' || s.mode === 'AUTO') && s.heatSetpoint !== null && temp < s.heatSetpoint - 0.2;
  const cooling = (s.mode === 'COOL' || s.mode === 'AUTO') && s.coolSetpoint !== null && temp > s.coolSetpoint + 0.2;
  const drift = heating ? 1.5 : cooling ? -1.5 : temp > 15 ? -0.4 : 0.1;
  hv.sim.temperature = round(temp + drift * h, 3);
  world.update(hv, { cause: 'natural', detail: 'room temperature' }, (d) => {
    d.temperatureState.currentTemperature = Math.round(hv.sim.temperature * 2) / 2;
    d.temperatureState.isActive = heating || cooling;
    d.consumptionRate = heating || cooling ? 1.2 : 0;
  });
}

function stepBattery(world: World, b: BatteryRecord, h: number): void {
  const cs = b.data.chargeState;
  const cap = cs.batteryCapacity ?? 10;
  const floor = cs.dischargeLimit ?? 0;
  const hour = new Date(world.clock.nowMs()).getUTCHours();
  const canCharge = b.sim.level < 100;
  const canDischarge = b.sim.level > floor;
  let status: 'CHARGING' | 'DISCHARGING' | 'IDLE' = 'IDLE';
  switch (b.data.config.operationMode) {
    case 'IMPORT_FOCUS':
      status = canCharge ? 'CHARGING' : 'IDLE';
      break;
    case 'EXPORT_FOCUS':
      status = canDischarge ? 'DISCHARGING' : 'IDLE';
      break;
    case 'TIME_OF_USE':
      if (hour >= 1 && hour < 6 && canCharge) status = 'CHARGING';
      else if (hour >= 17 && hour < 21 && canDischarge) status = 'DISCHARGING';
      break;
    case 'SELF_RELIANCE':
      if (hour >= 9 && hour < 16 && canCharge) status = 'CHARGING';
      else if ((hour >= 17 || hour < 7) && canDischarge) status = 'DISCHARGING';
      break;
    default:
      break;
  }
  const kw = status === 'CHARGING' ? round(b.sim.maxKw * 0.6, 2) : status === 'DISCHARGING' ? -round(b.sim.maxKw * 0.4, 2) : 0;
  b.sim.level = Math.min(100, Math.max(status === 'DISCHARGING' ? floor : 0, b.sim.level + ((kw * h) / cap) * 100));
  world.update(b, { cause: 'natural', detail: `operating in ${b.data.config.operationMode ?? 'UNKNOWN'}` }, (d) => {
    d.chargeState.status = status;
    d.chargeState.chargeRate = kw;
    d.chargeState.batteryLevel = Math.floor(b.sim.level);
  });
}

/** Plugs a vehicle (or an unlinked car into a charger) in or out; an error message when not possible. */
export function setPlugged(world: World, rec: DeviceRecord, pluggedIn: boolean): string | null {
  if (rec.type !== 'vehicle' && rec.type !== 'charger') return 'Only vehicles and chargers can be plugged in';
  if ((rec.data.chargeState.isPluggedIn === true) === pluggedIn) return null;
  if (rec.type === 'vehicle') {
    if (pluggedIn) plugIn(world, rec);
    else unplug(world, rec);
    return null;
  }
  if (rec.homeVehicleId !== null) return 'This charger has a linked vehicle: plug that vehicle in or out instead';
  if (pluggedIn) plugInGuest(world, rec, 30);
  else unplugGuest(world, rec);
  return null;
}
