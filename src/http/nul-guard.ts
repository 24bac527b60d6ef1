import type { MiddlewareHandler } from 'hono';
import { AppError } from '../errors.js';

/** `%00` (any case) or a raw U+0000 anywhere in a URL. */
const NUL_IN_URL = /%00|\u0000/i;

/**
 * Refuses a URL with a NUL character (`%00`) in its path or query with 400, on every engine: no
 * stored id or text holds one (store/text.ts), Postgres text cannot even be compared with one,
 * and a uniform clear answer beats a 404 on one engine and an error on the other.
 */
export function refuseNulInUrl(): MiddlewareHandler {
  return async (c, next) => {
    if (NUL_IN_URL.test(c.req.url)) {
      throw new AppError('BAD_REQUEST', 'The URL contains a NUL character (%00); no id or filter can hold one');
    }
    await next();
  };
}
