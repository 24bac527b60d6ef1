import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import type { Clock } from '../clock.js';
import { setStreamAuthCheck } from '../api/events-routes.js';
import type { AuthGuard } from '../http/auth-guard.js';
import { memoryRevocations, type RevocationStore } from './session-store.js';

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
 * rotating it ends every session. Logout revokes the id in `revocations` (the database in the
 * daemon, so a restart forgets no logout) until it would expire anyway.
 */
export function createSessionKeeper(adminToken: string, clock: Clock, options: { ttlMs?: number; revocations?: RevocationStore } = {}) {
  const ttlMs = options.ttlMs ?? SESSION_TTL_MS;
  const revocations = options.revocations ?? memoryRevocations();
  const key = createHmac('sha256', adminToken).update('enode-sync/ui-session/v1').digest();
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

  return {
    ttlMs,
    /** A fresh session value for the cookie. */
    issue(): string {
      const id = randomBytes(18).toString('base64url');
      const exp = String(Math.floor((clock.now().getTime() + ttlMs) / 1000));
      return `${id}.${exp}.${mac(`${id}.${exp}`)}`;
    },
    /** True for a value this keeper issued, not expired and not logged out. */
    async verify(value: string | undefined): Promise<boolean> {
      const s = parse(value);
      const nowMs = clock.now().getTime();
      // Only a genuine, live session costs a read of the revocations.
      return s !== undefined && s.expiresMs > nowMs && !(await revocations.isRevoked(s.id, nowMs));
    },
    /** Ends a session before its expiry (logout); resolves once the revocation is stored. */
    async revoke(value: string | undefined): Promise<void> {
      const s = parse(value);
      const nowMs = clock.now().getTime();
      if (s && s.expiresMs > nowMs) await revocations.revoke(s.id, s.expiresMs, nowMs);
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

/** The context key under which `identify` leaves the request's AuthOutcome. */
export const AUTH_OUTCOME = 'uiAuth';

/**
 * The `Bearer` credential of the request, if it presents one. Other schemes (e.g. the Basic
 * credentials a browser repeats behind a password-protected proxy) are not ours: they neither
 * authenticate nor count as a wrong token, and the session cookie decides.
 */
export function presentedBearer(c: Context): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
  return match ? (match[1] as string).trim() : undefined;
}

/**
 * Who is asking: a valid `Authorization: Bearer`, a wrong bearer, a valid session cookie, or nobody.
 * A bearer, right or wrong, decides alone: a cookie sent beside a wrong bearer does not rescue it.
 */
export async function authenticate(c: Context, sessions: SessionKeeper | undefined, adminToken: string | undefined): Promise<AuthOutcome> {
  if (!adminToken || !sessions) return 'none';
  const bearer = presentedBearer(c);
  if (bearer !== undefined) return secretMatches(bearer, adminToken) ? 'bearer' : 'bad-bearer';
  return (await sessions.verify(sessionCookie(c))) ? 'session' : 'none';
}

/** What the CSRF origin check accepts besides the request's own origin (README "Security"). */
export interface OriginPolicy {
  /** PUBLIC_URL: the origin browsers see behind a TLS-terminating proxy. */
  publicUrl: string | undefined;
  /** TRUST_PROXY: believe X-Forwarded-Proto / X-Forwarded-Host. */
  trustProxy: boolean;
}

const firstValue = (header: string | undefined) => header?.split(',')[0]?.trim() || undefined;

function originOf(url: string): string | undefined {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * The origins a same-site form post may carry: the request URL's own, PUBLIC_URL's, and with
 * TRUST_PROXY the one the proxy reports (X-Forwarded-Proto + X-Forwarded-Host or Host). Behind TLS
 * termination the request URL says http:// while the browser sends `Origin: https://…`; without
 * one of the latter two, such posts would be refused.
 */
export function allowedOrigins(c: Context, policy: OriginPolicy): string[] {
  const origins = new Set<string>([new URL(c.req.url).origin]);
  const publicOrigin = policy.publicUrl ? originOf(policy.publicUrl) : undefined;
  if (publicOrigin) origins.add(publicOrigin);
  if (policy.trustProxy) {
    const proto = firstValue(c.req.header('x-forwarded-proto'))?.toLowerCase();
    const host = firstValue(c.req.header('x-forwarded-host')) ?? new URL(c.req.url).host;
    const forwarded = (proto === 'https' || proto === 'http') && host && !/[\/\\@?#\s]/.test(host) ? originOf(`${proto}://${host}`) : undefined;
    if (forwarded) origins.add(forwarded);
  }
  return [...origins];
}

/**
 * The dashboard's CSRF check (hono's: Sec-Fetch-Site same-origin, or an allowed Origin) on every
 * unsafe form post, skipped only for a request a valid bearer authenticated: a cross-site form
 * cannot send one. A cookie session, or a cookie beside any other Authorization header, is checked.
 * Reads the outcome `identify` stored.
 */
export function dashboardCsrf(policy: OriginPolicy): MiddlewareHandler {
  const check = csrf({ origin: (origin, c) => allowedOrigins(c, policy).includes(origin) });
  return (c, next) => (authOutcome(c) === 'bearer' ? next() : check(c, next));
}

/** The outcome `identify` stored for this request ('none' before it ran). */
export function authOutcome(c: Context): AuthOutcome {
  return (c.get(AUTH_OUTCOME as never) as AuthOutcome | undefined) ?? 'none';
}

/**
 * Runs first on every dashboard request: works out who is asking once, and answers a wrong bearer
 * with `onBadBearer` at once (it is counted against the address by the guard; an address that has
 * used up its failures gets 429 before its bearer is compared).
 */
export function identify(
  sessions: SessionKeeper | undefined,
  adminToken: string | undefined,
  guard: AuthGuard,
  onBadBearer: (c: Context) => Response | Promise<Response>,
): MiddlewareHandler {
  return async (c, next) => {
    if (adminToken && presentedBearer(c) !== undefined) guard.assertAllowed(c, 'ui-bearer');
    const outcome = await authenticate(c, sessions, adminToken);
    c.set(AUTH_OUTCOME as never, outcome as never);
    // A live tail opened with the session ends when the session does (logout, expiry), not when the tab closes.
    if (outcome === 'session' && sessions) {
      const value = sessionCookie(c);
      setStreamAuthCheck(c, () => sessions.verify(value));
    }
    if (outcome === 'bad-bearer') {
      guard.recordFailure(c, 'ui-bearer');
      return onBadBearer(c);
    }
    await next();
    return undefined;
  };
}

/** Guards the dashboard pages: a session cookie or the API's bearer passes; anyone else is sent to the login form. */
export function requireUiAuth(): MiddlewareHandler {
  return async (c, next) => {
    const outcome = authOutcome(c);
    if (outcome !== 'session' && outcome !== 'bearer') {
      const url = new URL(c.req.url);
      const next = c.req.method === 'GET' ? `${url.pathname}${url.search}` : '/ui';
      return c.redirect(`/ui/login?next=${encodeURIComponent(next)}`, 303);
    }
    await next();
    return undefined;
  };
}
