/**
 * The storage port: every write and every piece of state the features need, as one async
 * interface over plain data (arguments and results may cross a thread or a network).
 *
 *   domain (pure) → features (ingest, reconcile, gateway, alerts, sync, retention, api, ui)
 *                 → store/port.ts (this) → store/sqlite (writer thread) | store/postgres (pool)
 *
 * Nothing above this file imports an adapter; only the composition root (deps.ts, daemon.ts,
 * main.ts) chooses one. Decisions stay in the features and in domain/; the adapters store them.
 */
import type { NewAlert } from '../alerts/types.js';
import type { Note } from '../domain/guards.js';
import type { ApplyResult } from '../ingest/apply.js';
import type { DeliveryOutcome, ReceivedDelivery } from '../ingest/deliveries.js';
import type { FindingStateChange, FindingStateOutcome } from './finding-state.js';
import type { Leases } from './leases.js';
import type { SubscriptionStore } from '../subscriptions/types.js';

export type { LeaseArgs, Leases } from './leases.js';

/** How applying stored deliveries is going (readiness, /metrics, the `apply.stalled` alert). */
export interface ApplyHealth {
  /** Since when (epoch ms) applying has failed with storage errors; null while it works. */
  applyFailingSinceMs: number | null;
  /** True once it has failed for long enough to stop answering ready (store/sqlite/ingestor.ts APPLY_STALLED_AFTER_MS). */
  applyStalled: boolean;
  /** Storage errors while applying since start. */
  applyStorageErrors: number;
  /** The last of them, for the log and the alert (never sent to HTTP clients). */
  lastApplyError: string | null;
  /** Deliveries stored and waiting to be applied. */
  backlog: number;
}

export type EventApplyResult = ApplyResult | { event: string; error: string };

/** One poll of an action by the pending-actions poller. */
export interface ActionPoll {
  id: string;
  polledAt: number;
  upstream: 'not_found' | 'stale' | null;
}

export interface ReconcileArgs {
  /** Wall-clock now (default: the store's clock). */
  nowMs?: number;
  /** Stop starting new devices after this many ms (default: the adapter's time box). */
  budgetMs?: number;
}

export interface ReconcileRun {
  devices: number;
  /** Ids of findings raised by this run. */
  findings: string[];
  /** Devices that failed to reconcile (logged; retried later). */
  errors: number;
  /** True when due devices remain (the budget ran out). */
  more: boolean;
  /** True when nothing was done because deliveries wait to be applied first. */
  deferred: boolean;
}

export interface PruneArgs {
  /** Delete what is older than this (epoch ms). */
  cutoffMs: number;
  budgetMs?: number;
  /** The run's time (default: the store's clock): a subscription delivery claimed past it is being sent and left alone. */
  nowMs?: number;
}

export interface PruneResult {
  deleted: Record<string, number>;
  /** True when old rows remain (the budget ran out). */
  more: boolean;
}

/** A configured alert sink as the outbox needs it: its stable name and the types it takes. */
export interface SinkSpec {
  name: string;
  types: string[];
}

/** A due alert attempt handed to the dispatcher, with its alert. */
export interface ClaimedAlertAttempt {
  alertId: string;
  sink: string;
  /** Attempts made before this one. */
  attempts: number;
  type: string;
  deviceId: string | null;
  userId: string | null;
  createdAtMs: number;
  /** The alert's `data`, as stored (JSON text). */
  data: string;
}

/** What became of one alert attempt, decided by the dispatcher (pure rules in alerts/backoff.ts). */
export interface AlertAttemptResult {
  alertId: string;
  status: 'pending' | 'delivered' | 'dead';
  /** False when the sink is disabled (410): the attempt is held and does not count. */
  counted: boolean;
  nextAttemptAtMs: number;
  lastStatus: number | null;
  lastError: string | null;
}

export interface AlertClaimArgs {
  nowMs: number;
  /** Every configured sink, for the fan-out. */
  sinks: SinkSpec[];
  /** The sink to claim for. */
  sink: string;
  limit: number;
  /** A claimed attempt is not claimed again (by any replica) before this many ms. */
  leaseMs: number;
}

/** Outcome of a manual retry: `found` false for an unknown alert, `sinks` empty when nothing was dead. */
export interface AlertRetryOutcome {
  found: boolean;
  sinks: string[];
}

