/**
 * Command guards (DESIGN.md "sends commands", issue 6): Enode's control best practices, decided
 * before anything reaches Enode. Pure: every input, `now` included, is passed in.
 *
 * Order: an identical PENDING action collapses the command (nothing is sent, nothing is counted);
 * then capability (`isCapable: false` refuses); then a different PENDING action (Enode will cancel
 * it with CONFLICT: proceed with a note, or refuse when the caller said `supersede=false`); then
 * the daily budget (refuse past the limit unless the caller overrides).
 *
 * The daily budget counts every command that reached the device through Enode for this client
 * (issue 17): the gateway's own, and the actions Enode reports that other callers of the same
 * client created — Enode Schedules, Smart Charging, other services — each once (budgetedSends).
 */
import type { BatteryOperationMode, ChargeKind, PermanentHold } from './commands.js';
import { STALE_AFTER_MS } from './polling.js';

/** The rolling window of the daily command budget. */
export const BUDGET_WINDOW_MS = 24 * 60 * 60_000;

/** A command as the gateway takes it: Enode's body, by device type and route. */
export type Command =
  | { deviceType: 'vehicle' | 'charger'; command: 'charging'; body: { action: ChargeKind } }
  | { deviceType: 'charger'; command: 'max-current'; body: { maxCurrent: number } }
  | { deviceType: 'hvac'; command: 'permanent-hold'; body: PermanentHold }
  | { deviceType: 'hvac'; command: 'follow-schedule'; body: Record<string, never> }
  | { deviceType: 'battery'; command: 'operation-mode'; body: { operationMode: BatteryOperationMode } };

export type CommandName = Command['command'];

/** What the guards (and the gateway) did, as the response and the command log show it. */
export interface Note {
  code: 'COLLAPSED' | 'SUPERSEDES' | 'DAILY_LIMIT_OVERRIDDEN' | 'DEVICE_UNREACHABLE' | 'CANCELLED_BY_ENODE' | 'VENDOR_MAY_STILL_EXECUTE';
  message: string;
  actionId?: string;
}

/** A stored action as the guards need it (`target` is Enode's `target` or `targetState`). */
export interface GuardAction {
  id: string;
  state: string;
  kind: string | null;
  target: Record<string, unknown> | null;
  createdAtMs: number;
  /** The poller's verdict: Enode no longer knows it (`not_found`) or it is long past Enode's horizon (`stale`). */
  upstream: string | null;
}

export interface GuardDevice {
  /** The latest Enode object (with `capabilities`). */
  snapshot: Record<string, unknown>;
  isReachable: boolean | null;
}

/** Budgeted commands in the window by who sent them: this gateway, or another caller of the Enode client. */
export interface BudgetBySource {
  gateway: number;
  other: number;
}

export interface Budget {
  limit: number;
  /** Budgeted commands in the window (before this one), `bySource.gateway + bySource.other`. */
  used: number;
  remaining: number;
  bySource: BudgetBySource;
  /** When the next command fits the budget again; null while it does now. */
  nextAllowedAtMs: number | null;
}

export type Refusal =
  | { reason: 'NOT_CAPABLE'; message: string; capability: string; interventionIds: string[] }
  | { reason: 'ACTION_PENDING'; message: string; actionId: string }
  | { reason: 'DAILY_COMMAND_LIMIT'; message: string; budget: Budget & { nextAllowedAtMs: number } };

export type GuardDecision =
  | { outcome: 'collapse'; actionId: string; notes: Note[]; budget: Budget }
  | { outcome: 'refuse'; refusal: Refusal; notes: Note[]; budget: Budget }
  /** `overridden`: the caller's override was needed to send it. */
  | { outcome: 'send'; notes: Note[]; budget: Budget; supersedes: string | null; overridden: boolean };

