import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_INTERFERENCE_SETTINGS,
  reconcileDevice,
  toActionInput,
  type ActionInput,
  type Explanation,
  type FindingKind,
  type InterferenceSettings,
  type ObservationInput,
  type TransitionStatus,
} from '../../src/domain/interference.js';
import { toActionRecord } from '../../src/domain/actions.js';
import { findTransitions, toObservationInput } from '../../src/domain/transitions.js';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const MIN = 60_000;
const at = (minutes: number): number => T0 + minutes * MIN;

// ---------------------------------------------------------------------------------------------
// Builders: snapshots are received 2 s after their device time unless a test says otherwise.

interface VehicleState {
  charging: boolean | null;
  plugged?: boolean;
  pds?: string;
  level?: number;
  limit?: number | null;
  full?: boolean;
  reachable?: boolean;
  maxCurrent?: number;
  smart?: boolean;
}

function vehicle(minute: number, v: VehicleState, receivedMinute?: number): ObservationInput {
  const plugged = v.plugged ?? true;
  const pds = v.pds ?? (!plugged ? 'UNPLUGGED' : v.charging ? 'PLUGGED_IN:CHARGING' : 'PLUGGED_IN:STOPPED');
  return {
    atMs: at(minute),
    receivedAtMs: receivedMinute === undefined ? at(minute) + 2_000 : at(receivedMinute),
    controlled: { charging: v.charging, maxCurrent: v.maxCurrent ?? 16 },
    context: {
      isReachable: v.reachable ?? true,
      isPluggedIn: plugged,
      powerDeliveryState: pds,
      batteryLevel: v.level ?? 50,
      chargeLimit: v.limit === undefined ? 80 : v.limit,
      isFullyCharged: v.full ?? false,
    },
    ...(v.smart !== undefined ? { smartChargingActive: v.smart } : {}),
  };
}

function hvac(minute: number, mode: string, holdType: string, heat: number | null, cool: number | null): ObservationInput {
  return {
    atMs: at(minute),
    receivedAtMs: at(minute) + 2_000,
    controlled: { hvacMode: mode, holdType, heatSetpoint: heat, coolSetpoint: cool },
    context: { isReachable: true },
  };
}

function battery(minute: number, operationMode: string): ObservationInput {
  return { atMs: at(minute), receivedAtMs: at(minute) + 2_000, controlled: { operationMode }, context: { isReachable: true, status: 'IDLE', batteryLevel: 60 } };
}

/** A charger with a linked car (`pluggedInVehicleId`), charging or stopped. */
function linkedCharger(minute: number, isCharging: boolean): ObservationInput {
  return {
    atMs: at(minute),
    receivedAtMs: at(minute) + 2_000,
    controlled: { charging: isCharging, maxCurrent: 16 },
    context: { isReachable: true, isPluggedIn: true, powerDeliveryState: isCharging ? 'PLUGGED_IN:CHARGING' : 'PLUGGED_IN:STOPPED', chargeRate: isCharging ? 11 : null, pluggedInVehicleId: 'car1' },
  };
}

/** A charger with a car Enode does not know, delivering `kw` (null: stopped). */
function guestCharger(minute: number, kw: number | null): ObservationInput {
  return {
    atMs: at(minute),
    receivedAtMs: at(minute) + 2_000,
    controlled: { charging: kw !== null, maxCurrent: 16 },
    context: { isReachable: true, isPluggedIn: true, powerDeliveryState: kw !== null ? 'PLUGGED_IN:CHARGING' : 'PLUGGED_IN:STOPPED', chargeRate: kw, pluggedInVehicleId: null },
  };
}

interface ActionSpec {
  id: string;
  kind?: 'START' | 'STOP';
  target?: Record<string, unknown>;
  state: 'PENDING' | 'CONFIRMED' | 'FAILED' | 'CANCELLED';
  created: number;
  completed?: number;
  failure?: string;
  targetId?: string;
}

function action(a: ActionSpec): ActionInput {
  const completedAtMs = a.completed === undefined ? null : at(a.completed);
  return {
    id: a.id,
    targetId: a.targetId ?? 'dev1',
    kind: a.kind ?? null,
    target: a.target ?? null,
    state: a.state,
    failureReasonType: a.failure ?? null,
    createdAtMs: at(a.created),
    updatedAtMs: completedAtMs ?? at(a.created),
    completedAtMs,
    origin: 'gateway',
  };
}

// ---------------------------------------------------------------------------------------------
// The scenario table (DESIGN.md "Interference", issue 5).

