import type { ActionEngine } from './actions.js';
import type { SimClock, TimerHandle } from './clock.js';
import { capabilityProblem, isSatisfied, vehicleChargeKw } from './control.js';
import type { Rng } from './random.js';
import { activeRule, nextClockTime, normalTarget, transitions } from './schedules.js';
import {
  API_VERSION,
  type AutomationRef,
  type ChargeSchedule,
  type ChargeScheduleStatus,
  type HvacTarget,
  type Intent,
  type PlanFinalState,
  type Schedule,
  type ScheduleStatus,
  type SimLogger,
  type SmartChargeState,
  type SmartChargingPlan,
  type SmartChargingStatus,
  type SmartOverrideStatus,
  type TemperatureSchedule,
  type TemperatureScheduleStatus,
  type VendorAction,
} from './types.js';
import type { ChangeContext, ChargerRecord, DeviceRecord, FieldChange, HvacRecord, VehicleRecord, World } from './world.js';

/**
 * Enode's other two levels of control, run by "Enode" for this client: Schedules (CHARGE for
 * vehicles and chargers, TEMPERATURE for HVACs) executed at their rule boundaries, and Smart
 * Charging (a policy per vehicle, plans that stop charging at plug-in and start it later) with
 * smart overrides. Both act through the action engine, so their vendor actions and device changes
 * look like any other, and both report through `user:schedule:execution-updated` and
 * `user:vehicle:smart-charging-status-updated`. On the seeded fleet's smart charging vehicles the
 * retailer's app also creates and ends smart overrides now and then, through the same code as the
 * API routes.
 */

const MINUTE = 60_000;
/** How long Enode "considers" a plugged-in vehicle before it makes a plan. */
const CONSIDER_MS = 2 * MINUTE;

/**
 * The retailer's app on the fleet's smart charging vehicles: after a plan has stopped charging,
 * the customer taps "charge now" (a smart override) with this chance, some minutes later; the app
 * ends an override it created ("back to smart charging") with the second chance, later still.
 */
const CHARGE_NOW_CHANCE = 0.4;
const CHARGE_NOW_AFTER_MIN: readonly [number, number] = [5, 40];
const BACK_TO_SMART_CHANCE = 0.5;
const BACK_TO_SMART_AFTER_MIN: readonly [number, number] = [10, 60];

interface ScheduleEntry {
  seq: number;
  userId: string;
  schedule: Schedule;
  /** The status last reported (null until the first). */
  status: ScheduleStatus | null;
  timer: TimerHandle | null;
  /** The schedule's own action in flight. */
  pendingActionId: string | null;
}

interface SmartEntry {
  vehicleId: string;
  state: SmartChargeState;
  stateChangedAt: string;
  /** The current plan, or the last one of this plug-in session. */
  plan: SmartChargingPlan | null;
  override: SmartOverrideStatus | null;
  /** A plan ended: its final state holds until the next plug-in, unplug or policy change. */
  ended: boolean;
  considerTimer: TimerHandle | null;
  startTimer: TimerHandle | null;
  planActionId: string | null;
  lastStatus: SmartChargingStatus | null;
  /** The retailer's app may override this vehicle's plans (fleet vehicles with smart charging). */
  customerApp: boolean;
  /** The app's pending "charge now", and its pending "back to smart charging". */
  chargeNowTimer: TimerHandle | null;
  backToSmartTimer: TimerHandle | null;
}

export interface AutomationDeps {
  world: World;
  clock: SimClock;
  actions: ActionEngine;
  /** Plan timings. */
  rng: Rng;
  ids: Rng;
  /** The retailer's app taps (smart overrides of the fleet's vehicles); its own stream, so other draws do not shift. */
  customers?: Rng;
  logger: SimLogger;
}

export type ScheduleInput = Omit<ChargeSchedule, 'id'> | Omit<TemperatureSchedule, 'id'>;

export type Result<T> = { ok: true; value: T } | { ok: false; status: 400 | 404; detail: string };

export type SmartOverrideView = SmartOverrideStatus & { userId: string; vendor: string };

export class Automation {
  private readonly schedules = new Map<string, ScheduleEntry>();
  private readonly smart = new Map<string, SmartEntry>();
  private readonly plans = new Map<string, SmartChargingPlan>();
  private seq = 0;

  constructor(private readonly deps: AutomationDeps) {
    deps.world.onChanged((rec, ctx, changes) => this.onDeviceChanged(rec, ctx, changes));
    deps.actions.onResolved((action, origin) => this.onActionResolved(action, origin));
    deps.world.onRemoved((rec) => this.onDeviceRemoved(rec));
  }

  // -------------------------------------------------------------------------------------------
  // Schedules

  /** Validates the target and creates the schedule; `silent` for the initial fleet (no event). */
  createSchedule(userId: string, input: ScheduleInput, silent = false): Result<Schedule> {
    const problem = this.targetProblem(userId, input, null);
    if (problem) return { ok: false, status: 400, detail: problem };
    const schedule = { id: this.deps.ids.uuid(), ...structuredClone(input) } as Schedule;
    if (schedule.targetType === 'hvac') {
      schedule.defaultTargetState = normalTarget(schedule.defaultTargetState);
      schedule.rules = schedule.rules.map((r) => ({ ...r, targetState: normalTarget(r.targetState) }));
    }
    const entry: ScheduleEntry = { seq: ++this.seq, userId, schedule, status: null, timer: null, pendingActionId: null };
    this.schedules.set(schedule.id, entry);
    if (silent) {
      // Enode takes over at its first look, a moment after start, and reports the status then.
      if (schedule.isEnabled) entry.timer = this.deps.clock.after(1000, () => this.fire(entry));
    } else {
      this.execute(entry);
    }
    return { ok: true, value: structuredClone(schedule) };
  }

  getSchedule(id: string): Schedule | undefined {
    const e = this.schedules.get(id);
    return e ? structuredClone(e.schedule) : undefined;
  }

