/**
 * The Store port on Postgres. Any number of replicas share one database: each stores the
 * deliveries it receives (committed before it answers), and each runs an apply loop that claims
 * pending deliveries with `FOR UPDATE SKIP LOCKED`, applies them through the unit of work
 * (funnel.ts) and marks them in the same transaction. A replica that dies mid-batch rolls back
 * and the others take those deliveries: each is applied exactly once.
 */
import type pg from 'pg';
import { applyStalledAlert } from '../../alerts/facts.js';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import { ingestSettings } from '../../db/ingest-repo.js';
import type { Logger } from '../../logger.js';
import type { ApplyHealth, Store } from '../port.js';
import { alertsPostgres, raiseAlertPostgres } from './alerts.js';
import { subscriptionsPostgres } from './subscriptions.js';
import { recordCommandPostgres } from './commands.js';
import type { PgContext } from './context.js';
import {
  applyObservedEvents,
  applyPendingBatch,
  BatchFailure,
  markDeliveryFailed,
  recordPolls,
  replayStoredDelivery,
  submitDelivery,
  type ApplyHooks,
  type EventCounts,
} from './intake.js';
import { leasesPostgres } from './leases.js';
import { prunePostgres } from './prune.js';
import { reconcilePostgres } from './reconcile.js';
import { revokeUiSessionPostgres } from './sessions.js';
import { setFindingStatePostgres } from './findings.js';

/** The apply loop looks for pending deliveries this often (others' too: a replica that died left some). */
const APPLY_INTERVAL_MS = 250;
/** Deliveries claimed per apply transaction. */
const APPLY_BATCH = 100;
/** Pause before trying again after a storage error. */
const APPLY_RETRY_MS = 1_000;
/** Failing this long makes applying "stalled" (readiness, the alert), as on SQLite (store/sqlite/ingestor.ts). */
export const APPLY_STALLED_AFTER_MS = 30_000;
const APPLY_FAILURE_LOG_EVERY_MS = 60_000;
/** A probe or a backlog count within this long of the last one reuses it (a /readyz flood costs no commits). */
const PROBE_REUSE_MS = 1_000;

export interface PostgresStoreOptions {
  pool: pg.Pool;
  clock: Clock;
  logger: Logger;
  config: Config;
  /** End the pool on close (the store opened it). Default false: the caller owns it. */
  ownsPool?: boolean;
  /** Test seams inside the apply transaction. */
  hooks?: ApplyHooks;
  /**
   * Apply pending deliveries in the background (default true: a daemon replica). False for a
   * one-shot CLI command: it applies nothing it was not asked to, with settings that may differ
   * from the daemon's.
   */
  background?: boolean;
}

/** A failure episode of applying: counted, logged once a minute, its alert raised once. */
class ApplyFailures {
  sinceMs: number | null = null;
  storageErrors = 0;
  lastError: string | null = null;
  private nextLogMs = Number.NEGATIVE_INFINITY;
  private alerted = false;

  constructor(
    private readonly ctx: PgContext,
    private readonly backlog: () => number,
  ) {}

  async note(err: unknown): Promise<void> {
    const nowMs = this.ctx.clock.now().getTime();
    this.storageErrors++;
    this.lastError = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
    this.sinceMs ??= nowMs;
    if (nowMs >= this.nextLogMs) {
      this.nextLogMs = nowMs + APPLY_FAILURE_LOG_EVERY_MS;
      this.ctx.logger.error(
        { err, backlog: this.backlog(), failingForMs: nowMs - this.sinceMs, storageErrors: this.storageErrors },
        'could not apply stored deliveries; retrying every second',
      );
    }
    // Applying may fail while writes still work (a server refusing one statement): then the alert need not wait.
    if (nowMs - this.sinceMs >= APPLY_STALLED_AFTER_MS) await this.raiseStalled(nowMs).catch(() => {});
  }

  /** Stores this episode's `apply.stalled` alert once (its key names the episode: a second store is a no-op). */
  private async raiseStalled(nowMs: number): Promise<void> {
    if (this.alerted || this.sinceMs === null) return;
    const fact = { sinceMs: this.sinceMs, error: this.lastError, backlog: this.backlog() };
    await raiseAlertPostgres(this.ctx, applyStalledAlert(fact, nowMs));
    this.alerted = true;
    this.ctx.logger.error(fact, 'applying stored deliveries failed for too long; raised apply.stalled');
  }

