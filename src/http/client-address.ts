import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** What a request's client address is when it is not known (e.g. under `app.request()` in tests). */
export const UNKNOWN_ADDRESS = 'unknown';
/** Longer than any address: such a header value is not one, and must not become a log key. */
const ADDRESS_MAX_LENGTH = 64;

/** Node's own request when served by @hono/node-server (absent under `app.request()` in tests). */
export function nodeRequest(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/**
 * The address a request came from, for logs and per-client limits. X-Forwarded-For is believed
 * only when `trustProxy` (TRUST_PROXY: the daemon sits behind a proxy that sets it), and then
 * only its last entry: the one our proxy appended. Earlier entries are whatever the client sent.
 */
export function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const last = c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim();
    if (last && last.length <= ADDRESS_MAX_LENGTH) return last;
  }
  return nodeRequest(c)?.socket?.remoteAddress ?? UNKNOWN_ADDRESS;
}
