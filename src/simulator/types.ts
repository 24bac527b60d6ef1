/**
 * Object shapes the simulator serves, following Enode API version 2024-10-01 (field names, nesting
 * and nullability as the spec defines them; written by hand for this project).
 */

export const API_VERSION = '2024-10-01';

export type DeviceType = 'vehicle' | 'charger' | 'hvac' | 'battery';
export const DEVICE_TYPES: readonly DeviceType[] = ['vehicle', 'charger', 'hvac', 'battery'];

/** URL segment of each device type (`/vehicles`, `/hvacs`…). */
export const DEVICE_PATHS: Record<DeviceType, string> = {
  vehicle: 'vehicles',
  charger: 'chargers',
  hvac: 'hvacs',
  battery: 'batteries',
};

export interface Capability {
  isCapable: boolean;
  interventionIds: string[];
}

export type VehiclePowerDeliveryState =
  | 'UNKNOWN'
  | 'UNPLUGGED'
  | 'PLUGGED_IN:INITIALIZING'
  | 'PLUGGED_IN:CHARGING'
  | 'PLUGGED_IN:STOPPED'
  | 'PLUGGED_IN:COMPLETE'
  | 'PLUGGED_IN:NO_POWER'
  | 'PLUGGED_IN:FAULT'
  | 'PLUGGED_IN:DISCHARGING';

export type ChargerPowerDeliveryState = Exclude<VehiclePowerDeliveryState, 'PLUGGED_IN:COMPLETE'>;

export interface Location {
  id: string | null;
  longitude: number | null;
  latitude: number | null;
  lastUpdated: string | null;
}

/** What every device object of the 2024-10-01 API starts with. */
export interface DeviceIdentity {
  id: string;
  userId: string;
  vendor: string;
  lastSeen: string;
  isReachable: boolean;
}

export interface Vehicle {
  id: string;
  userId: string;
  vendor: string;
  lastSeen: string;
  isReachable: boolean | null;
  information: {
    vin: string | null;
    brand: string | null;
    model: string | null;
    year: number | null;
    displayName: string | null;
  };
  chargeState: {
    batteryLevel: number | null;
    range: number | null;
    isPluggedIn: boolean | null;
    isCharging: boolean | null;
    isFullyCharged: boolean | null;
    batteryCapacity: number | null;
    chargeLimit: number | null;
    chargeRate: number | null;
    chargeTimeRemaining: number | null;
    lastUpdated: string | null;
    maxCurrent: number | null;
    powerDeliveryState: VehiclePowerDeliveryState;
    pluggedInChargerId: string | null;
  };
  smartChargingPolicy: { isEnabled: boolean; deadline: string | null; minimumChargeLimit: number };
  odometer: { distance: number | null; lastUpdated: string | null };
  capabilities: {
    information: Capability;
    chargeState: Capability;
    location: Capability;
    odometer: Capability;
    setMaxCurrent: Capability;
    startCharging: Capability;
    stopCharging: Capability;
    smartCharging: Capability;
  };
  scopes: string[];
  location: Location;
}

export interface Charger extends DeviceIdentity {
  chargeState: {
    isPluggedIn: boolean | null;
    isCharging: boolean | null;
    chargeRate: number | null;
    lastUpdated: string | null;
    maxCurrent: number | null;
    powerDeliveryState: ChargerPowerDeliveryState;
    pluggedInVehicleId: string | null;
  };
  capabilities: {
    information: Capability;
    chargeState: Capability;
    startCharging: Capability;
    stopCharging: Capability;
    setMaxCurrent: Capability;
  };
  scopes: string[];
  information: { brand: string; model: string; year: number | null; serialNumber: string };
  location: { id: string | null; lastUpdated: string | null };
}

export type HvacMode = 'UNKNOWN' | 'OFF' | 'AUTO' | 'COOL' | 'HEAT';
export type HvacHoldType = 'PERMANENT' | 'SCHEDULED';
export type HvacCategory = 'HEATING' | 'COOLING' | 'HEAT_PUMP' | 'AGGREGATOR';

