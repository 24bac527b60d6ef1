/**
 * `GET /metrics` (Prometheus text, prom-client): counters kept where things happen (the webhook
 * route, the Enode client, the writer thread's apply counts fetched on scrape) and gauges read
 * from the database on scrape through the read port's indexed aggregates (one read per scrape,
 * shared by every gauge), so a scrape costs little at any size and answers alike on either engine.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from './clock.js';
import type { EnodeRequestStats } from './enode/stats.js';
import type { Store } from './store/port.js';
import type { MetricGauges, ReadStore } from './store/read.js';
import { eventLabel } from './ingest/events.js';
import { UNDERSTOOD_VERSION, versionLabel } from './domain/payload-version.js';
import type { EventFeed } from './events/stream.js';
import { createEventTally } from './events/tally.js';

/** How the webhook route answered: `accepted`, `duplicate`, `quarantined`, `unauthorized`, `too_large`, `unavailable`. */
/** How a webhook request was answered; `aborted`/`timeout`: the client's body never arrived whole (closed, or past the deadline). */
export type DeliveryResult = 'accepted' | 'duplicate' | 'quarantined' | 'unauthorized' | 'too_large' | 'aborted' | 'timeout' | 'unavailable';

export interface Metrics {
  registry: Registry;
  /** Called by the webhook route for every request it answers. */
  recordDelivery(result: DeliveryResult, seconds: number): void;
  /** Text for `GET /metrics`. */
  render(): Promise<string>;
  contentType: string;
}

export interface MetricsSources {
  read: Pick<ReadStore, 'metricGauges' | 'eventTypes' | 'lastEventPosition'>;
  /** The process's live event feed (`GET /api/v1/events/stream`, the dashboard's live tail). */
  eventFeed?: Pick<EventFeed, 'size' | 'disconnects'>;
  clock: Clock;
  store: Store;
  /** The Enode client's request counts (absent without credentials). */
  enodeStats?: () => EnodeRequestStats | undefined;
  /** Collect Node's process metrics (off in tests that build many apps). */
  processMetrics?: boolean;
}

const PREFIX = 'enode_sync_';
/** Distinct foreign versions that get a series of their own in webhook_version_mismatch_total. */
const MAX_VERSION_SERIES = 16;


/** Action states Enode documents; any other stored state is counted as `other`. */
const ACTION_STATES: ReadonlySet<string> = new Set(['PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED']);

