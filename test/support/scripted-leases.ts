/**
 * Leases in memory with the rules of store/leases.ts (ACQUIRE_LEASE_SQL), plus a script that can
 * override a renewal's answer: refuse it, answer another token, or throw as an unreachable
 * database does. For scheduler and device-lock tests that must not depend on a store's timing.
 */
import type { LeaseArgs, Leases } from '../../src/store/leases.js';

type Renewal = 'refuse' | 'new-token' | 'throw' | 'grant';

export interface ScriptedLeases extends Leases {
  /** Every acquire call, in order. */
  calls: LeaseArgs[];
  /** How renewals (`extend: true` by the holder) are answered from now on; `grant` follows the rules. */
  renewals: Renewal;
}

export function scriptedLeases(): ScriptedLeases {
  const rows = new Map<string, { holder: string; token: number; expiresAtMs: number }>();
  const leases: ScriptedLeases = {
    calls: [],
    renewals: 'grant',
    async acquire(args) {
      leases.calls.push(args);
      const row = rows.get(args.name);
      const renewing = args.extend && row?.holder === args.holder;
      if (renewing && leases.renewals === 'throw') throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      if (renewing && leases.renewals === 'refuse') return null;
      if (renewing && leases.renewals === 'new-token') return { token: row.token + 100 };
      if (row && row.expiresAtMs > args.nowMs && !renewing) return null;
      const kept = row !== undefined && row.holder === args.holder && row.expiresAtMs > args.nowMs;
      const token = row === undefined ? 1 : kept ? row.token : row.token + 1;
      rows.set(args.name, { holder: args.holder, token, expiresAtMs: args.nowMs + args.ttlMs });
      return { token };
    },
    async release(args) {
      const row = rows.get(args.name);
      if (row && row.holder === args.holder && row.expiresAtMs > args.nowMs) row.expiresAtMs = args.nowMs;
    },
  };
  return leases;
}
