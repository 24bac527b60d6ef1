/**
 * The reconciler's loop on SQLite: the single writer takes due devices from `reconcile_queue`
 * in batches and judges each (reconcile/reconciler.ts reconcileQueued) in a savepoint of its
 * own, within a time box, so that webhook stores slot in between.
 */
import type Database from 'better-sqlite3';
import { createReconcileRepo, type SqliteReconcileRepo } from '../../db/reconcile-repo.js';
import { interferenceSettings, reconcileQueued } from '../../reconcile/reconciler.js';
import type { ReconcileArgs, ReconcileRun } from '../port.js';
import type { ProcedureContext } from './context.js';

/** Due devices read at a time (one transaction; the time box is checked after each device). */
const BATCH = 50;
/**
 * Default time box of one reconcile call on the writer thread (one device at least): webhook
 * stores queued meanwhile wait at most about this long, so it stays well under the ack latency.
 */
const DEFAULT_BUDGET_MS = 10;
/**
 * While the writer is behind on applying (its oldest stored delivery has waited BACKLOG_LAG_MS),
 * reconciling waits, up to MAX_DEFER_MS: the backlog may hold the action that explains a change
 * already applied, and applying it first lets each device be reconciled once with all its
 * snapshots rather than once per snapshot. A backlog applied promptly (steady load) does not
 * hold reconciling up.
 */
const BACKLOG_LAG_MS = 1_000;
const MAX_DEFER_MS = 30_000;
/** When reconciling a device throws, it is retried this much later (and the error logged). */
export const RETRY_AFTER_ERROR_MS = 60_000;

const repos = new WeakMap<Database.Database, SqliteReconcileRepo>();
/** Since when (performance.now()) reconciling has waited for the apply backlog, per connection. */
const deferredSince = new WeakMap<Database.Database, number>();

/** True while reconciling should wait for stored deliveries to be applied (at most MAX_DEFER_MS). */
function deferToApplying(ctx: ProcedureContext): boolean {
  const sqlite = ctx.repo.sqlite;
  const backlog = ctx.applyBacklog();
  if (backlog.deliveries === 0 || backlog.oldestWaitMs < BACKLOG_LAG_MS) {
    deferredSince.delete(sqlite);
    return false;
  }
  const now = performance.now();
  const since = deferredSince.get(sqlite);
  if (since === undefined) {
    deferredSince.set(sqlite, now);
    return true;
  }
  // Waited long enough: this job run reconciles what is due (the wait restarts once it is done).
  return now - since < MAX_DEFER_MS;
}

function repoFor(sqlite: Database.Database): SqliteReconcileRepo {
  let repo = repos.get(sqlite);
  if (!repo) repos.set(sqlite, (repo = createReconcileRepo(sqlite)));
  return repo;
}

/** Writer procedure: reconciles due devices within the time budget. */
export function reconcileProcedure(ctx: ProcedureContext, args: ReconcileArgs = {}): ReconcileRun {
  const nowMs = args.nowMs ?? ctx.clock.now().getTime();
  const budgetMs = args.budgetMs ?? DEFAULT_BUDGET_MS;
  const settings = interferenceSettings(ctx.config);
  const repo = repoFor(ctx.repo.sqlite);
  const io = { ...repo, markForReconcile: ctx.repo.markForReconcile, enqueueAlert: ctx.repo.enqueueAlert, settings: ctx.repo.settings };
  const started = performance.now();
  const run: ReconcileRun = { devices: 0, findings: [], errors: 0, more: false, deferred: false };
  if (deferToApplying(ctx)) return { ...run, deferred: true };
  let overBudget = false;
  while (!overBudget) {
    const due = repo.due(nowMs, BATCH);
    if (due.length === 0) break;
    ctx.repo.derivedTransaction(() => {
      for (const q of due) {
        try {
          ctx.repo.transaction(() => {
            repo.dequeue(q.deviceId);
            run.findings.push(...reconcileQueued(io, ctx.logger, settings, q, nowMs));
          });
        } catch (err) {
          run.errors++;
          ctx.logger.error({ err, deviceId: q.deviceId }, 'reconciling the device failed; retrying later');
          repo.dequeue(q.deviceId);
          ctx.repo.markForReconcile(q.deviceId, q.fromMs, nowMs + RETRY_AFTER_ERROR_MS);
        }
        run.devices++;
        // Checked after each device: one with a long history must not hold a whole batch up.
        if (performance.now() - started >= budgetMs) {
          overBudget = true;
          break;
        }
      }
    });
  }
  if (overBudget) run.more = repo.dueCount(nowMs) > 0;
  if (!run.more) deferredSince.delete(ctx.repo.sqlite);
  return run;
}
