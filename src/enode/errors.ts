/**
 * Enode's RFC 7807 problems as typed errors. Messages name the request (method and path) and what
 * Enode said — never headers, tokens or client secrets, so they are safe to log and to surface.
 * What Enode said is upstream text: every string of a problem is cut to a bounded length with
 * markup and control characters removed (`upstreamText`) before it reaches a message, an API
 * answer or a log line, and a body that is not JSON (an HTML error page) is never quoted.
 */

import { MAX_UPSTREAM_TEXT, upstreamText } from '../domain/upstream-text.js';

export { MAX_UPSTREAM_TEXT, upstreamText };

/** Issues kept from one problem, and fields kept from one issue. */
const MAX_ISSUES = 10;
const MAX_ISSUE_FIELDS = 8;

function sanitizeIssue(issue: ProblemIssue): ProblemIssue {
  const out: ProblemIssue = {};
  for (const [key, value] of Object.entries(issue).slice(0, MAX_ISSUE_FIELDS)) {
    const k = upstreamText(key, 50);
    if (typeof value === 'string') out[k] = upstreamText(value, 200);
    else if (typeof value === 'number' || typeof value === 'boolean' || value === null) out[k] = value;
    // A path such as ["body", "action"]: primitives only, a few of them.
    else if (Array.isArray(value)) out[k] = value.slice(0, 10).filter((v) => typeof v === 'string' || typeof v === 'number').map((v) => (typeof v === 'string' ? upstreamText(v, 50) : v));
  }
  return out;
}

/** A problem with every field bounded and sanitised (see `upstreamText`); idempotent. */
export function sanitizeProblem(problem: EnodeProblem | undefined): EnodeProblem {
  if (!problem) return {};
  const p: EnodeProblem = {};
  if (typeof problem.type === 'string' && problem.type !== '') p.type = upstreamText(problem.type, 200);
  if (typeof problem.title === 'string' && problem.title !== '') p.title = upstreamText(problem.title, 120);
  if (typeof problem.detail === 'string' && problem.detail !== '') p.detail = upstreamText(problem.detail);
  if (Array.isArray(problem.issues) && problem.issues.length > 0) p.issues = problem.issues.slice(0, MAX_ISSUES).filter(isRecord).map(sanitizeIssue);
  return p;
}

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
    this.problem = sanitizeProblem(init.problem);
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

/**
 * A 3xx answer. Redirects are never followed: a request carries the bearer token (or the client
 * secret) and maybe a command body, which must not go to another origin; Enode's API does not
 * redirect, so one means a wrong ENODE_API_URL / ENODE_OAUTH_URL or something in between.
 */
export class EnodeRedirectError extends EnodeApiError {}

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
  return sanitizeProblem(readProblem(body));
}

function readProblem(body: Record<string, unknown>): EnodeProblem {
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

function describe(raw: EnodeErrorInit): string {
  const init = { ...raw, problem: sanitizeProblem(raw.problem) };
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
  return ` (${upstreamText(inner ?? cause.message, 120)})`;
}

function formatIssue(issue: ProblemIssue): string {
  const path = str(issue['path']);
  const message = str(issue['message']) ?? upstreamText(JSON.stringify(issue), 200);
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
  const state = upstreamText(str(action['state']) ?? 'unknown', 40);
  return `Enode ${init.method} ${init.path} failed with 409: action ${upstreamText(String(action['id']), 100)} already resolved (state ${state})`;
}