export interface GuardInput {
  command: Command;
  device: GuardDevice;
  /** The device's actions in state PENDING, any origin. */
  pendingActions: readonly GuardAction[];
  /** Request times (ms) of the gateway's commands to the device that reached Enode and count against the budget. */
  sentAtMs: readonly number[];
  /** Creation times (ms) of the device's actions that other callers of the Enode client created (see budgetedSends). */
  otherActionsAtMs?: readonly number[];
  dailyLimit: number;
  /** Send even past the daily limit. */
  override: boolean;
  /** False: refuse rather than let Enode cancel a different PENDING action. */
  supersede: boolean;
  nowMs: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The PENDING actions Enode may still be working on, newest first: not flagged by the poller and
 * younger than Enode's give-up horizon. An action stuck PENDING here must neither swallow new
 * commands nor block them.
 */
export function livePendingActions(actions: readonly GuardAction[], nowMs: number): GuardAction[] {
  return actions
    .filter((a) => a.state === 'PENDING' && a.upstream === null && nowMs - a.createdAtMs < STALE_AFTER_MS)
    .sort((a, b) => b.createdAtMs - a.createdAtMs || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** True when the action asks for exactly what the command asks for (same command, same values). */
export function isSameCommand(action: Pick<GuardAction, 'kind' | 'target'>, command: Command): boolean {
  const t = action.target ?? {};
  switch (command.command) {
    case 'charging':
      return action.kind === command.body.action;
    case 'max-current':
      return action.kind === null && t['maxCurrent'] === command.body.maxCurrent;
    case 'follow-schedule':
      return t['holdType'] === 'SCHEDULED';
    case 'operation-mode':
      return t['operationMode'] === command.body.operationMode;
    case 'permanent-hold': {
      const b = command.body;
      if (t['holdType'] !== 'PERMANENT' || t['mode'] !== b.mode) return false;
      const heat = 'heatSetpoint' in b ? b.heatSetpoint : undefined;
      const cool = 'coolSetpoint' in b ? b.coolSetpoint : undefined;
      return (heat === undefined || t['heatSetpoint'] === heat) && (cool === undefined || t['coolSetpoint'] === cool);
    }
  }
}

const OPERATION_MODE_CAPABILITY: Record<BatteryOperationMode, string> = {
  IMPORT_FOCUS: 'importFocus',
  EXPORT_FOCUS: 'exportFocus',
  TIME_OF_USE: 'timeOfUse',
  SELF_RELIANCE: 'selfReliance',
  IDLE: 'idle',
};

/** The `capabilities.<name>` entry Enode requires for the command (REFERENCE §2.7, §3). */
export function requiredCapability(command: Command): string {
  switch (command.command) {
    case 'charging':
      return command.body.action === 'START' ? 'startCharging' : 'stopCharging';
    case 'max-current':
      return 'setMaxCurrent';
    case 'permanent-hold':
      return 'setPermanentHold';
    case 'follow-schedule':
      return 'setFollowSchedule';
    case 'operation-mode':
      return OPERATION_MODE_CAPABILITY[command.body.operationMode];
  }
}

/**
 * Capability check against the stored snapshot: refuses only when the device says
 * `isCapable: false` (or, for an HVAC hold, lists `capableModes` without the mode). A capability
 * the snapshot does not mention is left for Enode to judge.
 */
export function checkCapability(command: Command, snapshot: Record<string, unknown>): Extract<Refusal, { reason: 'NOT_CAPABLE' }> | null {
  const capabilities = isRecord(snapshot['capabilities']) ? snapshot['capabilities'] : {};
  const name = requiredCapability(command);
  const capability = capabilities[name];
  if (isRecord(capability) && capability['isCapable'] === false) {
    const ids = Array.isArray(capability['interventionIds']) ? capability['interventionIds'].filter((x): x is string => typeof x === 'string') : [];
    return {
      reason: 'NOT_CAPABLE',
      capability: name,
      interventionIds: ids,
      message: `it reports capabilities.${name}.isCapable = false${ids.length ? ' (the interventions listed say what the user can do about it)' : ''}`,
    };
  }
  const modes = capabilities['capableModes'];
  if (command.command === 'permanent-hold' && Array.isArray(modes) && !modes.includes(command.body.mode)) {
    return {
      reason: 'NOT_CAPABLE',
      capability: 'capableModes',
      interventionIds: [],
      message: `it cannot take mode ${command.body.mode} (capableModes: ${modes.map(String).join(', ') || 'none'})`,
    };
  }
  return null;
}

/** A gateway command of the log that counts against the budget, with the action Enode answered (null until known). */
export interface BudgetCommand {
  atMs: number;
  actionId: string | null;
}

/** A stored action on the device, as the budget needs it (`createdAtMs`: Enode's `createdAt`). */
export interface BudgetAction {
  id: string;
  createdAtMs: number;
  origin: 'gateway' | 'enode';
}

/**
 * How much earlier than the window the gateway reads its command log, so that a command requested
 * just before the window still claims the action Enode created just inside it (request latency,
 * clock skew between us and Enode).
 */
export const BUDGET_MATCH_MARGIN_MS = 60 * 60_000;

/**
 * The budget's inputs by source, each command once: every gateway command of the log, and every
 * action of another origin that no gateway command of the log names. An action the gateway sent is
 * counted through its command even while its stored origin is still `enode` (a webhook reported it
 * first, or storing Enode's answer failed), so it never counts twice.
 */
export function budgetedSends(commands: readonly BudgetCommand[], actions: readonly BudgetAction[]): { gatewayAtMs: number[]; otherAtMs: number[] } {
  const named = new Set<string>();
  for (const c of commands) if (c.actionId !== null) named.add(c.actionId);
  const otherAtMs: number[] = [];
  for (const a of actions) {
    if (a.origin === 'gateway' || named.has(a.id)) continue;
    named.add(a.id);
    otherAtMs.push(a.createdAtMs);
  }
  return { gatewayAtMs: commands.map((c) => c.atMs), otherAtMs };
}

/**
 * The device's daily budget: budgeted commands in the rolling 24 h before `nowMs` — the gateway's
 * (`sentAtMs`) and other callers' (`otherAtMs`) — and when the next one fits again (the moment
 * enough of the oldest leave the window).
 */
export function dailyBudget(sentAtMs: readonly number[], limit: number, nowMs: number, otherAtMs: readonly number[] = []): Budget {
  const within = (t: number) => t > nowMs - BUDGET_WINDOW_MS;
  const bySource = { gateway: sentAtMs.filter(within).length, other: otherAtMs.filter(within).length };
  const inWindow = [...sentAtMs, ...otherAtMs].filter(within).sort((a, b) => a - b);
  const used = inWindow.length;
  if (used < limit) return { limit, used, remaining: limit - used, bySource, nextAllowedAtMs: null };
  // After the oldest (used - limit + 1) leave, limit - 1 remain and one more fits.
  const leaving = inWindow[used - limit] as number;
  return { limit, used, remaining: 0, bySource, nextAllowedAtMs: leaving + BUDGET_WINDOW_MS };
}

/** "(4 through the gateway, 2 by other callers …)" when other callers count, else nothing. */
function sourcesText(b: BudgetBySource): string {
  return b.other > 0 ? ` (${b.gateway} through the gateway, ${b.other} by Enode schedules, smart charging or other callers of this Enode client)` : '';
}

/** Runs the guards in order (see the file comment) and says what to do with the command. */
export function evaluateCommand(input: GuardInput): GuardDecision {
  const { command, nowMs } = input;
  const budget = dailyBudget(input.sentAtMs, input.dailyLimit, nowMs, input.otherActionsAtMs);
  const pending = livePendingActions(input.pendingActions, nowMs);

  // Only the newest live action can still be standing: Enode keeps one per device, so an older
  // PENDING one here has been cancelled (CONFLICT) already, we just have not heard yet.
  const newest = pending[0];
  const identical = newest && isSameCommand(newest, command) ? newest : undefined;
  if (identical) {
    const note: Note = {
      code: 'COLLAPSED',
      actionId: identical.id,
      message: `An identical action (${identical.id}) is already PENDING for this device: it is returned and nothing was sent to Enode`,
    };
    return { outcome: 'collapse', actionId: identical.id, notes: [note], budget };
  }

  const incapable = checkCapability(command, input.device.snapshot);
  if (incapable) return { outcome: 'refuse', refusal: incapable, notes: [], budget };

  const other = pending[0];
  const notes: Note[] = [];
  if (other) {
    if (!input.supersede) {
      const message = `Action ${other.id} is PENDING for this device and supersede=false was asked: nothing was sent`;
      return { outcome: 'refuse', refusal: { reason: 'ACTION_PENDING', actionId: other.id, message }, notes: [], budget };
    }
    notes.push({
      code: 'SUPERSEDES',
      actionId: other.id,
      message: `Action ${other.id} was PENDING for this device: Enode cancels it (failure reason CONFLICT) in favour of this one`,
    });
  }

  let overridden = false;
  if (budget.nextAllowedAtMs !== null) {
    if (!input.override) {
      const nextAllowed = new Date(budget.nextAllowedAtMs).toISOString();
      const message = `${budget.used} commands were sent to this device in the last 24 h${sourcesText(budget.bySource)} (limit ${budget.limit}); the next one is allowed at ${nextAllowed}, or now with override=true`;
      return { outcome: 'refuse', refusal: { reason: 'DAILY_COMMAND_LIMIT', message, budget: { ...budget, nextAllowedAtMs: budget.nextAllowedAtMs } }, notes: [], budget };
    }
    overridden = true;
    notes.push({
      code: 'DAILY_LIMIT_OVERRIDDEN',
      message: `Sent with override=true although ${budget.used} commands were already sent in the last 24 h${sourcesText(budget.bySource)} (limit ${budget.limit})`,
    });
  }

  if (input.device.isReachable === false) {
    notes.push({ code: 'DEVICE_UNREACHABLE', message: 'The device was last reported unreachable: Enode keeps trying until the action times out' });
  }
  return { outcome: 'send', notes, budget, supersedes: other?.id ?? null, overridden };
}