/** The alert outbox: fan-out to sinks, claims with leases, results, manual retries. */
export interface AlertOutbox {
  /** Fans out new alerts, then claims the sink's due attempts, each leased for `leaseMs`. */
  claim(args: AlertClaimArgs): Promise<ClaimedAlertAttempt[]>;
  /** Records the results of attempts to one sink; an attempt no longer pending is left alone. Returns how many changed. */
  record(args: { nowMs: number; sink: string; results: AlertAttemptResult[] }): Promise<number>;
  /**
   * Makes an alert's dead attempts pending again, to sinks still configured (`configured`; the
   * others are retired with the reason). Without `configured` (the CLI, which cannot know the
   * daemon's sinks) every dead attempt is made pending again.
   */
  retry(args: { alertId: string; nowMs: number; configured?: string[] | undefined }): Promise<AlertRetryOutcome>;
  /** Raises an alert for a fact the store did not see (e.g. the Enode webhook's health). */
  raise(alert: NewAlert): Promise<{ id: string; inserted: boolean }>;
  /** Attempts pending for sinks not in `configured` become dead, with the reason. Returns how many. */
  retireSinks(args: { nowMs: number; configured: string[] }): Promise<number>;
}

/** One entry of the gateway's command log. */
export interface CommandRecord {
  id: string;
  deviceId: string;
  deviceType: string;
  /** `charging`, `max-current`, `permanent-hold`, `follow-schedule`, `operation-mode` or `cancel`. */
  command: string;
  /** The request body as JSON text (`{}` for follow-schedule and cancel). */
  body: string;
  requestedAtMs: number;
  outcome: 'sending' | 'sent' | 'unknown' | 'collapsed' | 'refused' | 'failed';
  actionId: string | null;
  override: boolean;
  notes: Note[];
  error: string | null;
}

export interface Store {
  readonly engine: 'sqlite' | 'postgres';
  /** Stores a verified delivery; resolves once it is durably committed (applied moments later). */
  submit(delivery: ReceivedDelivery): Promise<DeliveryOutcome>;
  /** Resolves when every delivery stored so far has been applied; rejects when the database stays unreachable (Postgres: 10 s). */
  idle(): Promise<void>;
  /** Applies a stored delivery again; undefined for an unknown id. */
  replay(deliveryId: string): Promise<DeliveryOutcome | undefined>;
  /**
   * Applies Enode-shaped events learned by polling (or created by the gateway) through the same
   * funnel as webhooks, each in its own savepoint: one bad event fails alone.
   */
  applyEvents(events: unknown[], source: 'poll' | 'gateway'): Promise<EventApplyResult[]>;
  /** Records polls of actions: the poller's backoff, and flags for actions Enode lost or never resolves. */
  recordActionPolls(polls: ActionPoll[]): Promise<void>;
  /** Judges the devices whose history changed or whose grace ended, within a time box. */
  reconcile(args?: ReconcileArgs): Promise<ReconcileRun>;
  /** Deletes history older than the cutoff, in batches, within a time box. */
  prune(args: PruneArgs): Promise<PruneResult>;
  alerts: AlertOutbox;
  /** Outbound subscriptions to the event log: their settings, fan-out, claimed sends, results, retries and replays. */
  subscriptions: SubscriptionStore;
  /** Writes one command of the gateway's log (a later record of the same id updates its outcome). */
  recordCommand(record: CommandRecord): Promise<{ id: string }>;
  /**
   * An operator acknowledges or resolves a finding, with a note: the finding's state and its
   * `interference.acknowledged` / `interference.resolved` event commit together (store/finding-state.ts).
   */
  setFindingState(change: FindingStateChange): Promise<FindingStateOutcome>;
  /** Records a dashboard logout until `expiresAtMs`, and forgets those expired by `nowMs`. */
  revokeUiSession(args: { id: string; expiresAtMs: number; nowMs: number }): Promise<{ pruned: number }>;
  /** Named leases held by one replica at a time: periodic jobs, the gateway's per-device lock. */
  leases: Leases;
  /**
   * Transactions this process ran again after a serialization failure (`40001`) or a deadlock
   * (`40P01`), by SQLSTATE, since start. Always empty on SQLite (one writer: nothing to retry).
   */
  transactionRetries(): Record<string, number>;
  /**
   * Events applied by this process since start, by event and outcome (its share of /metrics);
   * `version` is set for events of an API version this build does not understand.
   */
  appliedEventCounts(): Promise<Array<{ event: string; outcome: string; version?: string; count: number }>>;
  /**
   * Proves the database is writable (a real commit, reused for a second under a probe flood).
   * Resolves with how applying is going; rejects when the write fails.
   */
  ping(): Promise<ApplyHealth>;
  /** How applying is going, without writing (for /metrics). */
  health(): Promise<ApplyHealth>;
  /** Commits what is queued, then stops. */
  close(): Promise<void>;
}
