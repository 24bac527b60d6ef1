/**
 * The gateway's per-device lock: from reading the guards' inputs (pending actions, budget) until
 * Enode's answer and the command log are stored, one command per device at a time — so the same
 * command sent twice at once reaches Enode once (the second sees the first's PENDING action and
 * collapses), and the daily budget is never overspent by commands racing each other.
 *
 * In one process a KeyedMutex orders the callers. Replicas sharing a database also take the
 * lease `gateway:<deviceId>` (store/leases.ts) for the same span: no database transaction is held
 * open across the call to Enode, and a replica that dies holding it frees it when the lease lapses.
 */
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { Leases } from '../store/leases.js';
import { KeyedMutex } from './mutex.js';

/**
 * How long a device's lease lasts without renewal: the time another replica waits for a replica
 * that died holding it. It does not bound a command: one Enode call may take longer (each
 * attempt times out after 10 s, but the transport retries up to 5 attempts with backoff of up to
 * 20 s, or a 429's Retry-After of up to 60 s, and waits for the request budget), so the lease is
 * renewed while the command runs.
 */
export const DEVICE_LOCK_TTL_MS = 60_000;
/**
 * Renewed this often while held: four chances before it lapses, so a database that does not
 * answer for a few seconds does not free the device under a slow command. Only a database away
 * for the whole TTL lets the lease lapse mid-command; a command in flight is not stopped then (an
 * Enode call cannot be taken back), and another replica may start one for the same device.
 */
export const DEVICE_LOCK_RENEW_MS = 15_000;
/** How long a command waits for another replica's command on the same device before answering 503. */
export const DEVICE_LOCK_WAIT_MS = 30_000;
const RETRY_MIN_MS = 20;
const RETRY_MAX_MS = 250;

export interface DeviceLock {
  run<T>(deviceId: string, fn: () => Promise<T>): Promise<T>;
}

export interface DeviceLockOptions {
  clock: Clock;
  /** Set when other replicas share the database. */
  fleet?: { leases: Leases; holder: string } | undefined;
  /** Wall time for the wait (tests pass a fake); default real time. */
  sleep?: (ms: number) => Promise<void>;
  nowMs?: () => number;
  random?: () => number;
}

export function createDeviceLock(o: DeviceLockOptions): DeviceLock {
  const mutex = new KeyedMutex();
  const fleet = o.fleet;
  if (!fleet) return { run: (deviceId, fn) => mutex.run(deviceId, fn) };
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const wallMs = o.nowMs ?? (() => performance.now());
  const random = o.random ?? Math.random;

  const take = async (name: string): Promise<void> => {
    const deadline = wallMs() + DEVICE_LOCK_WAIT_MS;
    for (let pauseMs = RETRY_MIN_MS; ; pauseMs = Math.min(RETRY_MAX_MS, pauseMs * 2)) {
      // `extend`: a lease this process still holds (a release that failed, an answer lost after
      // its commit) is taken back at once; the mutex already serialises this process's callers.
      const granted = await fleet.leases.acquire({ name, holder: fleet.holder, ttlMs: DEVICE_LOCK_TTL_MS, nowMs: o.clock.now().getTime(), extend: true });
      if (granted) return;
      if (wallMs() >= deadline) {
        throw new AppError('SERVICE_UNAVAILABLE', `Another replica has been sending a command to this device for over ${DEVICE_LOCK_WAIT_MS / 1000} s; retry shortly`);
      }
      // Jittered: replicas waiting for one device do not retry in step.
      await sleep(pauseMs * (0.5 + random()));
    }
  };

  return {
    run: (deviceId, fn) =>
      mutex.run(deviceId, async () => {
        const name = `gateway:${deviceId}`;
        await take(name);
        const renewal = keepRenewing(fleet, name, o.clock);
        try {
          return await fn();
        } finally {
          renewal.stop();
          // Tried twice; a release that still fails leaves the lease to lapse (DEVICE_LOCK_TTL_MS) for
          // other replicas: slower, never wrong (this process takes it back at once).
          const release = () => fleet.leases.release({ name, holder: fleet.holder, nowMs: o.clock.now().getTime() });
          await release().catch(() => release().catch(() => {}));
        }
      }),
  };
}

/**
 * Extends the device's lease every DEVICE_LOCK_RENEW_MS while a command holds it, one renewal at
 * a time (a renewal that hangs on a slow database is not stacked with more). A failed renewal is
 * retried at the next tick; the command goes on either way (see DEVICE_LOCK_RENEW_MS).
 */
function keepRenewing(fleet: { leases: Leases; holder: string }, name: string, clock: Clock): { stop(): void } {
  let renewing = false;
  const timer = setInterval(() => {
    if (renewing) return;
    renewing = true;
    fleet.leases
      .acquire({ name, holder: fleet.holder, ttlMs: DEVICE_LOCK_TTL_MS, nowMs: clock.now().getTime(), extend: true })
      .catch(() => null)
      .finally(() => (renewing = false));
  }, DEVICE_LOCK_RENEW_MS);
  return { stop: () => clearInterval(timer) };
}