  /** A user's schedules, newest first, with their sequence for pagination. */
  listSchedules(userId: string): Array<{ seq: number; schedule: Schedule }> {
    return [...this.schedules.values()]
      .filter((e) => e.userId === userId)
      .sort((a, b) => b.seq - a.seq)
      .map((e) => ({ seq: e.seq, schedule: structuredClone(e.schedule) }));
  }

  /** Applies a partial update (the merged schedule is validated again). */
  updateSchedule(id: string, patch: Partial<ScheduleInput>): Result<Schedule> {
    const entry = this.schedules.get(id);
    if (!entry) return { ok: false, status: 404, detail: `No schedule with id ${id}` };
    const merged = { ...entry.schedule, ...structuredClone(patch) } as Schedule;
    const kindOf = (t: string) => (t === 'hvac' ? 'TEMPERATURE' : 'CHARGE');
    if (kindOf(merged.targetType) !== kindOf(entry.schedule.targetType)) return { ok: false, status: 400, detail: 'A schedule cannot change between CHARGE and TEMPERATURE' };
    if (merged.targetType === 'hvac' && 'shouldCharge' in (merged.rules[0] ?? {})) return { ok: false, status: 400, detail: 'TEMPERATURE schedule rules take targetState' };
    if (merged.targetType !== 'hvac' && 'targetState' in (merged.rules[0] ?? {})) return { ok: false, status: 400, detail: 'CHARGE schedule rules take shouldCharge' };
    const problem = this.targetProblem(entry.userId, merged, id);
    if (problem) return { ok: false, status: 400, detail: problem };
    if (merged.targetType === 'hvac') {
      merged.defaultTargetState = normalTarget(merged.defaultTargetState);
      merged.rules = merged.rules.map((r) => ({ ...r, targetState: normalTarget(r.targetState) }));
    }
    entry.schedule = merged;
    this.execute(entry);
    return { ok: true, value: structuredClone(merged) };
  }

  deleteSchedule(id: string): boolean {
    const entry = this.schedules.get(id);
    if (!entry) return false;
    this.deps.clock.cancel(entry.timer);
    this.schedules.delete(id);
    return true;
  }

  /** The schedule's status now. */
  scheduleStatus(id: string): ScheduleStatus | undefined {
    const entry = this.schedules.get(id);
    if (!entry) return undefined;
    this.refresh(entry);
    return structuredClone(entry.status ?? undefined);
  }

  private targetProblem(userId: string, s: ScheduleInput, selfId: string | null): string | null {
    const rec = this.deps.world.get(s.targetId);
    if (!rec || rec.type !== s.targetType) return `No ${s.targetType} with id ${s.targetId}`;
    if (rec.data.userId !== userId) return `The ${s.targetType} ${s.targetId} belongs to another user`;
    if (s.isEnabled) {
      const other = [...this.schedules.values()].find((e) => e.schedule.id !== selfId && e.schedule.isEnabled && e.schedule.targetId === s.targetId);
      if (other) return `The ${s.targetType} already has an enabled schedule (${other.schedule.id})`;
    }
    return null;
  }

  private enabledScheduleOf(deviceId: string): ScheduleEntry | undefined {
    for (const e of this.schedules.values()) if (e.schedule.isEnabled && e.schedule.targetId === deviceId) return e;
    return undefined;
  }

  /** At a rule boundary (or Enode's first look): execute, then wait for the next boundary. */
  private fire(entry: ScheduleEntry): void {
    entry.timer = null;
    if (!this.schedules.has(entry.schedule.id)) return;
    this.execute(entry);
  }

  /** Moves the device to what the schedule wants now (through an action), reports, re-arms. */
  private execute(entry: ScheduleEntry): void {
    const { clock } = this.deps;
    clock.cancel(entry.timer);
    entry.timer = null;
    const s = entry.schedule;
    const rec = this.deps.world.get(s.targetId);
    if (s.isEnabled && rec) {
      const intent = this.wanted(entry, rec);
      if (intent) {
        const r = this.deps.actions.create(rec.type, rec.data.id, intent, { kind: 'enode_schedule', id: s.id });
        if (r.ok && r.action.state === 'PENDING') entry.pendingActionId = r.action.id;
        else if (!r.ok) this.deps.logger.debug({ scheduleId: s.id, detail: r.detail }, 'schedule action refused');
      }
      const next = this.nextTransition(entry, clock.nowMs());
      if (next !== undefined) entry.timer = clock.at(next, () => this.fire(entry));
    }
    this.refresh(entry);
  }

  /** The action that would align the device now, or null when it is aligned or cannot be moved. */
  private wanted(entry: ScheduleEntry, rec: DeviceRecord): Intent | null {
    const s = entry.schedule;
    const now = this.deps.clock.nowMs();
    if (s.targetType === 'hvac') {
      if (rec.type !== 'hvac') return null;
      const intent: Intent = { kind: 'hvac', target: this.expectedTarget(s, now) };
      if (capabilityProblem(rec, intent) || isSatisfied(rec, intent)) return null;
      return intent;
    }
    if (rec.type !== 'vehicle' && rec.type !== 'charger') return null;
    if (this.activeOverrideFor(rec.data.id) || this.chargeIncapable(rec)) return null;
    const parts = this.chargeParts(s, rec, now);
    if (!parts.isPluggedIn) return null;
    const expected = parts.needsCharge && parts.shouldCharge;
    if ((rec.data.chargeState.isCharging === true) === expected) return null;
    const intent: Intent = { kind: 'charging', action: expected ? 'START' : 'STOP' };
    return capabilityProblem(rec, intent) ? null : intent;
  }

  private nextTransition(entry: ScheduleEntry, nowMs: number): number | undefined {
    const s = entry.schedule;
    const list = s.targetType === 'hvac' ? transitions(s.rules, nowMs, (ms) => this.expectedTarget(s, ms), 1) : transitions(s.rules, nowMs, (ms) => this.shouldCharge(s, ms), 1);
    return list[0]?.at;
  }

