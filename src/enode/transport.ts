import type { Clock } from '../clock.js';
import { parseWellFormedJson } from '../domain/well-formed.js';
import type { Logger } from '../logger.js';
import { isRetryableStatus, retryDelayMs, retryAfterMs } from './backoff.js';
import type { Sleep, TokenBucket } from './budget.js';
import { EnodeRedirectError, EnodeUnavailableError, errorFromResponse } from './errors.js';
import type { RequestCounter } from './stats.js';

export interface TransportOptions {
  fetch: typeof fetch;
  clock: Clock;
  logger: Logger;
  sleep: Sleep;
  random: () => number;
  /** Per attempt, ms; covers the response body too. */
  timeoutMs: number;
  /** Attempts in total, the first one included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxRetryAfterMs: number;
  budget: TokenBucket | undefined;
  counter: RequestCounter;
}

export interface Exchange {
  method: string;
  url: string;
  /** What logs and errors show: path (and query) without origin. Never carries credentials. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Whether the attempt spends a token of the shared request budget. */
  useBudget: boolean;
  /**
   * `unsent-only` for requests that are not safe to repeat (creating an action): retried only
   * when Enode surely did not act on them — 429, or a connection refused before anything was
   * sent. A 5xx or a timeout may come after the action was created; repeating the POST would
   * create a second action that cancels the first (CONFLICT), so the caller gets the error.
   */
  retry?: 'all' | 'unsent-only';
}

export interface ExchangeResult {
  status: number;
  headers: Headers;
  /** The body as text ('' when empty). */
  text: string;
  /** The body parsed as JSON; undefined when empty or not JSON. */
  json: unknown;
  attempts: number;
}

type Outcome = { kind: 'response'; result: Omit<ExchangeResult, 'attempts'> } | { kind: 'network' | 'timeout'; error: unknown };

/** Sends one HTTP exchange with the shared budget, a per-attempt timeout and retries. */
export type Send = (exchange: Exchange) => Promise<ExchangeResult>;

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return parseWellFormedJson(text);
  } catch {
    return undefined;
  }
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/**
 * Builds the retrying sender. Retries network errors, timeouts, 5xx and 429 (honouring
 * `Retry-After`) up to `maxAttempts`; any other response, success or not, is returned to the
 * caller, who knows what it means. When retries run out it throws `EnodeUnavailableError` (or
 * `EnodeRateLimitError` for a persistent 429).
 */
export function createTransport(o: TransportOptions): Send {
  const attemptOnce = async (ex: Exchange): Promise<Outcome> => {
    if (ex.useBudget && o.budget) await o.budget.take(o.sleep);
    try {
      const res = await o.fetch(ex.url, {
        method: ex.method,
        headers: ex.headers,
        ...(ex.body === undefined ? {} : { body: ex.body }),
        // fetch would resend the body to wherever Location points, and undici keeps the
        // Authorization header on a cross-origin hop: never follow (see EnodeRedirectError).
        redirect: 'manual',
        signal: AbortSignal.timeout(o.timeoutMs),
      });
      if (isRedirect(res.status)) {
        await res.body?.cancel().catch(() => {});
        o.counter.record(res.status);
        return { kind: 'response', result: { status: res.status, headers: res.headers, text: '', json: undefined } };
      }
      // Read the body inside the attempt: the timeout covers a server that stalls mid-body, and
      // the connection goes back to the pool.
      const text = await res.text();
      o.counter.record(res.status);
      return { kind: 'response', result: { status: res.status, headers: res.headers, text, json: parseJson(text) } };
    } catch (error) {
      const kind = isTimeout(error) ? 'timeout' : 'network';
      o.counter.record(kind);
      return { kind, error };
    }
  };

  return async (ex) => {
    for (let attempt = 1; ; attempt++) {
      const outcome = await attemptOnce(ex);
      const status = outcome.kind === 'response' ? outcome.result.status : null;
      if (outcome.kind === 'response' && isRedirect(outcome.result.status)) throw redirectError(ex, outcome.result, attempt);
      if (outcome.kind === 'response' && !isRetryableStatus(outcome.result.status)) {
        return { ...outcome.result, attempts: attempt };
      }
      const retryAfterHeader = outcome.kind === 'response' ? outcome.result.headers.get('retry-after') : null;
      if (attempt >= o.maxAttempts) throw giveUp(ex, outcome, attempt, o);
      if (ex.retry === 'unsent-only' && !surelyUnsent(outcome)) throw giveUp(ex, outcome, attempt, o);

      const delayMs = retryDelayMs({
        attempt,
        retryAfterHeader,
        now: o.clock.now(),
        baseMs: o.baseDelayMs,
        maxMs: o.maxDelayMs,
        random: o.random,
        maxRetryAfterMs: o.maxRetryAfterMs,
      });
      // Deliberately no headers, URL origin or body: the line must be safe to ship anywhere.
      o.logger.warn(
        { method: ex.method, path: ex.path, status: status ?? outcome.kind, attempt, maxAttempts: o.maxAttempts, delayMs },
        'enode request failed; retrying',
      );
      o.counter.recordRetry();
      await o.sleep(delayMs);
    }
  };
}

const isRedirect = (status: number) => status >= 300 && status < 400;

/** A 3xx as an error naming where it pointed only as "this origin" or "another origin" (the Location is upstream text). */
function redirectError(ex: Exchange, result: Omit<ExchangeResult, 'attempts'>, attempts: number): EnodeRedirectError {
  let where = 'without a usable Location';
  const location = result.headers.get('location');
  if (location) {
    try {
      where = new URL(location, ex.url).origin === new URL(ex.url).origin ? 'to another path on the same origin' : 'to another origin';
    } catch {
      // an unparseable Location stays "without a usable Location"
    }
  }
  return new EnodeRedirectError(
    { status: result.status, method: ex.method, path: ex.path, attempts },
    `Enode ${ex.method} ${ex.path} answered ${result.status}, a redirect ${where}; redirects are not followed (credentials and bodies stay with the configured origin): check ENODE_API_URL and ENODE_OAUTH_URL`,
  );
}

/** True when the server cannot have acted on the request: rate limited, or the connection was refused. */
function surelyUnsent(outcome: Outcome): boolean {
  if (outcome.kind === 'response') return outcome.result.status === 429;
  if (outcome.kind !== 'network') return false;
  const cause = (outcome.error as { cause?: { code?: unknown } } | null)?.cause;
  return cause?.code === 'ECONNREFUSED';
}

function giveUp(ex: Exchange, outcome: Outcome, attempts: number, o: TransportOptions): Error {
  const base = { method: ex.method, path: ex.path, attempts };
  if (outcome.kind !== 'response') {
    return new EnodeUnavailableError({ ...base, status: null, reason: outcome.kind, cause: outcome.error });
  }
  const { status, json, headers } = outcome.result;
  const hint = retryAfterMs(headers.get('retry-after'), o.clock.now(), o.maxRetryAfterMs);
  return errorFromResponse({ ...base, status, body: json, ...(hint === undefined ? {} : { retryAfterMs: hint }) });
}
