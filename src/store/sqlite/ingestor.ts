import { applyStalledAlert, deliveryFailedAlert } from '../../alerts/facts.js';
import type { Clock } from '../../clock.js';
import type { IngestRepo } from '../../db/ingest-repo.js';
import type { WalSyncer } from '../../db/wal-sync.js';
import { applyDelivery, isStorageError, storeDelivery, type DeliveryOutcome, type HeldDelivery, type ReceivedDelivery } from '../../ingest/deliveries.js';
import type { Logger } from '../../logger.js';
import type { ApplyHealth } from '../port.js';

export type { ApplyHealth } from '../port.js';

interface Waiting {
  delivery: ReceivedDelivery;
  resolve: (outcome: DeliveryOutcome) => void;
  reject: (err: unknown) => void;
}

interface ToApply {
  id: string;
  /**
   * What the writer holds of it: the body's bytes (classified by the route; parsed when applied)
   * or its events (parsed when stored). Absent for deliveries read back from the database
   * (recovered at start, or past MAX_QUEUED) and past MAX_HELD_BYTES: applying reads the body back.
   */
  held?: HeldDelivery;
  /** Bytes of the body held (0 when not held), counted against MAX_HELD_BYTES. */
  heldBytes: number;
  /** performance.now() when it was stored by this process (or, read back, when spilling began); 0 for those recovered at start. */
  queuedAt: number;
}

/** Upper bound of deliveries stored in one commit; keeps one commit's latency bounded. */
const MAX_STORE_GROUP = 256;
/**
 * Acknowledgements first (Enode times a delivery out after 5 s, sends it again and, after
 * repeated failures, disables the webhook). While deliveries keep arriving (one stored within
 * BUSY_WINDOW_MS) and more than APPLY_AT_ONCE_MAX wait to be applied, the thread only stores:
 * on two cores, applying beside a burst takes CPU from the HTTP thread's acknowledgements. Once
 * the oldest waiting delivery has waited APPLY_LAG_LIMIT_MS, a short slice runs at every turn:
 * under sustained load applied state trails by about that much at most. When deliveries stop
 * arriving, the backlog is applied in long slices (fewer, larger transactions write each shared
 * index page once).
 */
const BUSY_WINDOW_MS = 50;
const APPLY_AT_ONCE_MAX = 4;
const APPLY_SLICE_BUSY_MS = 2;
const APPLY_LAG_LIMIT_MS = 10_000;
const APPLY_SLICE_LAGGING_MS = 1;
// Measured (BENCHMARKS.md, event log): 100 deliveries a transaction instead of 25 write 13 % fewer
// WAL bytes each (shared device, index and log pages written once); a delivery arriving meanwhile
// waits at most this long to be stored, far inside Enode's 5 s.
const APPLY_SLICE_IDLE_MS = 200;
/**
 * Memory does not grow with the backlog (issue 19: a self-hoster's 512 MB container must survive a
 * day of Enode catching up). At most MAX_QUEUED deliveries wait in memory to be applied; past it
 * they wait only in the database (`pending`) and are read back a page at a time, oldest first,
 * once the ones in memory are applied (deliveries recovered at start the same way). Of those in
 * memory, bodies are held up to MAX_HELD_BYTES (about 1,300 of Enode's 12 KB bodies); the others
 * are read back from the database when applied.
 */
export const MAX_QUEUED = 1_000;
const MAX_HELD_BYTES = 16 * 1024 * 1024;
/** Pause before retrying to apply after a storage error (disk full, I/O). */
const APPLY_RETRY_MS = 1_000;
/**
 * Applying has failed with storage errors (corrupt pages, a read-only file, a full disk) for this
 * long: the daemon is not ready (/readyz 503), `enode_sync_apply_failing` is 1 and one
 * `apply.stalled` alert is raised. Shorter failures (a disk briefly full) heal by the retries.
 */
export const APPLY_STALLED_AFTER_MS = 30_000;
/** While applying keeps failing, the failure is logged once a minute (with the count), not every retry. */
const APPLY_FAILURE_LOG_EVERY_MS = 60_000;

