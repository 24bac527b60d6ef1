import { Hono, type Context } from 'hono';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { addressKey, throttleKey } from '../../src/http/auth-guard.js';
import { createFailureThrottle, OVERFLOW_KEY } from '../../src/http/throttle.js';

const START = '2026-12-01T00:00:00Z';

describe('failure throttle', () => {
  it('allows `limit` failures in a window, then refuses until the window ends, counting down Retry-After', () => {
    const clock = new ManualClock(START);
    const throttle = createFailureThrottle({ clock, limit: 3, windowMs: 60_000 });
    for (let i = 0; i < 3; i++) {
      expect(throttle.blockedForSeconds('10.0.0.1')).toBe(0);
      throttle.recordFailure('10.0.0.1');
      clock.advance(1_000);
    }
    // The window began at the first failure, 3 s ago: 57 s remain.
    expect(throttle.blockedForSeconds('10.0.0.1')).toBe(57);
    clock.advance(56_500);
    expect(throttle.blockedForSeconds('10.0.0.1')).toBe(1);
    clock.advance(500);
    expect(throttle.blockedForSeconds('10.0.0.1')).toBe(0);
    // A fresh window: three more tries.
    throttle.recordFailure('10.0.0.1');
    expect(throttle.blockedForSeconds('10.0.0.1')).toBe(0);
  });

  it('counts only failures: asking whether a key may try costs nothing', () => {
    const throttle = createFailureThrottle({ clock: new ManualClock(START), limit: 2 });
    for (let i = 0; i < 1_000; i++) expect(throttle.blockedForSeconds('10.0.0.1')).toBe(0);
    expect(throttle.size()).toBe(0);
  });

  it('keeps each address to its own budget', () => {
    const throttle = createFailureThrottle({ clock: new ManualClock(START), limit: 2 });
    throttle.recordFailure('10.0.0.1');
    throttle.recordFailure('10.0.0.1');
    expect(throttle.blockedForSeconds('10.0.0.1')).toBeGreaterThan(0);
    expect(throttle.blockedForSeconds('10.0.0.2')).toBe(0);
  });

  it('tracks at most maxKeys addresses; the rest share one budget, and ended windows are dropped', () => {
    const clock = new ManualClock(START);
    const throttle = createFailureThrottle({ clock, limit: 5, windowMs: 60_000, maxKeys: 100 });
    for (let i = 0; i < 10_000; i++) throttle.recordFailure(`10.1.${i >> 8}.${i & 255}`);
    expect(throttle.size()).toBe(101);
    // 9,900 failures from untracked addresses used up the shared budget: a new address is refused too.
    expect(throttle.blockedForSeconds('192.0.2.77')).toBe(60);
    expect(throttle.blockedForSeconds(OVERFLOW_KEY)).toBe(60);
    clock.advance(60_000);
    expect(throttle.blockedForSeconds('192.0.2.77')).toBe(0);
    expect(throttle.size()).toBe(0);
  });
});

/** A context as @hono/node-server builds it: the socket under env.incoming. */
async function addressOf(headers: Record<string, string>, remoteAddress: string | undefined, trustProxy: boolean): Promise<string> {
  const app = new Hono();
  let seen = '';
  app.get('/', (c: Context) => {
    seen = throttleKey(c, trustProxy);
    return c.text('ok');
  });
  await app.request('/', { headers }, remoteAddress === undefined ? undefined : { incoming: { socket: { remoteAddress } } });
  return seen;
}

describe('throttle key (client address)', () => {
  it('is the socket address, and X-Forwarded-For is ignored unless TRUST_PROXY', async () => {
    expect(await addressOf({ 'x-forwarded-for': '198.51.100.9' }, '203.0.113.5', false)).toBe('203.0.113.5');
    expect(await addressOf({}, undefined, false)).toBe('unknown');
  });

  it('behind a trusted proxy, is the last X-Forwarded-For hop (the one the proxy appended, not what the client claimed)', async () => {
    expect(await addressOf({ 'x-forwarded-for': '1.1.1.1, 198.51.100.9' }, '10.0.0.2', true)).toBe('198.51.100.9');
    expect(await addressOf({ 'x-forwarded-for': '198.51.100.9' }, '10.0.0.2', true)).toBe('198.51.100.9');
    expect(await addressOf({}, '10.0.0.2', true)).toBe('10.0.0.2');
    expect(await addressOf({ 'x-forwarded-for': '2001:db8:0:7::1, 2001:db8:0:7::2' }, '10.0.0.2', true)).toBe('2001:db8:0:7::/64');
    expect(await addressOf({}, '::ffff:203.0.113.5', false)).toBe('203.0.113.5');
  });

  it('unwraps IPv4-mapped addresses and keys IPv6 by its /64', () => {
    expect(addressKey('::ffff:203.0.113.5')).toBe('203.0.113.5');
    expect(addressKey('203.0.113.5')).toBe('203.0.113.5');
    expect(addressKey('2001:db8:0:1:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8:0:1::42')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('[2001:0db8:0000:0001::1]')).toBe('2001:db8:0:1::/64');
    expect(addressKey('not an address')).toBe('not an address');
  });
});
