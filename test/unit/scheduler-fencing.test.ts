/**
 * Fencing: a leased run whose lease is lost is told to stop (its signal), and its loop stops; an
 * unleased run is told to stop only by stop(). Leases here are scripted (refuse, another token,
 * a database that throws) and the lease's clock is a manual one, so each case is decided by the
 * script, not by timing; real time only paces the renewals (a 1 s job renews every 375 ms).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock, systemClock, type Clock } from '../../src/clock.js';
import { createDeviceLock, DEVICE_LOCK_RENEW_MS, DEVICE_LOCK_TTL_MS } from '../../src/gateway/device-lock.js';
import { startScheduler, type JobSpec, type Scheduler } from '../../src/jobs/scheduler.js';
import { retentionJob } from '../../src/retention/prune.js';
import { reconcileJob } from '../../src/reconcile/job.js';
import type { Store } from '../../src/store/port.js';
import { silentLogger } from '../../src/logger.js';
import { captureLogs } from '../support/logs.js';
import { scriptedLeases, type ScriptedLeases } from '../support/scripted-leases.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A job of `maxUnits` units of `unitMs` each, looking at its signal before each unit; only its first run counts. */
function unitsJob(o: { everySeconds: number; maxUnits: number; unitMs: number; leaseKey?: string }) {
  const seen = { runs: 0, units: 0, ended: false, aborted: false, token: undefined as number | null | undefined };
  const job: JobSpec = {
    name: 'units',
    everySeconds: o.everySeconds,
    runAtStart: true,
    ...(o.leaseKey ? { leaseKey: o.leaseKey } : {}),
    run: async (_now, ctx) => {
      if (++seen.runs > 1) return;
      seen.token = ctx.token;
      for (; seen.units < o.maxUnits && !ctx.signal.aborted; seen.units++) await sleep(o.unitMs);
      seen.aborted = ctx.signal.aborted;
      seen.ended = true;
    },
  };
  return { job, seen };
}

let running: Scheduler | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
  vi.useRealTimers();
});

function leasedRun(leases: ScriptedLeases, clock: Clock, o: { maxUnits: number; leaseKey?: string }) {
  const { lines, logger } = captureLogs('debug');
  const { job, seen } = unitsJob({ everySeconds: 1, unitMs: 25, ...o });
  running = startScheduler([job], clock, logger, { leases, holder: 'replica-a' });
  return { seen, lines };
}

const lostLines = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l['msg'] === 'job lost its lease: stopping this run, another replica may be running the job');
const errorLines = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l['level'] === 'error' || l['level'] === 'fatal');

describe('a leased run that loses its lease stops', () => {
  it('when a renewal is refused: the signal aborts, the loop stops early, one warning names the job and why', async () => {
    const leases = scriptedLeases();
    leases.renewals = 'refuse';
    const { seen, lines } = leasedRun(leases, new ManualClock(T0), { maxUnits: 80 });

    await expect.poll(() => seen.ended, { timeout: 2_000, interval: 20 }).toBe(true);

    expect(seen.aborted).toBe(true);
    expect(seen.units).toBeLessThan(40); // 80 units of 25 ms unless stopped; the first renewal comes at 375 ms
    expect(lostLines(lines)).toEqual([expect.objectContaining({ level: 'warn', job: 'units', why: expect.stringContaining('renewal refused') })]);
    expect(errorLines(lines)).toEqual([]);
  });

  it('when a renewal answers another token: someone held the lease in between', async () => {
    const leases = scriptedLeases();
    leases.renewals = 'new-token';
    const { seen, lines } = leasedRun(leases, new ManualClock(T0), { maxUnits: 80 });

    await expect.poll(() => seen.ended, { timeout: 2_000, interval: 20 }).toBe(true);

    expect(seen.token).toBe(1);
    expect(seen.units).toBeLessThan(40);
    expect(lostLines(lines)).toEqual([expect.objectContaining({ job: 'units', why: expect.stringContaining('token 1, now 101') })]);
    expect(errorLines(lines)).toEqual([]);
  });

  it('when renewals fail until the lease runs out (database away): not before, but once it has', async () => {
    const leases = scriptedLeases();
    leases.renewals = 'throw';
    const clock = new ManualClock(T0);
    const { seen, lines } = leasedRun(leases, clock, { maxUnits: 200 });

    // Renewals have failed twice, but the lease (750 ms by the lease's clock) has not run out.
    await expect.poll(() => leases.calls.filter((c) => c.extend).length, { timeout: 2_000, interval: 20 }).toBeGreaterThanOrEqual(2);
    expect(seen.ended).toBe(false);
    const unitsBefore = seen.units;

    clock.advance(750);
    await expect.poll(() => seen.ended, { timeout: 2_000, interval: 20 }).toBe(true);

    expect(seen.aborted).toBe(true);
    expect(seen.units).toBeGreaterThan(unitsBefore);
    expect(seen.units).toBeLessThan(100);
    expect(lostLines(lines)).toEqual([expect.objectContaining({ job: 'units', why: expect.stringContaining('without a successful renewal') })]);
    expect(lines.some((l) => l['msg'] === 'could not renew the job lease; trying again until it runs out')).toBe(true);
    expect(errorLines(lines)).toEqual([]);
  });

  it('keeps a run longer than its lease going while renewals succeed (real clock)', async () => {
    const leases = scriptedLeases();
    const { seen, lines } = leasedRun(leases, systemClock, { maxUnits: 50 });

    await expect.poll(() => seen.ended, { timeout: 3_000, interval: 20 }).toBe(true);

    expect(seen).toMatchObject({ units: 50, aborted: false, token: 1 });
    expect(leases.calls.filter((c) => c.extend).length).toBeGreaterThanOrEqual(2);
    expect(lostLines(lines)).toEqual([]);
  });

  it('takes the lease under the job name and its lease key', async () => {
    const leases = scriptedLeases();
    const { seen } = leasedRun(leases, new ManualClock(T0), { maxUnits: 1, leaseKey: 'sinks-abc' });
    await expect.poll(() => seen.ended).toBe(true);
    expect(leases.calls[0]).toMatchObject({ name: 'job:units:sinks-abc', holder: 'replica-a', extend: false });
  });
});

