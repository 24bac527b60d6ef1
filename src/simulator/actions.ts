import type { SimClock, TimerHandle } from './clock.js';
import { applyIntent, capabilityProblem, isSatisfied, unmetPrecondition } from './control.js';
import type { Rng } from './random.js';
import { scheduledTarget } from './schedule.js';
import type { TruthLog } from './truth.js';
import {
  API_VERSION,
  type ActionState,
  type AutomationRef,
  type DeviceType,
  type FailureReason,
  type Intent,
  type SimLogger,
  type VendorAction,
} from './types.js';
import type { DeviceRecord, World } from './world.js';

export interface ActionTiming {
  /** Sim seconds until a responsive device applies the action, uniform in [min, max]. */
  actionDelaySeconds: readonly [number, number];
  noResponseRate: number;
  actionTimeoutSeconds: number;
}

export type CreateActionResult =
  | { ok: true; action: VendorAction }
  | { ok: false; status: 400 | 404; detail: string };

export type CancelActionResult =
  | { status: 200 | 409; action: VendorAction }
  | { status: 404; action: null };

interface ActionRecord {
  action: VendorAction;
  intent: Intent;
  timer: TimerHandle | null;
  /** Set when Enode created the action for an automation of this client (schedule, plan, override). */
  origin: AutomationRef | null;
}

/** Who asks for an action: the client through the API (default) or one of Enode's automations. */
export interface ActionOrigin {
  kind: AutomationRef['kind'];
  /** The schedule or plan id; omitted for a smart override, whose id is the action's own. */
  id?: string;
}

export interface ActionEngineDeps {
  world: World;
  clock: SimClock;
  rng: Rng;
  ids: Rng;
  truth: TruthLog;
  timing: ActionTiming;
  logger: SimLogger;
}

/**
 * Enode vendor actions: one active action per target; PENDING until the device applies it
 * (CONFIRMED, the device changes at that moment), ignores it (FAILED, NO_RESPONSE after the
 * timeout) or it is cancelled (UNNECESSARY, FAILED_PRECONDITION, CONFLICT, REQUESTED_CANCELLATION,
 * NOT_FOUND). Every transition emits `user:vendor-action:updated`.
 */
export class ActionEngine {
  private readonly actions = new Map<string, ActionRecord>();
  private readonly pendingByTarget = new Map<string, string>();
  private readonly resolvedListeners: Array<(action: VendorAction, origin: AutomationRef | null) => void> = [];

  constructor(private readonly deps: ActionEngineDeps) {
    deps.world.onRemoved((rec) => {
      const pending = this.pendingOf(rec.data.id);
      if (pending) this.resolve(pending, 'CANCELLED', { type: 'NOT_FOUND', detail: 'The target device was deleted' });
    });
  }

  /** Called after every resolution (CONFIRMED, FAILED, CANCELLED), also one at creation. */
  onResolved(listener: (action: VendorAction, origin: AutomationRef | null) => void): void {
    this.resolvedListeners.push(listener);
  }

  /**
   * Creates an action. `origin` marks one Enode creates for an automation: the same lifecycle and
   * events, and the change it makes is recorded as `own_automation`.
   */
  create(type: DeviceType, deviceId: string, intent: Intent, origin?: ActionOrigin): CreateActionResult {
    const { world, clock } = this.deps;
    const rec = world.getTyped(type, deviceId);
    if (!rec) return { ok: false, status: 404, detail: `No ${type} with id ${deviceId}` };
    const problem = capabilityProblem(rec, intent);
    if (problem) return { ok: false, status: 400, detail: problem };

    const existing = this.pendingOf(deviceId);
    if (existing) {
      const e = existing.action;
      if (type === 'vehicle' && intent.kind === 'charging' && 'kind' in e && e.kind === intent.action) {
        return { ok: true, action: structuredClone(e) };
      }
    }

    const now = clock.iso();
    const action = buildAction(
      { id: this.deps.ids.uuid(), userId: rec.data.userId, createdAt: now, updatedAt: now, completedAt: null, state: 'PENDING', targetId: deviceId },
      type,
      intent,
    );
    if (existing) {
      this.resolve(existing, 'CANCELLED', { type: 'CONFLICT', detail: `Superseded by a newer action (${action.id}) for the same target` });
    }
    const record: ActionRecord = { action, intent, timer: null, origin: origin ? { kind: origin.kind, id: origin.id ?? action.id } : null };
    this.actions.set(action.id, record);

    if (isSatisfied(rec, intent)) {
      this.resolve(record, 'CANCELLED', { type: 'UNNECESSARY', detail: 'The device is already in the requested state' }, true);
      return { ok: true, action: structuredClone(record.action) };
    }
    const unmet = unmetPrecondition(rec, intent);
    if (unmet) {
      this.resolve(record, 'CANCELLED', { type: 'FAILED_PRECONDITION', detail: unmet }, true);
      return { ok: true, action: structuredClone(record.action) };
    }

    this.pendingByTarget.set(deviceId, action.id);
    this.deps.truth.recordAction(action);
    this.emit(action, ['state']);
    this.arm(record);
    return { ok: true, action: structuredClone(action) };
  }

  get(type: DeviceType, actionId: string): VendorAction | undefined {
    const rec = this.actions.get(actionId);
    return rec && rec.action.targetType === type ? structuredClone(rec.action) : undefined;
  }

