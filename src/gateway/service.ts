/**
 * The command gateway's flow (issue 6): per device, under a lock — read the device, its PENDING
 * actions and its budget; run the guards (domain/guards.ts); send to Enode or not; store Enode's
 * answer through the one funnel with origin `gateway`; log the command. The HTTP edge is routes.ts.
 */
import { randomUUID } from 'node:crypto';
import { presentAction } from '../api/present.js';
import type { Clock } from '../clock.js';
import { isTerminal } from '../domain/actions.js';
import { isDeviceDeleted } from '../domain/devices.js';
import { activeControls, type ControlAt } from '../domain/control.js';
import {
  attributeSends,
  BUDGET_MATCH_MARGIN_MS,
  BUDGET_WINDOW_MS,
  checkControl,
  evaluateCommand,
  evaluateSmartOverride,
  otherActions,
  type Budget,
  type BudgetBySource,
  type Command,
  type GuardAction,
  type Note,
  type OtherSend,
  type Refusal,
} from '../domain/guards.js';
import { parseTimeMs } from '../domain/time.js';
import type { EnodeApi } from '../enode/client.js';
import { EnodeConflictError, EnodeNotFoundError, EnodeUnavailableError } from '../enode/errors.js';
import type { ActionTargetType } from '../enode/paths.js';
import { smartOverrideSchema, type EnodeAction, type EnodeSmartOverride, type SmartOverride } from '../enode/types.js';
import { AppError } from '../errors.js';
import type { CommandRecord, Store } from '../store/port.js';
import type { ActionRecord, DeviceRecord, ReadStore } from '../store/read.js';
import type { Logger } from '../logger.js';
import type { CommandFlags } from './bodies.js';
import { mapEnodeError, refusalError } from './errors.js';
import type { InterventionLookup } from './interventions.js';
import { createDeviceLock, type DeviceLock } from './device-lock.js';


export interface GatewayDeps {
  /** Asked at every request: undefined while no Enode credentials are configured. */
  enode: () => EnodeApi | undefined;
  /** The device, its PENDING actions, its budget and its schedules and plans: what the guards decide on. */
  read: Pick<ReadStore, 'getAction' | 'getDevice' | 'pendingActionsFor' | 'budgetSources' | 'controlStatuses'>;
  store: Store;
  clock: Clock;
  logger: Logger;
  dailyCommandLimit: number;
  /** Fetches intervention texts for capability refusals (optional, best effort). */
  interventions?: InterventionLookup;
  /** The per-device lock (default: in-process only, for one daemon on its database). */
  deviceLock?: DeviceLock;
}

/** The answer of a command route (200). */
export interface CommandResult {
  /** The action as `GET /api/v1/actions/{id}` shows it. */
  action: ReturnType<typeof presentAction>;
  /** `sent`: Enode was asked; `collapsed`: an identical PENDING action was returned, nothing sent. */
  outcome: 'sent' | 'collapsed';
  notes: Note[];
  /** Id of the command log entry (the device timeline shows it). */
  commandId: string;
  /**
   * The device's daily budget after this command; absent for cancels, which do not count. `used`
   * counts the gateway's commands and the actions other callers of the Enode client created
   * (schedules, smart charging, …), `bySource` each.
   */
  budget?: BudgetView;
}

/** A budget as the answers show it. */
export interface BudgetView {
  limit: number;
  used: number;
  remaining: number;
  bySource: BudgetBySource;
}

/** The answer of the smart override routes: CommandResult's envelope with Enode's override in place of the action. */
export interface SmartOverrideResult {
  /** Enode's `SmartOverrideResponse`, as answered. */
  smartOverride: SmartOverride;
  outcome: 'sent';
  notes: Note[];
  commandId: string;
  /** After a smart override (it counts); absent after ending one (it sends the vehicle nothing). */
  budget?: BudgetView;
}

/**
 * How many of the device's newest schedule and smart charging statuses the gateway reads: enough
 * for the one in force of each schedule and of smart charging now, and for attributing the other
 * callers' actions of the last 24 h (an action older than the oldest status read counts as `other`).
 */
export const CONTROL_STATUS_LIMIT = 200;

