import type { ErrorHandler, NotFoundHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { systemClock, type Clock } from './clock.js';
import { createAggregateLog } from './http/aggregate-log.js';
import type { Logger } from './logger.js';

export type ErrorCode =
  | 'BAD_REQUEST'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNPROCESSABLE'
  | 'DAILY_COMMAND_LIMIT'
  | 'RATE_LIMITED'
  | 'UPSTREAM_ERROR'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL'
  // Command gateway (src/gateway): guards and Enode's answers.
  | 'ENODE_NOT_CONFIGURED'
  | 'DEVICE_NOT_CAPABLE'
  | 'ACTION_PENDING'
  | 'ACTION_ALREADY_RESOLVED'
  | 'CONTROLLED_BY_SCHEDULE'
  | 'CONTROLLED_BY_SMART_CHARGING'
  | 'ENODE_BAD_REQUEST'
  | 'ENODE_UNPROCESSABLE'
  | 'ENODE_NOT_FOUND'
  | 'ENODE_FORBIDDEN'
  | 'ENODE_CONFLICT'
  | 'ENODE_RATE_LIMITED'
  | 'ENODE_AUTH_FAILED'
  | 'ENODE_UNAVAILABLE';

const STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE: 422,
  DAILY_COMMAND_LIMIT: 429,
  RATE_LIMITED: 429,
  UPSTREAM_ERROR: 502,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL: 500,
  ENODE_NOT_CONFIGURED: 503,
  DEVICE_NOT_CAPABLE: 409,
  ACTION_PENDING: 409,
  ACTION_ALREADY_RESOLVED: 409,
  CONTROLLED_BY_SCHEDULE: 409,
  CONTROLLED_BY_SMART_CHARGING: 409,
  ENODE_BAD_REQUEST: 400,
  ENODE_UNPROCESSABLE: 422,
  ENODE_NOT_FOUND: 404,
  ENODE_FORBIDDEN: 403,
  ENODE_CONFLICT: 409,
  ENODE_RATE_LIMITED: 503,
  ENODE_AUTH_FAILED: 502,
  ENODE_UNAVAILABLE: 502,
};

/** HTTP status for a machine error code. */
export function codeToStatus(code: ErrorCode): number {
  return STATUS[code];
}

/** An error meant for the caller: its code and message are safe to show. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

function statusToCode(status: number): ErrorCode {
  const found = (Object.entries(STATUS) as Array<[ErrorCode, number]>).find(([, s]) => s === status);
  return found ? found[0] : status >= 500 ? 'INTERNAL' : 'BAD_REQUEST';
}

/** Renders the one error body of the API: `{ error: { code, message, requestId, ...details } }`. */
export function errorBody(code: ErrorCode, message: string, requestId: string, details?: Record<string, unknown>) {
  return { error: { code, message, requestId, ...(details ?? {}) } };
}

/**
 * Seconds the caller should wait before trying again, when the error says so: an AppError whose
 * `details.retryAfterSeconds` is a number (429 throttles, 503 overload, Enode's rate limit).
 */
export function retryAfterSeconds(err: unknown): number | undefined {
  const seconds = err instanceof AppError ? err.details?.['retryAfterSeconds'] : undefined;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds) : undefined;
}

/** The `Retry-After` header of an error that carries `retryAfterSeconds`, or none. */
export function retryAfterHeaders(err: unknown): Record<string, string> {
  const seconds = retryAfterSeconds(err);
  return seconds === undefined ? {} : { 'Retry-After': String(seconds) };
}

/** The single onError of the app: known errors as they are, unknown ones hidden and logged. */
export function createErrorHandler(logger: Logger, clock: Clock = systemClock): ErrorHandler {
  // Anyone can abort uploads at will: logged once per area and minute, then as a count.
  const aborts = createAggregateLog({ logger, clock, message: 'client closed the connection before sending the whole request' });
  return (err, c) => {
    const requestId = (c.get('requestId' as never) as string | undefined) ?? 'unknown';
    if (err instanceof AppError) {
      const status = codeToStatus(err.code);
      if (status >= 500) logger.error({ err, requestId }, 'request failed');
      return c.json(errorBody(err.code, err.message, requestId, err.details), status as 400, retryAfterHeaders(err));
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      const code = statusToCode(status);
      if (status >= 500) logger.error({ err, requestId }, 'request failed');
      const message = status >= 500 ? 'Internal error' : err.message || code.toLowerCase().replace(/_/g, ' ');
      return c.json(errorBody(code, message, requestId), status);
    }
    if (isClientAbort(err)) {
      // The client closed the connection before its body was read: no one gets this answer, and
      // it is not our failure (a retried webhook is stored when it arrives whole).
      aborts.record(`/${c.req.path.split('/')[1] ?? ''}`, { requestId, method: c.req.method, path: c.req.path.slice(0, 200) });
      return c.json(errorBody('BAD_REQUEST', 'The connection closed before the request body was complete', requestId), 400);
    }
    logger.error({ err, requestId }, 'unhandled error');
    return c.json(errorBody('INTERNAL', 'Internal error', requestId), 500);
  };
}

/** Node's error for a request body cut short by the client (`IncomingMessage` "aborted"). */
export function isClientAbort(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === 'ECONNRESET' && e.message === 'aborted';
}

export const notFoundHandler: NotFoundHandler = (c) => {
  const requestId = (c.get('requestId' as never) as string | undefined) ?? 'unknown';
  return c.json(errorBody('NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`, requestId), 404);
};
