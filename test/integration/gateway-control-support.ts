/**
 * Helpers of the gateway's level-of-control tests (issue 17): Enode's schedule and smart charging
 * status events and vendor actions, posted through the signed webhook route as Enode sends them,
 * so that the gateway reads them from `control_statuses` and `actions` on either engine.
 */
import { expect } from 'vitest';
import { postWebhook, type EngineApp } from '../support/fixtures.js';

export const MIN = 60_000;
export const HOUR = 60 * MIN;

const iso = (ms: number) => new Date(ms).toISOString();

export interface ScheduleOptions {
  targetType?: 'vehicle' | 'charger';
  /** What the schedule expects now (`isChargingExpected`). */
  expected?: boolean;
  state?: string;
  enabled?: boolean;
  scheduleId?: string;
  /** Flips the status announces (`upcomingTransitions`): [epoch ms, shouldCharge]. */
  upcoming?: Array<[number, boolean]>;
}

/** `user:schedule:execution-updated` of a CHARGE schedule of `deviceId`, changed at `atMs`. */
export function chargeScheduleEvent(deviceId: string, atMs: number, o: ScheduleOptions = {}) {
  const userId = `user-of-${deviceId}`;
  const id = o.scheduleId ?? `sch-${deviceId}`;
  const expected = o.expected ?? false;
  return {
    event: 'user:schedule:execution-updated',
    createdAt: iso(atMs),
    version: '2024-10-01',
    user: { id: userId },
    status: {
      scheduleId: id,
      scheduleType: 'CHARGE',
      changedAt: iso(atMs),
      state: o.state ?? 'ALIGNED',
      isCharging: expected,
      isChargingExpected: expected,
      isChargingExpectedParts: { needsCharge: true, isPluggedIn: true, shouldCharge: expected },
      upcomingTransitions: (o.upcoming ?? []).map(([at, shouldCharge]) => ({ at: iso(at), shouldCharge })),
      smartOverride: null,
    },
    schedule: { id, targetId: deviceId, targetType: o.targetType ?? 'vehicle', locationId: null, isEnabled: o.enabled ?? true, defaultShouldCharge: false, rules: [] },
    updatedFields: [],
  };
}

/** `user:schedule:execution-updated` of a TEMPERATURE schedule of an HVAC, holding HEAT at 21 °C. */
export function temperatureScheduleEvent(hvacId: string, atMs: number, o: { enabled?: boolean; state?: string } = {}) {
  const userId = `user-of-${hvacId}`;
  const id = `sch-${hvacId}`;
  return {
    event: 'user:schedule:execution-updated',
    createdAt: iso(atMs),
    version: '2024-10-01',
    user: { id: userId },
    status: {
      scheduleId: id,
      scheduleType: 'TEMPERATURE',
      changedAt: iso(atMs),
      state: o.state ?? 'ALIGNED',
      current: null,
      expected: { mode: 'HEAT', heatSetpoint: 21, holdType: 'PERMANENT' },
      upcomingTransitions: [],
    },
    schedule: { id, targetId: hvacId, targetType: 'hvac', locationId: null, isEnabled: o.enabled ?? true, defaultTargetState: { holdType: 'SCHEDULED' }, rules: [] },
    updatedFields: [],
  };
}

export interface OverrideShape {
  createdAtMs: number;
  endedAtMs?: number | null;
  actionId: string | null;
}

/** `user:vehicle:smart-charging-status-updated` of a vehicle, in `state` since `atMs`, with plan `plan-{vehicleId}`. */
export function smartChargingEvent(vehicleId: string, atMs: number, state: string, override: OverrideShape | null = null) {
  const userId = `user-of-${vehicleId}`;
  return {
    event: 'user:vehicle:smart-charging-status-updated',
    createdAt: iso(atMs),
    version: '2024-10-01',
    user: { id: userId },
    smartChargingStatus: {
      updatedAt: iso(atMs),
      vehicleId,
      userId,
      vendor: 'TESLA',
      state,
      stateChangedAt: iso(atMs),
      consideration: null,
      plan: {
        id: `plan-${vehicleId}`,
        vehicleId,
        userId,
        locationId: null,
        vendor: 'TESLA',
        currency: 'EUR',
        nonSmartCost: 1,
        smartCost: 0.5,
        stopAt: iso(atMs),
        startAt: iso(atMs + 6 * HOUR),
        estimatedFinishAt: iso(atMs + 8 * HOUR),
        stopConfirmedAt: null,
        startConfirmedAt: null,
        endedAt: state.startsWith('PLAN:ENDED') ? iso(atMs) : null,
        finalState: null,
        failureCondition: null,
      },
      smartOverride: override && {
        createdAt: iso(override.createdAtMs),
        endedAt: override.endedAtMs == null ? null : iso(override.endedAtMs),
        targetType: 'vehicle',
        targetId: vehicleId,
        vendorActionId: override.actionId,
      },
    },
    updatedFields: [],
  };
}

/** A charge action of another caller (a schedule, a plan, another service) as `user:vendor-action:updated` reports it. */
export function chargeActionEvent(id: string, deviceId: string, createdAtMs: number, o: { kind?: 'START' | 'STOP'; targetType?: 'vehicle' | 'charger'; state?: string } = {}) {
  const state = o.state ?? 'CONFIRMED';
  const updatedAt = iso(createdAtMs + MIN);
  const vendorAction = {
    id,
    userId: `user-of-${deviceId}`,
    createdAt: iso(createdAtMs),
    updatedAt,
    completedAt: state === 'PENDING' ? null : updatedAt,
    state,
    targetId: deviceId,
    targetType: o.targetType ?? 'vehicle',
    kind: o.kind ?? 'START',
    failureReason: null,
  };
  return { event: 'user:vendor-action:updated', createdAt: updatedAt, version: '2024-10-01', user: { id: vendorAction.userId }, vendorAction, updatedFields: ['state'] };
}

/** Posts Enode events through the signed webhook route and waits until they are applied. */
export async function report(t: EngineApp, ...events: unknown[]) {
  const res = await postWebhook(t, events);
  expect(res.status).toBe(200);
}