function budgetView(b: Budget): BudgetView {
  return { limit: b.limit, used: b.used, remaining: b.remaining, bySource: { ...b.bySource } };
}

/** The budget after one more gateway command. */
function afterSend(b: Budget): BudgetView {
  const used = b.used + 1;
  return { limit: b.limit, used, remaining: Math.max(0, b.limit - used), bySource: { ...b.bySource, gateway: b.bySource.gateway + 1 } };
}

const ACTION_TARGET_TYPES: ReadonlySet<string> = new Set<ActionTargetType>(['vehicle', 'charger', 'hvac', 'battery']);

function toGuardAction(a: ActionRecord): GuardAction {
  return { id: a.id, state: a.state, kind: a.kind, target: a.target, createdAtMs: parseTimeMs(a.createdAt) ?? a.updatedAtMs, upstream: a.upstream };
}

function answerNotes(action: EnodeAction): Note[] {
  if (action['state'] !== 'CANCELLED') return [];
  const reason = action['failureReason'] as { type?: unknown; detail?: unknown } | null | undefined;
  const why = reason && typeof reason.type === 'string' ? `${reason.type}${typeof reason.detail === 'string' ? `: ${reason.detail}` : ''}` : 'no reason given';
  return [{ code: 'CANCELLED_BY_ENODE', actionId: String(action['id']), message: `Enode cancelled the action at once (${why})` }];
}

/** Enode's override answer read as `SmartOverrideResponse`, or why it could not be. */
function parseOverride(answer: EnodeSmartOverride): { override: SmartOverride; error: null } | { override: null; error: string } {
  const r = smartOverrideSchema.safeParse(answer);
  if (r.success) return { override: r.data, error: null };
  return { override: null, error: `unexpected smart override answer (fields: ${r.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')})` };
}

function unexpectedOverride(what: 'created' | 'ended', error: string, actionId: string | null): AppError {
  return new AppError('UPSTREAM_ERROR', `Enode ${what} the smart override${actionId ? ` (action ${actionId})` : ''} but answered in an unexpected shape: ${error}`);
}

function sendToEnode(enode: EnodeApi, deviceId: string, c: Command): Promise<EnodeAction> {
  switch (c.command) {
    case 'charging':
      return enode.createChargeAction(c.deviceType, deviceId, c.body.action);
    case 'max-current':
      return enode.setMaxCurrent(c.deviceType, deviceId, c.body.maxCurrent);
    case 'permanent-hold':
      return enode.setPermanentHold(deviceId, c.body);
    case 'follow-schedule':
      return enode.followSchedule(deviceId);
    case 'operation-mode':
      return enode.setOperationMode(deviceId, c.body.operationMode);
  }
}

