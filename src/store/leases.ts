/**
 * Leases: a named right held by one process (a replica) until it expires, with a fencing token
 * that grows with every new holder. Periodic jobs run only on the replica that holds their lease
 * (jobs/scheduler.ts); the gateway's per-device lock is one too. Times are the caller's wall clock
 * (epoch ms): replicas' clocks must agree to well under a lease's length (NTP does).
 */

export interface LeaseArgs {
  name: string;
  /** Who asks: one id per process (`leaseHolderId()`). */
  holder: string;
  /** How long the lease lasts from `nowMs` if granted. */
  ttlMs: number;
  nowMs: number;
  /**
   * True: extend it when `holder` holds it already (a long run keeping its lease). False: only a
   * lapsed (or never taken) lease is granted, whoever asks — a job's next run waits for it.
   */
  extend: boolean;
}

export interface Leases {
  /**
   * Takes the lease when it has lapsed, or extends it (`extend`) when `holder` holds it; null
   * otherwise. The token stays the same while one holder keeps extending it, and grows when the
   * lease is taken anew.
   */
  acquire(args: LeaseArgs): Promise<{ token: number } | null>;
  /** Gives the lease up now (only when `holder` holds it), so another may take it at once. */
  release(args: { name: string; holder: string; nowMs: number }): Promise<void>;
}

/**
 * The one statement both engines run to take or extend a lease (portable: SQLite ≥ 3.35 and
 * Postgres both have `ON CONFLICT … DO UPDATE … WHERE` and `RETURNING`). Parameters by name:
 * name, holder, expiresAtMs, nowMs, extend (1 or 0). No row back: the lease is not granted.
 */
export const ACQUIRE_LEASE_SQL = `INSERT INTO leases (name, holder, token, expires_at_ms) VALUES (@name, @holder, 1, @expiresAtMs)
  ON CONFLICT (name) DO UPDATE SET
    token = CASE WHEN leases.holder = excluded.holder AND leases.expires_at_ms > @nowMs THEN leases.token ELSE leases.token + 1 END,
    holder = excluded.holder,
    expires_at_ms = excluded.expires_at_ms
  WHERE leases.expires_at_ms <= @nowMs OR (leases.holder = excluded.holder AND @extend = 1)
  RETURNING token`;

/** Releases by expiring the lease now; the row (and its token) stays, so the next holder's token is higher. */
export const RELEASE_LEASE_SQL = `UPDATE leases SET expires_at_ms = @nowMs WHERE name = @name AND holder = @holder AND expires_at_ms > @nowMs`;

/** Named parameters (`@name`) as positional `$n` for Postgres, in order of first use. */
export function positional(sql: string): { text: string; names: string[] } {
  const names: string[] = [];
  const text = sql.replace(/@(\w+)/g, (_, name: string) => {
    let i = names.indexOf(name);
    if (i < 0) i = names.push(name) - 1;
    return `$${i + 1}`;
  });
  return { text, names };
}

/** A holder id for this process: host, pid and a random part (a restarted pid is a new holder). */
export function leaseHolderId(host: string, pid: number, random: () => number = Math.random): string {
  return `${host}:${pid}:${Math.floor(random() * 0x1_0000_0000).toString(16).padStart(8, '0')}`;
}