  /** Every action, oldest first. */
  list(): VendorAction[] {
    return [...this.actions.values()].map((r) => structuredClone(r.action));
  }

  cancel(type: DeviceType, actionId: string): CancelActionResult {
    const rec = this.actions.get(actionId);
    if (!rec || rec.action.targetType !== type) return { status: 404, action: null };
    if (rec.action.state !== 'PENDING') return { status: 409, action: structuredClone(rec.action) };
    this.resolve(rec, 'CANCELLED', { type: 'REQUESTED_CANCELLATION', detail: 'Cancelled at the request of the client' });
    return { status: 200, action: structuredClone(rec.action) };
  }

  pendingCount(): number {
    return this.pendingByTarget.size;
  }

  private pendingOf(deviceId: string): ActionRecord | undefined {
    const id = this.pendingByTarget.get(deviceId);
    return id ? this.actions.get(id) : undefined;
  }

  /** Decides now how the device will react, and schedules it in sim time. */
  private arm(record: ActionRecord): void {
    const { rng, clock, timing } = this.deps;
    const timeoutMs = timing.actionTimeoutSeconds * 1000;
    const ignores = rng.chance(timing.noResponseRate);
    const [min, max] = timing.actionDelaySeconds;
    const delayMs = Math.round((min === max ? min : rng.float(min, max)) * 1000);
    if (ignores || delayMs >= timeoutMs) {
      record.timer = clock.after(timeoutMs, () =>
        this.resolve(record, 'FAILED', { type: 'NO_RESPONSE', detail: `The device did not respond within ${timing.actionTimeoutSeconds} s` }),
      );
      return;
    }
    record.timer = clock.after(delayMs, () => this.apply(record));
  }

  private apply(record: ActionRecord): void {
    record.timer = null;
    const { world } = this.deps;
    const a = record.action;
    const rec: DeviceRecord | undefined = world.get(a.targetId);
    if (!rec) return; // removal already resolved it
    const unmet = unmetPrecondition(rec, record.intent);
    if (unmet) {
      this.resolve(record, 'CANCELLED', { type: 'FAILED_PRECONDITION', detail: unmet });
      return;
    }
    const scheduled = rec.type === 'hvac' ? scheduledTarget(rec.data.information.category, this.deps.clock.nowMs()) : undefined;
    const ctx = record.origin
      ? { cause: 'own_automation' as const, actionId: a.id, automation: record.origin, detail: `${describe(a)} (${record.origin.kind.replace(/_/g, ' ')})` }
      : { cause: 'own_action' as const, actionId: a.id, detail: describe(a) };
    applyIntent(world, rec, record.intent, ctx, scheduled);
    this.resolve(record, 'CONFIRMED', null);
  }

  private resolve(record: ActionRecord, state: ActionState, failureReason: FailureReason | null, atCreation = false): void {
    const a = record.action;
    if (a.state !== 'PENDING') return;
    this.deps.clock.cancel(record.timer);
    record.timer = null;
    const now = this.deps.clock.iso();
    a.state = state;
    a.failureReason = failureReason;
    a.completedAt = now;
    a.updatedAt = now;
    if (this.pendingByTarget.get(a.targetId) === a.id) this.pendingByTarget.delete(a.targetId);
    this.deps.truth.recordAction(a);
    this.deps.logger.debug({ actionId: a.id, state, failureReason: failureReason?.type ?? null }, 'action resolved');
    this.emit(a, atCreation ? ['state'] : failureReason ? ['state', 'completedAt', 'failureReason'] : ['state', 'completedAt']);
    for (const l of this.resolvedListeners) l(structuredClone(a), record.origin);
  }

  private emit(action: VendorAction, updatedFields: string[]): void {
    this.deps.world.emit({
      event: 'user:vendor-action:updated',
      createdAt: this.deps.clock.iso(),
      version: API_VERSION,
      user: { id: action.userId },
      vendorAction: structuredClone(action),
      updatedFields,
    });
  }
}

type ActionBaseFields = Pick<VendorAction, 'id' | 'userId' | 'createdAt' | 'updatedAt' | 'completedAt' | 'state' | 'targetId'>;

function buildAction(base: ActionBaseFields, type: DeviceType, intent: Intent): VendorAction {
  switch (intent.kind) {
    case 'charging':
      return { ...base, targetType: type as 'vehicle' | 'charger', kind: intent.action, failureReason: null };
    case 'maxCurrent':
      return { ...base, targetType: type as 'vehicle' | 'charger', targetState: { maxCurrent: intent.maxCurrent }, failureReason: null };
    case 'hvac':
      return { ...base, targetType: 'hvac', target: intent.target, failureReason: null };
    case 'operationMode':
      return { ...base, targetType: 'battery', targetState: { operationMode: intent.operationMode }, failureReason: null };
  }
}

function describe(a: VendorAction): string {
  if ('kind' in a) return `${a.kind} charging`;
  if ('target' in a) return a.target.holdType === 'SCHEDULED' ? 'follow schedule' : `permanent hold ${a.target.mode}`;
  if ('maxCurrent' in a.targetState) return `max current ${a.targetState.maxCurrent} A`;
  return `operation mode ${a.targetState.operationMode}`;
}