/** Builds the gateway over its deps; one per app, so that its device lock covers every route. */
export function createGateway(deps: GatewayDeps) {
  const mutex = deps.deviceLock ?? createDeviceLock({ clock: deps.clock });
  const log = deps.logger;

  const requireClient = (): EnodeApi => {
    const enode = deps.enode();
    if (!enode) {
      throw new AppError('ENODE_NOT_CONFIGURED', 'The command gateway is off: set ENODE_CLIENT_ID and ENODE_CLIENT_SECRET to send commands through Enode');
    }
    return enode;
  };

  const record = (r: CommandRecord) => deps.store.recordCommand(r);

  /** Stores an action Enode returned through the one funnel; the error text when it could not be applied. */
  const store = async (action: EnodeAction, source: 'gateway' | 'poll'): Promise<string | null> => {
    const [result] = await deps.store.applyEvents([{ event: 'user:vendor-action:updated', vendorAction: action }], source);
    return result && 'error' in result ? result.error : null;
  };

  const presentStored = async (actionId: string | null, storeError: string | null) => {
    const row = actionId === null ? undefined : await deps.read.getAction(actionId);
    if (!row || storeError !== null) {
      throw new AppError('UPSTREAM_ERROR', `Enode accepted the command${actionId ? ` (action ${actionId})` : ''} but its answer could not be stored: ${storeError ?? 'no action id'}`);
    }
    return presentAction(row);
  };

  const loadDevice = async (type: string, id: string): Promise<DeviceRecord> => {
    const device = await deps.read.getDevice(id);
    if (!device) throw new AppError('NOT_FOUND', `No ${type} ${id} known to enode-sync (a device is known once a webhook or the device resync reported it)`);
    if (device.type !== type) throw new AppError('NOT_FOUND', `Device ${id} is a ${device.type}, not a ${type}`, { deviceType: device.type });
    if (isDeviceDeleted(device)) throw new AppError('NOT_FOUND', `The ${type} ${id} was deleted`);
    return device;
  };

  /**
   * The budget's inputs and the device's active schedules and plans at `nowMs`: the gateway's
   * commands, the other callers' actions each attributed to the schedule or plan active when Enode
   * created it, and the controls a basic command would fight. The log is read from a margin before
   * the window, so that a command just before it still claims its action.
   */
  const budgetInputs = async (deviceId: string, nowMs: number): Promise<{ sentAtMs: number[]; otherAtMs: OtherSend[]; controls: ControlAt[] }> => {
    const [sources, statuses] = await Promise.all([
      deps.read.budgetSources(deviceId, nowMs - BUDGET_WINDOW_MS - BUDGET_MATCH_MARGIN_MS),
      deps.read.controlStatuses(deviceId, CONTROL_STATUS_LIMIT),
    ]);
    return {
      sentAtMs: sources.commands.map((c) => c.atMs),
      otherAtMs: attributeSends(otherActions(sources.commands, sources.actions), statuses),
      controls: activeControls(statuses, nowMs),
    };
  };

  type Locked = { result: CommandResult } | { refusal: Refusal; nowMs: number } | { error: unknown };
  type LockedOverride = { result: SmartOverrideResult } | { refusal: Refusal; nowMs: number } | { error: unknown };

  /** Throws a guard's refusal (with the intervention texts of a capability refusal, fetched outside the device lock). */
  const refuse = async (enode: EnodeApi, refusal: Refusal, nowMs: number): Promise<never> => {
    // Fetched outside the device lock: a slow Enode must not hold up the device's next command.
    const texts = refusal.reason === 'NOT_CAPABLE' && deps.interventions ? await deps.interventions(enode, refusal.interventionIds) : [];
    throw refusalError(refusal, nowMs, texts);
  };

  return {
    /** Throws ENODE_NOT_CONFIGURED (503) while the gateway is off; routes check it before anything else. */
    ensureEnabled(): void {
      requireClient();
    },

    /** Runs the guards and, when they allow it, sends the command to Enode. */
    async send(command: Command, deviceId: string, flags: CommandFlags): Promise<CommandResult> {
      const enode = requireClient();
      const locked = await mutex.run(deviceId, async (): Promise<Locked> => {
        const device = await loadDevice(command.deviceType, deviceId);
        const nowMs = deps.clock.now().getTime();
        const [pending, { sentAtMs, otherAtMs, controls }] = await Promise.all([deps.read.pendingActionsFor(deviceId), budgetInputs(deviceId, nowMs)]);
        const decision = evaluateCommand({
          command,
          device: { snapshot: device.snapshot, isReachable: device.isReachable },
          pendingActions: pending.map(toGuardAction),
          sentAtMs,
          otherActionsAtMs: otherAtMs,
          controls,
          force: flags.force,
          dailyLimit: deps.dailyCommandLimit,
          override: flags.override,
          supersede: flags.supersede,
          nowMs,
        });
        const base = {
          id: randomUUID(),
          deviceId,
          deviceType: command.deviceType,
          command: command.command,
          body: JSON.stringify(command.body),
          requestedAtMs: nowMs,
          override: flags.override,
        };
        const { budget } = decision;
        const ctx = { deviceId, command: command.command, commandId: base.id };

        if (decision.outcome === 'collapse') {
          await record({ ...base, outcome: 'collapsed', actionId: decision.actionId, notes: decision.notes, error: null });
          log.info({ ...ctx, actionId: decision.actionId }, 'command collapsed onto an identical pending action');
          const row = await deps.read.getAction(decision.actionId);
          if (!row) throw new Error(`pending action ${decision.actionId} vanished`);
          return { result: { action: presentAction(row), outcome: 'collapsed', notes: decision.notes, commandId: base.id, budget: budgetView(budget) } };
        }
        if (decision.outcome === 'refuse') {
          const { refusal } = decision;
          await record({ ...base, outcome: 'refused', actionId: null, notes: decision.notes, error: `${refusal.reason}: ${refusal.message}` });
          log.info({ ...ctx, reason: refusal.reason }, 'command refused by the guards');
          return { refusal, nowMs };
        }

        if (decision.overridden) log.warn({ ...ctx, used: budget.used, limit: budget.limit }, 'daily command limit overridden (override=true)');
        else if (flags.override) log.info(ctx, 'override=true given but not needed: the daily budget allows the command');
        const forced = checkControl(command, controls);
        if (forced) log.warn({ ...ctx, reason: forced.reason, controls: forced.controls }, 'command forced past an Enode schedule or smart charging plan (force=true)');

        // The intent is durable before the request: a crash or a storage failure after Enode
        // answered leaves the command counted against the budget, never forgotten.
        await record({ ...base, outcome: 'sending', actionId: null, notes: decision.notes, error: null });
        let action: EnodeAction;
        try {
          action = await sendToEnode(enode, deviceId, command);
        } catch (err) {
          const mapped = mapEnodeError(err, 'command', { controls: forced?.controls ?? [], deviceType: command.deviceType });
          // A timeout or 5xx may have reached the device: it stays counted (`unknown`).
          const outcome = err instanceof EnodeUnavailableError ? 'unknown' : 'failed';
          // A refusal Enode is expected to give (4xx: not capable, conflict, rate limit) is an answer,
          // not a fault: one info line with its reason. Anything else keeps the error for the log.
          if (mapped && outcome === 'failed') log.info({ ...ctx, outcome, code: mapped.code, reason: mapped.message }, 'Enode refused the command');
          else log.warn({ ...ctx, err, outcome }, 'Enode refused or failed the command');
          await record({ ...base, outcome, actionId: null, notes: decision.notes, error: mapped?.message ?? 'internal error (see the log)' });
          return { error: mapped ?? err };
        }
        const actionId = typeof action['id'] === 'string' ? action['id'] : null;
        const storeError = await store(action, 'gateway');
        if (storeError) log.error({ ...ctx, actionId, error: storeError }, "Enode's answer to a command could not be stored");
        const notes = [...decision.notes, ...answerNotes(action)];
        await record({ ...base, outcome: 'sent', actionId, notes, error: storeError });
        log.info({ ...ctx, actionId, state: action['state'] }, 'command sent');
        return { result: { action: await presentStored(actionId, storeError), outcome: 'sent', notes, commandId: base.id, budget: afterSend(budget) } };
      });

      if ('result' in locked) return locked.result;
      if ('error' in locked) throw locked.error;
      return refuse(enode, locked.refusal, locked.nowMs);
    },

    /**
     * `POST /vehicles/{id}/smart-override`: charge now although a schedule or plan controls the
     * vehicle. Guarded like a command (known vehicle, able to start charging, daily budget: it starts
     * charging, so it counts) and logged as command `smart-override` naming the action Enode says
     * starts charging (`vendorActionId`), which arrives by webhook or poll and so counts once.
     */
    async smartOverride(vehicleId: string, flags: Pick<CommandFlags, 'override'>): Promise<SmartOverrideResult> {
      const enode = requireClient();
      const locked = await mutex.run(vehicleId, async (): Promise<LockedOverride> => {
        const device = await loadDevice('vehicle', vehicleId);
        const nowMs = deps.clock.now().getTime();
        const { sentAtMs, otherAtMs, controls } = await budgetInputs(vehicleId, nowMs);
        const decision = evaluateSmartOverride({
          device: { snapshot: device.snapshot, isReachable: device.isReachable },
          sentAtMs,
          otherActionsAtMs: otherAtMs,
          controls,
          dailyLimit: deps.dailyCommandLimit,
          override: flags.override,
          nowMs,
        });
        const base = { id: randomUUID(), deviceId: vehicleId, deviceType: 'vehicle', command: 'smart-override', body: '{}', requestedAtMs: nowMs, override: flags.override };
        const ctx = { deviceId: vehicleId, command: 'smart-override', commandId: base.id };
        const { budget } = decision;
        if (decision.outcome === 'refuse') {
          const { refusal } = decision;
          await record({ ...base, outcome: 'refused', actionId: null, notes: [], error: `${refusal.reason}: ${refusal.message}` });
          log.info({ ...ctx, reason: refusal.reason }, 'smart override refused by the guards');
          return { refusal, nowMs };
        }
        if (decision.overridden) log.warn({ ...ctx, used: budget.used, limit: budget.limit }, 'daily command limit overridden (override=true)');

        // Counted from here on, as any command: Enode may start charging even if its answer is lost.
        await record({ ...base, outcome: 'sending', actionId: null, notes: decision.notes, error: null });
        let answer: EnodeSmartOverride;
        try {
          answer = await enode.createSmartOverride(vehicleId);
        } catch (err) {
          const mapped = mapEnodeError(err, 'smart override', { deviceType: 'vehicle' });
          const outcome = err instanceof EnodeUnavailableError ? 'unknown' : 'failed';
          if (mapped && outcome === 'failed') log.info({ ...ctx, outcome, code: mapped.code, reason: mapped.message }, 'Enode refused the smart override');
          else log.warn({ ...ctx, err, outcome }, 'Enode refused or failed the smart override');
          await record({ ...base, outcome, actionId: null, notes: decision.notes, error: mapped?.message ?? 'internal error (see the log)' });
          return { error: mapped ?? err };
        }
        const actionId = typeof answer['vendorActionId'] === 'string' ? answer['vendorActionId'] : null;
        const parsed = parseOverride(answer);
        await record({ ...base, outcome: 'sent', actionId, notes: decision.notes, error: parsed.error });
        log.info({ ...ctx, actionId }, 'smart override sent');
        if (!parsed.override) return { error: unexpectedOverride('created', parsed.error, actionId) };
        return { result: { smartOverride: parsed.override, outcome: 'sent', notes: decision.notes, commandId: base.id, budget: afterSend(budget) } };
      });
      if ('result' in locked) return locked.result;
      if ('error' in locked) throw locked.error;
      return refuse(enode, locked.refusal, locked.nowMs);
    },

    /**
     * `DELETE /vehicles/{id}/smart-override`: ends the vehicle's smart override; its schedule or plan
     * regains control. It sends the vehicle nothing by itself (whatever the schedule or plan then
     * does is its own action, counted as theirs), so it does not count against the budget: like a
     * cancel it stops something Enode was doing, and it is logged as command `cancel` (which the
     * budget never counts) with a SMART_OVERRIDE_ENDED note naming the action that had started charging.
     */
    async endSmartOverride(vehicleId: string): Promise<SmartOverrideResult> {
      const enode = requireClient();
      return mutex.run(vehicleId, async () => {
        await loadDevice('vehicle', vehicleId);
        const nowMs = deps.clock.now().getTime();
        const base = { id: randomUUID(), deviceId: vehicleId, deviceType: 'vehicle', command: 'cancel', body: '{}', requestedAtMs: nowMs, actionId: null, override: false };
        const ctx = { deviceId: vehicleId, command: 'smart-override-end', commandId: base.id };
        let answer: EnodeSmartOverride;
        try {
          answer = await enode.endSmartOverride(vehicleId);
        } catch (err) {
          let mapped = mapEnodeError(err, 'end of the smart override', { deviceType: 'vehicle' });
          if (err instanceof EnodeNotFoundError && mapped) {
            mapped = new AppError('ENODE_NOT_FOUND', `Enode knows no active smart override of vehicle ${vehicleId}: nothing was ended`, mapped.details);
          }
          log.info({ ...ctx, err, code: mapped?.code }, 'Enode refused or failed to end the smart override');
          await record({ ...base, outcome: 'failed', notes: [], error: `smart override end: ${mapped?.message ?? 'internal error (see the log)'}` });
          throw mapped ?? err;
        }
        const actionId = typeof answer['vendorActionId'] === 'string' ? answer['vendorActionId'] : undefined;
        const notes: Note[] = [
          {
            code: 'SMART_OVERRIDE_ENDED',
            ...(actionId ? { actionId } : {}),
            message: `The smart override of vehicle ${vehicleId} ended${actionId ? ` (it had started charging with action ${actionId})` : ''}: an active schedule or smart charging plan controls the vehicle again, which may or may not stop charging`,
          },
        ];
        const parsed = parseOverride(answer);
        await record({ ...base, outcome: 'sent', notes, error: parsed.error });
        log.info({ ...ctx, actionId }, 'smart override ended');
        if (!parsed.override) throw unexpectedOverride('ended', parsed.error, actionId ?? null);
        return { smartOverride: parsed.override, outcome: 'sent' as const, notes, commandId: base.id };
      });
    },

    /** Asks Enode to cancel a PENDING action (`POST /{type}s/actions/{id}/cancel`). Not counted against the budget. */
    async cancel(actionId: string): Promise<CommandResult> {
      const enode = requireClient();
      const first = await deps.read.getAction(actionId);
      if (!first) throw new AppError('NOT_FOUND', `No action ${actionId} known to enode-sync`);
      if (!ACTION_TARGET_TYPES.has(first.targetType)) throw new AppError('CONFLICT', `Action ${actionId} targets a ${first.targetType}: Enode cancels only vehicle, charger, HVAC and battery actions`);

      return mutex.run(first.targetId, async () => {
        const row = (await deps.read.getAction(actionId)) ?? first;
        const nowMs = deps.clock.now().getTime();
        const base = { id: randomUUID(), deviceId: row.targetId, deviceType: row.targetType, command: 'cancel', body: '{}', requestedAtMs: nowMs, actionId, override: false };
        const ctx = { deviceId: row.targetId, actionId, commandId: base.id };
        // Cancelling does not make an action ours: keep the origin it has.
        const source = row.origin === 'gateway' ? 'gateway' : 'poll';
        const alreadyResolved = (current: ActionRecord, inEnode: boolean) =>
          new AppError('ACTION_ALREADY_RESOLVED', `Action ${actionId} is already ${current.state}${inEnode ? ' in Enode' : ''}: nothing to cancel`, { action: presentAction(current) });

        if (isTerminal(row.state)) {
          await record({ ...base, outcome: 'refused', notes: [], error: `ACTION_ALREADY_RESOLVED: already ${row.state}` });
          throw alreadyResolved(row, false);
        }
        let answer: EnodeAction;
        try {
          answer = await enode.cancelAction(row.targetType as ActionTargetType, actionId);
        } catch (err) {
          if (err instanceof EnodeConflictError && err.action) {
            // Enode answers a resolved action with the action itself: learn its final state.
            const storeError = await store(err.action, source);
            const current = (await deps.read.getAction(actionId)) ?? row;
            await record({ ...base, outcome: 'failed', notes: [], error: `ACTION_ALREADY_RESOLVED: Enode answered 409 (${String(err.action['state'])})${storeError ? `; not stored: ${storeError}` : ''}` });
            log.info({ ...ctx, state: err.action['state'] }, 'cancel refused by Enode: the action had already resolved');
            throw alreadyResolved(current, true);
          }
          const mapped = mapEnodeError(err, 'cancel');
          log.warn({ ...ctx, err }, 'Enode refused or failed the cancel');
          await record({ ...base, outcome: 'failed', notes: [], error: mapped?.message ?? 'internal error (see the log)' });
          throw mapped ?? err;
        }
        const storeError = await store(answer, source);
        const notes: Note[] = [
          {
            code: 'VENDOR_MAY_STILL_EXECUTE',
            actionId,
            message: "Enode stops its retries; a command already queued in the vendor's cloud may still execute",
          },
        ];
        await record({ ...base, outcome: 'sent', notes, error: storeError });
        log.info(ctx, 'action cancelled');
        return { action: await presentStored(actionId, storeError), outcome: 'sent', notes, commandId: base.id };
      });
    },
  };
}

export type Gateway = ReturnType<typeof createGateway>;
