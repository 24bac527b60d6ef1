/**
 * Keeps a job's lease while its run lasts, and says when it is lost. Fencing rests on this: a run
 * whose lease another replica may now hold is told to stop (its AbortSignal), so two replicas do
 * not do the same job's work at once for longer than the unit of work each had in flight.
 */
import type { Clock } from '../clock.js';
import type { Leases } from '../store/leases.js';

/** A run stops this long before its lease would lapse unrenewed, so clocks a little apart do not overlap it with the next holder. */
const EXPIRY_MARGIN_MS = 1_000;

export interface LeaseKeeperOptions {
  leases: Leases;
  holder: string;
  name: string;
  ttlMs: number;
  /** The token the run was granted; a renewal that answers another one means someone held it in between. */
  token: number;
  /** The wall-clock ms the lease was granted at (its expiry is this plus `ttlMs`). */
  grantedAtMs: number;
  clock: Clock;
  /** How often it is renewed (well under `ttlMs`). */
  renewMs: number;
  /** Called once, when the lease is lost, with why. */
  onLost(why: string): void;
  /** A renewal that failed (the database did not answer); the lease may still be renewed before it lapses. */
  onRenewFailed(err: unknown): void;
}

export interface LeaseKeeper {
  /** Stops renewing (the run is over); onLost is not called afterwards. */
  stop(): void;
}

/**
 * Renews the lease every `renewMs`, one renewal at a time. The lease is lost when a renewal is
 * refused (another replica took it after it lapsed), when it answers another token (it lapsed and
 * was taken anew, maybe by another replica, in between), or when its expiry comes without a
 * successful renewal (the database is away: another replica that can reach it may take it).
 */
export function keepLease(o: LeaseKeeperOptions): LeaseKeeper {
  const marginMs = Math.min(EXPIRY_MARGIN_MS, o.ttlMs / 4);
  let expiresAtMs = o.grantedAtMs + o.ttlMs;
  let renewing = false;
  let done = false;
  let expiryTimer: NodeJS.Timeout | undefined;

  const finish = () => {
    done = true;
    clearInterval(renewTimer);
    clearTimeout(expiryTimer);
  };
  const lose = (why: string) => {
    if (done) return;
    finish();
    o.onLost(why);
  };
  const checkExpiry = () => {
    if (o.clock.now().getTime() >= expiresAtMs - marginMs) {
      lose(`its lease ran out at ${new Date(expiresAtMs).toISOString()} without a successful renewal (database unreachable?)`);
    }
  };
  // Checked by its own timer too: a renewal that hangs must not keep the run going past the expiry.
  const armExpiry = () => {
    clearTimeout(expiryTimer);
    expiryTimer = setTimeout(checkExpiry, Math.max(0, expiresAtMs - marginMs - o.clock.now().getTime()));
  };
  const renew = async () => {
    renewing = true;
    const askedAtMs = o.clock.now().getTime();
    try {
      const granted = await o.leases.acquire({ name: o.name, holder: o.holder, ttlMs: o.ttlMs, nowMs: askedAtMs, extend: true });
      if (done) return;
      if (granted === null) return lose('another replica holds its lease now (renewal refused)');
      if (granted.token !== o.token) return lose(`its lease lapsed and was taken anew in between (token ${o.token}, now ${granted.token})`);
      expiresAtMs = askedAtMs + o.ttlMs;
      armExpiry();
    } catch (err) {
      if (!done) o.onRenewFailed(err);
    } finally {
      renewing = false;
    }
  };
  const renewTimer = setInterval(() => {
    checkExpiry();
    if (!done && !renewing) void renew();
  }, o.renewMs);
  armExpiry();
  return { stop: finish };
}
