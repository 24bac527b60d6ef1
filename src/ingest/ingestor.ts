import { alertOnDeliveryFailed } from '../alerts/facts.js';
import type { Clock } from '../clock.js';
import type { IngestRepo } from '../db/ingest-repo.js';
import type { Logger } from '../logger.js';
import { applyDelivery, isStorageError, storeDelivery, type DeliveryOutcome, type ReceivedDelivery } from './deliveries.js';

interface Waiting {
  delivery: ReceivedDelivery;
  resolve: (outcome: DeliveryOutcome) => void;
  reject: (err: unknown) => void;
}

interface ToApply {
  id: string;
  /** Parsed at store time; absent for deliveries recovered from the database. */
  events?: unknown[];
  receivedAt?: number;
}

/** Upper bound of deliveries stored in one commit; keeps one commit's latency bounded. */
const MAX_STORE_GROUP = 256;
/**
 * Time an apply transaction may take before yielding to storing. While deliveries keep arriving
 * the budget is short, so acknowledgements come first (Enode's 5 s timeout) and applying still
 * progresses; when they stop, the backlog is applied in longer runs.
 */
const APPLY_BUDGET_BUSY_MS = 1;
const APPLY_BUDGET_IDLE_MS = 10;
/** Parsed events kept in memory for this many queued deliveries; beyond, they are parsed again from the database. */
const MAX_PARSED_IN_MEMORY = 1_000;
/** Pause before retrying to apply after a storage error (disk full, I/O). */
const APPLY_RETRY_MS = 1_000;

/**
 * Store, then apply (DESIGN.md "one funnel"):
 * 1. Group commit: deliveries that arrive while the thread is busy are stored as `pending` in one
 *    transaction and acknowledged only after it commits, so one fsync (`synchronous=FULL`)
 *    covers many without weakening "acknowledged ⇒ on disk".
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

  constructor(
    private readonly repo: IngestRepo,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    const recovered = repo.pendingDeliveryIds();
    if (recovered.length > 0) {
      logger.info({ deliveries: recovered.length }, 'applying deliveries stored but not applied before the last stop');
      this.applyQueue = recovered.map((id) => ({ id }));
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

  /** Deliveries stored and waiting to be applied. */
  backlog(): number {
    return this.applyQueue.length;
  }

  /** Stores what is queued and stops; pending deliveries are applied at the next start. */
  close(): void {
    this.flushStores();
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.applyQueue.length > 0) {
      this.logger.info({ deliveries: this.applyQueue.length }, 'stopping with deliveries stored but not applied; they are applied at the next start');
    }
  }

  private isIdle(): boolean {
    return this.storeQueue.length === 0 && this.applyQueue.length === 0;
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    // setImmediate runs after pending I/O callbacks: deliveries received in this turn join the group.
    setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    if (this.closed) return;
    const stored = this.flushStores();
    if (this.retryTimer === undefined) this.applySome(stored > 0 ? APPLY_BUDGET_BUSY_MS : APPLY_BUDGET_IDLE_MS);
    if (!this.isIdle()) {
      if (this.retryTimer === undefined) this.schedule();
      return;
    }
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Stores every queued delivery; returns how many were queued. */
  private flushStores(): number {
    let count = 0;
    while (this.storeQueue.length > 0) {
      const group = this.storeQueue.splice(0, MAX_STORE_GROUP);
      count += group.length;
      let stored: Array<ReturnType<typeof storeDelivery>>;
      try {
        stored = this.repo.transaction(() => group.map((w) => storeDelivery(this.repo, w.delivery, this.logger)));
      } catch (err) {
        this.logger.error({ err, deliveries: group.length }, 'could not store deliveries; answering 503 so Enode retries');
        for (const w of group) w.reject(err);
        continue;
      }
      group.forEach((w, i) => {
        const s = stored[i]!;
        if (s.events) {
          const keep = this.applyQueue.length < MAX_PARSED_IN_MEMORY;
          this.applyQueue.push(keep ? { id: s.outcome.deliveryId, events: s.events, receivedAt: w.delivery.receivedAt } : { id: s.outcome.deliveryId });
        }
        w.resolve(s.outcome);
      });
    }
    return count;
  }

  private applySome(budgetMs: number): void {
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
          const given = next.events && next.receivedAt !== undefined ? { events: next.events, receivedAt: next.receivedAt } : undefined;
          let outcome;
          try {
            outcome = applyDelivery(this.repo, next.id, now, given);
          } catch (err) {
            if (isStorageError(err)) throw err;
            // Not the storage: this delivery alone is at fault; it must not hold up the others.
            const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
            this.repo.finishDelivery(next.id, 'failed', error, null, given?.events.length ?? 0);
            alertOnDeliveryFailed(this.repo.sqlite, { id: next.id, error, eventCount: given?.events.length ?? 0 }, now);
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
      this.logger.error({ err, backlog: this.applyQueue.length }, 'could not apply stored deliveries; retrying');
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.schedule();
      }, APPLY_RETRY_MS);
      this.retryTimer.unref();
      return;
    }
    this.applyQueue.splice(0, done);
  }
}