interface Scenario {
  name: string;
  deviceType: string;
  observations: ObservationInput[];
  actions?: ActionInput[];
  /** Observations of the linked device (a charger's car). */
  partners?: ObservationInput[];
  settings?: Partial<InterferenceSettings>;
  /** Minutes after T0. */
  now: number;
  transitions: Array<{ field: string; status: TransitionStatus; explanation: Partial<Explanation> & { kind: Explanation['kind'] } }>;
  findings: Array<{ kind: FindingKind; field: string | null; actionId?: string | null; fields?: Array<{ field: string; from: unknown; to: unknown }> }>;
}

const stopped = { charging: false } as const;
const charging = { charging: true } as const;

const scenarios: Scenario[] = [
  {
    name: 'own START pending, then the device charges: explained by the own action',
    deviceType: 'vehicle',
    observations: [vehicle(0, stopped), vehicle(5, charging)],
    actions: [action({ id: 'a1', kind: 'START', state: 'PENDING', created: 4 })],
    now: 30,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'own_action', actionId: 'a1' } }],
    findings: [],
  },
  {
    name: 'own START confirmed, then the device charges: explained by the own action',
    deviceType: 'vehicle',
    observations: [vehicle(0, stopped), vehicle(5, charging)],
    actions: [action({ id: 'a1', kind: 'START', state: 'CONFIRMED', created: 4, completed: 6 })],
    now: 30,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'own_action', actionId: 'a1' } }],
    findings: [],
  },
  {
    name: 'charging seen before the own action’s webhook: waiting within the grace',
    deviceType: 'vehicle',
    observations: [vehicle(0, stopped), vehicle(5, charging)],
    actions: [],
    now: 5.5,
    transitions: [{ field: 'charging', status: 'waiting', explanation: { kind: 'unexplained' } }],
    findings: [],
  },
  {
    name: 'charging seen before the own action’s webhook: explained once the action arrives, never a finding',
    deviceType: 'vehicle',
    observations: [vehicle(0, stopped), vehicle(5, charging)],
    actions: [action({ id: 'a1', kind: 'START', state: 'CONFIRMED', created: 4, completed: 5 })],
    now: 600,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'own_action', actionId: 'a1' } }],
    findings: [],
  },
  {
    name: 'stop while plugged with no action: waiting within the grace',
    deviceType: 'vehicle',
    observations: [vehicle(0, charging), vehicle(10, stopped)],
    now: 10.5,
    transitions: [{ field: 'charging', status: 'waiting', explanation: { kind: 'unexplained' } }],
    findings: [],
  },
  {
    name: 'stop while plugged with no action: UNEXPECTED_CHANGE after the grace',
    deviceType: 'vehicle',
    observations: [vehicle(0, charging), vehicle(10, stopped)],
    now: 12,
    transitions: [{ field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } }],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging', actionId: null }],
  },
  {
    name: 'own STOP confirmed, then charging again while plugged: ACTION_OVERRIDDEN',
    deviceType: 'vehicle',
    observations: [vehicle(0, charging), vehicle(5, stopped), vehicle(30, charging)],
    actions: [action({ id: 'stop1', kind: 'STOP', state: 'CONFIRMED', created: 4, completed: 5 })],
    now: 60,
    transitions: [
      { field: 'charging', status: 'explained', explanation: { kind: 'own_action', actionId: 'stop1' } },
      { field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } },
    ],
    findings: [{ kind: 'ACTION_OVERRIDDEN', field: 'charging', actionId: 'stop1' }],
  },
  {
    name: 'unplug stops charging: natural',
    deviceType: 'vehicle',
    observations: [vehicle(0, charging), vehicle(10, { charging: false, plugged: false })],
    now: 60,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'natural', cause: 'unplug' } }],
    findings: [],
  },
  {
    name: 'charge complete at the limit: natural',
    deviceType: 'vehicle',
    observations: [vehicle(0, { charging: true, level: 79, limit: 80 }), vehicle(10, { charging: false, level: 80, limit: 80 })],
    now: 60,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'natural', cause: 'charge_complete' } }],
    findings: [],
  },
  {
    name: 'charge complete reported as PLUGGED_IN:COMPLETE with no limit: natural',
    deviceType: 'vehicle',
    observations: [vehicle(0, { charging: true, level: 99, limit: null }), vehicle(10, { charging: false, level: 99, limit: null, pds: 'PLUGGED_IN:COMPLETE' })],
    now: 60,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'natural', cause: 'charge_complete' } }],
    findings: [],
  },
  {
    name: 'plug-in auto-start: natural',
    deviceType: 'vehicle',
    observations: [vehicle(0, { charging: false, plugged: false }), vehicle(10, charging)],
    now: 60,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'natural', cause: 'plug_in' } }],
    findings: [],
  },
  {
    name: 'plug-in auto-start reported a few minutes after the plug: natural',
    deviceType: 'vehicle',
    observations: [vehicle(0, { charging: false, plugged: false }), vehicle(10, { charging: false, pds: 'PLUGGED_IN:STOPPED' }), vehicle(13, charging)],
    now: 60,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'natural', cause: 'plug_in' } }],
    findings: [],
  },
  {
    name: 'charging starting long after the plug-in is not the plug-in’s auto-start: UNEXPECTED_CHANGE',
    deviceType: 'vehicle',
    observations: [vehicle(0, { charging: false, plugged: false }), vehicle(10, stopped), vehicle(90, charging)],
    now: 120,
    transitions: [{ field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } }],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging' }],
  },
  {
    name: 'plug-in auto-start with plugInAutoStartIsNatural off: UNEXPECTED_CHANGE',
    deviceType: 'vehicle',
    observations: [vehicle(0, { charging: false, plugged: false }), vehicle(10, charging)],
    settings: { plugInAutoStartIsNatural: false },
    now: 60,
    transitions: [{ field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } }],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging', actionId: null }],
  },
  {
    name: 'a stale snapshot delivered late (older device time) raises no spurious transition',
    deviceType: 'vehicle',
    observations: [
      vehicle(0, charging),
      vehicle(5, stopped),
      vehicle(20, stopped),
      vehicle(3, charging, 25), // older device time, received last: must not read as "charging again"
    ],
    actions: [action({ id: 'stop1', kind: 'STOP', state: 'CONFIRMED', created: 4, completed: 5 })],
    now: 60,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'own_action', actionId: 'stop1' } }],
    findings: [],
  },
  {
    name: 'one unexplained stop delivered many times (and repeated in later snapshots): exactly one finding',
    deviceType: 'vehicle',
    observations: [
      vehicle(0, charging),
      vehicle(10, stopped),
      vehicle(10, stopped, 11),
      vehicle(10, stopped, 15),
      vehicle(10, stopped, 40),
      vehicle(0, charging, 41),
      vehicle(20, stopped),
      vehicle(30, stopped),
    ],
    now: 60,
    transitions: [{ field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } }],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging' }],
  },
  {
    name: 'null from a :discovered snapshot to a value is not a transition',
    deviceType: 'vehicle',
    observations: [
      { atMs: 0, receivedAtMs: at(0), controlled: { charging: null, maxCurrent: null }, context: { isReachable: null } },
      vehicle(1, charging),
    ],
    now: 60,
    transitions: [],
    findings: [],
  },
  {
    name: 'NO_POWER stopping the charge is a device problem, not interference',
    deviceType: 'vehicle',
    observations: [vehicle(0, charging), vehicle(10, { charging: false, pds: 'PLUGGED_IN:NO_POWER' })],
    now: 60,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'natural', cause: 'no_power_or_fault', deviceProblem: true } }],
    findings: [],
  },
  {
    name: 'FAULT stopping the charge while an own START is in force is a device problem, not an override',
    deviceType: 'charger',
    observations: [vehicle(0, stopped), vehicle(5, charging), vehicle(30, { charging: false, pds: 'PLUGGED_IN:FAULT' })],
    actions: [action({ id: 'start1', kind: 'START', state: 'CONFIRMED', created: 4, completed: 5 })],
    now: 60,
    transitions: [
      { field: 'charging', status: 'explained', explanation: { kind: 'own_action', actionId: 'start1' } },
      { field: 'charging', status: 'explained', explanation: { kind: 'natural', cause: 'no_power_or_fault', deviceProblem: true } },
    ],
    findings: [],
  },
  {
    name: 'Enode smart charging starting a planned charge: natural',
    deviceType: 'vehicle',
    observations: [vehicle(0, { charging: false, smart: true }), vehicle(120, { charging: true, smart: true })],
    now: 180,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'natural', cause: 'smart_charging' } }],
    findings: [],
  },
  {
    name: 'intent expires after INTENT_TTL: a later change is UNEXPECTED_CHANGE, not ACTION_OVERRIDDEN',
    deviceType: 'vehicle',
    observations: [vehicle(0, charging), vehicle(5, stopped), vehicle(5 + 25 * 60, charging)],
    actions: [action({ id: 'stop1', kind: 'STOP', state: 'CONFIRMED', created: 4, completed: 5 })],
    now: 5 + 26 * 60,
    transitions: [
      { field: 'charging', status: 'explained', explanation: { kind: 'own_action' } },
      { field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } },
    ],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging', actionId: null }],
  },
  {
    name: 'an unplug ends the intent: a later start is UNEXPECTED_CHANGE, not ACTION_OVERRIDDEN',
    deviceType: 'vehicle',
    observations: [vehicle(0, charging), vehicle(5, stopped), vehicle(30, { charging: false, plugged: false }), vehicle(60, stopped), vehicle(120, charging)],
    actions: [action({ id: 'stop1', kind: 'STOP', state: 'CONFIRMED', created: 4, completed: 5 })],
    now: 180,
    transitions: [
      { field: 'charging', status: 'explained', explanation: { kind: 'own_action' } },
      { field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } },
    ],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging', actionId: null }],
  },
  {
    name: 'the next own action ends the previous intent: a later start is UNEXPECTED_CHANGE',
    deviceType: 'charger',
    observations: [vehicle(0, charging), vehicle(5, stopped), vehicle(10, { charging: false, maxCurrent: 10 }), vehicle(60, { charging: true, maxCurrent: 10 })],
    actions: [
      action({ id: 'stop1', kind: 'STOP', state: 'CONFIRMED', created: 4, completed: 5 }),
      action({ id: 'mc1', target: { maxCurrent: 10 }, state: 'CONFIRMED', created: 9, completed: 10 }),
    ],
    now: 120,
    transitions: [
      { field: 'charging', status: 'explained', explanation: { kind: 'own_action', actionId: 'stop1' } },
      { field: 'maxCurrent', status: 'explained', explanation: { kind: 'own_action', actionId: 'mc1' } },
      { field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } },
    ],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging', actionId: null }],
  },
  {
    name: 'an own max-current action does not explain a charging stop in the same snapshot',
    deviceType: 'charger',
    observations: [vehicle(0, { charging: true, maxCurrent: 16 }), vehicle(10, { charging: false, maxCurrent: 10 })],
    actions: [action({ id: 'mc1', target: { maxCurrent: 10 }, state: 'PENDING', created: 9 })],
    now: 60,
    transitions: [
      { field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } },
      { field: 'maxCurrent', status: 'explained', explanation: { kind: 'own_action', actionId: 'mc1' } },
    ],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging', actionId: null }],
  },
  {
    name: 'an own START that failed before the device started charging does not explain the start',
    deviceType: 'vehicle',
    observations: [vehicle(0, stopped), vehicle(60, charging)],
    actions: [action({ id: 'a1', kind: 'START', state: 'FAILED', failure: 'NO_RESPONSE', created: 1, completed: 31 })],
    now: 120,
    transitions: [{ field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } }],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging', actionId: null }],
  },
  {
    name: 'an own START pending when the device started charging still explains it after it was cancelled',
    deviceType: 'vehicle',
    observations: [vehicle(0, stopped), vehicle(5, charging)],
    actions: [action({ id: 'a1', kind: 'START', state: 'CANCELLED', failure: 'REQUESTED_CANCELLATION', created: 4, completed: 6 })],
    now: 120,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'own_action', actionId: 'a1' } }],
    findings: [],
  },
  {
    name: 'leaving the value within the grace after confirmation is UNEXPECTED_CHANGE (the intent is not yet in force)',
    deviceType: 'vehicle',
    observations: [vehicle(0, charging), vehicle(5, stopped), vehicle(5.5, charging)],
    actions: [action({ id: 'stop1', kind: 'STOP', state: 'CONFIRMED', created: 4, completed: 5 })],
    now: 60,
    transitions: [
      { field: 'charging', status: 'explained', explanation: { kind: 'own_action' } },
      { field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } },
    ],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging', actionId: null }],
  },
  {
    name: 'a charger dropping off the network mid-session: natural, not interference',
    deviceType: 'charger',
    observations: [vehicle(0, charging), vehicle(10, { charging: false, reachable: false })],
    now: 60,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'natural', cause: 'became_unreachable' } }],
    findings: [],
  },
  {
    name: 'max current changed on a charger with no action: UNEXPECTED_CHANGE',
    deviceType: 'charger',
    observations: [vehicle(0, { charging: true, maxCurrent: 16 }), vehicle(10, { charging: true, maxCurrent: 32 })],
    now: 60,
    transitions: [{ field: 'maxCurrent', status: 'finding', explanation: { kind: 'unexplained' } }],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'maxCurrent' }],
  },
  {
    name: 'HVAC permanent hold overridden by a mode change: ACTION_OVERRIDDEN',
    deviceType: 'hvac',
    observations: [hvac(0, 'HEAT', 'SCHEDULED', 20, null), hvac(5, 'HEAT', 'PERMANENT', 22, null), hvac(60, 'COOL', 'PERMANENT', null, 24)],
    actions: [action({ id: 'hold1', target: { mode: 'HEAT', heatSetpoint: 22, holdType: 'PERMANENT' }, state: 'CONFIRMED', created: 4, completed: 5 })],
    now: 120,
    transitions: [
      { field: 'holdType', status: 'explained', explanation: { kind: 'own_action', actionId: 'hold1' } },
      { field: 'heatSetpoint', status: 'explained', explanation: { kind: 'own_action', actionId: 'hold1' } },
      { field: 'hvacMode', status: 'finding', explanation: { kind: 'unexplained' } },
    ],
    findings: [{ kind: 'ACTION_OVERRIDDEN', field: 'hvacMode', actionId: 'hold1' }],
  },
  {
    name: 'an owner’s COOL hold while our HEAT hold is pending is not ours: one UNEXPECTED_CHANGE listing every field it moved',
    deviceType: 'hvac',
    observations: [hvac(0, 'HEAT', 'SCHEDULED', 20, 26), hvac(5, 'COOL', 'PERMANENT', null, 23)],
    actions: [action({ id: 'hold1', target: { mode: 'HEAT', heatSetpoint: 22, holdType: 'PERMANENT' }, state: 'PENDING', created: 4 })],
    now: 120,
    transitions: [
      { field: 'hvacMode', status: 'finding', explanation: { kind: 'unexplained' } },
      { field: 'holdType', status: 'finding', explanation: { kind: 'unexplained' } },
      { field: 'coolSetpoint', status: 'finding', explanation: { kind: 'unexplained' } },
    ],
    // One change, one finding: keyed by its first field in the type's order, listing them all.
    findings: [
      {
        kind: 'UNEXPECTED_CHANGE',
        field: 'hvacMode',
        fields: [
          { field: 'hvacMode', from: 'HEAT', to: 'COOL' },
          { field: 'holdType', from: 'SCHEDULED', to: 'PERMANENT' },
          { field: 'coolSetpoint', from: 26, to: 23 },
        ],
      },
    ],
  },
  {
    name: 'HVAC permanent hold overridden by a setpoint change: ACTION_OVERRIDDEN',
    deviceType: 'hvac',
    observations: [hvac(0, 'HEAT', 'SCHEDULED', 20, null), hvac(5, 'HEAT', 'PERMANENT', 22, null), hvac(60, 'HEAT', 'PERMANENT', 19, null)],
    actions: [action({ id: 'hold1', target: { mode: 'HEAT', heatSetpoint: 22, holdType: 'PERMANENT' }, state: 'CONFIRMED', created: 4, completed: 5 })],
    now: 120,
    transitions: [
      { field: 'holdType', status: 'explained', explanation: { kind: 'own_action' } },
      { field: 'heatSetpoint', status: 'explained', explanation: { kind: 'own_action' } },
      { field: 'heatSetpoint', status: 'finding', explanation: { kind: 'unexplained' } },
    ],
    findings: [{ kind: 'ACTION_OVERRIDDEN', field: 'heatSetpoint', actionId: 'hold1' }],
  },
  {
    name: 'own follow-schedule explains the hold release and the setpoints moving with it',
    deviceType: 'hvac',
    observations: [hvac(0, 'HEAT', 'PERMANENT', 22, null), hvac(10, 'AUTO', 'SCHEDULED', 19, 25)],
    actions: [action({ id: 'fs1', target: { holdType: 'SCHEDULED' }, state: 'CONFIRMED', created: 9, completed: 10 })],
    now: 60,
    transitions: [
      { field: 'hvacMode', status: 'explained', explanation: { kind: 'own_action', actionId: 'fs1' } },
      { field: 'holdType', status: 'explained', explanation: { kind: 'own_action', actionId: 'fs1' } },
      { field: 'heatSetpoint', status: 'explained', explanation: { kind: 'own_action', actionId: 'fs1' } },
    ],
    findings: [],
  },
  {
    name: 'an HVAC following its schedule changes setpoints naturally',
    deviceType: 'hvac',
    observations: [hvac(0, 'HEAT', 'SCHEDULED', 20, null), hvac(60, 'HEAT', 'SCHEDULED', 17, null)],
    now: 120,
    transitions: [{ field: 'heatSetpoint', status: 'explained', explanation: { kind: 'natural', cause: 'hvac_schedule' } }],
    findings: [],
  },
  {
    name: 'battery operation mode changed with no action: UNEXPECTED_CHANGE',
    deviceType: 'battery',
    observations: [battery(0, 'SELF_RELIANCE'), battery(30, 'EXPORT_FOCUS')],
    now: 60,
    transitions: [{ field: 'operationMode', status: 'finding', explanation: { kind: 'unexplained' } }],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'operationMode', actionId: null }],
  },
  {
    name: 'battery operation mode set by an own action: explained',
    deviceType: 'battery',
    observations: [battery(0, 'SELF_RELIANCE'), battery(30, 'IMPORT_FOCUS')],
    actions: [action({ id: 'om1', target: { operationMode: 'IMPORT_FOCUS' }, state: 'CONFIRMED', created: 29, completed: 31 })],
    now: 60,
    transitions: [{ field: 'operationMode', status: 'explained', explanation: { kind: 'own_action', actionId: 'om1' } }],
    findings: [],
  },
  {
    name: 'CONFLICT cancellation by a foreign command: ACTION_CONFLICT',
    deviceType: 'charger',
    observations: [vehicle(0, stopped)],
    actions: [action({ id: 'a1', kind: 'START', state: 'CANCELLED', failure: 'CONFLICT', created: 1, completed: 2 })],
    now: 10,
    transitions: [],
    findings: [{ kind: 'ACTION_CONFLICT', field: null, actionId: 'a1' }],
  },
  {
    name: 'CONFLICT cancellation waits for the grace before it is a finding',
    deviceType: 'charger',
    observations: [vehicle(0, stopped)],
    actions: [action({ id: 'a1', kind: 'START', state: 'CANCELLED', failure: 'CONFLICT', created: 1, completed: 2 })],
    now: 2.5,
    transitions: [],
    findings: [],
  },
  {
    name: 'CONFLICT cancellation by a newer own action within the grace: no finding',
    deviceType: 'charger',
    observations: [vehicle(0, stopped)],
    actions: [
      action({ id: 'a1', kind: 'START', state: 'CANCELLED', failure: 'CONFLICT', created: 1, completed: 2 }),
      action({ id: 'a2', kind: 'STOP', state: 'PENDING', created: 2.5 }),
    ],
    now: 10,
    transitions: [],
    findings: [],
  },
  {
    name: 'a charger stops as its linked car reaches the limit: charge complete, told by the car',
    deviceType: 'charger',
    observations: [linkedCharger(0, true), linkedCharger(30, false)],
    partners: [vehicle(0, { charging: true, level: 60 }), vehicle(30, { charging: false, level: 80, pds: 'PLUGGED_IN:COMPLETE' })],
    now: 60,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'natural', cause: 'charge_complete' } }],
    findings: [],
  },
  {
    name: 'a charger stops while its linked car is below the limit: UNEXPECTED_CHANGE',
    deviceType: 'charger',
    observations: [linkedCharger(0, true), linkedCharger(30, false)],
    partners: [vehicle(0, { charging: true, level: 60 }), vehicle(30, { charging: false, level: 62 })],
    now: 60,
    transitions: [{ field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } }],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging' }],
  },
  {
    name: 'an unknown car’s power tapers before the charger stops: charge complete',
    deviceType: 'charger',
    observations: [guestCharger(0, 11), guestCharger(20, 7), guestCharger(30, 2), guestCharger(35, null)],
    now: 60,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'natural', cause: 'charge_complete' } }],
    findings: [],
  },
  {
    name: 'an unknown car stops at full power: UNEXPECTED_CHANGE (the charger was stopped)',
    deviceType: 'charger',
    observations: [guestCharger(0, 11), guestCharger(20, 11), guestCharger(35, null)],
    now: 60,
    transitions: [{ field: 'charging', status: 'finding', explanation: { kind: 'unexplained' } }],
    findings: [{ kind: 'UNEXPECTED_CHANGE', field: 'charging' }],
  },
  {
    name: 'own STOP first seen 40 min late (snapshots lost): still ours',
    deviceType: 'vehicle',
    observations: [vehicle(0, charging), vehicle(45, stopped)],
    actions: [action({ id: 's1', kind: 'STOP', state: 'CONFIRMED', created: 3, completed: 5 })],
    now: 60,
    transitions: [{ field: 'charging', status: 'explained', explanation: { kind: 'own_action', actionId: 's1' } }],
    findings: [],
  },
  {
    name: 'battery back at our mode after an owner changed it: the return is not ours (UNEXPECTED_CHANGE), the change was ACTION_OVERRIDDEN',
    deviceType: 'battery',
    observations: [battery(0, 'SELF_RELIANCE'), battery(5, 'IMPORT_FOCUS'), battery(60, 'TIME_OF_USE'), battery(120, 'IMPORT_FOCUS')],
    actions: [action({ id: 'm1', target: { operationMode: 'IMPORT_FOCUS' }, state: 'CONFIRMED', created: 4, completed: 5 })],
    now: 180,
    transitions: [
      { field: 'operationMode', status: 'explained', explanation: { kind: 'own_action', actionId: 'm1' } },
      { field: 'operationMode', status: 'finding', explanation: { kind: 'unexplained' } },
      { field: 'operationMode', status: 'finding', explanation: { kind: 'unexplained' } },
    ],
    findings: [
      { kind: 'ACTION_OVERRIDDEN', field: 'operationMode', actionId: 'm1' },
      { kind: 'UNEXPECTED_CHANGE', field: 'operationMode' },
    ],
  },
];

