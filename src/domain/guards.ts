/**
 * Command guards (DESIGN.md "sends commands", issue 6): Enode's control best practices, decided
 * before anything reaches Enode. Pure: every input, `now` included, is passed in.
 *
 * Order: an identical PENDING action collapses the command (nothing is sent, nothing is counted);
 * then capability (`isCapable: false` refuses); then a different PENDING action (Enode will cancel
 * it with CONFLICT: proceed with a note, or refuse when the caller said `supersede=false`); then
 * the daily budget (refuse past the limit unless the caller overrides).
 *
 * Between capability and the PENDING check, Enode's other levels of control (issue 17): a basic
 * charging or HVAC command to a device an active Enode Schedule or Smart Charging plan controls is
 * refused (CONTROLLED_BY_SCHEDULE / CONTROLLED_BY_SMART_CHARGING) unless the caller forces it;
 * Enode would answer 422.
 *
 * The daily budget counts every command that reached the device through Enode for this client
 * (issue 17): the gateway's own, and the actions Enode reports that other callers of the same
 * client created — Enode Schedules, Smart Charging, other services — each once (budgetedSends),
 * attributed to the schedule or plan that was active when Enode created them (attributeSends).
 */
import type { BatteryOperationMode, ChargeKind, PermanentHold } from './commands.js';
import { controlsAt, type ControlAt, type ControlStatus } from './control.js';
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
  code:
    | 'COLLAPSED'
    | 'SUPERSEDES'
    | 'DAILY_LIMIT_OVERRIDDEN'
    | 'DEVICE_UNREACHABLE'
    | 'CANCELLED_BY_ENODE'
    | 'VENDOR_MAY_STILL_EXECUTE'
    | 'CONTROL_FORCED'
    | 'NOT_CONTROLLED'
    | 'SMART_OVERRIDE_ENDED';
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

/**
 * Budgeted commands in the window by who sent them: this gateway; an Enode Schedule or Smart
 * Charging plan of the device (another caller's action created while one was active); or another
 * caller of the Enode client.
 */
export interface BudgetBySource {
  gateway: number;
  schedule: number;
  smartCharging: number;
  other: number;
}

/** Who created an action of another caller than the gateway (see attributeSends). */
export type OtherSource = 'schedule' | 'smartCharging' | 'other';

/** An action of another caller in the budget: when Enode created it, and who did. A bare time is `other`. */
export type OtherSend = number | { atMs: number; source: OtherSource };

export interface Budget {
  limit: number;
  /** Budgeted commands in the window (before this one), the sum of `bySource`. */
  used: number;
  remaining: number;
  bySource: BudgetBySource;
  /** When the next command fits the budget again; null while it does now. */
  nextAllowedAtMs: number | null;
}

/** An active schedule or plan as a refusal names it. */
export interface ControlView {
  source: 'schedule' | 'smart_charging';
  /** The schedule id, or the plan id (null when Enode named no plan). */
  id: string | null;
  state: string;
  /** When its current status took effect, epoch ms. */
  sinceMs: number;
  /** What it asks of the device now (reconciler field names). */
  expected: Record<string, unknown>;
}

/** A command refused because a schedule or plan controls the device; `summary` names it ("Enode schedule s1 (state ALIGNED), …"). */
export type ControlRefusal =
  | { reason: 'CONTROLLED_BY_SCHEDULE'; message: string; summary: string; scheduleId: string | null; controls: ControlView[] }
  | { reason: 'CONTROLLED_BY_SMART_CHARGING'; message: string; summary: string; planId: string | null; controls: ControlView[] };

export type Refusal =
  | { reason: 'NOT_CAPABLE'; message: string; capability: string; interventionIds: string[] }
  | ControlRefusal
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
  /** The device's actions that other callers of the Enode client created (see budgetedSends, attributeSends). */
  otherActionsAtMs?: readonly OtherSend[];
  /** The schedules and plans active on the device now (domain/control.ts activeControls); none when omitted. */
  controls?: readonly ControlAt[];
  /** Send even though a schedule or plan controls the device (`?force=true`). */
  force?: boolean;
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
  return { gatewayAtMs: commands.map((c) => c.atMs), otherAtMs: otherActions(commands, actions).map((a) => a.createdAtMs) };
}

