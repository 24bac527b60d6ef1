import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors.js';
import type { AuthGuard } from './auth-guard.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * `GET /metrics` behind `Authorization: Bearer $METRICS_TOKEN` when the token is set (Prometheus'
 * `authorization` scrape setting); without it the route stays open as the contract has it. The
 * comparison is constant-time, and wrong tokens count against the client's address like the
 * admin API's.
 */
export function metricsAuth(token: string | undefined, guard: AuthGuard): MiddlewareHandler {
  const expected = token ? digest(token) : undefined;
  return async (c, next) => {
    if (!expected) return next();
    const match = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
    if (!match) throw new AppError('UNAUTHORIZED', 'Missing Authorization: Bearer <METRICS_TOKEN>');
    guard.assertAllowed(c, 'metrics-bearer');
    if (!timingSafeEqual(digest((match[1] as string).trim()), expected)) {
      guard.recordFailure(c, 'metrics-bearer');
      throw new AppError('UNAUTHORIZED', 'Invalid bearer token');
    }
    await next();
  };
}
