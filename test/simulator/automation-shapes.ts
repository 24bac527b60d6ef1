import { z } from 'zod';

/**
 * The 2024-10-01 shapes of Schedules and Smart Charging, written from the spec's required keys
 * (components.schemas UserScheduleStatusUpdated, ChargeScheduleStatus, TemperatureScheduleStatus,
 * ScheduleResponse, UserVehicleSmartChargingStatusUpdated, SmartChargingPlan, SmartOverrideStatus)
 * — strict, so a key the spec does not have fails too.
 */

const iso = z.string().refine((s) => !Number.isNaN(Date.parse(s)) && s.includes('T'), 'an ISO date-time');
const hm = z.string().regex(/^(((?:[01]\d|2[0-3]):[0-5]\d)|24:00)$/);

export const scheduleState = z.enum(['ALIGNED', 'MISALIGNED', 'PENDING', 'INACTIVE:OVERRIDDEN', 'INACTIVE:DISABLED', 'INACTIVE:AWAY', 'INACTIVE:INCAPABLE']);

export const smartOverrideStatus = z.strictObject({
  createdAt: iso,
  endedAt: iso.nullable(),
  targetType: z.enum(['vehicle', 'charger']),
  targetId: z.string(),
  vendorActionId: z.string().nullable(),
});

export const smartOverrideResponse = smartOverrideStatus.extend({ userId: z.string(), vendor: z.string() });

export const temperatureTarget = z.union([
  z.strictObject({ coolSetpoint: z.number(), mode: z.literal('COOL'), holdType: z.literal('PERMANENT') }),
  z.strictObject({ heatSetpoint: z.number(), mode: z.literal('HEAT'), holdType: z.literal('PERMANENT') }),
  z.strictObject({ coolSetpoint: z.number(), heatSetpoint: z.number(), mode: z.literal('AUTO'), holdType: z.literal('PERMANENT') }),
  z.strictObject({ mode: z.literal('OFF'), holdType: z.literal('PERMANENT') }),
  z.strictObject({ holdType: z.literal('SCHEDULED') }),
]);

const filters = {
  hourMinute: z.strictObject({ from: hm, to: hm }).optional(),
  fromTimestamp: iso.optional(),
  toTimestamp: iso.optional(),
  weekdays: z.array(z.number().int().min(0).max(6)).optional(),
};

export const chargeScheduleStatus = z.strictObject({
  scheduleId: z.string(),
  scheduleType: z.literal('CHARGE'),
  changedAt: iso,
  state: scheduleState,
  isCharging: z.boolean(),
  isChargingExpected: z.boolean(),
  isChargingExpectedParts: z.strictObject({ needsCharge: z.boolean(), isPluggedIn: z.boolean(), shouldCharge: z.boolean() }),
  upcomingTransitions: z.array(z.strictObject({ at: iso, shouldCharge: z.boolean() })),
  smartOverride: smartOverrideStatus.nullable(),
});

export const temperatureScheduleStatus = z.strictObject({
  scheduleId: z.string(),
  scheduleType: z.literal('TEMPERATURE'),
  changedAt: iso,
  state: scheduleState,
  current: temperatureTarget.nullable(),
  expected: temperatureTarget,
  upcomingTransitions: z.array(z.strictObject({ at: iso, target: temperatureTarget })),
});

export const chargeSchedule = z.strictObject({
  id: z.string(),
  targetId: z.string().min(1),
  locationId: z.string().nullable(),
  targetType: z.enum(['vehicle', 'charger']),
  isEnabled: z.boolean(),
  defaultShouldCharge: z.boolean(),
  rules: z.array(z.strictObject({ ...filters, shouldCharge: z.boolean() })),
});

export const temperatureSchedule = z.strictObject({
  id: z.string(),
  isEnabled: z.boolean(),
  targetId: z.string().min(1),
  targetType: z.literal('hvac'),
  defaultTargetState: temperatureTarget,
  rules: z.array(z.strictObject({ ...filters, targetState: temperatureTarget })),
});

const user = z.strictObject({ id: z.string() });

export const scheduleExecutionUpdated = z.strictObject({
  event: z.literal('user:schedule:execution-updated'),
  createdAt: iso,
  version: z.literal('2024-10-01'),
  user,
  status: z.union([chargeScheduleStatus, temperatureScheduleStatus]),
  schedule: z.union([chargeSchedule, temperatureSchedule]),
  updatedFields: z.array(z.string()).min(1),
});

export const smartChargeState = z.enum([
  'DISABLED', 'CONSIDERING', 'UNKNOWN', 'PLAN:EXECUTING:STOPPING', 'PLAN:EXECUTING:STOP_FAILED', 'PLAN:EXECUTING:STOPPED',
  'PLAN:EXECUTING:STOPPED:AWAITING_PRICES', 'PLAN:EXECUTING:STARTING', 'PLAN:EXECUTING:START_FAILED', 'PLAN:EXECUTING:STARTED',
  'PLAN:EXECUTING:CHARGE_INTERRUPTED', 'PLAN:EXECUTING:OVERRIDDEN', 'PLAN:ENDED:FINISHED', 'PLAN:ENDED:UNPLUGGED', 'PLAN:ENDED:FAILED',
  'PLAN:ENDED:DISABLED', 'PLAN:ENDED:DEADLINE_CHANGED', 'FULLY_CHARGED',
]);

export const smartChargingPlan = z.strictObject({
  id: z.string(),
  vehicleId: z.string(),
  userId: z.string(),
  locationId: z.string().nullable(),
  vendor: z.string(),
  currency: z.string(),
  nonSmartCost: z.number(),
  smartCost: z.number().nullable(),
  stopAt: iso,
  startAt: iso.nullable(),
  estimatedFinishAt: iso,
  stopConfirmedAt: iso.nullable(),
  startConfirmedAt: iso.nullable(),
  endedAt: iso.nullable(),
  finalState: z.enum(['PLAN:ENDED:FINISHED', 'PLAN:ENDED:UNPLUGGED', 'PLAN:ENDED:FAILED', 'PLAN:ENDED:DISABLED', 'PLAN:ENDED:DEADLINE_CHANGED']).nullable(),
  failureCondition: z.enum(['STOP_FAILED', 'START_FAILED', 'FINISHED_LATE', 'UNKNOWN', 'CHARGE_INTERRUPTED']).nullable(),
});

export const smartChargingStatus = z.strictObject({
  updatedAt: iso,
  vehicleId: z.string(),
  userId: z.string(),
  vendor: z.string(),
  state: smartChargeState,
  stateChangedAt: iso,
  consideration: z.strictObject({ isPluggedIn: z.boolean(), isCharging: z.boolean(), atChargingLocation: z.boolean(), hasTimeEstimate: z.boolean() }),
  plan: smartChargingPlan.nullable(),
  smartOverride: smartOverrideStatus.nullable(),
});

export const smartChargingStatusUpdated = z.strictObject({
  event: z.literal('user:vehicle:smart-charging-status-updated'),
  createdAt: iso,
  version: z.literal('2024-10-01'),
  user,
  smartChargingStatus,
  updatedFields: z.array(z.string()).min(1),
});

export const smartChargingPolicy = z.strictObject({ isEnabled: z.boolean(), deadline: z.string().nullable(), minimumChargeLimit: z.number() });
