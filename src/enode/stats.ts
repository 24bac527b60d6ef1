/** A snapshot of outbound request counts (for the metrics endpoint). */
export interface EnodeRequestStats {
  /** HTTP exchanges attempted, retries and token requests included. */
  requests: number;
  /** Attempts by outcome: HTTP status as a string, or `network` / `timeout` when no response came. */
  byStatus: Record<string, number>;
  /** Attempts that were a retry of an earlier one. */
  retries: number;
}

/** In-memory counters; plain numbers so that the metrics module can export them however it likes. */
export class RequestCounter {
  private requests = 0;
  private retries = 0;
  private readonly byStatus = new Map<string, number>();

  /** Records one attempt's outcome. */
  record(outcome: number | 'network' | 'timeout'): void {
    this.requests += 1;
    const key = String(outcome);
    this.byStatus.set(key, (this.byStatus.get(key) ?? 0) + 1);
  }

  recordRetry(): void {
    this.retries += 1;
  }

  /** A copy: callers cannot change the counters through it. */
  snapshot(): EnodeRequestStats {
    return { requests: this.requests, byStatus: Object.fromEntries(this.byStatus), retries: this.retries };
  }
}
