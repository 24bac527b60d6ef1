import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { startScheduler, type JobSpec } from '../../src/jobs/scheduler.js';
import type { Leases } from '../../src/store/leases.js';
import { leasesPostgres } from '../../src/store/postgres/leases.js';
import { describeIfPostgres, freshPostgresSchema, type FreshSchema } from '../support/postgres.js';
import { makeTestApp, NOW } from '../support/fixtures.js';

const T0 = NOW.getTime();
const lease = (holder: string, nowMs: number, extend = false) => ({ name: 'job:x', holder, ttlMs: 10_000, nowMs, extend });

/** The lease rules, the same on every engine. */
function leaseRules(leases: () => Leases) {
  it('grants a free lease, refuses it to anyone while it runs, and to a new holder once it lapses with a higher token', async () => {
    const first = await leases().acquire(lease('a', T0));
    expect(first).not.toBeNull();
    expect(await leases().acquire(lease('b', T0 + 1_000))).toBeNull();
    // The holder itself starts no second run while its lease runs (a job's next run waits for it).
    expect(await leases().acquire(lease('a', T0 + 1_000))).toBeNull();
    const next = await leases().acquire(lease('b', T0 + 10_000));
    expect(next?.token).toBeGreaterThan(first!.token);
    expect(await leases().acquire(lease('a', T0 + 10_001))).toBeNull();
  });

  it('lets the holder extend its lease with the same token, and nobody else', async () => {
    const first = await leases().acquire(lease('a', T0));
    const extended = await leases().acquire(lease('a', T0 + 9_000, true));
    expect(extended).toEqual(first);
    // Extended to T0 + 19 s: still held at T0 + 15 s.
    expect(await leases().acquire(lease('b', T0 + 15_000))).toBeNull();
    expect(await leases().acquire(lease('b', T0 + 15_000, true))).toBeNull();
  });

  it('is free at once after its holder releases it; a release by another holder changes nothing', async () => {
    await leases().acquire(lease('a', T0));
    await leases().release({ name: 'job:x', holder: 'b', nowMs: T0 + 1 });
    expect(await leases().acquire(lease('b', T0 + 2))).toBeNull();
    await leases().release({ name: 'job:x', holder: 'a', nowMs: T0 + 3 });
    expect(await leases().acquire(lease('b', T0 + 4))).not.toBeNull();
  });

  it('keeps leases of different names apart', async () => {
    await leases().acquire(lease('a', T0));
    expect(await leases().acquire({ ...lease('b', T0), name: 'job:y' })).not.toBeNull();
  });
}

describe('leases on SQLite', () => {
  let t: ReturnType<typeof makeTestApp>;
  beforeEach(() => {
    t = makeTestApp();
  });
  leaseRules(() => t.deps.store.leases);
});

describeIfPostgres('leases on Postgres', () => {
  let s: FreshSchema;
  beforeEach(async () => {
    s = await freshPostgresSchema();
  });
  afterEach(() => s.drop());
  leaseRules(() => leasesPostgres(s));

  it('grants a contested lapsed lease to exactly one of many replicas asking at once', async () => {
    const leases = leasesPostgres(s);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => leases.acquire(lease(`r${i}`, T0))));
    expect(answers.filter((a) => a !== null)).toHaveLength(1);
  });
});

describe('scheduler with leases', () => {
  it('runs a leased job on one of two replicas, and a job marked eachReplica on both', async () => {
    const t = makeTestApp();
    const runs: string[] = [];
    const jobs = (replica: string): JobSpec[] => [
      { name: 'resync', everySeconds: 3_600, runAtStart: true, run: async () => void runs.push(`resync@${replica}`) },
      { name: 'reconcile', everySeconds: 3_600, runAtStart: true, eachReplica: true, run: async () => void runs.push(`reconcile@${replica}`) },
    ];
    const a = startScheduler(jobs('a'), t.clock, silentLogger(), { leases: t.deps.store.leases, holder: 'a' });
    const b = startScheduler(jobs('b'), t.clock, silentLogger(), { leases: t.deps.store.leases, holder: 'b' });
    await expect.poll(() => runs.length).toBe(3);
    await Promise.all([a.stop(), b.stop()]);

    expect(runs.filter((r) => r.startsWith('resync'))).toHaveLength(1);
    expect(runs.filter((r) => r.startsWith('reconcile')).sort()).toEqual(['reconcile@a', 'reconcile@b']);
  });

  it('runs every job on the one replica when there is no fleet', async () => {
    const t = makeTestApp();
    const runs: string[] = [];
    const s = startScheduler([{ name: 'resync', everySeconds: 3_600, runAtStart: true, run: async () => void runs.push('resync') }], t.clock, silentLogger());
    await expect.poll(() => runs.length).toBe(1);
    await s.stop();
  });
});