describe('an unleased run', () => {
  it('is told to stop by stop() only, which waits for it; ending by throwing the reason is not a failure', async () => {
    const { lines, logger } = captureLogs('debug');
    let units = 0;
    let signal: AbortSignal | undefined;
    const job: JobSpec = {
      name: 'each',
      everySeconds: 3_600,
      runAtStart: true,
      eachReplica: true,
      run: async (_now, ctx) => {
        signal = ctx.signal;
        expect(ctx.token).toBeNull();
        for (; units < 1_000; units++) {
          ctx.signal.throwIfAborted();
          await sleep(10);
        }
      },
    };
    const s = startScheduler([job], new ManualClock(T0), logger, { leases: scriptedLeases(), holder: 'replica-a' });
    await expect.poll(() => units).toBeGreaterThan(3);
    expect(signal?.aborted).toBe(false);

    await s.stop();

    expect(signal?.aborted).toBe(true);
    const stoppedAt = units;
    await sleep(50);
    expect(units).toBe(stoppedAt);
    expect(units).toBeLessThan(1_000);
    expect(errorLines(lines)).toEqual([]);
    expect(lines).toContainEqual(expect.objectContaining({ job: 'each', msg: 'job run ended early: it was told to stop', why: 'the scheduler is stopping' }));
  });
});

describe('jobs look at the signal between units of work', () => {
  const ctxFor = (controller: AbortController) => ({ signal: controller.signal, token: 7 });

  it('retention makes no further prune call once aborted', async () => {
    const controller = new AbortController();
    let calls = 0;
    const store: Pick<Store, 'prune'> = {
      prune: async () => {
        if (++calls === 2) controller.abort();
        return { deleted: { observations: 10 }, more: true };
      },
    };
    const total = await retentionJob(store, 30, 60, silentLogger()).run(new Date(T0), ctxFor(controller));
    expect(calls).toBe(2);
    expect(total).toEqual({ observations: 20 });
  });

  it('reconcile makes no further call once aborted (the daemon stopping)', async () => {
    const controller = new AbortController();
    let calls = 0;
    const store = {
      reconcile: async () => {
        if (++calls === 3) controller.abort();
        return { devices: 1, findings: [], errors: 0, deferred: false, more: true };
      },
    } as unknown as Store;
    await reconcileJob(store, 5, silentLogger()).run(new Date(T0), ctxFor(controller));
    expect(calls).toBe(3);
  });
});

describe('the gateway device lock under a slow command', () => {
  it('renews the device lease while the command runs, so another replica cannot take it after the TTL', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const leases = scriptedLeases();
    const clock: Clock = { now: () => new Date(Date.now()) };
    const lock = createDeviceLock({ clock, fleet: { leases, holder: 'replica-a' } });
    let finish!: () => void;
    const command = lock.run('dev-1', () => new Promise<void>((r) => (finish = r)));
    await vi.advanceTimersByTimeAsync(0);

    // An Enode call with retries and a Retry-After can take well over the TTL.
    await vi.advanceTimersByTimeAsync(DEVICE_LOCK_TTL_MS + 2 * DEVICE_LOCK_RENEW_MS);

    expect(leases.calls.filter((c) => c.extend && c.holder === 'replica-a').length).toBeGreaterThanOrEqual(5);
    expect(await leases.acquire({ name: 'gateway:dev-1', holder: 'replica-b', ttlMs: DEVICE_LOCK_TTL_MS, nowMs: Date.now(), extend: true })).toBeNull();
    finish();
    await command;
    // Released at the end: the other replica gets it at once.
    expect(await leases.acquire({ name: 'gateway:dev-1', holder: 'replica-b', ttlMs: DEVICE_LOCK_TTL_MS, nowMs: Date.now(), extend: true })).not.toBeNull();
  });
});
