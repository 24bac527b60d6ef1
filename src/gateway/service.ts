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
import { BUDGET_MATCH_MARGIN_MS, BUDGET_WINDOW_MS, budgetedSends, evaluateCommand, type BudgetBySource, type Command, type GuardAction, type Note, type Refusal } from '../domain/guards.js';
import { parseTimeMs } from '../domain/time.js';
import type { EnodeApi } from '../enode/client.js';
import { EnodeConflictError, EnodeUnavailableError } from '../enode/errors.js';
import type { ActionTargetType } from '../enode/paths.js';
import type { EnodeAction } from '../enode/types.js';
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
  /** The device, its PENDING actions and its budget: what the guards decide on. */
  read: Pick<ReadStore, 'getAction' | 'getDevice' | 'pendingActionsFor' | 'budgetSources'>;
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
  budget?: { limit: number; used: number; remaining: number; bySource: BudgetBySource };
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

  type Locked = { result: CommandResult } | { refusal: Refusal; nowMs: number } | { error: unknown };

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
        // The log is read from a margin before the window, so that a command just before it still claims its action.
        const [pending, sources] = await Promise.all([
          deps.read.pendingActionsFor(deviceId),
          deps.read.budgetSources(deviceId, nowMs - BUDGET_WINDOW_MS - BUDGET_MATCH_MARGIN_MS),
        ]);
        const { gatewayAtMs, otherAtMs } = budgetedSends(sources.commands, sources.actions);
        const decision = evaluateCommand({
          command,
          device: { snapshot: device.snapshot, isReachable: device.isReachable },
          pendingActions: pending.map(toGuardAction),
          sentAtMs: gatewayAtMs,
          otherActionsAtMs: otherAtMs,
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
          const { limit, used, remaining, bySource } = budget;
          return { result: { action: presentAction(row), outcome: 'collapsed', notes: decision.notes, commandId: base.id, budget: { limit, used, remaining, bySource } } };
        }
        if (decision.outcome === 'refuse') {
          const { refusal } = decision;
          await record({ ...base, outcome: 'refused', actionId: null, notes: decision.notes, error: `${refusal.reason}: ${refusal.message}` });
          log.info({ ...ctx, reason: refusal.reason }, 'command refused by the guards');
          return { refusal, nowMs };
        }

        if (decision.overridden) log.warn({ ...ctx, used: budget.used, limit: budget.limit }, 'daily command limit overridden (override=true)');
        else if (flags.override) log.info(ctx, 'override=true given but not needed: the daily budget allows the command');

        // The intent is durable before the request: a crash or a storage failure after Enode
        // answered leaves the command counted against the budget, never forgotten.
        await record({ ...base, outcome: 'sending', actionId: null, notes: decision.notes, error: null });
        let action: EnodeAction;
        try {
          action = await sendToEnode(enode, deviceId, command);
        } catch (err) {
          const mapped = mapEnodeError(err);
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
        const used = budget.used + 1;
        return {
          result: {
            action: await presentStored(actionId, storeError),
            outcome: 'sent',
            notes,
            commandId: base.id,
            budget: {
              limit: budget.limit,
              used,
              remaining: Math.max(0, budget.limit - used),
              bySource: { gateway: budget.bySource.gateway + 1, other: budget.bySource.other },
            },
          },
        };
      });

      if ('result' in locked) return locked.result;
      if ('error' in locked) throw locked.error;
      const { refusal } = locked;
      // Fetched outside the device lock: a slow Enode must not hold up the device's next command.
      const texts = refusal.reason === 'NOT_CAPABLE' && deps.interventions ? await deps.interventions(enode, refusal.interventionIds) : [];
      throw refusalError(refusal, locked.nowMs, texts);
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