describe('reconcileDevice: interference scenarios', () => {
  it.each(scenarios)('$name', (sc) => {
    const result = reconcileDevice({
      deviceId: 'dev1',
      deviceType: sc.deviceType,
      userId: 'u1',
      observations: sc.observations,
      actions: sc.actions ?? [],
      ...(sc.partners ? { partnerObservations: sc.partners } : {}),
      ...(sc.settings ? { settings: sc.settings } : {}),
      nowMs: at(sc.now),
    });
    expect(result.transitions.map((t) => ({ field: t.field, status: t.status, explanation: t.explanation }))).toMatchObject(sc.transitions);
    expect(result.findings).toHaveLength(sc.findings.length);
    expect(result.findings).toMatchObject(sc.findings);
    for (const f of result.findings) {
      expect(f).toMatchObject({ deviceId: 'dev1', deviceType: sc.deviceType, userId: 'u1' });
      if (f.kind !== 'ACTION_CONFLICT') expect(f.key).toBe(`dev1:${f.field}:${f.observedAtMs}`);
    }
  });
});

describe('reconcileDevice: findings', () => {
  it('keys a transition finding by device, field and device time, with before/after evidence', () => {
    const result = reconcileDevice({
      deviceId: 'v1',
      deviceType: 'vehicle',
      userId: 'u1',
      observations: [vehicle(0, charging), vehicle(10, stopped), vehicle(10, stopped, 30)],
      actions: [],
      nowMs: at(60),
    });
    expect(result.findings).toEqual([
      expect.objectContaining({
        key: `v1:charging:${at(10)}`,
        kind: 'UNEXPECTED_CHANGE',
        from: true,
        to: false,
        observedAtMs: at(10),
        dueAtMs: at(10) + 2_000 + DEFAULT_INTERFERENCE_SETTINGS.graceMs,
        fields: [{ field: 'charging', from: true, to: false }],
        evidence: {
          before: expect.objectContaining({ atMs: at(0) }),
          after: expect.objectContaining({ atMs: at(10), receivedAtMs: at(10) + 2_000 }),
          fields: [{ field: 'charging', from: true, to: false }],
        },
      }),
    ]);
  });

  it('carries the overridden action in the evidence', () => {
    const stop = action({ id: 'stop1', kind: 'STOP', state: 'CONFIRMED', created: 4, completed: 5 });
    const { findings } = reconcileDevice({
      deviceId: 'v1',
      deviceType: 'vehicle',
      userId: 'u1',
      observations: [vehicle(0, charging), vehicle(5, stopped), vehicle(30, charging)],
      actions: [stop],
      nowMs: at(60),
    });
    expect(findings[0]?.evidence.action).toEqual(stop);
  });

  it('keys a conflict finding by device and action', () => {
    const { findings } = reconcileDevice({
      deviceId: 'c1',
      deviceType: 'charger',
      userId: 'u1',
      observations: [],
      actions: [{ ...action({ id: 'a1', kind: 'START', state: 'CANCELLED', failure: 'CONFLICT', created: 1, completed: 2 }), targetId: 'c1' }],
      nowMs: at(10),
    });
    expect(findings.map((f) => f.key)).toEqual(['c1:conflict:a1']);
  });

  it('does not restart the grace when a late copy of an intermediate snapshot arrives', () => {
    // The stop was known from the minute-20 snapshot; a late minute-10 copy moves the change's
    // device time but not when we first had evidence of it.
    const result = reconcileDevice({
      deviceId: 'v1',
      deviceType: 'vehicle',
      userId: 'u1',
      observations: [vehicle(0, charging), vehicle(20, stopped), vehicle(10, stopped, 30)],
      actions: [],
      nowMs: at(30) + 1_000,
    });
    expect(result.findings.map((f) => [f.kind, f.observedAtMs])).toEqual([['UNEXPECTED_CHANGE', at(10)]]);
  });
});

