/**
 * Dashboard logouts on Postgres (store/port.ts revokeUiSession; as store/sqlite/sessions.ts).
 */
import { withTransaction, type PgContext } from './context.js';

/**
 * Records one dashboard logout and deletes the revocations whose sessions have expired (they can
 * never verify again), so the table holds at most one session lifetime of logouts. Two replicas
 * recording the same logout at once both succeed: the second insert does nothing.
 */
export async function revokeUiSessionPostgres(
  ctx: Pick<PgContext, 'pool' | 'retries'>,
  args: { id: string; expiresAtMs: number; nowMs: number },
): Promise<{ pruned: number }> {
  return withTransaction(ctx, async (client) => {
    await client.query('INSERT INTO ui_session_revocations (id, expires_at_ms) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [args.id, args.expiresAtMs]);
    const deleted = await client.query('DELETE FROM ui_session_revocations WHERE expires_at_ms <= $1', [args.nowMs]);
    return { pruned: deleted.rowCount ?? 0 };
  });
}