/** The actions budgetedSends counts as another caller's, each once, in the order given. */
export function otherActions(commands: readonly BudgetCommand[], actions: readonly BudgetAction[]): BudgetAction[] {
  const named = new Set<string>();
  for (const c of commands) if (c.actionId !== null) named.add(c.actionId);
  const out: BudgetAction[] = [];
  for (const a of actions) {
    if (a.origin === 'gateway' || named.has(a.id)) continue;
    named.add(a.id);
    out.push(a);
  }
  return out;
}

function overrideActiveAt(s: ControlStatus, atMs: number): boolean {
  const o = s.override;
  return o !== null && o.createdAtMs <= atMs && (o.endedAtMs === null || o.endedAtMs > atMs);
}

/**
 * Who created each action of another caller (issue 17): `schedule` or `smartCharging` when a
 * schedule or smart charging plan of the device was active (domain/control.ts `controlsAt`, not
 * under a smart override) when Enode created it, `other` otherwise — and always for the action that
 * started a smart override (its `vendorActionId`), which another caller asked for. When a schedule
 * and a plan were both active, the one whose status took effect last. Statuses older than those
 * given are not known: an action before the oldest status given is `other`.
 */
export function attributeSends(actions: readonly BudgetAction[], statuses: readonly ControlStatus[]): Array<{ atMs: number; source: OtherSource }> {
  const overrideActions = new Set<string>();
  for (const s of statuses) if (s.override?.actionId) overrideActions.add(s.override.actionId);
  return actions.map((a) => {
    if (overrideActions.has(a.id)) return { atMs: a.createdAtMs, source: 'other' };
    const active = controlsAt(statuses, a.createdAtMs).filter((c) => c.status.active && !overrideActiveAt(c.status, a.createdAtMs));
    const newest = active[active.length - 1];
    const source: OtherSource = !newest ? 'other' : newest.status.source === 'schedule' ? 'schedule' : 'smartCharging';
    return { atMs: a.createdAtMs, source };
  });
}

/** Thermostat fields a TEMPERATURE schedule asks for. */
const HVAC_FIELDS = ['hvacMode', 'holdType', 'heatSetpoint', 'coolSetpoint'];

/**
 * Whether an active control concerns the command as Enode's 422 does (REFERENCE §2.6): a CHARGE
 * schedule or a smart charging plan (it asks for `charging`) for the charging and max-current
 * commands of vehicles and chargers; a TEMPERATURE schedule (it asks for HVAC fields) for an HVAC's
 * permanent hold and follow-schedule. Batteries are not controlled this way.
 */
function concerns(control: ControlAt, command: Command): boolean {
  switch (command.command) {
    case 'charging':
    case 'max-current':
      return 'charging' in control.expected;
    case 'permanent-hold':
    case 'follow-schedule':
      return HVAC_FIELDS.some((f) => f in control.expected);
    case 'operation-mode':
      return false;
  }
}

function controlView(c: ControlAt): ControlView {
  return { source: c.status.source, id: c.status.id, state: c.status.state, sinceMs: c.status.atMs, expected: c.expected };
}

function expectedText(expected: Record<string, unknown>): string {
  return Object.entries(expected)
    .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
    .join(', ');
}

const DEVICE_WORD: Record<Command['deviceType'], string> = { vehicle: 'vehicle', charger: 'charger', hvac: 'HVAC', battery: 'battery' };

/**
 * The refusal for a command to a device an active schedule or plan controls, or null. `controls`
 * are the device's active controls now (activeControls); the schedule comes first when both are.
 */
