/**
 * The one place that counts failed credentials (admin API bearer, dashboard bearer, login form):
 * per client address, throttled to AUTH_FAILURES_PER_MINUTE with 429 + Retry-After, and logged in
 * aggregate with the address so a guessing run is visible without flooding the log.
 */
import { isIPv6 } from 'node:net';
import type { Context } from 'hono';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createAggregateLog } from './aggregate-log.js';
import { clientAddress } from './client-address.js';
import { createFailureThrottle, type FailureThrottle } from './throttle.js';

/** Which door the credential was tried at (logged with the first failure of an address). */
export type AuthDoor = 'api-bearer' | 'ui-bearer' | 'ui-login' | 'metrics-bearer';

export interface AuthGuard {
  /** Throws RATE_LIMITED (429, Retry-After) while the client's address has used up its failures. */
  assertAllowed(c: Context, door: AuthDoor): void;
  /** Counts one wrong credential of the client's address and logs it in aggregate. */
  recordFailure(c: Context, door: AuthDoor): void;
  /** The underlying throttle (tests look at its size). */
  readonly throttle: FailureThrottle;
}

const WINDOW_MS = 60_000;

/**
 * The key the throttle counts under: the client's address (src/http/client-address.ts: the socket,
 * or with TRUST_PROXY the hop our proxy appended to X-Forwarded-For), with IPv6 addresses keyed by
 * their /64, which one host usually holds whole (else a guesser gets a fresh budget per address).
 */
export function throttleKey(c: Context, trustProxy: boolean): string {
  return addressKey(clientAddress(c, trustProxy));
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; a full IPv6 address → its /64 prefix (`2001:db8:0:1::/64`). */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1] as string;
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!isIPv6(bare)) return address;
  const [head = '', tail] = bare.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** Builds the guard from AUTH_FAILURES_PER_MINUTE and TRUST_PROXY. */
export function createAuthGuard(deps: { config: Pick<Config, 'http'>; clock: Clock; logger: Logger }): AuthGuard {
  const { trustProxy, authFailuresPerMinute } = deps.config.http;
  const throttle = createFailureThrottle({ clock: deps.clock, limit: authFailuresPerMinute, windowMs: WINDOW_MS });
  const failures = createAggregateLog({ logger: deps.logger, clock: deps.clock, message: 'authentication failed', windowMs: WINDOW_MS });
  const refusals = createAggregateLog({ logger: deps.logger, clock: deps.clock, message: 'authentication throttled: too many failures from this address', windowMs: WINDOW_MS });

  return {
    throttle,
    assertAllowed(c, door) {
      const address = throttleKey(c, trustProxy);
      const seconds = throttle.blockedForSeconds(address);
      if (seconds === 0) return;
      refusals.record(address, { address, door, retryAfterSeconds: seconds });
      throw new AppError('RATE_LIMITED', `Too many failed authentication attempts from this address; try again in ${seconds} s`, { retryAfterSeconds: seconds });
    },
    recordFailure(c, door) {
      const address = throttleKey(c, trustProxy);
      throttle.recordFailure(address);
      failures.record(address, { address, door, path: c.req.path });
    },
  };
}
