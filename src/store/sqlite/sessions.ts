import type { ProcedureContext } from './context.js';

/**
 * Writer procedure: records one dashboard logout and deletes the revocations whose sessions have
 * expired (they can never verify again), so the table holds at most one session lifetime of logouts.
 */
export function revokeUiSessionProcedure(ctx: ProcedureContext, args: { id: string; expiresAtMs: number; nowMs: number }): { pruned: number } {
  return ctx.repo.transaction(() => {
    const sqlite = ctx.repo.sqlite;
    sqlite.prepare('INSERT INTO ui_session_revocations (id, expires_at_ms) VALUES (?, ?) ON CONFLICT (id) DO NOTHING').run(args.id, args.expiresAtMs);
    return { pruned: sqlite.prepare('DELETE FROM ui_session_revocations WHERE expires_at_ms <= ?').run(args.nowMs).changes };
  });
}
