import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Bearer-token check in constant time (digests make the lengths equal). */
export function bearerAuth(token: string | undefined): MiddlewareHandler {
  const expected = token ? digest(token) : undefined;
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!expected) throw new AppError('UNAUTHORIZED', 'Admin API is disabled: ADMIN_TOKEN is not set');
    if (!match || !timingSafeEqual(digest((match[1] as string).trim()), expected)) {
      throw new AppError('UNAUTHORIZED', match ? 'Invalid bearer token' : 'Missing Authorization: Bearer <ADMIN_TOKEN>');
    }
    await next();
  };
}
