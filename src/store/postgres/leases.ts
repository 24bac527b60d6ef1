import { ACQUIRE_LEASE_SQL, positional, RELEASE_LEASE_SQL, type Leases } from '../leases.js';
import type { PgContext } from './context.js';

const acquire = positional(ACQUIRE_LEASE_SQL);
const release = positional(RELEASE_LEASE_SQL);

/** Leases on Postgres: one statement each, outside any other transaction (autocommit). */
export function leasesPostgres(ctx: Pick<PgContext, 'pool'>): Leases {
  return {
    async acquire(args) {
      const values = { name: args.name, holder: args.holder, expiresAtMs: args.nowMs + args.ttlMs, nowMs: args.nowMs, extend: args.extend ? 1 : 0 };
      const r = await ctx.pool.query<{ token: number }>(acquire.text, acquire.names.map((n) => values[n as keyof typeof values]));
      const row = r.rows[0];
      return row ? { token: Number(row.token) } : null;
    },
    async release(args) {
      await ctx.pool.query(release.text, release.names.map((n) => args[n as keyof typeof args]));
    },
  };
}