  private shouldCharge(s: ChargeSchedule, ms: number): boolean {
    return activeRule(s.rules, ms)?.shouldCharge ?? s.defaultShouldCharge;
  }

  private expectedTarget(s: TemperatureSchedule, ms: number): HvacTarget {
    return activeRule(s.rules, ms)?.targetState ?? s.defaultTargetState;
  }

  private chargeIncapable(rec: VehicleRecord | ChargerRecord): boolean {
    return !rec.data.capabilities.startCharging.isCapable || !rec.data.capabilities.stopCharging.isCapable;
  }

  private chargeParts(s: ChargeSchedule, rec: VehicleRecord | ChargerRecord, nowMs: number) {
    return { needsCharge: this.needsCharge(rec), isPluggedIn: rec.data.chargeState.isPluggedIn === true, shouldCharge: this.shouldCharge(s, nowMs) };
  }

  private needsCharge(rec: VehicleRecord | ChargerRecord): boolean {
    if (rec.type === 'vehicle') return rec.sim.level < (rec.data.chargeState.chargeLimit ?? 100);
    const vid = rec.data.chargeState.pluggedInVehicleId;
    if (vid) {
      const v = this.deps.world.getTyped('vehicle', vid);
      return v ? this.needsCharge(v) : false;
    }
    return rec.data.chargeState.isCharging === true || rec.sim.sessionKwhLeft > 0;
  }

  private computeStatus(entry: ScheduleEntry, changedAt: string): ScheduleStatus {
    const s = entry.schedule;
    const nowMs = this.deps.clock.nowMs();
    const rec = this.deps.world.get(s.targetId);
    if (s.targetType === 'hvac') {
      const expected = this.expectedTarget(s, nowMs);
      const hvac = rec?.type === 'hvac' ? rec : undefined;
      const current = hvac ? currentTarget(hvac) : null;
      const intent: Intent = { kind: 'hvac', target: expected };
      const state = !s.isEnabled
        ? 'INACTIVE:DISABLED'
        : !hvac || capabilityProblem(hvac, intent)
          ? 'INACTIVE:INCAPABLE'
          : entry.pendingActionId
            ? 'PENDING'
            : isSatisfied(hvac, intent)
              ? 'ALIGNED'
              : 'MISALIGNED';
      const status: TemperatureScheduleStatus = {
        scheduleId: s.id,
        scheduleType: 'TEMPERATURE',
        changedAt,
        state,
        current,
        expected,
        upcomingTransitions: transitions(s.rules, nowMs, (ms) => this.expectedTarget(s, ms)).map((t) => ({ at: new Date(t.at).toISOString(), target: t.value })),
      };
      return status;
    }
    const dev = rec && (rec.type === 'vehicle' || rec.type === 'charger') ? rec : undefined;
    const parts = dev ? this.chargeParts(s, dev, nowMs) : { needsCharge: false, isPluggedIn: false, shouldCharge: this.shouldCharge(s, nowMs) };
    const isCharging = dev?.data.chargeState.isCharging === true;
    const expected = parts.needsCharge && parts.isPluggedIn && parts.shouldCharge;
    const override = dev ? this.activeOverrideFor(dev.data.id) : null;
    const state = !s.isEnabled
      ? 'INACTIVE:DISABLED'
      : override
        ? 'INACTIVE:OVERRIDDEN'
        : !dev || this.chargeIncapable(dev)
          ? 'INACTIVE:INCAPABLE'
          : entry.pendingActionId
            ? 'PENDING'
            : isCharging === expected
              ? 'ALIGNED'
              : 'MISALIGNED';
    const status: ChargeScheduleStatus = {
      scheduleId: s.id,
      scheduleType: 'CHARGE',
      changedAt,
      state,
      isCharging,
      isChargingExpected: expected,
      isChargingExpectedParts: parts,
      upcomingTransitions: transitions(s.rules, nowMs, (ms) => this.shouldCharge(s, ms)).map((t) => ({ at: new Date(t.at).toISOString(), shouldCharge: t.value })),
      smartOverride: override ? structuredClone(override) : null,
    };
    return status;
  }