export interface IngestorOptions {
  /**
   * With a syncer (file databases, db/wal-sync.ts) stores commit without waiting for fsync and
   * are acknowledged once a WAL sync that started after their commit completes; the writer
   * stores the next group meanwhile. Without one, each store commit syncs itself (FULL).
   */
  syncer?: WalSyncer | undefined;
  /** Called once when a WAL sync fails: nothing committed since can be promised; the writer must stop. */
  onSyncFailure?: ((err: unknown) => void) | undefined;
  /** Called after each turn of the loop, outside any transaction (the writer's WAL bound, db/checkpointer.ts). */
  betweenTransactions?: (() => void) | undefined;
}

/** How applying stored deliveries is going, for readiness and metrics. */
export interface ApplyState {
  /** performance.now() times. */
  now: number;
  lastStoredAt: number;
  /** Deliveries waiting to be applied, and when the oldest of them was stored. */
  backlog: number;
  oldestQueuedAt: number;
}

export interface ApplyPlan {
  /** When the next apply slice is due (Infinity: nothing to apply). */
  at: number;
  /** How long a slice due now may run (0 when none is due now). */
  sliceMs: number;
}

/** The writer's choice between storing and applying (see the constants above). */
export function planApply(s: ApplyState): ApplyPlan {
  if (s.backlog === 0) return { at: Number.POSITIVE_INFINITY, sliceMs: 0 };
  if (s.now - s.lastStoredAt >= BUSY_WINDOW_MS) return { at: s.now, sliceMs: APPLY_SLICE_IDLE_MS };
  if (s.now - s.oldestQueuedAt >= APPLY_LAG_LIMIT_MS) return { at: s.now, sliceMs: APPLY_SLICE_LAGGING_MS };
  if (s.backlog <= APPLY_AT_ONCE_MAX) return { at: s.now, sliceMs: APPLY_SLICE_BUSY_MS };
  // A burst: apply when it ends, or when the oldest waiting delivery reaches the lag limit.
  return { at: Math.min(s.lastStoredAt + BUSY_WINDOW_MS, s.oldestQueuedAt + APPLY_LAG_LIMIT_MS), sliceMs: 0 };
}

/**
 * Store, then apply (DESIGN.md "one funnel"):
 * 1. Group commit: deliveries that arrive while the thread is busy (or a WAL sync is in flight)
 *    are stored as `pending` in one transaction and acknowledged only after it is on disk: after
 *    its own fsync (`synchronous=FULL`), or with a WAL syncer after an fsync that began after
 *    the commit. One fsync covers many without weakening "acknowledged ⇒ on disk".
 * 2. Apply: pending deliveries are applied oldest first in short transactions that yield between
 *    them, each delivery in its own savepoint (one bad delivery never affects another).
 * Deliveries still pending after a crash or shutdown are applied at the next start.
 */
export class Ingestor {
  private storeQueue: Waiting[] = [];
  private applyQueue: ToApply[] = [];
  private idleWaiters: Array<() => void> = [];
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** performance.now() of the last store; -Infinity before any. */
  private lastStoredAt = Number.NEGATIVE_INFINITY;
  /** Wakes the loop to apply when a burst ends or the backlog reaches the lag limit. */
  private wakeTimer: NodeJS.Timeout | undefined;
  /** The current failure episode of applying (clock ms of its first storage error), or null. */
  private applyFailingSinceMs: number | null = null;
  private applyStorageErrors = 0;
  private lastApplyError: string | null = null;
  /** This episode's `apply.stalled` alert is stored (or its failure to store was logged once). */
  private stalledAlerted = false;
  private stalledAlertFailureLogged = false;
  /** Clock ms before which a repeated apply failure is counted but not logged. */
  private nextFailureLogMs = Number.NEGATIVE_INFINITY;

  /** Store groups committed and waiting for their sync (acknowledged when it completes). */
  private syncing = 0;
  /** A sync failed: nothing is stored or acknowledged any more (see db/wal-sync.ts). */
  private syncFailed = false;
  private syncWaiters: Array<() => void> = [];

  /** Pending deliveries only in the database (past MAX_QUEUED, or recovered at start), and since when (performance.now(); 0 at start). */
  private spilled = 0;
  private spilledSince = 0;
  /** Body bytes held by applyQueue. */
  private heldBytes = 0;