export interface Range {
  min: number | null;
  max: number | null;
}

export interface Hvac extends DeviceIdentity {
  consumptionRate: number | null;
  information: {
    brand: string;
    model: string | null;
    displayName: string;
    groupName: string | null;
    category: HvacCategory;
  };
  temperatureState: { currentTemperature: number | null; isActive: boolean; lastUpdated: string | null };
  thermostatState: {
    mode: HvacMode;
    heatSetpoint: number | null;
    coolSetpoint: number | null;
    holdType: HvacHoldType | null;
    lastUpdated: string | null;
  };
  scopes: string[];
  capabilities: {
    capableModes: HvacMode[] | null;
    coolSetpointRange: Range | null;
    heatSetpointRange: Range | null;
    setpointDifferenceRange: Range | null;
    setFollowSchedule: Capability;
    setPermanentHold: Capability;
  };
  location: { id: string | null };
}

export type OperationMode = 'IMPORT_FOCUS' | 'EXPORT_FOCUS' | 'TIME_OF_USE' | 'SELF_RELIANCE' | 'IDLE';
export const OPERATION_MODES: readonly OperationMode[] = [
  'IMPORT_FOCUS',
  'EXPORT_FOCUS',
  'TIME_OF_USE',
  'SELF_RELIANCE',
  'IDLE',
];
/** Battery capability key that allows each operation mode. */
export const OPERATION_MODE_CAPABILITY: Record<OperationMode, keyof Battery['capabilities']> = {
  IMPORT_FOCUS: 'importFocus',
  EXPORT_FOCUS: 'exportFocus',
  TIME_OF_USE: 'timeOfUse',
  SELF_RELIANCE: 'selfReliance',
  IDLE: 'idle',
};

export interface Battery extends DeviceIdentity {
  chargeState: {
    status: 'CHARGING' | 'DISCHARGING' | 'IDLE' | 'FAULT' | 'UNKNOWN' | null;
    batteryCapacity: number | null;
    batteryLevel: number | null;
    chargeRate: number | null;
    dischargeLimit: number | null;
    lastUpdated: string | null;
  };
  config: { operationMode: OperationMode | 'UNKNOWN' | null; lastUpdated: string | null };
  information: { id: string; brand: string; model: string; siteName: string; installationDate: string };
  capabilities: {
    exportFocus: Capability;
    importFocus: Capability;
    timeOfUse: Capability;
    selfReliance: Capability;
    idle: Capability;
  };
  scopes: string[];
  location: Location;
  hemSystemId: string | null;
}

export interface DeviceByType {
  vehicle: Vehicle;
  charger: Charger;
  hvac: Hvac;
  battery: Battery;
}
export type Device = DeviceByType[DeviceType];

// ---------------------------------------------------------------------------------------------
// Actions

export type ActionState = 'PENDING' | 'CONFIRMED' | 'FAILED' | 'CANCELLED';
export type FailureReasonType =
  | 'NO_RESPONSE'
  | 'FAILED_PRECONDITION'
  | 'CONFLICT'
  | 'NOT_FOUND'
  | 'UNNECESSARY'
  | 'REQUESTED_CANCELLATION';

export interface FailureReason {
  type: FailureReasonType;
  detail: string;
}

export type HvacTarget =
  | { mode: 'COOL'; coolSetpoint: number; holdType: 'PERMANENT' }
  | { mode: 'HEAT'; heatSetpoint: number; holdType: 'PERMANENT' }
  | { mode: 'AUTO'; coolSetpoint: number; heatSetpoint: number; holdType: 'PERMANENT' }
  | { mode: 'OFF'; holdType: 'PERMANENT' }
  | { holdType: 'SCHEDULED' };

/** An HVAC target that names a mode (a permanent hold, or what a schedule currently asks for). */
export type ModeTarget = Exclude<HvacTarget, { holdType: 'SCHEDULED' }>;

