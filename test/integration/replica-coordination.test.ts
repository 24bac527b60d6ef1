/**
 * What replicas sharing a database agree on beyond the leases' own rules: a job's holder runs it
 * at every interval (its lease lapses just before), a resync for lost events happens on one
 * replica, and a heartbeat's count is read the same way on every engine.
 */
import { describe, expect, it } from 'vitest';
import { createDeviceLock } from '../../src/gateway/device-lock.js';
import { startScheduler } from '../../src/jobs/scheduler.js';
import { silentLogger } from '../../src/logger.js';
import { systemClock } from '../../src/clock.js';
import { HEARTBEAT_SILENCE_MS } from '../../src/domain/polling.js';
import { runHeartbeatWatch } from '../../src/sync/webhook-health.js';
import type { SyncDeps } from '../../src/sync/types.js';
import { makeTestApp, postWebhook } from '../support/fixtures.js';

describe('replica coordination', () => {
  it('runs a leased job at every interval on the replica holding it, not every other one', async () => {
    const t = makeTestApp();
    const runs: number[] = [];
    // Real time: the lease is stamped a few ms after each tick, as in production.
    const s = startScheduler(
      [{ name: 'often', everySeconds: 1, runAtStart: true, run: async () => void runs.push(Date.now()) }],
      systemClock,
      silentLogger(),
      { leases: t.deps.store.leases, holder: 'only-replica' },
    );
    try {
      // Runs at start, then at each tick a second apart: the third by about 2 s. Every other tick
      // (a lease of exactly one interval) would run the third only at 4 s.
      await expect.poll(() => runs.length, { timeout: 3_500, interval: 50 }).toBeGreaterThanOrEqual(3);
    } finally {
      await s.stop();
    }
  });

  it('resyncs for lost events on one replica only, however many see the silent heartbeats', async () => {
    const t = makeTestApp();
    let listings = 0;
    const enode = {
      listDevices: async function* () {
        listings++;
      },
    } as unknown as SyncDeps['enode'];
    const replica = (holder: string): SyncDeps => ({
      config: t.config,
      logger: silentLogger(),
      clock: t.clock,
      enode,
      store: t.deps.store,
      read: t.deps.read,
      state: { startedAt: t.clock.now().getTime() - 2 * HEARTBEAT_SILENCE_MS, lastFullResyncAt: null },
      fleet: { leases: t.deps.store.leases, holder },
    });

    const reasons = await Promise.all(['a', 'b', 'c'].map((h) => runHeartbeatWatch(replica(h), t.clock.now())));

    expect(reasons.filter((r) => r !== null)).toHaveLength(1);
    expect(listings).toBeGreaterThan(0);
    const perType = listings;
    expect(await runHeartbeatWatch(replica('d'), t.clock.now())).toBeNull();
    expect(listings).toBe(perType);
  });

  it('takes back at once a device lease its own process still holds (a release that failed)', async () => {
    const t = makeTestApp();
    const leases = t.deps.store.leases;
    await leases.acquire({ name: 'gateway:dev-1', holder: 'me', ttlMs: 60_000, nowMs: t.clock.now().getTime(), extend: false });
    const lock = createDeviceLock({ clock: t.clock, fleet: { leases, holder: 'me' }, sleep: () => Promise.reject(new Error('should not wait')) });
    await expect(lock.run('dev-1', async () => 'ran')).resolves.toBe('ran');
  });

  it('fails a heartbeat whose pending count is not a whole int32, as Postgres would, and keeps no heartbeat from it', async () => {
    const t = makeTestApp();
    for (const pendingEvents of [1.5, 3e9]) {
      const res = await postWebhook(t, [{ event: 'system:heartbeat', createdAt: t.clock.now().toISOString(), version: '2024-10-01', pendingEvents }]);
      expect(res.status).toBe(200);
      const { deliveryId } = (await res.json()) as { deliveryId: string };
      expect((await t.deps.read.getDelivery(deliveryId))?.status).toBe('failed');
    }
    expect(await t.deps.read.lastHeartbeat()).toBeUndefined();
  });
});
