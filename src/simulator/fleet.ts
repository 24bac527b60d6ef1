import type { Rng } from './random.js';
import type { Battery, Capability, Charger, DeviceType, Hvac, HvacCategory, HvacMode, Vehicle } from './types.js';

/** Internal, hidden per-device simulation state (not part of the Enode shape). */
export interface VehicleSim {
  /** Battery level with decimals; the shape shows it rounded. */
  level: number;
  maxChargeKw: number;
  kmPerKwh: number;
}
export interface ChargerSim {
  /** Energy the (unknown, unlinked) plugged-in car still accepts, kWh. */
  sessionKwhLeft: number;
}
export interface HvacSim {
  temperature: number;
}
export interface BatterySim {
  level: number;
  maxKw: number;
}

const VEHICLE_MODELS = [
  { vendor: 'TESLA', brand: 'Tesla', model: 'Model 3', capacity: 57.5, kw: 11, kmPerKwh: 6.5 },
  { vendor: 'TESLA', brand: 'Tesla', model: 'Model Y', capacity: 75, kw: 11, kmPerKwh: 6 },
  { vendor: 'VOLKSWAGEN', brand: 'Volkswagen', model: 'ID.3', capacity: 58, kw: 11, kmPerKwh: 6.2 },
  { vendor: 'KIA', brand: 'Kia', model: 'EV6', capacity: 77.4, kw: 11, kmPerKwh: 5.8 },
  { vendor: 'HYUNDAI', brand: 'Hyundai', model: 'IONIQ 5', capacity: 72.6, kw: 11, kmPerKwh: 5.7 },
  { vendor: 'POLESTAR', brand: 'Polestar', model: '2', capacity: 78, kw: 11, kmPerKwh: 5.6 },
  { vendor: 'BMW', brand: 'BMW', model: 'i4', capacity: 80.7, kw: 11, kmPerKwh: 6 },
  { vendor: 'NISSAN', brand: 'Nissan', model: 'Leaf', capacity: 39, kw: 6.6, kmPerKwh: 6.5 },
  { vendor: 'RENAULT', brand: 'Renault', model: 'Megane E-Tech', capacity: 60, kw: 7.4, kmPerKwh: 6.3 },
] as const;

const CHARGER_MODELS = [
  { vendor: 'ZAPTEC', brand: 'Zaptec', model: 'Go' },
  { vendor: 'EASEE', brand: 'Easee', model: 'Charge' },
  { vendor: 'WALLBOX', brand: 'Wallbox', model: 'Pulsar Plus' },
  { vendor: 'OHME', brand: 'Ohme', model: 'Home Pro' },
  { vendor: 'MYENERGI', brand: 'myenergi', model: 'zappi' },
] as const;

const HVAC_MODELS: ReadonlyArray<{ vendor: string; brand: string; model: string; category: HvacCategory }> = [
  { vendor: 'TADO', brand: 'tado°', model: 'Smart Thermostat X', category: 'HEATING' },
  { vendor: 'NETATMO', brand: 'Netatmo', model: 'Smart Thermostat', category: 'HEATING' },
  { vendor: 'ECOBEE', brand: 'ecobee', model: 'Smart Thermostat Premium', category: 'HEAT_PUMP' },
  { vendor: 'DAIKIN', brand: 'Daikin', model: 'Altherma 3', category: 'HEAT_PUMP' },
  { vendor: 'SENSIBO', brand: 'Sensibo', model: 'Air Pro', category: 'COOLING' },
  { vendor: 'MILL', brand: 'Mill', model: 'Oil heater', category: 'HEATING' },
];

const BATTERY_MODELS = [
  { vendor: 'TESLA', brand: 'Tesla', model: 'Powerwall 2', capacity: 13.5, kw: 5 },
  { vendor: 'ENPHASE', brand: 'Enphase', model: 'IQ Battery 5P', capacity: 5, kw: 3.84 },
  { vendor: 'GIVENERGY', brand: 'GivEnergy', model: 'All in One', capacity: 13.5, kw: 6 },
  { vendor: 'HUAWEI', brand: 'Huawei', model: 'LUNA2000', capacity: 10, kw: 5 },
  { vendor: 'SOLAREDGE', brand: 'SolarEdge', model: 'Home Battery', capacity: 9.7, kw: 5 },
] as const;