interface ActionBase {
  id: string;
  userId: string;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  state: ActionState;
  targetId: string;
}

export interface ChargeAction extends ActionBase {
  targetType: 'vehicle' | 'charger';
  kind: 'START' | 'STOP';
  failureReason: FailureReason | null;
}
export interface MaxCurrentAction extends ActionBase {
  targetType: 'vehicle' | 'charger';
  targetState: { maxCurrent: number };
  failureReason: FailureReason | null;
}
export interface HvacAction extends ActionBase {
  targetType: 'hvac';
  target: HvacTarget;
  failureReason: FailureReason | null;
}
export interface OperationModeAction extends ActionBase {
  targetType: 'battery';
  targetState: { operationMode: OperationMode };
  failureReason: FailureReason | null;
}
export type VendorAction = ChargeAction | MaxCurrentAction | HvacAction | OperationModeAction;

/** What an action (or a third party) wants a device to do. */
export type Intent =
  | { kind: 'charging'; action: 'START' | 'STOP' }
  | { kind: 'maxCurrent'; maxCurrent: number }
  | { kind: 'hvac'; target: HvacTarget }
  | { kind: 'operationMode'; operationMode: OperationMode };

// ---------------------------------------------------------------------------------------------
// Webhook events and ground truth

export interface SimEvent {
  event: string;
  createdAt: string;
  version: string;
  user?: { id: string };
  [key: string]: unknown;
}

/**
 * Why a device field changed: an action this client created through the API (`own_action`), an
 * Enode feature running for this client — a Schedule execution, a smart charging plan or a smart
 * override (`own_automation`) — the world itself (`natural`), or a third party (`interference`).
 */
export type ChangeCause = 'own_action' | 'own_automation' | 'natural' | 'interference';

/** Which Enode automation of this client caused a change (with cause `own_automation`). */
export interface AutomationRef {
  kind: 'enode_schedule' | 'smart_charging_plan' | 'smart_override';
  /** The schedule id, the plan id, or the override's vendorActionId. */
  id: string;
}

/** One real change of one device field, with why it happened. */
export interface TruthChange {
  deviceId: string;
  deviceType: DeviceType;
  userId: string;
  field: string;
  from: unknown;
  to: unknown;
  at: string;
  cause: ChangeCause;
  actionId?: string;
  /** Set with cause `own_automation`. */
  automation?: AutomationRef;
  detail: string;
}

export interface DroppedEvent {
  webhookId: string;
  event: string;
  createdAt: string;
  reason: 'fault' | 'inactive' | 'retries_exhausted';
  subject: string | null;
}

export interface DeliveryRecord {
  webhookId: string;
  deliveryId: string;
  attempt: number;
  at: string;
  events: number;
  ok: boolean;
  status: number | null;
  error: string | null;
}

export interface WebhookStats {
  deliveries: number;
  failedAttempts: number;
  eventsDelivered: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  deactivations: number;
}

export interface SimLogger {
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
  debug(obj: unknown, msg?: string): void;
  child(bindings: Record<string, unknown>): SimLogger;
}

export const silentSimLogger: SimLogger = {
  info: () => {},
  warn: () => {},
  error: () => {},
  debug: () => {},
  child: () => silentSimLogger,
};

// ---------------------------------------------------------------------------------------------
// Schedules and smart charging (Enode's other two levels of control)

/** `hourMinute`, `weekdays` (0 = Monday … 6 = Sunday), `fromTimestamp`, `toTimestamp`; all optional. */
export interface ScheduleFilters {
  hourMinute?: { from: string; to: string };
  weekdays?: number[];
  fromTimestamp?: string;
  toTimestamp?: string;
}

export type ChargeScheduleRule = ScheduleFilters & { shouldCharge: boolean };
export type TemperatureScheduleRule = ScheduleFilters & { targetState: HvacTarget };

export interface ChargeSchedule {
  id: string;
  targetId: string;
  locationId: string | null;
  targetType: 'vehicle' | 'charger';
  isEnabled: boolean;
  defaultShouldCharge: boolean;
  rules: ChargeScheduleRule[];
}

