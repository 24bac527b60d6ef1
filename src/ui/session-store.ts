/**
 * Where dashboard logouts are kept. Sessions are stateless (a MAC'd cookie), so a logout is the one
 * thing to remember: the session id is revoked until the cookie would have expired anyway. In the
 * database (table ui_session_revocations) a restart forgets none; the row is written by the single
 * writer and read on the request's own connection.
 */
import { and, eq, gt } from 'drizzle-orm';
import type { Db } from '../db/open.js';
import { uiSessionRevocations } from '../db/schema.js';
import type { ProcedureContext } from '../ingest/procedures.js';
import type { Writer } from '../ingest/writer.js';

/** Revoked session ids, each until its expiry. */
export interface RevocationStore {
  /** True when `id` was logged out and its session has not expired by `nowMs`. */
  isRevoked(id: string, nowMs: number): boolean;
  /** Remembers `id` as logged out until `expiresAtMs`; resolves once that is durable. */
  revoke(id: string, expiresAtMs: number, nowMs: number): Promise<void>;
}

export interface RevokeUiSessionArgs {
  id: string;
  expiresAtMs: number;
  nowMs: number;
}

/**
 * Writer procedure: records one logout and deletes the revocations whose sessions have expired
 * (they can never verify again), so the table holds at most one session lifetime of logouts.
 */
export function revokeUiSessionProcedure(ctx: ProcedureContext, args: RevokeUiSessionArgs): { pruned: number } {
  return ctx.repo.transaction(() => {
    const sqlite = ctx.repo.sqlite;
    sqlite.prepare('INSERT INTO ui_session_revocations (id, expires_at_ms) VALUES (?, ?) ON CONFLICT (id) DO NOTHING').run(args.id, args.expiresAtMs);
    return { pruned: sqlite.prepare('DELETE FROM ui_session_revocations WHERE expires_at_ms <= ?').run(args.nowMs).changes };
  });
}

/** Revocations in the database: written through the writer, read from `db`. */
export function databaseRevocations(db: Db, writer: Pick<Writer, 'run'>): RevocationStore {
  return {
    isRevoked(id, nowMs) {
      const row = db
        .select({ id: uiSessionRevocations.id })
        .from(uiSessionRevocations)
        .where(and(eq(uiSessionRevocations.id, id), gt(uiSessionRevocations.expiresAtMs, nowMs)))
        .get();
      return row !== undefined;
    },
    async revoke(id, expiresAtMs, nowMs) {
      await writer.run('revokeUiSession', { id, expiresAtMs, nowMs });
    },
  };
}

/** Revocations in memory (unit tests, and a keeper built without a database): lost on restart. */
export function memoryRevocations(): RevocationStore {
  const revoked = new Map<string, number>();
  return {
    isRevoked: (id, nowMs) => (revoked.get(id) ?? 0) > nowMs,
    revoke(id, expiresAtMs, nowMs) {
      for (const [k, exp] of revoked) if (exp <= nowMs) revoked.delete(k);
      revoked.set(id, expiresAtMs);
      return Promise.resolve();
    },
  };
}