const SCOPES: Record<DeviceType, string[]> = {
  vehicle: ['vehicle:read:data', 'vehicle:read:location', 'vehicle:control:charging'],
  charger: ['charger:read:data', 'charger:control:charging'],
  hvac: ['hvac:read:data', 'hvac:control:mode'],
  battery: ['battery:read:data', 'battery:read:location', 'battery:control:operation_mode'],
};

const VIN_ALPHABET = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';

function capable(): Capability {
  return { isCapable: true, interventionIds: [] };
}
function maybeCapable(rng: Rng, incapableRate: number): Capability {
  return rng.chance(incapableRate) ? { isCapable: false, interventionIds: [rng.uuid()] } : capable();
}

/** Charge power in kW the car draws at `maxCurrent` A (three phases at 230 V), capped by the car. */
export function chargeKw(maxCurrent: number | null, carMaxKw: number): number {
  const byCurrent = maxCurrent === null ? carMaxKw : (maxCurrent * 230 * 3) / 1000;
  return Math.round(Math.min(carMaxKw, byCurrent) * 10) / 10;
}

export function createVehicle(rng: Rng, id: string, userId: string, now: string, incapableRate: number): { data: Vehicle; sim: VehicleSim } {
  const m = rng.pick(VEHICLE_MODELS);
  const level = rng.int(20, 90);
  const chargeLimit = rng.pick([80, 80, 90, 100]);
  const lat = 59.9 + rng.float(-0.2, 0.2);
  const lon = 10.75 + rng.float(-0.3, 0.3);
  const data: Vehicle = {
    id,
    userId,
    vendor: m.vendor,
    lastSeen: now,
    isReachable: true,
    information: {
      vin: rng.chars(17, VIN_ALPHABET),
      brand: m.brand,
      model: m.model,
      year: rng.int(2019, 2024),
      displayName: `${m.brand} ${m.model}`,
    },
    chargeState: {
      batteryLevel: level,
      range: Math.round((level / 100) * m.capacity * m.kmPerKwh),
      isPluggedIn: false,
      isCharging: false,
      isFullyCharged: false,
      batteryCapacity: m.capacity,
      chargeLimit,
      chargeRate: null,
      chargeTimeRemaining: null,
      lastUpdated: now,
      maxCurrent: 16,
      powerDeliveryState: 'UNPLUGGED',
      pluggedInChargerId: null,
    },
    smartChargingPolicy: { isEnabled: false, deadline: null, minimumChargeLimit: 0 },
    odometer: { distance: rng.int(1000, 90000), lastUpdated: now },
    capabilities: {
      information: capable(),
      chargeState: capable(),
      location: capable(),
      odometer: capable(),
      setMaxCurrent: m.vendor === 'TESLA' ? capable() : { isCapable: false, interventionIds: [] },
      startCharging: maybeCapable(rng, incapableRate),
      stopCharging: capable(),
      smartCharging: capable(),
    },
    scopes: [...SCOPES.vehicle],
    location: { id: null, longitude: round(lon, 5), latitude: round(lat, 5), lastUpdated: now },
  };
  return { data, sim: { level, maxChargeKw: m.kw, kmPerKwh: m.kmPerKwh } };
}

export function createCharger(rng: Rng, id: string, userId: string, now: string, incapableRate: number): { data: Charger; sim: ChargerSim } {
  const m = rng.pick(CHARGER_MODELS);
  const data: Charger = {
    id,
    userId,
    vendor: m.vendor,
    lastSeen: now,
    isReachable: true,
    chargeState: {
      isPluggedIn: false,
      isCharging: false,
      chargeRate: null,
      lastUpdated: now,
      maxCurrent: rng.pick([16, 16, 20, 32]),
      powerDeliveryState: 'UNPLUGGED',
      pluggedInVehicleId: null,
    },
    capabilities: {
      information: capable(),
      chargeState: capable(),
      startCharging: maybeCapable(rng, incapableRate),
      stopCharging: capable(),
      setMaxCurrent: maybeCapable(rng, incapableRate),
    },
    scopes: [...SCOPES.charger],
    information: { brand: m.brand, model: m.model, year: rng.int(2020, 2024), serialNumber: rng.chars(10, VIN_ALPHABET) },
    location: { id: null, lastUpdated: now },
  };
  return { data, sim: { sessionKwhLeft: 0 } };
}

