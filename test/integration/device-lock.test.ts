import { describe, expect, it } from 'vitest';
import { createDeviceLock, DEVICE_LOCK_TTL_MS, DEVICE_LOCK_WAIT_MS } from '../../src/gateway/device-lock.js';
import { makeTestApp } from '../support/fixtures.js';

/** Two replicas' locks over one database's leases (the SQLite store's: the same statement as on Postgres). */
function twoReplicas() {
  const t = makeTestApp();
  const leases = t.deps.store.leases;
  const a = createDeviceLock({ clock: t.clock, fleet: { leases, holder: 'replica-a' } });
  const b = createDeviceLock({ clock: t.clock, fleet: { leases, holder: 'replica-b' } });
  return { t, leases, a, b };
}

describe('the gateway device lock across replicas', () => {
  it('never lets two replicas hold one device at once; the second runs once the first is done', async () => {
    const { a, b } = twoReplicas();
    const log: string[] = [];
    const held = (name: string) => async () => {
      log.push(`${name} in`);
      await new Promise((r) => setTimeout(r, 30));
      log.push(`${name} out`);
      return name;
    };

    const results = await Promise.all([a.run('dev-1', held('a')), b.run('dev-1', held('b'))]);

    expect(results.sort()).toEqual(['a', 'b']);
    expect(log[1]).toBe(`${log[0]!.split(' ')[0]} out`);
    expect(log[3]).toBe(`${log[2]!.split(' ')[0]} out`);
  });

  it('lets replicas work on different devices at the same time', async () => {
    const { a, b } = twoReplicas();
    let inside = 0;
    let most = 0;
    const work = async () => {
      most = Math.max(most, ++inside);
      await new Promise((r) => setTimeout(r, 30));
      inside--;
    };
    await Promise.all([a.run('dev-1', work), b.run('dev-2', work)]);
    expect(most).toBe(2);
  });

  it('frees the device when the command throws', async () => {
    const { a, b } = twoReplicas();
    await expect(a.run('dev-1', () => Promise.reject(new Error('Enode said no')))).rejects.toThrow('Enode said no');
    await expect(b.run('dev-1', async () => 'ran')).resolves.toBe('ran');
  });

  it('takes over the lease of a replica that died holding it once the lease lapses, and answers 503 after waiting meanwhile', async () => {
    const { t, leases } = twoReplicas();
    // A replica that died mid-command: its lease was never released.
    await leases.acquire({ name: 'gateway:dev-1', holder: 'dead-replica', ttlMs: DEVICE_LOCK_TTL_MS, nowMs: t.clock.now().getTime(), extend: false });
    let wallMs = 0;
    const waiting = createDeviceLock({
      clock: t.clock,
      fleet: { leases, holder: 'replica-b' },
      nowMs: () => wallMs,
      sleep: async (ms) => {
        wallMs += ms;
      },
    });
    await expect(waiting.run('dev-1', async () => 'ran')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(wallMs).toBeGreaterThanOrEqual(DEVICE_LOCK_WAIT_MS);

    t.clock.advance(DEVICE_LOCK_TTL_MS);
    await expect(waiting.run('dev-1', async () => 'ran')).resolves.toBe('ran');
  });
});
