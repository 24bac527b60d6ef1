/**
 * What every part of the Postgres adapter shares: the pool, the clock, the logger, the settings,
 * and the two primitives the guarantees rest on — a transaction that retries on serialization
 * failures and deadlocks (counted for /metrics), and per-key advisory locks taken in one fixed
 * order inside it.
 *
 * Transaction-scoped advisory locks (`pg_advisory_xact_lock`) end with their transaction, so they
 * work behind PgBouncer in transaction mode; session locks would not.
 */
import type pg from 'pg';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { IngestSettings } from '../funnel.js';

export interface PgContext {
  pool: pg.Pool;
  clock: Clock;
  logger: Logger;
  config: Config;
  settings: IngestSettings;
  /** Transactions retried after a serialization failure (40001) or a deadlock (40P01), by code. */
  retries: Map<string, number>;
}

/** SQLSTATEs after which a whole transaction is retried: serialization failure, deadlock detected. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;

/**
 * Runs `fn` in a transaction on one pooled client (BEGIN … COMMIT; ROLLBACK on a throw). A
 * serialization failure or a deadlock rolls back and runs `fn` again from the start, up to five
 * times, each counted in `ctx.retries`; `fn` must therefore only touch the database through
 * `client` (and keep no state of its own across attempts).
 */
export async function withTransaction<T>(ctx: Pick<PgContext, 'pool' | 'retries'>, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClientTransaction(ctx, async (client) => {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  });
}

/**
 * Like withTransaction, for a caller that sends BEGIN and COMMIT itself, inside its own
 * multi-statement queries (one round trip fewer each): a throw still rolls back, and a
 * serialization failure or deadlock still runs `fn` again.
 */
export async function withClientTransaction<T>(ctx: Pick<PgContext, 'pool' | 'retries'>, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await ctx.pool.connect();
    let broken: unknown;
    // A checked-out client has no listener of its own: a connection reset between two statements
    // would be an unhandled 'error' event and end the process. Noted here; the next query fails.
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr;
      }
      const code = (err as { code?: unknown } | null)?.code;
      if (typeof code === 'string' && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) {
        ctx.retries.set(code, (ctx.retries.get(code) ?? 0) + 1);
        continue;
      }
      throw err;
    } finally {
      client.removeListener('error', onError);
      // A client whose connection failed or whose rollback failed is in an unknown state: destroy it rather than reuse it.
      client.release(broken instanceof Error ? broken : undefined);
    }
  }
}

/**
 * Takes transaction-scoped advisory locks on `keys` (strings such as `device:<id>`), in one
 * order for every caller (sorted by the lock's 64-bit hash), so two transactions that lock
 * overlapping sets never deadlock on them. Held until the transaction ends.
 */
export async function lockKeys(client: pg.PoolClient, keys: Iterable<string>): Promise<void> {
  const unique = [...new Set(keys)];
  if (unique.length === 0) return;
  await client.query(
    // The sorted subquery is fenced (OFFSET 0) so the locks are taken in its order, one by one.
    `SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h OFFSET 0) AS l`,
    [unique],
  );
}

/** The advisory lock key of a device: held by whoever writes its state, transitions or findings. */
export const deviceLockKey = (deviceId: string) => `device:${deviceId}`;
/** The advisory lock key of an action. */
export const actionLockKey = (actionId: string) => `action:${actionId}`;
