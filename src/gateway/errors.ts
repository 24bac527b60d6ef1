/**
 * The gateway's errors: guard refusals and Enode's failures as AppErrors the caller can act on.
 * Enode's status and own words (problem `title`, `detail`, `issues`) are kept under `enode`, bounded
 * and stripped of markup and control characters by `EnodeApiError` (src/enode/errors.ts); a body
 * that was not a JSON problem is never quoted. Request paths, attempts and transport details stay
 * in the log.
 */
import type { ControlView, Refusal } from '../domain/guards.js';
import {
  EnodeApiError,
  EnodeAuthError,
  EnodeConflictError,
  EnodeNotFoundError,
  EnodeRateLimitError,
  EnodeUnavailableError,
  EnodeValidationError,
} from '../enode/errors.js';
import { AppError } from '../errors.js';

/** Enode's problem as shown to the caller. */
export interface EnodeProblemView {
  status: number | null;
  title?: string;
  detail?: string;
  issues?: Array<Record<string, unknown>>;
}

function problemView(err: EnodeApiError): EnodeProblemView {
  const p = err.problem;
  return {
    status: err.status,
    ...(p.title ? { title: p.title } : {}),
    ...(p.detail ? { detail: p.detail } : {}),
    ...(p.issues?.length ? { issues: p.issues } : {}),
  };
}

function said(err: EnodeApiError): string {
  const { title, detail } = err.problem;
  const words = [title, detail].filter(Boolean).join(': ');
  return words === '' ? `HTTP ${err.status ?? 'error'}` : words;
}

/** What the gateway knew when Enode answered: the device's active schedules and plans (to name them in a 422). */
export interface EnodeErrorContext {
  controls?: readonly ControlView[];
  /** The device type, for the message ("vehicle"). */
  deviceType?: string;
}

const SCHEDULE_WORDS = /schedul/i;
const SMART_CHARGING_WORDS = /smart[\s_-]*charg|charging[\s_-]*plan|\bplan\b/i;

/**
 * Which control Enode's 422 names, when it can be told: its problem text names a schedule or smart
 * charging (not both), or names both and the gateway knows only one of them active on the device.
 */
function controlNamed(err: EnodeApiError, known: readonly ControlView[]): 'schedule' | 'smart_charging' | null {
  const { title, detail, issues } = err.problem;
  const text = [title, detail, issues ? JSON.stringify(issues) : ''].filter(Boolean).join(' ');
  const schedule = SCHEDULE_WORDS.test(text);
  const smart = SMART_CHARGING_WORDS.test(text);
  if (schedule !== smart) return schedule ? 'schedule' : 'smart_charging';
  if (!schedule) return null;
  const sources = new Set(known.map((c) => c.source));
  return sources.size === 1 ? ([...sources][0] as 'schedule' | 'smart_charging') : null;
}

/** Enode's 422 for a device under a schedule or plan (REFERENCE §2.6) as CONTROLLED_BY_SCHEDULE / _SMART_CHARGING. */
function controlledByEnode(err: EnodeApiError, what: string, ctx: EnodeErrorContext, enode: EnodeProblemView): AppError | undefined {
  const known = ctx.controls ?? [];
  const source = controlNamed(err, known);
  if (source === null) return undefined;
  const control = known.find((c) => c.source === source);
  const device = ctx.deviceType ?? 'device';
  const ways = [...(ctx.deviceType === 'vehicle' ? ['a smart override (POST /api/v1/vehicles/{id}/smart-override) to charge now'] : [])];
  if (source === 'schedule') {
    ways.push('disable the schedule');
    return new AppError(
      'CONTROLLED_BY_SCHEDULE',
      `Enode refused the ${what}: the ${device} is controlled by an Enode schedule${control?.id ? ` (${control.id})` : ''} (${said(err)}). Force does not get past Enode's own check: ${ways.join(', or ')}`,
      { scheduleId: control?.id ?? null, ...(known.length ? { controls: known } : {}), enode },
    );
  }
  ways.push('disable smart charging for the vehicle');
  return new AppError(
    'CONTROLLED_BY_SMART_CHARGING',
    `Enode refused the ${what}: the ${device} is controlled by an Enode smart charging plan${control?.id ? ` (${control.id})` : ''} (${said(err)}). Force does not get past Enode's own check: ${ways.join(', or ')}`,
    { planId: control?.id ?? null, ...(known.length ? { controls: known } : {}), enode },
  );
}

/**
 * Maps a failed Enode call to the caller's error. `what` names the subject ("command", "cancel").
 * An Enode 422 whose problem names a schedule or smart charging becomes CONTROLLED_BY_SCHEDULE /
 * CONTROLLED_BY_SMART_CHARGING (409, with the ids `ctx` knows), any other 422 ENODE_UNPROCESSABLE.
 * Returns undefined for anything that is not an Enode error (a bug: let it surface as a 500).
 */