export function checkControl(command: Command, controls: readonly ControlAt[]): ControlRefusal | null {
  const relevant = controls.filter((c) => concerns(c, command));
  if (relevant.length === 0) return null;
  const first = relevant.find((c) => c.status.source === 'schedule') ?? (relevant[0] as ControlAt);
  const device = DEVICE_WORD[command.deviceType];
  const asks = expectedText(first.expected);
  const what =
    (first.status.source === 'schedule'
      ? `Enode schedule ${first.status.id} (state ${first.status.state})`
      : `an Enode smart charging plan${first.status.id ? ` (${first.status.id})` : ''} (state ${first.status.state})`) + (asks ? `, which asks for ${asks}` : '');
  const ways = [
    ...(command.deviceType === 'vehicle' ? ['a smart override to charge now (POST /api/v1/vehicles/{id}/smart-override)'] : []),
    first.status.source === 'schedule' ? 'disable the schedule' : 'disable smart charging for the vehicle',
    'send it anyway with ?force=true (Enode may still refuse it with 422)',
  ];
  const message = `The ${device} is controlled by ${what}: nothing was sent. To proceed: ${ways.join('; or ')}`;
  const controlsSeen = relevant.map(controlView);
  return first.status.source === 'schedule'
    ? { reason: 'CONTROLLED_BY_SCHEDULE', message, summary: what, scheduleId: first.status.id, controls: controlsSeen }
    : { reason: 'CONTROLLED_BY_SMART_CHARGING', message, summary: what, planId: first.status.id, controls: controlsSeen };
}

/**
 * The device's daily budget: budgeted commands in the rolling 24 h before `nowMs` — the gateway's
 * (`sentAtMs`) and other callers' (`otherAtMs`, a bare time counting as `other`) — and when the
 * next one fits again (the moment enough of the oldest leave the window).
 */
export function dailyBudget(sentAtMs: readonly number[], limit: number, nowMs: number, otherAtMs: readonly OtherSend[] = []): Budget {
  const within = (t: number) => t > nowMs - BUDGET_WINDOW_MS;
  const others = otherAtMs.map((o) => (typeof o === 'number' ? { atMs: o, source: 'other' as const } : o)).filter((o) => within(o.atMs));
  const count = (source: OtherSource) => others.filter((o) => o.source === source).length;
  const bySource: BudgetBySource = { gateway: sentAtMs.filter(within).length, schedule: count('schedule'), smartCharging: count('smartCharging'), other: count('other') };
  const inWindow = [...sentAtMs.filter(within), ...others.map((o) => o.atMs)].sort((a, b) => a - b);
  const used = inWindow.length;
  if (used < limit) return { limit, used, remaining: limit - used, bySource, nextAllowedAtMs: null };
  // After the oldest (used - limit + 1) leave, limit - 1 remain and one more fits.
  const leaving = inWindow[used - limit] as number;
  return { limit, used, remaining: 0, bySource, nextAllowedAtMs: leaving + BUDGET_WINDOW_MS };
}

/** "(4 through the gateway, 1 by Enode schedules, …)" when other callers count, else nothing. */
function sourcesText(b: BudgetBySource): string {
  if (b.schedule + b.smartCharging + b.other === 0) return '';
  const parts = [`${b.gateway} through the gateway`];
  if (b.schedule > 0) parts.push(`${b.schedule} by Enode schedules`);
  if (b.smartCharging > 0) parts.push(`${b.smartCharging} by smart charging`);
  if (b.other > 0) parts.push(`${b.other} by ${b.schedule + b.smartCharging > 0 ? 'other callers' : 'Enode schedules, smart charging or other callers'} of this Enode client`);
  return ` (${parts.join(', ')})`;
}