const MODES_BY_CATEGORY: Record<HvacCategory, HvacMode[]> = {
  HEATING: ['OFF', 'HEAT'],
  COOLING: ['OFF', 'COOL'],
  HEAT_PUMP: ['OFF', 'HEAT', 'COOL', 'AUTO'],
  AGGREGATOR: ['OFF', 'HEAT'],
};

export function createHvac(rng: Rng, id: string, userId: string, now: string, incapableRate: number): { data: Hvac; sim: HvacSim } {
  const m = rng.pick(HVAC_MODELS);
  const modes = MODES_BY_CATEGORY[m.category];
  const temperature = round(rng.float(17, 23), 1);
  const canCool = modes.includes('COOL');
  const canHeat = modes.includes('HEAT');
  const data: Hvac = {
    id,
    userId,
    vendor: m.vendor,
    lastSeen: now,
    isReachable: true,
    consumptionRate: 0,
    information: {
      brand: m.brand,
      model: m.model,
      displayName: rng.pick(['Living room', 'Kitchen', 'Bedroom', 'Office', 'Hallway']),
      groupName: rng.pick(['Home', 'Cabin', null]),
      category: m.category,
    },
    temperatureState: { currentTemperature: temperature, isActive: false, lastUpdated: now },
    thermostatState: { mode: 'OFF', heatSetpoint: null, coolSetpoint: null, holdType: 'SCHEDULED', lastUpdated: now },
    scopes: [...SCOPES.hvac],
    capabilities: {
      capableModes: [...modes],
      coolSetpointRange: canCool ? { min: 16, max: 32 } : null,
      heatSetpointRange: canHeat ? { min: 5, max: 30 } : null,
      setpointDifferenceRange: modes.includes('AUTO') ? { min: 2, max: 10 } : null,
      setFollowSchedule: capable(),
      setPermanentHold: maybeCapable(rng, incapableRate),
    },
    location: { id: null },
  };
  return { data, sim: { temperature } };
}

export function createBattery(rng: Rng, id: string, userId: string, now: string, incapableRate: number): { data: Battery; sim: BatterySim } {
  const m = rng.pick(BATTERY_MODELS);
  const level = rng.int(20, 95);
  const data: Battery = {
    id,
    userId,
    vendor: m.vendor,
    lastSeen: now,
    isReachable: true,
    chargeState: {
      status: 'IDLE',
      batteryCapacity: m.capacity,
      batteryLevel: level,
      chargeRate: 0,
      dischargeLimit: rng.pick([10, 15, 20]),
      lastUpdated: now,
    },
    config: { operationMode: rng.pick(['SELF_RELIANCE', 'SELF_RELIANCE', 'TIME_OF_USE'] as const), lastUpdated: now },
    information: {
      id: rng.chars(12, VIN_ALPHABET),
      brand: m.brand,
      model: m.model,
      siteName: rng.pick(['Home', 'Cabin', 'Main house']),
      installationDate: new Date(Date.parse(now) - rng.int(30, 1500) * 86400000).toISOString(),
    },
    capabilities: {
      exportFocus: maybeCapable(rng, incapableRate),
      importFocus: capable(),
      timeOfUse: capable(),
      selfReliance: capable(),
      idle: maybeCapable(rng, incapableRate),
    },
    scopes: [...SCOPES.battery],
    location: { id: null, longitude: round(10.75 + rng.float(-0.3, 0.3), 5), latitude: round(59.9 + rng.float(-0.2, 0.2), 5), lastUpdated: now },
    hemSystemId: null,
  };
  return { data, sim: { level, maxKw: m.kw } };
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