describe('findTransitions', () => {
  it('emits one transition per changed field and none for identical repeats', () => {
    const ts = findTransitions('charger', [
      vehicle(0, { charging: false, maxCurrent: 16 }),
      vehicle(1, { charging: false, maxCurrent: 16 }),
      vehicle(2, { charging: true, maxCurrent: 32 }),
    ]);
    expect(ts.map((t) => [t.field, t.from, t.to, t.atMs])).toEqual([
      ['charging', false, true, at(2)],
      ['maxCurrent', 16, 32, at(2)],
    ]);
  });

  it('orders by device time, not by receipt', () => {
    const ts = findTransitions('vehicle', [vehicle(10, stopped, 11), vehicle(0, charging, 20)]);
    expect(ts.map((t) => [t.from, t.to])).toEqual([[true, false]]);
  });

  it('compares across an unknown (null) gap with the last known value', () => {
    const gap = { ...vehicle(5, stopped), controlled: { charging: null, maxCurrent: null } };
    const ts = findTransitions('vehicle', [vehicle(0, charging), gap, vehicle(10, stopped)]);
    expect(ts.map((t) => [t.from, t.to, t.before.atMs, t.after.atMs])).toEqual([[true, false, at(0), at(10)]]);
  });

  it('builds observations from Enode snapshots', () => {
    const snap = {
      lastSeen: '2026-03-01T10:00:00Z',
      isReachable: true,
      chargeState: { isCharging: true, isPluggedIn: true, maxCurrent: 16, powerDeliveryState: 'PLUGGED_IN:CHARGING', lastUpdated: '2026-03-01T10:01:00Z', pluggedInVehicleId: 'v9' },
    };
    expect(toObservationInput('charger', snap, 123)).toEqual({
      atMs: at(1),
      receivedAtMs: 123,
      controlled: { charging: true, maxCurrent: 16 },
      context: { isReachable: true, isPluggedIn: true, powerDeliveryState: 'PLUGGED_IN:CHARGING', chargeRate: null, pluggedInVehicleId: 'v9' },
    });
  });
});