  /**
   * Applying works again. An episode that lasted past APPLY_STALLED_AFTER_MS raises its
   * `apply.stalled` alert now if it could not be stored while failing (the database was away).
   */
  async recovered(): Promise<void> {
    if (this.sinceMs === null) return;
    const nowMs = this.ctx.clock.now().getTime();
    if (nowMs - this.sinceMs >= APPLY_STALLED_AFTER_MS) {
      try {
        await this.raiseStalled(nowMs);
      } catch (err) {
        this.ctx.logger.error({ err }, 'could not store the apply.stalled alert; trying again after the next batch');
        return;
      }
    }
    this.ctx.logger.info({ failedForMs: nowMs - this.sinceMs }, 'applying stored deliveries works again');
    this.sinceMs = null;
    this.alerted = false;
    this.nextLogMs = Number.NEGATIVE_INFINITY;
  }

  health(nowMs: number, backlog: number): ApplyHealth {
    const since = this.sinceMs;
    return {
      applyFailingSinceMs: since,
      applyStalled: since !== null && nowMs - since >= APPLY_STALLED_AFTER_MS,
      applyStorageErrors: this.storageErrors,
      lastApplyError: this.lastError,
      backlog,
    };
  }
}

/**
 * This replica's apply loop: one batch at a time, woken by each stored delivery and by a timer.
 * A batch that fails for a reason not the storage's is taken apart: its deliveries are applied
 * one at a time, and one that fails alone is marked `failed`, so no bad delivery stalls the rest.
 */
class ApplyLoop {
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private retryAtMs = 0;
  private isolate = 0;
  /** Batches in a row that failed with a storage error. */
  private storageFailures = 0;
  private readonly timer: NodeJS.Timeout;
  readonly counts: EventCounts = new Map();

  constructor(
    private readonly ctx: PgContext,
    private readonly failures: ApplyFailures,
    private readonly hooks: ApplyHooks,
    private readonly background = true,
  ) {
    this.timer = setInterval(() => this.kick(), APPLY_INTERVAL_MS);
    this.timer.unref();
    if (!background) clearInterval(this.timer);
  }

  kick(): void {
    if (!this.background || this.closed || Date.now() < this.retryAtMs) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Resolves when the batch in flight (and those it leads to) is done. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  get busy(): boolean {
    return this.running !== undefined || Date.now() < this.retryAtMs;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.settled();
  }

  private async drain(): Promise<void> {
    while (!this.closed) {
      const limit = this.isolate > 0 ? 1 : APPLY_BATCH;
      let claimed: number;
      try {
        claimed = await this.batch(limit);
      } catch (err) {
        // After three storage errors in a row, the next batch's worth goes one delivery at a time:
        // an error that comes from the batch itself (a statement timeout on a huge one) then stops
        // holding the rest up, while an outage still costs only the usual retry every second.
        if (++this.storageFailures >= 3) this.isolate = Math.max(this.isolate, APPLY_BATCH);
        await this.failures.note(err);
        this.retryAtMs = Date.now() + APPLY_RETRY_MS;
        return;
      }
      this.storageFailures = 0;
      if (claimed < limit && this.isolate === 0) return;
    }
  }

  /** One batch; returns how many deliveries it claimed. Storage errors propagate. */
  private async batch(limit: number): Promise<number> {
    try {
      const done = await applyPendingBatch(this.ctx, limit, this.hooks);
      if (this.isolate > 0) this.isolate = done.claimed === 0 ? 0 : this.isolate - 1;
      for (const [key, n] of done.counts) this.counts.set(key, (this.counts.get(key) ?? 0) + n);
      for (const f of done.failed) this.ctx.logger.error({ deliveryId: f.id, error: f.error }, 'webhook delivery stored but could not be applied; replay it after a fix');
      await this.failures.recovered();
      return done.claimed;
    } catch (err) {
      if (!(err instanceof BatchFailure)) throw err;
      return this.batchFailed(err);
    }
  }

  private async batchFailed(err: BatchFailure): Promise<number> {
    if (err.ids.length > 1) {
      this.ctx.logger.warn({ err: err.cause, deliveries: err.ids.length }, 'applying a batch of deliveries failed; applying them one at a time');
      this.isolate = err.ids.length;
      return err.ids.length;
    }
    const id = err.ids[0]!;
    const cause = err.cause;
    const error = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    this.ctx.logger.error({ deliveryId: id, err: cause }, 'webhook delivery stored but could not be applied; replay it after a fix');
    await markDeliveryFailed(this.ctx, id, error);
    this.isolate = Math.max(0, this.isolate - 1);
    return 1;
  }
}

/** The count of pending deliveries, read at most once a PROBE_REUSE_MS. */
class BacklogCount {
  value = 0;
  private atMs = Number.NEGATIVE_INFINITY;
  constructor(private readonly ctx: PgContext) {}
  async read(): Promise<number> {
    const nowMs = Date.now();
    if (nowMs - this.atMs < PROBE_REUSE_MS) return this.value;
    const { rows } = await this.ctx.pool.query<{ n: number }>(`SELECT count(*) AS n FROM deliveries WHERE status = 'pending'`);
    this.atMs = nowMs;
    this.value = rows[0]!.n;
    return this.value;
  }
  async fresh(): Promise<number> {
    this.atMs = Number.NEGATIVE_INFINITY;
    return this.read();
  }
}

/** A probe that commits a write, reused (outcome and all) for PROBE_REUSE_MS. */
function writeProbe(ctx: PgContext): () => Promise<void> {
  let lastMs = Number.NEGATIVE_INFINITY;
  let outcome: Promise<void> = Promise.resolve();
  return () => {
    const nowMs = ctx.clock.now().getTime();
    if (Math.abs(nowMs - lastMs) < PROBE_REUSE_MS) return outcome;
    lastMs = nowMs;
    outcome = ctx.pool
      .query(`INSERT INTO health_probe (id, at_ms) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms`, [nowMs])
      .then(() => undefined);
    outcome.catch(() => {});
    return outcome;
  };
}

/** How long `idle()` waits through a database it cannot reach before it rejects with the error. */
const IDLE_UNREACHABLE_MS = 10_000;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The Store on Postgres over `pool` (migrated; see migrate.ts). */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const ctx: PgContext = {
    pool: options.pool,
    clock: options.clock,
    logger: options.logger,
    config: options.config,
    settings: ingestSettings(options.config),
    retries: new Map(),
  };
  const backlog = new BacklogCount(ctx);
  const failures = new ApplyFailures(ctx, () => backlog.value);
  const loop = new ApplyLoop(ctx, failures, options.hooks ?? {}, options.background ?? true);
  const probe = writeProbe(ctx);
  const counts = loop.counts;
  const addCounts = (c: EventCounts) => {
    for (const [key, n] of c) counts.set(key, (counts.get(key) ?? 0) + n);
  };
  const health = async (): Promise<ApplyHealth> => {
    // Without writing, and without failing: /metrics reports the last count when the database is away.
    const n = await backlog.read().catch(() => backlog.value);
    return failures.health(ctx.clock.now().getTime(), n);
  };
  let closed = false;
  /** Submits in flight: close waits for them to commit (or fail) before ending the pool. */
  const submitting = new Set<Promise<unknown>>();
  // Deliveries a previous run (or a dead replica) left pending are picked up at once.
  loop.kick();

