/**
 * The gateway's errors: guard refusals and Enode's failures as AppErrors the caller can act on.
 * Enode's status and own words (problem `title`, `detail`, `issues`) are kept under `enode`, bounded
 * and stripped of markup and control characters by `EnodeApiError` (src/enode/errors.ts); a body
 * that was not a JSON problem is never quoted. Request paths, attempts and transport details stay
 * in the log.
 */
import type { Refusal } from '../domain/guards.js';
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

/**
 * Maps a failed Enode call to the caller's error. `what` names the subject ("command", "cancel").
 * Returns undefined for anything that is not an Enode error (a bug: let it surface as a 500).
 */
export function mapEnodeError(err: unknown, what = 'command'): AppError | undefined {
  if (!(err instanceof EnodeApiError)) return undefined;
  const enode = problemView(err);
  if (err instanceof EnodeValidationError) {
    if (err.status === 422) {
      return new AppError(
        'ENODE_UNPROCESSABLE',
        `Enode cannot take this ${what} now (${said(err)}); the device may be under an Enode schedule or smart charging plan: disable it or use a smart override`,
        { enode },
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
