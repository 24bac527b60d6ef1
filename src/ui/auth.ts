import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Clock } from '../clock.js';

/** The dashboard's session cookie: scoped to /ui, never sent to the API or the webhook route. */
export const SESSION_COOKIE = 'enode_sync_session';
export const SESSION_PATH = '/ui';
/** How long a login lasts. */
export const SESSION_TTL_MS = 12 * 3_600_000;

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/** Compares a presented secret with the expected one in constant time (digests make the lengths equal). */
export function secretMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}

/**
 * Stateless sessions: the cookie holds `<random id>.<expiry s>.<mac>`, where the MAC is an
 * HMAC-SHA256 under a key derived from ADMIN_TOKEN. The token itself never leaves the login form;
 * rotating it ends every session. Logout revokes the id in memory until it would expire anyway.
 */
export function createSessionKeeper(adminToken: string, clock: Clock, ttlMs = SESSION_TTL_MS) {
  const key = createHmac('sha256', adminToken).update('enode-sync/ui-session/v1').digest();
  const revoked = new Map<string, number>();
  const mac = (payload: string) => createHmac('sha256', key).update(payload).digest('base64url');

  const parse = (value: string | undefined): { id: string; expiresMs: number } | undefined => {
    if (!value || value.length > 200) return undefined;
    const [id, exp, given] = value.split('.');
    if (!id || !exp || !given || !/^\d{1,12}$/.test(exp)) return undefined;
    const expected = Buffer.from(mac(`${id}.${exp}`));
    const presented = Buffer.from(given);
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return undefined;
    return { id, expiresMs: Number(exp) * 1000 };
  };

  const prune = (nowMs: number) => {
    for (const [id, expiresMs] of revoked) if (expiresMs <= nowMs) revoked.delete(id);
  };

  return {
    ttlMs,
    /** A fresh session value for the cookie. */
    issue(): string {
      const id = randomBytes(18).toString('base64url');
      const exp = String(Math.floor((clock.now().getTime() + ttlMs) / 1000));
      return `${id}.${exp}.${mac(`${id}.${exp}`)}`;
    },
    /** True for a value this keeper issued, not expired and not logged out. */
    verify(value: string | undefined): boolean {
      const s = parse(value);
      const nowMs = clock.now().getTime();
      return s !== undefined && s.expiresMs > nowMs && !revoked.has(s.id);
    },
    /** Ends a session before its expiry (logout). */
    revoke(value: string | undefined): void {
      const s = parse(value);
      const nowMs = clock.now().getTime();
      prune(nowMs);
      if (s && s.expiresMs > nowMs) revoked.set(s.id, s.expiresMs);
    },
  };
}

export type SessionKeeper = ReturnType<typeof createSessionKeeper>;

/** True when the browser reached us over https (directly, or through a proxy that says so). */
export function isHttps(c: Context): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  return c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() === 'https';
}

/** Sets the session cookie: http-only, SameSite=Strict, path /ui, Secure over https. */
export function setSessionCookie(c: Context, value: string, ttlMs: number): void {
  setCookie(c, SESSION_COOKIE, value, {
    path: SESSION_PATH,
    httpOnly: true,
    sameSite: 'Strict',
    secure: isHttps(c),
    maxAge: Math.floor(ttlMs / 1000),
  });
}

/** Expires the session cookie in the browser (logout). */
export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: SESSION_PATH, httpOnly: true, sameSite: 'Strict', secure: isHttps(c) });
}

/** The session cookie's value as sent, if any. */
export function sessionCookie(c: Context): string | undefined {
  return getCookie(c, SESSION_COOKIE);
}

/** A path inside the dashboard that is safe to redirect to after login (no open redirect). */
export function safeNext(next: string | undefined): string {
  // Starting with "/ui/" or "/ui?" keeps it on this origin; no backslashes or whitespace tricks.
  if (!next || next.length > 500 || /[\\\s]/.test(next)) return '/ui';
  return /^\/ui(?:[/?]|$)/.test(next) ? next : '/ui';
}

export type AuthOutcome = 'session' | 'bearer' | 'bad-bearer' | 'none';

/** Who is asking: a valid session cookie, a valid `Authorization: Bearer`, a wrong bearer, or nobody. */
export function authenticate(c: Context, sessions: SessionKeeper | undefined, adminToken: string | undefined): AuthOutcome {
  if (!adminToken || !sessions) return 'none';
  const header = c.req.header('authorization');
  if (header !== undefined) {
    const match = /^Bearer\s+(.+)$/i.exec(header);
    return match && secretMatches((match[1] as string).trim(), adminToken) ? 'bearer' : 'bad-bearer';
  }
  return sessions.verify(sessionCookie(c)) ? 'session' : 'none';
}

/**
 * Guards the dashboard pages: a session cookie or the API's bearer header passes; a wrong bearer
 * gets 401 (scripts want the status); anyone else is sent to the login form.
 */
export function requireUiAuth(sessions: SessionKeeper | undefined, adminToken: string | undefined, onBadBearer: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  return async (c, next) => {
    const outcome = authenticate(c, sessions, adminToken);
    if (outcome === 'bad-bearer') return onBadBearer(c);
    if (outcome === 'none') {
      const url = new URL(c.req.url);
      const next = c.req.method === 'GET' ? `${url.pathname}${url.search}` : '/ui';
      return c.redirect(`/ui/login?next=${encodeURIComponent(next)}`, 303);
    }
    await next();
    return undefined;
  };
}
