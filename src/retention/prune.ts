/**
 * Retention: raw webhook deliveries, observations, their transitions, system events, delivered
 * alerts, events and finished subscription deliveries older than RETENTION_DAYS are deleted in
 * small batches, so the database stays bounded; projections (devices, actions), findings,
 * commands and anything not yet finished (pending or failed deliveries, undelivered alerts) are
 * kept. A subscription delivery still pending when its event is deleted can never be sent: it
 * is made dead with the reason and deleted a retention period later. How each engine deletes is its
 * adapter's (store/sqlite/prune.ts, store/postgres/).
 */
import type { JobSpec } from '../jobs/scheduler.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/port.js';

const DAY_MS = 86_400_000;

/** Calls per run at most; what is left waits for the next run. */
const MAX_CALLS = 500;

/**
 * The retention job: prunes what is older than `retentionDays`, in time-boxed store calls; no
 * further call once the run's signal is aborted (its lease lost, or the daemon stopping).
 */
export function retentionJob(store: Pick<Store, 'prune'>, retentionDays: number, everyMinutes: number, logger: Logger): JobSpec {
  return {
    name: 'retention',
    everySeconds: everyMinutes * 60,
    runAtStart: true,
    run: async (now, { signal }) => {
      const cutoffMs = now.getTime() - retentionDays * DAY_MS;
      const total: Record<string, number> = {};
      for (let calls = 0; calls < MAX_CALLS && !signal.aborted; calls++) {
        const r = await store.prune({ cutoffMs, nowMs: now.getTime() });
        for (const [table, n] of Object.entries(r.deleted)) total[table] = (total[table] ?? 0) + n;
        if (!r.more) break;
      }
      const sum = Object.values(total).reduce((a, b) => a + b, 0);
      if (sum > 0) logger.info({ deleted: total, olderThan: new Date(cutoffMs).toISOString() }, 'retention: pruned old history');
      return total;
    },
  };
}
