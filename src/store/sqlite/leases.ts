import { ACQUIRE_LEASE_SQL, RELEASE_LEASE_SQL, type LeaseArgs } from '../leases.js';
import type { ProcedureContext } from './context.js';

/** Writer procedure: takes or extends a lease (store/leases.ts). */
export function leaseAcquireProcedure(ctx: ProcedureContext, args: LeaseArgs): { token: number } | null {
  const row = ctx.repo.transaction(
    () => ctx.repo.sqlite.prepare(ACQUIRE_LEASE_SQL).get({ name: args.name, holder: args.holder, expiresAtMs: args.nowMs + args.ttlMs, nowMs: args.nowMs, extend: args.extend ? 1 : 0 }) as { token: number } | undefined,
  );
  return row ? { token: row.token } : null;
}

/** Writer procedure: gives a lease up. */
export function leaseReleaseProcedure(ctx: ProcedureContext, args: { name: string; holder: string; nowMs: number }): void {
  ctx.repo.transaction(() => ctx.repo.sqlite.prepare(RELEASE_LEASE_SQL).run(args));
}
