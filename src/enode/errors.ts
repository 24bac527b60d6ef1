/**
 * Enode's RFC 7807 problems as typed errors. Messages name the request (method and path) and what
 * Enode said — never headers, tokens or client secrets, so they are safe to log and to surface.
 */

export interface ProblemIssue {
  [key: string]: unknown;
}

/** The parts of an RFC 7807 problem (or an OAuth2 error body) that Enode fills in. */
export interface EnodeProblem {
  type?: string;
  title?: string;
  detail?: string;
  issues?: ProblemIssue[];
}

export interface EnodeErrorInit {
  /** HTTP status; null when no response came back (network failure, timeout). */
  status: number | null;
  method: string;
  /** Request path without origin, e.g. `/vehicles/abc`. */
  path: string;
  problem?: EnodeProblem;
  /** Attempts made before giving up (1 when it was not retried). */
  attempts?: number;
  cause?: unknown;
}

/** Any failed Enode request. `retryable` says whether trying again later may succeed. */
export class EnodeApiError extends Error {
  readonly status: number | null;
  readonly problem: EnodeProblem;
  readonly method: string;
  readonly path: string;
  readonly attempts: number;
  readonly retryable: boolean = false;

  constructor(init: EnodeErrorInit, message?: string) {
    super(message ?? describe(init), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.status = init.status;
    this.problem = init.problem ?? {};
    this.method = init.method;
    this.path = init.path;
    this.attempts = init.attempts ?? 1;
  }
}

/** 404: the device, action or webhook does not exist (or no longer does). */
export class EnodeNotFoundError extends EnodeApiError {}

/** 401/403: credentials rejected or not allowed — retrying will not help; fix the configuration. */
export class EnodeAuthError extends EnodeApiError {}

/** 400/422: Enode refused the request itself (invalid body, precondition, device under a schedule). */
export class EnodeValidationError extends EnodeApiError {}

/** 409: for a cancel, the action had already resolved; `action` is the resolved action Enode returned. */
export class EnodeConflictError extends EnodeApiError {
  readonly action: Record<string, unknown> | undefined;
  constructor(init: EnodeErrorInit & { action?: Record<string, unknown> }, message?: string) {
    super(init, message);
    this.action = init.action;
  }
}

/** 429 still answered after every retry. `retryAfterMs` is Enode's last hint, if it gave one. */
export class EnodeRateLimitError extends EnodeApiError {
  override readonly retryable = true;
  readonly retryAfterMs: number | undefined;
  constructor(init: EnodeErrorInit & { retryAfterMs?: number }, message?: string) {
    super(init, message);
    this.retryAfterMs = init.retryAfterMs;
  }
}

/** 5xx, network failure or timeout that persisted through every retry: Enode is unreachable for now. */
export class EnodeUnavailableError extends EnodeApiError {
  override readonly retryable = true;
  readonly reason: 'status' | 'network' | 'timeout';
  constructor(init: EnodeErrorInit & { reason: 'status' | 'network' | 'timeout' }, message?: string) {
    super(init, message ?? describeUnavailable(init));
    this.reason = init.reason;
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Reads a problem from a response body: RFC 7807 (`type`, `title`, `detail`, `issues`) or the
 * OAuth2 token endpoint's `{error, error_description}`. Anything else gives an empty problem.
 */
export function parseProblem(body: unknown): EnodeProblem {
  if (!isRecord(body)) return {};
  const p: EnodeProblem = {};
  const type = str(body['type']);
  const title = str(body['title']) ?? str(body['error']);
  const detail = str(body['detail']) ?? str(body['error_description']);
  if (type) p.type = type;
  if (title) p.title = title;
  if (detail) p.detail = detail;
  const issues = body['issues'];
  if (Array.isArray(issues)) p.issues = issues.filter(isRecord);
  return p;
}

function describe(init: EnodeErrorInit): string {
  const status = init.status === null ? 'no response' : `${init.status}${init.problem?.title ? ` ${init.problem.title}` : ''}`;
  const detail = init.problem?.detail ? `: ${init.problem.detail}` : '';
  const issues = init.problem?.issues?.length ? ` (${init.problem.issues.map(formatIssue).join('; ')})` : '';
  const attempts = (init.attempts ?? 1) > 1 ? ` after ${init.attempts} attempts` : '';
  return `Enode ${init.method} ${init.path} failed with ${status}${attempts}${detail}${issues}`;
}

function describeUnavailable(init: EnodeErrorInit & { reason: 'status' | 'network' | 'timeout' }): string {
  if (init.reason === 'status') return describe(init);
  const why = init.reason === 'timeout' ? 'timed out' : `network error${causeMessage(init.cause)}`;
  return `Enode ${init.method} ${init.path} failed: ${why} after ${init.attempts ?? 1} attempt(s)`;
}

function causeMessage(cause: unknown): string {
  if (!(cause instanceof Error)) return '';
  // undici hides the interesting part (ECONNREFUSED, ENOTFOUND) in error.cause.
  const inner = cause.cause instanceof Error ? cause.cause.message : undefined;
  return ` (${inner ?? cause.message})`;
}

function formatIssue(issue: ProblemIssue): string {
  const path = str(issue['path']);
  const message = str(issue['message']) ?? JSON.stringify(issue);
  return path ? `${path}: ${message}` : message;
}

export interface ResponseErrorInput {
  status: number;
  method: string;
  path: string;
  /** Parsed JSON body, or undefined when there was none or it was not JSON. */
  body: unknown;
  attempts?: number;
  /** For 429: the delay Enode asked for, already parsed. */
  retryAfterMs?: number;
}

/** Maps a non-2xx response to the matching typed error. */
export function errorFromResponse(input: ResponseErrorInput): EnodeApiError {
  const problem = parseProblem(input.body);
  const init: EnodeErrorInit = { status: input.status, method: input.method, path: input.path, problem, attempts: input.attempts ?? 1 };
  const s = input.status;
  if (s === 404) return new EnodeNotFoundError(init);
  if (s === 401 || s === 403) return new EnodeAuthError(init);
  if (s === 400 || s === 422) return new EnodeValidationError(init);
  if (s === 409) {
    // Enode answers a cancel of a resolved action with the action itself, not a problem.
    const action = isRecord(input.body) && typeof input.body['id'] === 'string' ? input.body : undefined;
    return new EnodeConflictError(action ? { ...init, action, problem: {} } : init, action ? describeConflict(init, action) : undefined);
  }
  if (s === 429) return new EnodeRateLimitError(input.retryAfterMs === undefined ? init : { ...init, retryAfterMs: input.retryAfterMs });
  if (s >= 500) return new EnodeUnavailableError({ ...init, reason: 'status' });
  return new EnodeApiError(init);
}

function describeConflict(init: EnodeErrorInit, action: Record<string, unknown>): string {
  const state = str(action['state']) ?? 'unknown';
  return `Enode ${init.method} ${init.path} failed with 409: action ${String(action['id'])} already resolved (state ${state})`;
}