export function createMetrics(src: MetricsSources): Metrics {
  const registry = new Registry();
  if (src.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: PREFIX });
  // One read of the stored figures per scrape: prom-client collects the metrics of one scrape
  // concurrently, so every gauge below shares the pending answer.
  let gaugesAsked: Promise<MetricGauges> | undefined;
  const gauges = () => {
    gaugesAsked ??= src.read.metricGauges(src.clock.now().getTime()).finally(() => {
      gaugesAsked = undefined;
    });
    return gaugesAsked;
  };

  const deliveries = new Counter({
    name: `${PREFIX}webhook_requests_total`,
    help: 'POST /webhooks/enode requests by result (accepted, duplicate, quarantined, unauthorized, too_large, aborted, timeout, unavailable)',
    labelNames: ['result'],
    registers: [registry],
  });
  const ingestLatency = new Histogram({
    name: `${PREFIX}webhook_ack_seconds`,
    help: 'Time from receiving a webhook request to answering it (verification and durable storage included)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    labelNames: ['result'],
    registers: [registry],
  });
  new Gauge({
    name: `${PREFIX}deliveries`,
    help: 'Stored webhook deliveries by status (pending, applied, failed, quarantined)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const { deliveriesByStatus } = await gauges();
      this.reset();
      for (const [status, n] of Object.entries(deliveriesByStatus)) this.set({ status }, n);
    },
  });
  new Counter({
    name: `${PREFIX}events_applied_total`,
    help: 'Events applied through the funnel since start, by event type and outcome (applied, recorded, duplicate)',
    labelNames: ['event', 'outcome'],
    registers: [registry],
    async collect() {
      this.reset();
      // inc adds up: every unknown name lands in the one `other` series. Outcomes are our own
      // (ApplyOutcome in ingest/apply.ts), a fixed set.
      for (const c of await src.store.appliedEventCounts()) this.inc({ event: eventLabel(c.event), outcome: c.outcome }, c.count);
    },
  });
  // Foreign versions come from payloads: a date-shaped one is its own series (at most
  // MAX_VERSION_SERIES of them, kept in the order first seen so that a series never moves),
  // anything else and any beyond that `other`.
  const versionSeries = new Set<string>();
  new Counter({
    name: `${PREFIX}webhook_version_mismatch_total`,
    help: `Webhook events of an API version this build does not understand (it understands ${UNDERSTOOD_VERSION}), applied or recorded since start, by version; duplicates not counted`,
    labelNames: ['version'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await src.store.appliedEventCounts()) {
        if (c.version === undefined || c.outcome === 'duplicate') continue;
        let version = versionLabel(c.version);
        if (version !== 'other' && !versionSeries.has(version)) {
          if (versionSeries.size < MAX_VERSION_SERIES) versionSeries.add(version);
          else version = 'other';
        }
        this.inc({ version }, c.count);
      }
    },
  });
  new Counter({
    name: `${PREFIX}store_transaction_retries_total`,
    help: 'Transactions run again after a serialization failure (40001) or a deadlock (40P01), by SQLSTATE (Postgres; replicas contending for the same rows)',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, count] of Object.entries(src.store.transactionRetries())) this.inc({ code }, count);
    },
  });
  // One round trip to the writer per scrape for the three apply figures (prom-client collects
  // the metrics of one scrape concurrently, so they share the pending answer).
  let healthAsked: ReturnType<Store['health']> | undefined;
  const applyHealth = () => {
    healthAsked ??= src.store.health().finally(() => {
      healthAsked = undefined;
    });
    return healthAsked;
  };
  new Gauge({
    name: `${PREFIX}apply_failing`,
    help: 'Applying stored deliveries has failed with storage errors for longer than the stall threshold (1) or not (0); /readyz answers 503 meanwhile',
    registers: [registry],
    async collect() {
      this.set((await applyHealth()).applyStalled ? 1 : 0);
    },
  });
  new Gauge({
    name: `${PREFIX}apply_failing_seconds`,
    help: 'How long applying stored deliveries has been failing with storage errors (0: it works)',
    registers: [registry],
    async collect() {
      const since = (await applyHealth()).applyFailingSinceMs;
      this.set(since === null ? 0 : Math.max(0, (src.clock.now().getTime() - since) / 1000));
    },
  });
  new Counter({
    name: `${PREFIX}apply_storage_errors_total`,
    help: 'Storage errors (I/O, corrupt pages, read-only file, full disk) while applying stored deliveries, since start',
    registers: [registry],
    async collect() {
      this.reset();
      this.inc((await applyHealth()).applyStorageErrors);
    },
  });
  new Gauge({
    name: `${PREFIX}actions`,
    help: 'Vendor actions by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const { actionsByState } = await gauges();
      this.reset();
      // The state comes from payloads (unknown enum values are kept): only Enode's four are labels.
      for (const [state, n] of Object.entries(actionsByState)) this.inc({ state: ACTION_STATES.has(state) ? state : 'other' }, n);
    },
  });
  new Gauge({
    name: `${PREFIX}devices`,
    help: 'Known devices by type',
    labelNames: ['type'],
    registers: [registry],
    async collect() {
      const { devicesByType } = await gauges();
      this.reset();
      for (const [type, n] of Object.entries(devicesByType)) this.set({ type }, n);
    },
  });
  new Gauge({
    name: `${PREFIX}findings`,
    help: 'Interference findings by kind',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const { findingsByKind } = await gauges();
      this.reset();
      for (const kind of ['ACTION_OVERRIDDEN', 'UNEXPECTED_CHANGE', 'ACTION_CONFLICT']) this.set({ kind }, 0);
      for (const [kind, n] of Object.entries(findingsByKind)) this.set({ kind }, n);
    },
  });
  new Gauge({
    name: `${PREFIX}alerts`,
    help: 'Alert deliveries by status (pending, delivered, dead); `unrouted` counts alerts not yet fanned out to sinks',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const { alertDeliveriesByStatus, alertsUnrouted } = await gauges();
      this.reset();
      for (const status of ['pending', 'dead']) this.set({ status }, 0);
      for (const [status, n] of Object.entries(alertDeliveriesByStatus)) this.set({ status }, n);
      this.set({ status: 'unrouted' }, alertsUnrouted);
    },
  });
  new Counter({
    name: `${PREFIX}enode_requests_total`,
    help: 'Requests to the Enode API (token requests and retries included) by HTTP status, or network / timeout',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      this.reset();
      const stats = src.enodeStats?.();
      if (stats) for (const [status, n] of Object.entries(stats.byStatus)) this.inc({ status }, n);
    },
  });
  const secondsSince = (ms: number | null) => (ms !== null ? Math.max(0, (src.clock.now().getTime() - ms) / 1000) : -1);
  new Gauge({
    name: `${PREFIX}seconds_since_last_webhook`,
    help: 'Seconds since the last webhook delivery was stored (-1: none yet)',
    registers: [registry],
    async collect() {
      this.set(secondsSince((await gauges()).lastWebhookMs));
    },
  });
  new Gauge({
    name: `${PREFIX}seconds_since_last_heartbeat`,
    help: 'Seconds since the last system:heartbeat from Enode (-1: none yet)',
    registers: [registry],
    async collect() {
      this.set(secondsSince((await gauges()).lastHeartbeatMs));
    },
  });
  new Gauge({
    name: `${PREFIX}oldest_pending_action_seconds`,
    help: 'Age of the oldest PENDING action the poller still follows (0: none): how far behind Enode the daemon may be',
    registers: [registry],
    async collect() {
      const ms = (await gauges()).oldestPendingActionMs;
      this.set(ms !== null ? Math.max(0, (src.clock.now().getTime() - ms) / 1000) : 0);
    },
  });
  new Gauge({
    name: `${PREFIX}reconcile_queue_due`,
    help: 'Devices due for the reconciler now (a growing number means it falls behind)',
    registers: [registry],
    async collect() {
      this.set((await gauges()).reconcileDue);
    },
  });

  const tally = createEventTally(src.read);
  new Counter({
    name: `${PREFIX}events_appended_total`,
    help: 'Events appended to the event log since the first scrape, by type, read from the log (committed only; on Postgres every replica counts every replica’s events)',
    labelNames: ['type'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [type, n] of await tally.counts()) this.inc({ type }, n);
    },
  });
  new Gauge({
    name: `${PREFIX}event_stream_clients`,
    help: 'Clients connected to the event stream now (GET /api/v1/events/stream and the dashboard’s live tail)',
    registers: [registry],
    collect() {
      this.set(src.eventFeed?.size ?? 0);
    },
  });
  new Counter({
    name: `${PREFIX}event_stream_disconnects_total`,
    help: 'Event stream clients ended, by reason: client (it left), shutdown, slow_consumer, cursor_expired (retention passed it), logout (its dashboard session ended)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(src.eventFeed?.disconnects() ?? {})) this.inc({ reason }, n);
    },
  });

  return {
    registry,
    contentType: registry.contentType,
    recordDelivery(result, seconds) {
      deliveries.inc({ result });
      ingestLatency.observe({ result }, seconds);
    },
    render: () => registry.metrics(),
  };
}