export function mapEnodeError(err: unknown, what = 'command', ctx: EnodeErrorContext = {}): AppError | undefined {
  if (!(err instanceof EnodeApiError)) return undefined;
  const enode = problemView(err);
  if (err instanceof EnodeValidationError) {
    if (err.status === 422) {
      return (
        controlledByEnode(err, what, ctx, enode) ??
        new AppError(
          'ENODE_UNPROCESSABLE',
          `Enode cannot take this ${what} now (${said(err)}); the device may be under an Enode schedule or smart charging plan: disable it or use a smart override`,
          { enode },
        )
      );
    }
    return new AppError('ENODE_BAD_REQUEST', `Enode refused the ${what} (${said(err)})`, { enode });
  }
  if (err instanceof EnodeNotFoundError) return new AppError('ENODE_NOT_FOUND', `Enode does not know the target of this ${what} (${said(err)})`, { enode });
  if (err instanceof EnodeConflictError) return new AppError('ENODE_CONFLICT', `Enode refused the ${what} with a conflict (${said(err)})`, { enode });
  if (err instanceof EnodeRateLimitError) {
    const retryAfterSeconds = err.retryAfterMs === undefined ? undefined : Math.ceil(err.retryAfterMs / 1000);
    return new AppError('ENODE_RATE_LIMITED', `Enode is rate limiting this client; nothing was sent, try again${retryAfterSeconds === undefined ? ' later' : ` in ${retryAfterSeconds} s`}`, {
      enode,
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
  }
  if (err instanceof EnodeAuthError) {
    if (err.status === 403) return new AppError('ENODE_FORBIDDEN', `Enode does not allow this ${what} (${said(err)}); the user may not have granted the control scope`, { enode });
    return new AppError('ENODE_AUTH_FAILED', 'Enode rejected the client credentials; check ENODE_CLIENT_ID and ENODE_CLIENT_SECRET', { enode: { status: err.status } });
  }
  if (err instanceof EnodeUnavailableError) {
    const how = err.reason === 'timeout' ? 'did not answer in time' : err.reason === 'network' ? 'could not be reached' : `answered HTTP ${err.status}`;
    // A create that timed out or got a 5xx may still have been taken by Enode: say so.
    return new AppError(
      'ENODE_UNAVAILABLE',
      `Enode ${how}${err.attempts > 1 ? ` after ${err.attempts} attempts` : ''}; the ${what} may or may not have been taken: check the device's actions before retrying`,
      { enode: { status: err.status } },
    );
  }
  return new AppError('UPSTREAM_ERROR', `Enode answered the ${what} in an unexpected way (see the daemon log)`, { enode: { status: err.status } });
}

/** A schedule or plan as an error's `controls` shows it (`since` as an ISO time). */
export function presentControl(c: ControlView) {
  return { source: c.source, id: c.id, state: c.state, since: new Date(c.sinceMs).toISOString(), expected: c.expected };
}

/**
 * A guard's refusal as the caller's error. `interventions` are the intervention texts, when they
 * could be fetched; `nowMs` gives the budget refusal its `retryAfterSeconds`.
 */
export function refusalError(refusal: Refusal, nowMs: number, interventions: unknown[] = []): AppError {
  switch (refusal.reason) {
    case 'NOT_CAPABLE':
      return new AppError('DEVICE_NOT_CAPABLE', `The device cannot take this command: ${refusal.message}`, {
        capability: refusal.capability,
        interventionIds: refusal.interventionIds,
        ...(interventions.length > 0 ? { interventions } : {}),
      });
    case 'ACTION_PENDING':
      return new AppError('ACTION_PENDING', refusal.message, { pendingActionId: refusal.actionId });
    case 'CONTROLLED_BY_SCHEDULE':
      return new AppError('CONTROLLED_BY_SCHEDULE', refusal.message, { scheduleId: refusal.scheduleId, controls: refusal.controls.map(presentControl) });
    case 'CONTROLLED_BY_SMART_CHARGING':
      return new AppError('CONTROLLED_BY_SMART_CHARGING', refusal.message, { planId: refusal.planId, controls: refusal.controls.map(presentControl) });
    case 'DAILY_COMMAND_LIMIT': {
      const { limit, used, bySource, nextAllowedAtMs } = refusal.budget;
      return new AppError('DAILY_COMMAND_LIMIT', refusal.message, {
        limit,
        used,
        bySource,
        nextAllowedAt: new Date(nextAllowedAtMs).toISOString(),
        retryAfterSeconds: Math.max(1, Math.ceil((nextAllowedAtMs - nowMs) / 1000)),
      });
    }
  }
}
