import type { IngestRepo } from '../db/ingest-repo.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { storeAndApply, type DeliveryOutcome, type ReceivedDelivery } from './deliveries.js';

interface Waiting {
  delivery: ReceivedDelivery;
  resolve: (outcome: DeliveryOutcome) => void;
  reject: (err: unknown) => void;
}

/** Upper bound of deliveries committed together; keeps one commit's latency bounded. */
const MAX_GROUP = 256;

/**
 * Group commit: deliveries that arrive while the event loop is busy are stored and applied in
 * one transaction and acknowledged only after it commits, so one fsync (`synchronous=FULL`)
 * covers many deliveries without weakening "acknowledged ⇒ on disk". Each delivery is applied in
 * its own savepoint, so one bad delivery never affects another.
 */
export class Ingestor {
  private queue: Waiting[] = [];
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly repo: IngestRepo,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Stores and applies a delivery; resolves once it is durably committed. */
  submit(delivery: ReceivedDelivery): Promise<DeliveryOutcome> {
    if (this.closed) return Promise.reject(new Error('ingestor is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ delivery, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate runs after pending I/O callbacks: requests parsed in this loop turn join the group.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits whatever is queued now. */
  flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, MAX_GROUP);
      let outcomes: DeliveryOutcome[];
      try {
        const now = this.clock.now().getTime();
        outcomes = this.repo.transaction(() => group.map((w) => storeAndApply(this.repo, w.delivery, now)));
      } catch (err) {
        this.logger.error({ err, deliveries: group.length }, 'could not store deliveries; answering 503 so Enode retries');
        for (const w of group) w.reject(err);
        continue;
      }
      for (let i = 0; i < group.length; i++) (group[i] as Waiting).resolve(outcomes[i] as DeliveryOutcome);
    }
  }

  /** Commits what is queued and refuses new deliveries (shutdown). */
  close(): void {
    this.flush();
    this.closed = true;
  }
}