/** The budget guard: past the limit, the refusal — or, with `override`, the note that it was overridden; null within it. */
function budgetGuard(budget: Budget, override: boolean): { refusal?: Refusal; note?: Note } | null {
  if (budget.nextAllowedAtMs === null) return null;
  if (!override) {
    const nextAllowed = new Date(budget.nextAllowedAtMs).toISOString();
    const message = `${budget.used} commands were sent to this device in the last 24 h${sourcesText(budget.bySource)} (limit ${budget.limit}); the next one is allowed at ${nextAllowed}, or now with override=true`;
    return { refusal: { reason: 'DAILY_COMMAND_LIMIT', message, budget: { ...budget, nextAllowedAtMs: budget.nextAllowedAtMs } } };
  }
  return {
    note: {
      code: 'DAILY_LIMIT_OVERRIDDEN',
      message: `Sent with override=true although ${budget.used} commands were already sent in the last 24 h${sourcesText(budget.bySource)} (limit ${budget.limit})`,
    },
  };
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

  const notes: Note[] = [];
  const controlled = checkControl(command, input.controls ?? []);
  if (controlled) {
    if (!input.force) return { outcome: 'refuse', refusal: controlled, notes: [], budget };
    notes.push({ code: 'CONTROL_FORCED', message: `Sent with force=true although the ${DEVICE_WORD[command.deviceType]} is controlled by ${controlled.summary}` });
  }

  const other = pending[0];
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

  const limited = budgetGuard(budget, input.override);
  if (limited?.refusal) return { outcome: 'refuse', refusal: limited.refusal, notes: [], budget };
  const overridden = limited !== null;
  if (limited?.note) notes.push(limited.note);

  if (input.device.isReachable === false) {
    notes.push({ code: 'DEVICE_UNREACHABLE', message: 'The device was last reported unreachable: Enode keeps trying until the action times out' });
  }
  return { outcome: 'send', notes, budget, supersedes: other?.id ?? null, overridden };
}

export interface SmartOverrideInput {
  device: GuardDevice;
  /** As GuardInput's: the budget's inputs. */
  sentAtMs: readonly number[];
  otherActionsAtMs?: readonly OtherSend[];
  /** The vehicle's active schedules and plans now (activeControls). */
  controls?: readonly ControlAt[];
  dailyLimit: number;
  override: boolean;
  nowMs: number;
}

export type SmartOverrideDecision =
  | { outcome: 'refuse'; refusal: Refusal; notes: Note[]; budget: Budget }
  | { outcome: 'send'; notes: Note[]; budget: Budget; overridden: boolean };

/**
 * The guards of a smart override (`POST /vehicles/{id}/smart-override`): it starts charging, so
 * the vehicle must be able to start charging and the override counts against the daily budget. No
 * collapse and no PENDING check: Enode's override is not an action the gateway can compare, and
 * Enode decides what becomes of a PENDING action. A schedule or plan is what an override is for:
 * none active is only a note (a plain START is then the usual command).
 */
export function evaluateSmartOverride(input: SmartOverrideInput): SmartOverrideDecision {
  const { nowMs } = input;
  const budget = dailyBudget(input.sentAtMs, input.dailyLimit, nowMs, input.otherActionsAtMs);
  const start: Command = { deviceType: 'vehicle', command: 'charging', body: { action: 'START' } };
  const incapable = checkCapability(start, input.device.snapshot);
  if (incapable) return { outcome: 'refuse', refusal: incapable, notes: [], budget };

  const notes: Note[] = [];
  if (!checkControl(start, input.controls ?? [])) {
    notes.push({
      code: 'NOT_CONTROLLED',
      message: 'No active Enode schedule or smart charging plan is known for this vehicle: a smart override is meant to get past one; POST /charging is the usual way to start charging',
    });
  }
  const limited = budgetGuard(budget, input.override);
  if (limited?.refusal) return { outcome: 'refuse', refusal: limited.refusal, notes: [], budget };
  const overridden = limited !== null;
  if (limited?.note) notes.push(limited.note);
  if (input.device.isReachable === false) {
    notes.push({ code: 'DEVICE_UNREACHABLE', message: 'The device was last reported unreachable: Enode keeps trying until the action times out' });
  }
  return { outcome: 'send', notes, budget, overridden };
}
