import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors.js';
import type { AuthGuard } from '../http/auth-guard.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Bearer-token check in constant time (digests make the lengths equal). With a guard, a wrong
 * token counts against the client's address, and an address that has used up its failures gets
 * 429 before its token is even compared (otherwise the right guess would still stand out).
 */
export function bearerAuth(token: string | undefined, guard?: AuthGuard): MiddlewareHandler {
  const expected = token ? digest(token) : undefined;
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!expected) throw new AppError('UNAUTHORIZED', 'Admin API is disabled: ADMIN_TOKEN is not set');
    // A request with no token guesses nothing: it is neither throttled nor counted.
    if (!match) throw new AppError('UNAUTHORIZED', 'Missing Authorization: Bearer <ADMIN_TOKEN>');
    guard?.assertAllowed(c, 'api-bearer');
    if (!timingSafeEqual(digest((match[1] as string).trim()), expected)) {
      guard?.recordFailure(c, 'api-bearer');
      throw new AppError('UNAUTHORIZED', 'Invalid bearer token');
    }
    await next();
  };
}