  /** Recomputes the status and sends `user:schedule:execution-updated` when it changed. */
  private refresh(entry: ScheduleEntry): void {
    if (!this.schedules.has(entry.schedule.id)) return;
    const now = this.deps.clock.iso();
    const before = entry.status;
    const next = this.computeStatus(entry, before?.changedAt ?? now);
    if (before && sameExcept(before, next, ['changedAt'])) return;
    next.changedAt = now;
    entry.status = next;
    const updatedFields = before ? changedLeaves(before, next).filter((p) => p !== 'changedAt') : leaves(next).filter((p) => p !== 'changedAt');
    this.deps.world.emit({
      event: 'user:schedule:execution-updated',
      createdAt: now,
      version: API_VERSION,
      user: { id: entry.userId },
      status: structuredClone(next),
      schedule: structuredClone(entry.schedule),
      updatedFields,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Smart charging

  /**
   * Enables smart charging on a vehicle of the initial fleet (no event: it exists before anyone
   * listens). With `customerApp`, the retailer's app sometimes overrides its plans (see CHARGE_NOW_CHANCE).
   */
  enableSmartChargingSilently(v: VehicleRecord, deadline: string, minimumChargeLimit = 0, customerApp = false): void {
    v.data.smartChargingPolicy = { isEnabled: true, deadline, minimumChargeLimit };
    const entry = this.smartEntry(v);
    entry.customerApp = customerApp && this.deps.customers !== undefined;
    this.evaluate(entry);
    entry.lastStatus = this.buildSmartStatus(entry, this.deps.clock.iso());
  }

  updatePolicy(vehicleId: string, patch: { isEnabled?: boolean; deadline?: string; minimumChargeLimit?: number }): Result<VehicleRecord['data']['smartChargingPolicy']> {
    const v = this.deps.world.getTyped('vehicle', vehicleId);
    if (!v) return { ok: false, status: 404, detail: `No vehicle with id ${vehicleId}` };
    const old = v.data.smartChargingPolicy;
    const merged = { ...old, ...patch };
    if (merged.isEnabled && !merged.deadline) return { ok: false, status: 400, detail: 'Smart charging needs a deadline' };
    if (merged.isEnabled && !v.data.capabilities.smartCharging.isCapable) return { ok: false, status: 400, detail: 'Vehicle is not capable of smart charging' };
    const limit = v.data.chargeState.chargeLimit ?? 100;
    if (merged.minimumChargeLimit < 0 || merged.minimumChargeLimit > limit) return { ok: false, status: 400, detail: `minimumChargeLimit must be between 0 and the vehicle's charge limit (${limit})` };
    const entry = this.smartEntry(v);
    if (this.planActive(entry) && merged.isEnabled && merged.deadline !== old.deadline) {
      this.endPlan(entry, 'PLAN:ENDED:DEADLINE_CHANGED');
      this.publishSmart(entry);
    }
    if (merged.isEnabled !== old.isEnabled || merged.deadline !== old.deadline) entry.ended = false;
    this.deps.world.update(v, { cause: 'own_action', detail: 'smart charging policy updated through the API' }, (d) => {
      d.smartChargingPolicy = { isEnabled: merged.isEnabled, deadline: merged.deadline, minimumChargeLimit: merged.minimumChargeLimit };
    });
    this.evaluate(entry);
    this.publishSmart(entry);
    return { ok: true, value: structuredClone(v.data.smartChargingPolicy) };
  }

  smartStatus(vehicleId: string): SmartChargingStatus | undefined {
    const v = this.deps.world.getTyped('vehicle', vehicleId);
    if (!v) return undefined;
    const entry = this.smart.get(vehicleId);
    if (!entry) return this.buildSmartStatus(this.freshSmartEntry(v), v.data.lastSeen);
    return structuredClone(entry.lastStatus ?? this.buildSmartStatus(entry, this.deps.clock.iso()));
  }

  /** A plan of the vehicle by id, or its latest with `latest`. */
  plan(vehicleId: string, planId: string): SmartChargingPlan | undefined {
    if (planId === 'latest') {
      let latest: SmartChargingPlan | undefined;
      for (const p of this.plans.values()) if (p.vehicleId === vehicleId) latest = p;
      return latest && structuredClone(latest);
    }
    const p = this.plans.get(planId);
    return p && p.vehicleId === vehicleId ? structuredClone(p) : undefined;
  }

  createOverride(vehicleId: string): Result<SmartOverrideView> {
    const v = this.deps.world.getTyped('vehicle', vehicleId);
    if (!v) return { ok: false, status: 404, detail: `No vehicle with id ${vehicleId}` };
    const existing = this.activeOverrideFor(vehicleId);
    if (existing) return { ok: true, value: this.overrideView(v, existing) };
    const schedule = this.enabledScheduleOf(vehicleId);
    if (!v.data.smartChargingPolicy.isEnabled && !(schedule && schedule.schedule.targetType === 'vehicle')) {
      return { ok: false, status: 400, detail: 'Nothing to override: smart charging is not enabled and no schedule controls the vehicle' };
    }
    if (!v.data.chargeState.isPluggedIn) return { ok: false, status: 400, detail: 'Vehicle is not plugged in' };
    const r = this.deps.actions.create('vehicle', vehicleId, { kind: 'charging', action: 'START' }, { kind: 'smart_override' });
    if (!r.ok) return { ok: false, status: 400, detail: r.detail };
    const entry = this.smartEntry(v);
    const override: SmartOverrideStatus = { createdAt: this.deps.clock.iso(), endedAt: null, targetType: 'vehicle', targetId: vehicleId, vendorActionId: r.action.id };
    entry.override = override;
    this.deps.clock.cancel(entry.considerTimer);
    entry.considerTimer = null;
    if (this.planActive(entry)) {
      entry.planActionId = null;
      this.setState(entry, 'PLAN:EXECUTING:OVERRIDDEN');
    }
    const a = r.action;
    if (a.state === 'FAILED' || (a.state === 'CANCELLED' && a.failureReason?.type !== 'UNNECESSARY')) {
      this.endOverride(entry);
    } else {
      this.publishSmart(entry);
      this.refreshSchedulesOf(vehicleId);
    }
    return { ok: true, value: this.overrideView(v, override) };
  }

  endOverrideByRequest(vehicleId: string): Result<SmartOverrideView> {
    const v = this.deps.world.getTyped('vehicle', vehicleId);
    if (!v) return { ok: false, status: 404, detail: `No vehicle with id ${vehicleId}` };
    const entry = this.smart.get(vehicleId);
    const o = this.activeOverrideFor(vehicleId);
    if (!entry || !o) return { ok: false, status: 404, detail: 'No Smart Override Exists' };
    this.endOverride(entry);
    return { ok: true, value: this.overrideView(v, o) };
  }

  private overrideView(v: VehicleRecord, o: SmartOverrideStatus): SmartOverrideView {
    return { ...structuredClone(o), userId: v.data.userId, vendor: v.data.vendor };
  }

  private activeOverrideFor(deviceId: string): SmartOverrideStatus | null {
    const o = this.smart.get(deviceId)?.override;
    return o && o.endedAt === null ? o : null;
  }

  private freshSmartEntry(v: VehicleRecord): SmartEntry {
    const p = v.data.smartChargingPolicy;
    return {
      vehicleId: v.data.id,
      state: p.isEnabled ? 'CONSIDERING' : 'DISABLED',
      stateChangedAt: this.deps.clock.iso(),
      plan: null,
      override: null,
      ended: false,
      considerTimer: null,
      startTimer: null,
      planActionId: null,
      lastStatus: null,
      customerApp: false,
      chargeNowTimer: null,
      backToSmartTimer: null,
    };
  }

  private smartEntry(v: VehicleRecord): SmartEntry {
    let entry = this.smart.get(v.data.id);
    if (!entry) {
      entry = this.freshSmartEntry(v);
      this.smart.set(v.data.id, entry);
      entry.lastStatus = this.buildSmartStatus(entry, this.deps.clock.iso());
    }
    return entry;
  }

  private planActive(entry: SmartEntry): boolean {
    return entry.plan !== null && entry.plan.endedAt === null;
  }

  private setState(entry: SmartEntry, state: SmartChargeState): void {
    if (entry.state === state) return;
    entry.state = state;
    entry.stateChangedAt = this.deps.clock.iso();
  }

  /** Moves the state machine on from the vehicle's and the policy's current state. */
  private evaluate(entry: SmartEntry): void {
    const v = this.deps.world.getTyped('vehicle', entry.vehicleId);
    if (!v) return;
    const policy = v.data.smartChargingPolicy;
    const cs = v.data.chargeState;
    const full = v.sim.level >= (cs.chargeLimit ?? 100);
    if (this.planActive(entry)) {
      if (!policy.isEnabled) this.endPlan(entry, 'PLAN:ENDED:DISABLED');
      else if (!cs.isPluggedIn) this.endPlan(entry, 'PLAN:ENDED:UNPLUGGED');
      else if (full && !cs.isCharging) this.endPlan(entry, 'PLAN:ENDED:FINISHED');
      return;
    }
    if (entry.ended) return;
    const cancelConsider = () => {
      this.deps.clock.cancel(entry.considerTimer);
      entry.considerTimer = null;
    };
    if (!policy.isEnabled) {
      cancelConsider();
      this.setState(entry, 'DISABLED');
    } else if (!cs.isPluggedIn) {
      cancelConsider();
      this.setState(entry, 'CONSIDERING');
    } else if (full) {
      cancelConsider();
      this.setState(entry, 'FULLY_CHARGED');
    } else {
      this.setState(entry, 'CONSIDERING');
      // Below the minimum charge limit it charges at once, regardless of prices: no plan yet.
      if (!entry.considerTimer && !this.activeOverrideFor(entry.vehicleId) && v.sim.level >= policy.minimumChargeLimit) {
        entry.considerTimer = this.deps.clock.after(CONSIDER_MS, () => {
          entry.considerTimer = null;
          const still = this.deps.world.getTyped('vehicle', entry.vehicleId);
          if (still && !this.planActive(entry) && !entry.ended && entry.state === 'CONSIDERING' && still.data.chargeState.isPluggedIn && still.data.smartChargingPolicy.isEnabled && !this.activeOverrideFor(entry.vehicleId)) {
            this.startPlan(entry, still);
          }
          this.publishSmart(entry);
        });
      }
    }
  }

  /** A new plan: stop charging now, start again at `startAt` (30–120 min later, before the deadline). */
  private startPlan(entry: SmartEntry, v: VehicleRecord): void {
    const { clock, rng } = this.deps;
    const nowMs = clock.nowMs();
    const cs = v.data.chargeState;
    const kwh = Math.max(0, (((cs.chargeLimit ?? 100) - v.sim.level) / 100) * (cs.batteryCapacity ?? 50));
    const kw = vehicleChargeKw(this.deps.world, v) || 1;
    const chargeMs = Math.round((kwh / kw) * 3_600_000);
    let startMs = nowMs + rng.int(30, 120) * MINUTE;
    const deadline = v.data.smartChargingPolicy.deadline;
    if (deadline) {
      const dl = nextClockTime(nowMs, deadline);
      if (startMs + chargeMs > dl) startMs = Math.max(nowMs + 5 * MINUTE, dl - chargeMs);
    }
    startMs = Math.ceil(startMs / MINUTE) * MINUTE;
    const plan: SmartChargingPlan = {
      id: this.deps.ids.uuid(),
      vehicleId: v.data.id,
      userId: v.data.userId,
      locationId: null,
      vendor: v.data.vendor,
      currency: 'EUR',
      nonSmartCost: round2(kwh * 0.32),
      smartCost: round2(kwh * 0.21),
      stopAt: new Date(nowMs).toISOString(),
      startAt: new Date(startMs).toISOString(),
      estimatedFinishAt: new Date(startMs + chargeMs).toISOString(),
      stopConfirmedAt: null,
      startConfirmedAt: null,
      endedAt: null,
      finalState: null,
      failureCondition: null,
    };
    this.plans.set(plan.id, plan);
    entry.plan = plan;
    entry.startTimer = clock.at(startMs, () => {
      entry.startTimer = null;
      if (entry.plan !== plan || !this.planActive(entry) || this.activeOverrideFor(entry.vehicleId)) return;
      this.planCharging(entry, 'START');
      this.publishSmart(entry);
    });
    this.planCharging(entry, 'STOP');
  }

  /** The plan's own action: STOP (→ STOPPING) or START (→ STARTING). */
  private planCharging(entry: SmartEntry, kind: 'START' | 'STOP'): void {
    const plan = entry.plan;
    if (!plan) return;
    const now = this.deps.clock.iso();
    this.setState(entry, kind === 'STOP' ? 'PLAN:EXECUTING:STOPPING' : 'PLAN:EXECUTING:STARTING');
    const r = this.deps.actions.create('vehicle', entry.vehicleId, { kind: 'charging', action: kind }, { kind: 'smart_charging_plan', id: plan.id });
    if (!r.ok) {
      // START refused: the vehicle is at its limit.
      if (kind === 'START') this.endPlan(entry, 'PLAN:ENDED:FINISHED');
      else this.setState(entry, 'PLAN:EXECUTING:STOP_FAILED');
      return;
    }
    const a = r.action;
    if (a.state === 'PENDING') {
      entry.planActionId = a.id;
    } else if (a.state === 'CANCELLED' && a.failureReason?.type === 'UNNECESSARY') {
      this.confirmPlanStep(entry, kind, now);
    } else {
      this.setState(entry, kind === 'STOP' ? 'PLAN:EXECUTING:STOP_FAILED' : 'PLAN:EXECUTING:START_FAILED');
    }
  }

  private confirmPlanStep(entry: SmartEntry, kind: 'START' | 'STOP', at: string): void {
    const plan = entry.plan;
    if (!plan) return;
    if (kind === 'STOP') {
      plan.stopConfirmedAt ??= at;
      this.setState(entry, 'PLAN:EXECUTING:STOPPED');
      this.maybeChargeNow(entry);
    } else {
      plan.startConfirmedAt ??= at;
      this.setState(entry, 'PLAN:EXECUTING:STARTED');
    }
  }

  private endPlan(entry: SmartEntry, finalState: PlanFinalState): void {
    const plan = entry.plan;
    if (!plan || plan.endedAt !== null) return;
    const { clock, actions } = this.deps;
    plan.endedAt = clock.iso();
    plan.finalState = finalState;
    clock.cancel(entry.startTimer);
    entry.startTimer = null;
    if (entry.planActionId) {
      const id = entry.planActionId;
      entry.planActionId = null;
      actions.cancel('vehicle', id);
    }
    this.setState(entry, finalState);
    entry.ended = true;
  }

  // -------------------------------------------------------------------------------------------
  // The retailer's app (fleet vehicles only): "charge now" and "back to smart charging"

  /**
   * A plan has just stopped the vehicle: the customer may tap "charge now" a while later. The app
   * then creates a smart override exactly as a client's POST /vehicles/{id}/smart-override does,
   * if the plan still holds the vehicle from charging by then.
   */
  private maybeChargeNow(entry: SmartEntry): void {
    const rng = this.deps.customers;
    if (!entry.customerApp || !rng || entry.chargeNowTimer || !rng.chance(CHARGE_NOW_CHANCE)) return;
    const plan = entry.plan;
    const delayMs = rng.int(...CHARGE_NOW_AFTER_MIN) * MINUTE;
    entry.chargeNowTimer = this.deps.clock.after(delayMs, () => {
      entry.chargeNowTimer = null;
      const v = this.deps.world.getTyped('vehicle', entry.vehicleId);
      const holding =
        v !== undefined &&
        this.smart.get(entry.vehicleId) === entry &&
        entry.plan === plan &&
        this.planActive(entry) &&
        entry.state === 'PLAN:EXECUTING:STOPPED' &&
        v.data.chargeState.isPluggedIn === true &&
        v.data.chargeState.isCharging !== true &&
        !this.activeOverrideFor(entry.vehicleId);
      if (!holding) return;
      const r = this.createOverride(entry.vehicleId);
      if (!r.ok) {
        this.deps.logger.debug({ vehicleId: entry.vehicleId, detail: r.detail }, 'customer smart override refused');
        return;
      }
      const override = entry.override;
      if (override && override.endedAt === null) this.maybeBackToSmart(entry, override);
    });
  }

  /** The app may end the override it created (DELETE /vehicles/{id}/smart-override) while it lasts. */
  private maybeBackToSmart(entry: SmartEntry, override: SmartOverrideStatus): void {
    const rng = this.deps.customers;
    if (!rng || !rng.chance(BACK_TO_SMART_CHANCE)) return;
    const delayMs = rng.int(...BACK_TO_SMART_AFTER_MIN) * MINUTE;
    this.deps.clock.cancel(entry.backToSmartTimer);
    entry.backToSmartTimer = this.deps.clock.after(delayMs, () => {
      entry.backToSmartTimer = null;
      if (this.smart.get(entry.vehicleId) !== entry || entry.override !== override || override.endedAt !== null) return;
      this.endOverrideByRequest(entry.vehicleId);
    });
  }

  /** Ends the active override; the plan or schedule it overrode takes control again. */
  private endOverride(entry: SmartEntry): void {
    const o = entry.override;
    if (!o || o.endedAt !== null) return;
    o.endedAt = this.deps.clock.iso();
    this.evaluate(entry);
    const plan = entry.plan;
    if (plan && this.planActive(entry) && entry.state === 'PLAN:EXECUTING:OVERRIDDEN') {
      const startMs = plan.startAt ? Date.parse(plan.startAt) : Infinity;
      this.planCharging(entry, this.deps.clock.nowMs() < startMs ? 'STOP' : 'START');
    }
    this.publishSmart(entry);
    for (const e of this.schedules.values()) if (e.schedule.targetId === entry.vehicleId) this.execute(e);
  }

  private buildSmartStatus(entry: SmartEntry, updatedAt: string): SmartChargingStatus {
    const v = this.deps.world.getTyped('vehicle', entry.vehicleId);
    const cs = v?.data.chargeState;
    return {
      updatedAt,
      vehicleId: entry.vehicleId,
      userId: v?.data.userId ?? '',
      vendor: v?.data.vendor ?? '',
      state: entry.state,
      stateChangedAt: entry.stateChangedAt,
      consideration: {
        isPluggedIn: cs?.isPluggedIn === true,
        isCharging: cs?.isCharging === true,
        // The simulator has one location per user, where its vehicles plug in.
        atChargingLocation: cs?.isPluggedIn === true,
        hasTimeEstimate: true,
      },
      plan: entry.plan ? structuredClone(entry.plan) : null,
      smartOverride: entry.override ? structuredClone(entry.override) : null,
    };
  }

  /** Sends `user:vehicle:smart-charging-status-updated` when the status changed. */
  private publishSmart(entry: SmartEntry): void {
    const now = this.deps.clock.iso();
    const before = entry.lastStatus;
    const next = this.buildSmartStatus(entry, before?.updatedAt ?? now);
    if (before && sameExcept(before, next, ['updatedAt'])) return;
    next.updatedAt = now;
    entry.lastStatus = next;
    const updatedFields = (before ? changedLeaves(before, next) : leaves(next)).filter((p) => p !== 'updatedAt');
    this.deps.world.emit({
      event: 'user:vehicle:smart-charging-status-updated',
      createdAt: now,
      version: API_VERSION,
      user: { id: next.userId },
      smartChargingStatus: structuredClone(next),
      updatedFields,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Reactions

  /**
   * Why Enode refuses a basic action on this device now (→ HTTP 422), or null: an enabled
   * schedule that is not INACTIVE, or a smart charging plan executing without an override.
   */
  controlProblem(type: DeviceRecord['type'], deviceId: string, intent: Intent): string | null {
    const entry = this.enabledScheduleOf(deviceId);
    const relevant =
      (type === 'hvac' && intent.kind === 'hvac') || ((type === 'vehicle' || type === 'charger') && (intent.kind === 'charging' || intent.kind === 'maxCurrent'));
    if (!relevant) return null;
    if (entry) {
      this.refresh(entry);
      const state = entry.status?.state ?? 'ALIGNED';
      if (!state.startsWith('INACTIVE:')) {
        const what = type === 'hvac' ? 'HVAC unit' : type === 'vehicle' ? 'Vehicle' : 'Charger';
        return `${what} is controlled by a schedule (${entry.schedule.id}, state ${state}): disable the schedule${type === 'vehicle' ? ' or use smart override' : ''} to control it directly`;
      }
    }
    if (type === 'vehicle') {
      const smart = this.smart.get(deviceId);
      if (smart && this.planActive(smart) && smart.state.startsWith('PLAN:EXECUTING:') && smart.state !== 'PLAN:EXECUTING:OVERRIDDEN') {
        return `Vehicle has an active smart charging plan (${smart.plan?.id}, state ${smart.state}): disable smart charging or use smart override to control it directly`;
      }
    }
    return null;
  }

  private refreshSchedulesOf(deviceId: string): void {
    for (const e of this.schedules.values()) if (e.schedule.targetId === deviceId) this.refresh(e);
  }

  private onDeviceChanged(rec: DeviceRecord, ctx: ChangeContext, changes: readonly FieldChange[]): void {
    if (this.schedules.size === 0 && this.smart.size === 0) return;
    const changed = (path: string) => changes.find((c) => c.path === path);
    const plug = changed('chargeState.isPluggedIn');
    for (const e of this.schedules.values()) {
      if (e.schedule.targetId !== rec.data.id) continue;
      // Enode acts when the device plugs in; otherwise a change off the schedule is only reported.
      if (plug?.to === true && e.schedule.isEnabled) this.execute(e);
      else if (ctx.automation?.kind === 'enode_schedule' && ctx.automation.id === e.schedule.id) continue;
      else this.refresh(e);
    }
    if (rec.type !== 'vehicle') return;
    const entry = this.smart.get(rec.data.id);
    if (!entry) return;
    const charging = changed('chargeState.isCharging');
    if (plug?.to === true) {
      entry.ended = false;
      entry.plan = null;
      entry.override = null;
    }
    if (plug?.to === false) {
      if (!this.planActive(entry)) entry.ended = false;
      this.endOverride(entry);
    }
    if (charging?.from === true && charging.to === false) {
      this.endOverride(entry);
      const own = ctx.automation?.kind === 'smart_charging_plan' && ctx.automation.id === entry.plan?.id;
      if (!own && this.planActive(entry) && entry.state === 'PLAN:EXECUTING:STARTED' && rec.data.chargeState.isPluggedIn) {
        const full = rec.sim.level >= (rec.data.chargeState.chargeLimit ?? 100);
        if (full) this.endPlan(entry, 'PLAN:ENDED:FINISHED');
        else this.setState(entry, 'PLAN:EXECUTING:CHARGE_INTERRUPTED');
      }
    }
    this.evaluate(entry);
    // A change the plan's or the override's own action made is reported with that action's resolution.
    const own = ctx.automation && (ctx.automation.id === entry.plan?.id || ctx.automation.id === entry.override?.vendorActionId);
    if (!own) this.publishSmart(entry);
  }

  private onActionResolved(action: VendorAction, origin: AutomationRef | null): void {
    if (!origin) return;
    if (origin.kind === 'enode_schedule') {
      const e = this.schedules.get(origin.id);
      if (e && e.pendingActionId === action.id) {
        e.pendingActionId = null;
        this.refresh(e);
      }
      return;
    }
    const entry = this.smart.get(action.targetId);
    if (!entry) return;
    if (origin.kind === 'smart_charging_plan') {
      if (entry.planActionId !== action.id || !('kind' in action)) return;
      entry.planActionId = null;
      if (action.state === 'CONFIRMED' || action.failureReason?.type === 'UNNECESSARY') this.confirmPlanStep(entry, action.kind, action.completedAt ?? this.deps.clock.iso());
      else if (action.failureReason?.type !== 'CONFLICT' && action.failureReason?.type !== 'REQUESTED_CANCELLATION') {
        this.setState(entry, action.kind === 'STOP' ? 'PLAN:EXECUTING:STOP_FAILED' : 'PLAN:EXECUTING:START_FAILED');
      }
      this.evaluate(entry);
      this.publishSmart(entry);
      return;
    }
    if (origin.kind === 'smart_override' && entry.override?.vendorActionId === action.id && entry.override.endedAt === null) {
      const failed = action.state === 'FAILED' || (action.state === 'CANCELLED' && action.failureReason?.type !== 'UNNECESSARY');
      if (failed) this.endOverride(entry);
      else this.publishSmart(entry);
    }
  }

  private onDeviceRemoved(rec: DeviceRecord): void {
    for (const e of [...this.schedules.values()]) if (e.schedule.targetId === rec.data.id) this.deleteSchedule(e.schedule.id);
    const entry = this.smart.get(rec.data.id);
    if (entry) {
      this.deps.clock.cancel(entry.considerTimer);
      this.deps.clock.cancel(entry.startTimer);
      this.deps.clock.cancel(entry.chargeNowTimer);
      this.deps.clock.cancel(entry.backToSmartTimer);
      this.smart.delete(rec.data.id);
    }
  }
}

/** What an HVAC currently holds, as a schedule target (null when unknown). */
function currentTarget(h: HvacRecord): HvacTarget | null {
  const t = h.data.thermostatState;
  if (t.holdType === 'SCHEDULED') return { holdType: 'SCHEDULED' };
  if (t.holdType !== 'PERMANENT') return null;
  switch (t.mode) {
    case 'HEAT':
      return t.heatSetpoint === null ? null : normalTarget({ mode: 'HEAT', heatSetpoint: t.heatSetpoint, holdType: 'PERMANENT' });
    case 'COOL':
      return t.coolSetpoint === null ? null : normalTarget({ mode: 'COOL', coolSetpoint: t.coolSetpoint, holdType: 'PERMANENT' });
    case 'AUTO':
      return t.heatSetpoint === null || t.coolSetpoint === null ? null : normalTarget({ mode: 'AUTO', heatSetpoint: t.heatSetpoint, coolSetpoint: t.coolSetpoint, holdType: 'PERMANENT' });
    case 'OFF':
      return { mode: 'OFF', holdType: 'PERMANENT' };
    default:
      return null;
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function leaves(obj: unknown, prefix = ''): string[] {
  if (!isPlainObject(obj)) return [prefix];
  return Object.entries(obj).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

/** Dotted leaf paths that differ (arrays compared whole). */
function changedLeaves(a: unknown, b: unknown, prefix = ''): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => changedLeaves(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

function sameExcept<T extends object>(a: T, b: T, keys: Array<keyof T>): boolean {
  const strip = (o: T) => JSON.stringify({ ...o, ...Object.fromEntries(keys.map((k) => [k, null])) });
  return strip(a) === strip(b);
}

/**
 * Gives the initial fleet its automations, deterministically from `rng`: an enabled schedule to a
 * share of vehicles, chargers and HVACs (CHARGE windows by day and night; heating or cooling
 * programmes), and smart charging (deadline 07:00) to a share of the vehicles without a schedule,
 * whose plans the retailer's app sometimes overrides ("charge now") and the override ends again.
 * A charger whose home vehicle has either gets no schedule (they would fight over one session).
 */
export function seedAutomation(world: World, automation: Automation, rng: Rng, schedulesShare: number, smartChargingShare: number): void {
  if (schedulesShare <= 0 && smartChargingShare <= 0) return;
  const hm = (h: number) => `${String(((h % 24) + 24) % 24).padStart(2, '0')}:00`;
  const automated = new Set<string>();
  for (const rec of world.all()) {
    const scheduled = rng.chance(schedulesShare);
    const smart = rng.chance(smartChargingShare);
    const a = rng.int(5, 10);
    const b = rng.int(1, 3);
    const c = rng.int(12, 17);
    const d = rng.int(1, 3);
    const night = rng.int(22, 25);
    const userId = rec.data.userId;
    if (rec.type === 'vehicle' || rec.type === 'charger') {
      const capable = rec.data.capabilities.startCharging.isCapable && rec.data.capabilities.stopCharging.isCapable;
      const pairedAutomated = rec.type === 'charger' && rec.homeVehicleId !== null && automated.has(rec.homeVehicleId);
      if (scheduled && capable && !pairedAutomated) {
        automation.createSchedule(
          userId,
          {
            targetId: rec.data.id,
            locationId: null,
            targetType: rec.type,
            isEnabled: true,
            defaultShouldCharge: false,
            rules: [
              { hourMinute: { from: hm(night), to: '06:00' }, shouldCharge: true },
              { hourMinute: { from: hm(a), to: hm(a + b) }, shouldCharge: true },
              { hourMinute: { from: hm(c), to: hm(c + d) }, shouldCharge: true },
            ],
          },
          true,
        );
        automated.add(rec.data.id);
      } else if (rec.type === 'vehicle' && smart && rec.data.capabilities.smartCharging.isCapable) {
        automation.enableSmartChargingSilently(rec, '07:00', 0, true);
        automated.add(rec.data.id);
      }
    } else if (rec.type === 'hvac' && scheduled && rec.data.capabilities.setPermanentHold.isCapable) {
      const programme = temperatureProgramme(rec.data.information.category);
      automation.createSchedule(
        userId,
        {
          targetId: rec.data.id,
          targetType: 'hvac',
          isEnabled: true,
          defaultTargetState: programme.off,
          rules: [
            { hourMinute: { from: hm(a - 1), to: hm(a + b) }, targetState: programme.on },
            { hourMinute: { from: hm(c), to: hm(c + d + 3) }, targetState: programme.on },
          ],
        },
        true,
      );
    }
  }
}

function temperatureProgramme(category: HvacRecord['data']['information']['category']): { on: HvacTarget; off: HvacTarget } {
  switch (category) {
    case 'COOLING':
      return { on: { mode: 'COOL', coolSetpoint: 24, holdType: 'PERMANENT' }, off: { mode: 'OFF', holdType: 'PERMANENT' } };
    case 'HEAT_PUMP':
      return {
        on: { mode: 'AUTO', heatSetpoint: 21, coolSetpoint: 25, holdType: 'PERMANENT' },
        off: { mode: 'AUTO', heatSetpoint: 18, coolSetpoint: 26, holdType: 'PERMANENT' },
      };
    default:
      return { on: { mode: 'HEAT', heatSetpoint: 21, holdType: 'PERMANENT' }, off: { mode: 'HEAT', heatSetpoint: 18, holdType: 'PERMANENT' } };
  }
}