export interface TemperatureSchedule {
  id: string;
  isEnabled: boolean;
  targetId: string;
  targetType: 'hvac';
  defaultTargetState: HvacTarget;
  rules: TemperatureScheduleRule[];
}

export type Schedule = ChargeSchedule | TemperatureSchedule;

export type ScheduleState =
  | 'ALIGNED'
  | 'MISALIGNED'
  | 'PENDING'
  | 'INACTIVE:OVERRIDDEN'
  | 'INACTIVE:DISABLED'
  | 'INACTIVE:AWAY'
  | 'INACTIVE:INCAPABLE';

export interface SmartOverrideStatus {
  createdAt: string;
  endedAt: string | null;
  targetType: 'vehicle' | 'charger';
  targetId: string;
  vendorActionId: string | null;
}

export interface ChargeScheduleStatus {
  scheduleId: string;
  scheduleType: 'CHARGE';
  changedAt: string;
  state: ScheduleState;
  isCharging: boolean;
  isChargingExpected: boolean;
  isChargingExpectedParts: { needsCharge: boolean; isPluggedIn: boolean; shouldCharge: boolean };
  upcomingTransitions: Array<{ at: string; shouldCharge: boolean }>;
  smartOverride: SmartOverrideStatus | null;
}

export interface TemperatureScheduleStatus {
  scheduleId: string;
  scheduleType: 'TEMPERATURE';
  changedAt: string;
  state: ScheduleState;
  current: HvacTarget | null;
  expected: HvacTarget;
  upcomingTransitions: Array<{ at: string; target: HvacTarget }>;
}

export type ScheduleStatus = ChargeScheduleStatus | TemperatureScheduleStatus;

export type SmartChargeState =
  | 'DISABLED'
  | 'CONSIDERING'
  | 'UNKNOWN'
  | 'PLAN:EXECUTING:STOPPING'
  | 'PLAN:EXECUTING:STOP_FAILED'
  | 'PLAN:EXECUTING:STOPPED'
  | 'PLAN:EXECUTING:STOPPED:AWAITING_PRICES'
  | 'PLAN:EXECUTING:STARTING'
  | 'PLAN:EXECUTING:START_FAILED'
  | 'PLAN:EXECUTING:STARTED'
  | 'PLAN:EXECUTING:CHARGE_INTERRUPTED'
  | 'PLAN:EXECUTING:OVERRIDDEN'
  | 'PLAN:ENDED:FINISHED'
  | 'PLAN:ENDED:UNPLUGGED'
  | 'PLAN:ENDED:FAILED'
  | 'PLAN:ENDED:DISABLED'
  | 'PLAN:ENDED:DEADLINE_CHANGED'
  | 'FULLY_CHARGED';

export type PlanFinalState = Extract<SmartChargeState, `PLAN:ENDED:${string}`>;

export interface SmartChargingPlan {
  id: string;
  vehicleId: string;
  userId: string;
  locationId: string | null;
  vendor: string;
  currency: string;
  nonSmartCost: number;
  smartCost: number | null;
  stopAt: string;
  startAt: string | null;
  estimatedFinishAt: string;
  stopConfirmedAt: string | null;
  startConfirmedAt: string | null;
  endedAt: string | null;
  finalState: PlanFinalState | null;
  failureCondition: 'STOP_FAILED' | 'START_FAILED' | 'FINISHED_LATE' | 'UNKNOWN' | 'CHARGE_INTERRUPTED' | null;
}

export interface SmartChargingStatus {
  updatedAt: string;
  vehicleId: string;
  userId: string;
  vendor: string;
  state: SmartChargeState;
  stateChangedAt: string;
  consideration: { isPluggedIn: boolean; isCharging: boolean; atChargingLocation: boolean; hasTimeEstimate: boolean };
  plan: SmartChargingPlan | null;
  smartOverride: SmartOverrideStatus | null;
}