  return {
    engine: 'postgres',
    submit: async (delivery) => {
      if (closed) throw new Error('store is closed');
      const storing = submitDelivery(ctx, delivery);
      submitting.add(storing);
      try {
        const outcome = await storing;
        if (!outcome.duplicate && outcome.status === 'pending') loop.kick();
        return outcome;
      } finally {
        submitting.delete(storing);
      }
    },
    idle: async () => {
      // Pending rows may be held by another replica's batch: wait until none is left anywhere.
      // A database that stays unreachable ends the wait with its error instead of hanging.
      let unreachableSince: number | undefined;
      for (;;) {
        loop.kick();
        await loop.settled();
        let pending: number;
        try {
          pending = await backlog.fresh();
          unreachableSince = undefined;
        } catch (err) {
          unreachableSince ??= Date.now();
          if (Date.now() - unreachableSince >= IDLE_UNREACHABLE_MS) throw err;
          pending = -1;
        }
        if (pending === 0 && !loop.busy) return;
        await pause(20);
      }
    },
    replay: async (id) => {
      const { outcome, counts: c } = await replayStoredDelivery(ctx, id);
      addCounts(c);
      return outcome;
    },
    applyEvents: async (events, source) => {
      const { results, counts: c } = await applyObservedEvents(ctx, events, source);
      addCounts(c);
      return results;
    },
    recordActionPolls: (polls) => recordPolls(ctx, polls),
    reconcile: (args = {}) => reconcilePostgres(ctx, args),
    prune: (args) => prunePostgres(ctx, args),
    alerts: alertsPostgres(ctx),
    subscriptions: subscriptionsPostgres(ctx),
    recordCommand: (record) => recordCommandPostgres(ctx, record),
    revokeUiSession: (args) => revokeUiSessionPostgres(ctx, args),
    setFindingState: (change) => setFindingStatePostgres(ctx, change),
    leases: leasesPostgres(ctx),
    transactionRetries: () => Object.fromEntries(ctx.retries),
    appliedEventCounts: async () =>
      [...counts].map(([key, count]) => {
        const [event = '', outcome = '', version = ''] = key.split('\t');
        return version === '' ? { event, outcome, count } : { event, outcome, version, count };
      }),
    ping: async () => {
      await probe();
      return failures.health(ctx.clock.now().getTime(), await backlog.read());
    },
    health,
    close: async () => {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...submitting]);
      await loop.close();
      if (options.ownsPool) await ctx.pool.end();
    },
  };
}