  constructor(
    private readonly repo: IngestRepo,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: IngestorOptions = {},
  ) {
    const recovered = repo.countPendingDeliveries();
    if (recovered > 0) {
      logger.info({ deliveries: recovered }, 'applying deliveries stored but not applied before the last stop');
      this.spilled = recovered;
      this.schedule();
    }
  }

  /** Stores a delivery; resolves once it is durably committed (its events are applied next). */
  submit(delivery: ReceivedDelivery): Promise<DeliveryOutcome> {
    if (this.closed) return Promise.reject(new Error('ingestor is closed'));
    return new Promise((resolve, reject) => {
      this.storeQueue.push({ delivery, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves when every stored delivery has been applied (tests, shutdown reports). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Deliveries stored and waiting to be applied, and how long the oldest of them has waited. */
  backlog(): { deliveries: number; oldestWaitMs: number } {
    const now = performance.now();
    return { deliveries: this.waiting(), oldestWaitMs: now - this.oldestQueuedAt(now) };
  }

  /** Deliveries stored and not applied yet: in memory and only in the database. */
  private waiting(): number {
    return this.applyQueue.length + this.spilled;
  }

  private oldestQueuedAt(now: number): number {
    return this.applyQueue[0]?.queuedAt ?? (this.spilled > 0 ? this.spilledSince : now);
  }

  /** How applying is going: failing since when, stalled or not (see APPLY_STALLED_AFTER_MS). */
  health(nowMs: number = this.clock.now().getTime()): ApplyHealth {
    const since = this.applyFailingSinceMs;
    return {
      applyFailingSinceMs: since,
      applyStalled: since !== null && nowMs - since >= APPLY_STALLED_AFTER_MS,
      applyStorageErrors: this.applyStorageErrors,
      lastApplyError: this.lastApplyError,
      backlog: this.waiting(),
    };
  }

  /** Stores what is queued, answers it once synced, and stops; pending deliveries are applied at the next start. */
  async close(): Promise<void> {
    // After a failed sync nothing more is stored: whatever waits is answered with an error.
    if (!this.syncFailed) this.flushStores();
    this.closed = true;
    if (this.syncing > 0) await new Promise<void>((resolve) => this.syncWaiters.push(resolve));
    clearTimeout(this.retryTimer);
    clearTimeout(this.wakeTimer);
    if (this.waiting() > 0) {
      this.logger.info({ deliveries: this.waiting() }, 'stopping with deliveries stored but not applied; they are applied at the next start');
    }
  }

  private isIdle(): boolean {
    return this.storeQueue.length === 0 && this.waiting() === 0;
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    // setImmediate runs after pending I/O callbacks: deliveries received in this turn join the group.
    setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (this.closed) return;
    let now = performance.now();
    if (this.mayStore() && this.flushStores() > 0) this.lastStoredAt = now;
    let plan = this.plan(now);
    if (this.retryTimer === undefined && plan.at <= now) {
      this.applySome(plan.sliceMs);
      now = performance.now();
      plan = this.plan(now);
    }
    this.options.betweenTransactions?.();
    if (this.isIdle()) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    // After a storage error the retry timer schedules the next turn.
    if (this.retryTimer !== undefined) return;
    if ((this.storeQueue.length > 0 && this.mayStore()) || plan.at <= now) {
      this.schedule();
      return;
    }
    // Nothing due: a new delivery (submit) or a completed sync (synced) wakes the loop.
    if (!Number.isFinite(plan.at)) return;
    // A new delivery wakes the loop earlier.
    this.wakeTimer = setTimeout(() => this.schedule(), Math.ceil(plan.at - now));
  }

  /**
   * One store commit per WAL sync: while a sync is in flight, deliveries gather and are stored in
   * one group when it completes (and the writer applies or idles meanwhile). Small groups cost
   * far more per delivery (a commit of 1 delivery: about 150 µs of the writer's CPU; of 16: 60 µs,
   * measured), and on two cores every µs of the writer is taken from the HTTP thread. Without a
   * syncer the commit's own fsync paces the groups the same way.
   */
  private mayStore(): boolean {
    return this.syncing < (this.options.syncer?.maxInFlight ?? 1);
  }

  private plan(now: number): ApplyPlan {
    return planApply({ now, lastStoredAt: this.lastStoredAt, backlog: this.waiting(), oldestQueuedAt: this.oldestQueuedAt(now) });
  }

  /** Stores every queued delivery; returns how many were queued. */
  private flushStores(): number {
    let count = 0;
    while (this.storeQueue.length > 0) {
      const group = this.storeQueue.splice(0, MAX_STORE_GROUP);
      count += group.length;
      let stored: Array<ReturnType<typeof storeDelivery>>;
      const store = () => group.map((w) => storeDelivery(this.repo, w.delivery, this.logger));
      try {
        // With a syncer the commit skips its own fsync: the acknowledgement waits for the syncer's.
        stored = this.options.syncer ? this.repo.derivedTransaction(store) : this.repo.transaction(store);
      } catch (err) {
        this.logger.error({ err, deliveries: group.length }, 'could not store deliveries; answering 503 so Enode retries');
        for (const w of group) w.reject(err);
        // Should the error have come after COMMIT (the pragma that restores FULL), these are
        // stored and pending: read them back from the database (an overcount only costs a query).
        if (this.options.syncer) {
          if (this.spilled === 0) this.spilledSince = performance.now();
          this.spilled += group.length;
        }
        continue;
      }
      // Committed: applying may start now (state derived from these deliveries follows them in
      // the WAL, so a crash never keeps the one without the other).
      const queuedAt = performance.now();
      group.forEach((w, i) => {
        const s = stored[i]!;
        if (s.outcome.duplicate || s.outcome.status !== 'pending') return;
        // Past the bound (or while older ones wait only there), it waits in the database alone.
        if (this.spilled > 0 || this.applyQueue.length >= MAX_QUEUED) {
          if (this.spilled === 0) this.spilledSince = queuedAt;
          this.spilled++;
          return;
        }
        const bytes = w.delivery.body.byteLength;
        const receivedAt = w.delivery.receivedAt;
        if (this.heldBytes + bytes > MAX_HELD_BYTES) {
          this.applyQueue.push({ id: s.outcome.deliveryId, heldBytes: 0, queuedAt });
          return;
        }
        this.heldBytes += bytes;
        const held: HeldDelivery = s.events ? { receivedAt, events: s.events } : { receivedAt, body: w.delivery.body };
        this.applyQueue.push({ id: s.outcome.deliveryId, held, heldBytes: bytes, queuedAt });
      });
      const acknowledge = () => group.forEach((w, i) => w.resolve(stored[i]!.outcome));
      const syncer = this.options.syncer;
      if (!syncer) {
        acknowledge();
        continue;
      }
      // Duplicates wait too: the copy they answer for may have been committed by a group whose
      // sync has not completed yet.
      this.syncing++;
      syncer.sync().then(
        () => {
          this.synced();
          acknowledge();
        },
        (err: unknown) => {
          this.synced();
          for (const w of group) w.reject(err);
          if (this.syncFailed) return;
          this.syncFailed = true;
          this.closed = true;
          // Not stored either: Enode retries them against the restarted daemon.
          for (const w of this.storeQueue.splice(0)) w.reject(err);
          this.logger.fatal({ err, deliveries: group.length }, 'could not sync the WAL to disk; nothing committed since is acknowledged and the writer stops');
          this.options.onSyncFailure?.(err);
        },
      );
    }
    return count;
  }

  private synced(): void {
    if (--this.syncing > 0) return;
    for (const resolve of this.syncWaiters.splice(0)) resolve();
    // Deliveries that arrived during the sync are stored now, as one group.
    if (this.storeQueue.length > 0) this.schedule();
  }

  /** Reads the oldest deliveries waiting only in the database into memory (applyQueue is empty). */
  private refill(): void {
    const ids = this.repo.pendingDeliveryIds(MAX_QUEUED);
    this.applyQueue = ids.map((id) => ({ id, heldBytes: 0, queuedAt: this.spilledSince }));
    // A full page: there may be more (the count can be off if a delivery changed status elsewhere, e.g. a replay).
    this.spilled = ids.length < MAX_QUEUED ? 0 : Math.max(1, this.spilled - ids.length);
  }

  private applySome(budgetMs: number): void {
    if (this.applyQueue.length === 0 && this.spilled > 0) {
      try {
        this.refill();
      } catch (err) {
        this.noteApplyFailure(err);
        this.retryLater();
        return;
      }
    }
    if (this.applyQueue.length === 0) return;
    const started = performance.now();
    let done = 0;
    try {
      // Applying derives state from deliveries already durable: a crash may undo it, and the
      // deliveries, still `pending`, are applied again at the next start.
      this.repo.derivedTransaction(() => {
        const now = this.clock.now().getTime();
        do {
          const next = this.applyQueue[done]!;
          let outcome;
          try {
            outcome = applyDelivery(this.repo, next.id, now, next.held);
          } catch (err) {
            if (isStorageError(err)) throw err;
            // Not the storage: this delivery alone is at fault; it must not hold up the others.
            const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
            const eventCount = next.held && 'events' in next.held ? next.held.events.length : 0;
            this.repo.finishDelivery(next.id, 'failed', error, null, eventCount);
            this.repo.enqueueAlert(deliveryFailedAlert({ id: next.id, error, eventCount }, now));
            outcome = { status: 'failed', error };
          }
          if (outcome?.status === 'failed') {
            this.logger.error({ deliveryId: next.id, error: outcome.error }, 'webhook delivery stored but could not be applied; replay it after a fix');
          }
          done++;
        } while (done < this.applyQueue.length && performance.now() - started < budgetMs);
      });
    } catch (err) {
      // A storage error: the deliveries stay pending in the database; try again shortly.
      this.noteApplyFailure(err);
      this.retryLater();
      return;
    }
    for (const applied of this.applyQueue.splice(0, done)) this.heldBytes -= applied.heldBytes;
    if (this.applyFailingSinceMs !== null) {
      this.logger.info({ failedForMs: this.clock.now().getTime() - this.applyFailingSinceMs }, 'applying stored deliveries works again');
      this.applyFailingSinceMs = null;
      this.nextFailureLogMs = Number.NEGATIVE_INFINITY;
      this.stalledAlerted = false;
      this.stalledAlertFailureLogged = false;
    }
  }

  private retryLater(): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.schedule();
    }, APPLY_RETRY_MS);
    this.retryTimer.unref();
  }

  /** Counts a failed apply slice; past APPLY_STALLED_AFTER_MS raises this episode's alert. */
  private noteApplyFailure(err: unknown): void {
    const nowMs = this.clock.now().getTime();
    this.applyStorageErrors++;
    this.lastApplyError = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
    this.applyFailingSinceMs ??= nowMs;
    // One line when an episode starts, then one a minute: a retry every second must not flood the log.
    if (nowMs >= this.nextFailureLogMs) {
      this.nextFailureLogMs = nowMs + APPLY_FAILURE_LOG_EVERY_MS;
      this.logger.error(
        { err, backlog: this.waiting(), failingForMs: nowMs - this.applyFailingSinceMs, storageErrors: this.applyStorageErrors },
        'could not apply stored deliveries; retrying every second',
      );
    }
    if (this.stalledAlerted || nowMs - this.applyFailingSinceMs < APPLY_STALLED_AFTER_MS) return;
    const fact = { sinceMs: this.applyFailingSinceMs, error: this.lastApplyError, backlog: this.waiting() };
    try {
      // Its own transaction: with the database itself failing this may fail too; then the
      // metric and /readyz still tell, and the next retry tries to store it again.
      this.repo.transaction(() => this.repo.enqueueAlert(applyStalledAlert(fact, nowMs)));
      this.stalledAlerted = true;
      this.logger.error(fact, 'applying stored deliveries has failed for too long; raised apply.stalled');
    } catch (alertErr) {
      if (!this.stalledAlertFailureLogged) {
        this.stalledAlertFailureLogged = true;
        this.logger.error({ err: alertErr, ...fact }, 'applying stored deliveries has failed for too long, and the apply.stalled alert could not be stored either');
      }
    }
  }
}