describe('toActionInput', () => {
  it('takes the times and failure type from a stored action', () => {
    const rec = toActionRecord(
      {
        id: 'a1',
        userId: 'u1',
        targetId: 'c1',
        targetType: 'charger',
        state: 'CANCELLED',
        createdAt: '2026-03-01T10:00:00Z',
        updatedAt: '2026-03-01T10:02:00Z',
        completedAt: '2026-03-01T10:02:00Z',
        kind: 'START',
        failureReason: { type: 'CONFLICT', detail: 'superseded' },
      },
      'enode',
      'h',
    );
    expect(toActionInput(rec)).toEqual({
      id: 'a1',
      targetId: 'c1',
      kind: 'START',
      target: null,
      state: 'CANCELLED',
      failureReasonType: 'CONFLICT',
      createdAtMs: at(0),
      updatedAtMs: at(2),
      completedAtMs: at(2),
      origin: 'enode',
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Property: the findings depend on the set of observations, not on their order or multiplicity.

const stateArb = fc.record({
  charging: fc.constantFrom(true, false, null),
  plugged: fc.boolean(),
  maxCurrent: fc.constantFrom(10, 16),
  level: fc.integer({ min: 40, max: 80 }),
});

const historyArb = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 300 }), stateArb), { minLength: 1, maxLength: 12 })
  .map((steps) => {
    let minute = 0;
    return steps.map(([gap, delaySeconds, s]) => {
      minute += gap; // gap 0: two snapshots may claim the same device time
      const o = vehicle(minute, s);
      return { ...o, receivedAtMs: o.atMs + delaySeconds * 1_000 };
    });
  });

const actionsArb = fc.array(
  fc.record({
    kind: fc.constantFrom('START' as const, 'STOP' as const),
    state: fc.constantFrom('PENDING' as const, 'CONFIRMED' as const, 'CANCELLED' as const),
    created: fc.integer({ min: 0, max: 40 }),
    took: fc.integer({ min: 0, max: 5 }),
    conflict: fc.boolean(),
  }),
  { maxLength: 4 },
);

describe('reconcileDevice: level-triggered', () => {
  it('shuffling and duplicating the observations never changes the findings’ keys and kinds', () => {
    const arb = fc.tuple(historyArb, actionsArb, fc.integer({ min: 0, max: 120 })).chain(([history, specs, now]) =>
      fc.record({
        history: fc.constant(history),
        specs: fc.constant(specs),
        now: fc.constant(now),
        shuffled: fc.shuffledSubarray(history, { minLength: history.length, maxLength: history.length }),
        duplicates: fc.array(fc.tuple(fc.nat({ max: history.length - 1 }), fc.nat({ max: 3_600_000 })), { maxLength: 12 }),
      }),
    );
    fc.assert(
      fc.property(arb, ({ history, specs, now, shuffled, duplicates }) => {
        const actions = specs.map((a, i) =>
          action({
            id: `a${i}`,
            kind: a.kind,
            state: a.state,
            created: a.created,
            ...(a.state === 'PENDING' ? {} : { completed: a.created + a.took }),
            ...(a.state === 'CANCELLED' ? { failure: a.conflict ? 'CONFLICT' : 'UNNECESSARY' } : {}),
          }),
        );
        // Redeliveries: the same snapshot again, later.
        const redelivered = duplicates.map(([i, laterMs]) => {
          const o = history[i] as ObservationInput;
          return { ...o, receivedAtMs: o.receivedAtMs + laterMs };
        });
        const run = (observations: ObservationInput[]) =>
          reconcileDevice({ deviceId: 'v1', deviceType: 'vehicle', userId: 'u1', observations, actions, nowMs: at(now) }).findings.map((f) => `${f.key}|${f.kind}`);
        const expected = run(history);
        expect(run([...shuffled, ...redelivered].reverse())).toEqual(expected);
        expect(new Set(expected).size).toBe(expected.length);
      }),
      { numRuns: 300 },
    );
  });
});
