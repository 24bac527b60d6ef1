import { setCharging, setHvacTarget, setMaxCurrent, setOperationMode } from './control.js';
import type { Rng } from './random.js';
import { scheduledTarget } from './schedule.js';
import { OPERATION_MODE_CAPABILITY, OPERATION_MODES, type ModeTarget } from './types.js';
import type { ChangeContext, DeviceRecord, HvacRecord, World } from './world.js';

/**
 * Third parties changing controlled state on their own — the owner's app, a vendor-side schedule —
 * at `rate` changes per device per sim hour. Every change is recorded with cause `interference`.
 */
export function maybeInterfere(world: World, rec: DeviceRecord, dtMs: number, rate: number, rng: Rng): boolean {
  if (!rng.chance(rate * (dtMs / 3_600_000))) return false;
  return interfere(world, rec, rng);
}

/** Makes one third-party change to the device now; false when nothing sensible applies. */
export function interfere(world: World, rec: DeviceRecord, rng: Rng): boolean {
  const ctx = (detail: string): ChangeContext => ({ cause: 'interference', detail });
  switch (rec.type) {
    case 'vehicle': {
      const cs = rec.data.chargeState;
      if (!cs.isPluggedIn) return false;
      if (cs.isCharging) {
        setCharging(world, rec, false, ctx(rng.pick(['owner stopped charging in the vehicle app', 'vehicle charging schedule paused charging'])));
        return true;
      }
      if (rec.sim.level >= (cs.chargeLimit ?? 100)) return false;
      setCharging(world, rec, true, ctx(rng.pick(['owner started charging in the vehicle app', 'vehicle charging schedule started charging'])));
      return true;
    }
    case 'charger': {
      const cs = rec.data.chargeState;
      // A full car refuses to charge: starting it changes nothing a third party could see.
      const full = !cs.isCharging && (cs.pluggedInVehicleId ? vehicleFull(world, cs.pluggedInVehicleId) : rec.sim.sessionKwhLeft <= 0);
      if (cs.isPluggedIn && !full && rng.chance(0.7)) {
        setCharging(world, rec, !cs.isCharging, ctx(cs.isCharging ? 'owner stopped charging in the charger app' : 'charger schedule started charging'));
        return true;
      }
      const options = [6, 10, 16, 20, 32].filter((a) => a !== cs.maxCurrent);
      setMaxCurrent(world, rec, rng.pick(options), ctx('owner changed max current in the charger app'));
      return true;
    }
    case 'hvac':
      return interfereHvac(world, rec, rng);
    case 'battery': {
      const current = rec.data.config.operationMode;
      const modes = OPERATION_MODES.filter((m) => m !== current && rec.data.capabilities[OPERATION_MODE_CAPABILITY[m]].isCapable);
      if (modes.length === 0) return false;
      setOperationMode(world, rec, rng.pick(modes), ctx('owner changed operation mode in the vendor app'));
      return true;
    }
  }
}

function vehicleFull(world: World, vehicleId: string): boolean {
  const v = world.getTyped('vehicle', vehicleId);
  return v !== undefined && v.sim.level >= (v.data.chargeState.chargeLimit ?? 100);
}

function interfereHvac(world: World, rec: HvacRecord, rng: Rng): boolean {
  const s = rec.data.thermostatState;
  const caps = rec.data.capabilities;
  const ctx = (detail: string): ChangeContext => ({ cause: 'interference', detail });
  if (s.holdType === 'PERMANENT' && rng.chance(0.5)) {
    setHvacTarget(world, rec, { holdType: 'SCHEDULED' }, ctx('vendor schedule resumed'), scheduledTarget(rec.data.information.category, world.clock.nowMs()));
    return true;
  }
  const modes = (caps.capableModes ?? []).filter((m) => m !== 'UNKNOWN');
  const mode = rng.pick(modes.length ? modes : ['OFF' as const]);
  const clamp = (v: number, r: { min: number | null; max: number | null } | null) =>
    Math.min(r?.max ?? v, Math.max(r?.min ?? v, v));
  const heat = clamp((s.heatSetpoint ?? 20) + rng.pick([-2, -1, 1, 2]), caps.heatSetpointRange);
  const cool = clamp((s.coolSetpoint ?? 25) + rng.pick([-2, -1, 1, 2]), caps.coolSetpointRange);
  let target: ModeTarget;
  switch (mode) {
    case 'HEAT':
      target = { mode, heatSetpoint: heat, holdType: 'PERMANENT' };
      break;
    case 'COOL':
      target = { mode, coolSetpoint: cool, holdType: 'PERMANENT' };
      break;
    case 'AUTO':
      target = { mode, heatSetpoint: heat, coolSetpoint: clamp(Math.max(cool, heat + 3), caps.coolSetpointRange), holdType: 'PERMANENT' };
      break;
    default:
      target = { mode: 'OFF', holdType: 'PERMANENT' };
  }
  setHvacTarget(world, rec, target, ctx('owner set a manual hold on the thermostat'));
  return true;
}
