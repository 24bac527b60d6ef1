/**
 * The alert dispatcher: a job per sink that fans new alerts out (one `alert_deliveries` row per
 * accepting sink), claims the sink's due deliveries, sends them on this thread — never inside a
 * database transaction — and records the results, all state changes through the single writer.
 *
 * Guarantees:
 * - Nothing is dropped on restart: the state lives in the database. A crash after a delivery is
 *   claimed and before its result is recorded sends it again once the lease runs out, with the
 *   same `webhook-id` (receivers de-duplicate on it): at least once.
 * - A sink that is slow or down holds up only its own job: each sink has its own job (the
 *   scheduler never overlaps runs of one job), its own concurrency and a timeout per attempt.
 * - Failures are retried on the schedule in backoff.ts; after the last attempt the delivery is
 *   `dead` (listed by the API, retryable by API and CLI).
 * - A 410 Gone disables the sink until restart (error log); its deliveries stay `pending`, held,
 *   and go out after a restart with the sink fixed (or stay held while it is not configured).
 * - A run told to stop (its job lease lost, or the daemon stopping: the run's signal) claims no
 *   more and starts no more sends; what it sent is recorded, and a claimed delivery it did not
 *   send is left to its claim's expiry — never marked sent. A caller that joins a run already in
 *   progress shares it, and its signal stops that run too.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Store } from '../store/port.js';
import type { JobContext, JobSpec } from '../jobs/scheduler.js';
import type { Logger } from '../logger.js';
import { planRetry } from './backoff.js';
import { toAlertMessage, UnsendableAlertError, type AlertMessage } from './payload.js';
import { createSinks, type FetchFn, type SendResult, type Sink } from './sinks/index.js';
import type { AlertAttemptResult, ClaimedAlertAttempt, SinkSpec } from '../store/port.js';

/** Deliveries sent to one sink at the same time. */
export const SINK_CONCURRENCY = 4;
/** Rounds of SINK_CONCURRENCY deliveries per run at most; the rest follow at the next run. */
const MAX_ROUNDS_PER_RUN = 25;
/** No new round starts after this much wall time in one run (shutdown waits for runs). */
const RUN_BUDGET_MS = 5_000;
/** A claimed delivery is leased for the attempt's timeout plus this margin. */
const LEASE_MARGIN_MS = 60_000;

export interface DispatcherDeps {
  store: Pick<Store, 'alerts'>;
  config: Config['alerts'];
  clock: Clock;
  logger: Logger;
  /** Uniform in [0, 1) for the retry jitter; `Math.random` by default. */
  random?: () => number;
  /** Outbound HTTP; global `fetch` by default. */
  fetch?: FetchFn;
  /** The sinks; built from the configuration by default. */
  sinks?: Sink[];
}

/** What one run did for one sink. */
export interface SinkRunReport {
  sink: string;
  attempted: number;
  delivered: number;
  /** Failed and to be retried (or held: sink disabled). */
  failed: number;
  dead: number;
  disabled: boolean;
}

export interface AlertDispatcher {
  readonly sinks: readonly Sink[];
  /** One scheduler job per sink, every ALERT_DISPATCH_INTERVAL_SECONDS (and at start). */
  jobs(): JobSpec[];
  /**
   * Sends one sink's due deliveries until `signal` aborts; joins a run of that sink already in
   * progress, which then stops when either caller's signal aborts.
   */
  runSink(name: string, now: Date, signal?: AbortSignal): Promise<SinkRunReport>;
  /** Runs every sink at once and waits for all (tests and one-shot use). */
  runAll(now: Date): Promise<SinkRunReport[]>;
  /** True once the sink answered 410 (until restart). */
  isDisabled(name: string): boolean;
}

/** Creates the dispatcher over the store's outbox and the configured sinks. */
export function createAlertDispatcher(deps: DispatcherDeps): AlertDispatcher {
  const { store, clock, logger } = deps;
  const random = deps.random ?? Math.random;
  const sinks = deps.sinks ?? createSinks(deps.config, clock, deps.fetch);
  const specs: SinkSpec[] = sinks.map((s) => ({ name: s.name, types: [...s.types] }));
  const timeoutMs = deps.config.timeoutSeconds * 1000;
  const disabled = new Set<string>();
  const running = new Map<string, SharedRun>();

  const disable = (sink: Sink, error: string) => {
    if (disabled.has(sink.name)) return;
    disabled.add(sink.name);
    logger.error(
      { sink: sink.name, error },
      'alert sink answered 410 Gone: disabled until restart; its alerts are held as pending. Fix or remove it (ALERT_WEBHOOK_URLS / ALERT_SLACK_WEBHOOK_URL) and restart',
    );
  };

  /** One send, or null when told to stop before it: the claim then runs out and another run sends it. */
  const attempt = async (sink: Sink, c: ClaimedAlertAttempt, signal: AbortSignal): Promise<AlertAttemptResult | null> => {
    if (signal.aborted) return null;
    const log = { alertId: c.alertId, type: c.type, sink: sink.name, attempt: c.attempts + 1 };
    let message: AlertMessage;
    try {
      message = toAlertMessage(c);
    } catch (err) {
      if (!(err instanceof UnsendableAlertError)) throw err;
      // Every retry would fail the same way: dead at once, with the reason, instead of a retry schedule.
      logger.error({ ...log, error: err.message }, 'alert cannot be sent; marked dead');
      return { alertId: c.alertId, status: 'dead', counted: true, nextAttemptAtMs: clock.now().getTime(), lastStatus: null, lastError: err.message };
    }
    let result: SendResult;
    try {
      result = await sink.send(message, AbortSignal.timeout(timeoutMs));
    } catch (err) {
      result = { kind: 'failed', status: null, error: (err as Error).message };
    }
    const nowMs = clock.now().getTime();
    if (result.kind === 'delivered') {
      logger.debug({ ...log, status: result.status }, 'alert delivered');
      return { alertId: c.alertId, status: 'delivered', counted: true, nextAttemptAtMs: nowMs, lastStatus: result.status, lastError: null };
    }
    if (result.kind === 'gone') {
      disable(sink, result.error);
      return { alertId: c.alertId, status: 'pending', counted: false, nextAttemptAtMs: nowMs, lastStatus: 410, lastError: `${result.error} (sink disabled until restart)` };
    }
    const plan = planRetry({ attempts: c.attempts + 1, nowMs, random, retryAfterMs: result.retryAfterMs });
    if (plan.status === 'dead') {
      logger.error({ ...log, status: result.status, error: result.error }, `alert dead after ${c.attempts + 1} attempts; retry it with POST /api/v1/alerts/{id}/retry or "enode-sync alerts retry <id>"`);
      return { alertId: c.alertId, status: 'dead', counted: true, nextAttemptAtMs: nowMs, lastStatus: result.status, lastError: result.error };
    }
    logger.warn({ ...log, status: result.status, error: result.error, nextAttemptAt: new Date(plan.nextAttemptAtMs).toISOString() }, 'alert delivery failed; will retry');
    return { alertId: c.alertId, status: 'pending', counted: true, nextAttemptAtMs: plan.nextAttemptAtMs, lastStatus: result.status, lastError: result.error };
  };

  const drain = async (sink: Sink, now: Date, signal: AbortSignal): Promise<SinkRunReport> => {
    const report: SinkRunReport = { sink: sink.name, attempted: 0, delivered: 0, failed: 0, dead: 0, disabled: disabled.has(sink.name) };
    const started = performance.now();
    for (let round = 0; round < MAX_ROUNDS_PER_RUN && !disabled.has(sink.name) && !signal.aborted; round++) {
      const claimed = await store.alerts.claim({ nowMs: now.getTime(), sinks: specs, sink: sink.name, limit: SINK_CONCURRENCY, leaseMs: timeoutMs + LEASE_MARGIN_MS });
      if (claimed.length === 0) break;
      const results = (await Promise.all(claimed.map((c) => attempt(sink, c, signal)))).filter((r) => r !== null);
      // What was sent is recorded even when told to stop meanwhile: it must not be sent again.
      if (results.length > 0) await store.alerts.record({ nowMs: clock.now().getTime(), sink: sink.name, results });
      report.attempted += results.length;
      const delivered = results.filter((r) => r.status === 'delivered').length;
      const dead = results.filter((r) => r.status === 'dead').length;
      report.delivered += delivered;
      report.dead += dead;
      report.failed += results.length - delivered - dead;
      // A round with no success suggests the sink is down: the rest waits for the next run
      // rather than spending a timeout each now.
      if (claimed.length < SINK_CONCURRENCY || delivered === 0 || performance.now() - started > RUN_BUDGET_MS) break;
    }
    report.disabled = disabled.has(sink.name);
    return report;
  };

  const runSink = (name: string, now: Date, signal: AbortSignal = new AbortController().signal): Promise<SinkRunReport> => {
    const sink = sinks.find((s) => s.name === name);
    if (!sink) return Promise.reject(new Error(`no alert sink named "${name}"`));
    // One drain per sink at a time, whoever asks; every caller's signal can stop it, so stop()
    // (or a lost lease) does not wait for a drain another caller started.
    const inProgress = running.get(name);
    if (inProgress) {
      inProgress.follow(signal);
      return inProgress.report;
    }
    const shared = sharedRun(signal, (stop) => drain(sink, now, stop));
    running.set(name, shared);
    void shared.report.finally(() => running.delete(name)).catch(() => undefined);
    return shared.report;
  };

  return {
    sinks,
    jobs: () =>
      sinks.map((s) => ({
        name: `alerts ${s.name}`,
        everySeconds: deps.config.dispatchIntervalSeconds,
        runAtStart: true,
        run: (now: Date, ctx: JobContext) => runSink(s.name, now, ctx.signal),
      })),
    runSink,
    runAll: (now) => Promise.all(sinks.map((s) => runSink(s.name, now))),
    isDisabled: (name) => disabled.has(name),
  };
}

/** A drain shared by the callers that joined it; it stops once any of their signals aborts. */
interface SharedRun {
  report: Promise<SinkRunReport>;
  follow(signal: AbortSignal): void;
}

/** Starts a drain that `signal` (and any joiner's, see `follow`) can stop. */
function sharedRun(signal: AbortSignal, start: (stop: AbortSignal) => Promise<SinkRunReport>): SharedRun {
  const stop = new AbortController();
  const unfollow: Array<() => void> = [];
  const follow = (caller: AbortSignal) => {
    if (caller.aborted) return stop.abort(caller.reason);
    const onAbort = () => stop.abort(caller.reason);
    caller.addEventListener('abort', onAbort, { once: true });
    unfollow.push(() => caller.removeEventListener('abort', onAbort));
  };
  // Followed before the drain starts: it looks at its signal before its first claim.
  follow(signal);
  // The callers' signals may outlive the run (a long-lived one would keep every listener otherwise).
  const report = start(stop.signal).finally(() => unfollow.forEach((f) => f()));
  return { report, follow };
}

/** The dispatcher's jobs for the daemon; none (and one log line) when no sink is configured. */
export function alertJobs(deps: DispatcherDeps): JobSpec[] {
  const dispatcher = createAlertDispatcher(deps);
  if (dispatcher.sinks.length === 0) {
    deps.logger.info('no alert sinks configured (ALERT_WEBHOOK_URLS, ALERT_SLACK_WEBHOOK_URL): alerts are kept in the outbox and sent once a sink is configured');
  }
  const configured = dispatcher.sinks.map((s) => s.name);
  const retire: JobSpec = {
    name: 'alert-sinks-check',
    everySeconds: 86_400,
    runAtStart: true,
    // Once a day across replicas configured alike; a replica restarted with a sink removed has
    // another key, so its run at start retires that sink's alerts at once instead of up to a day later.
    leaseKey: sinkSetKey(configured),
    run: async (now, { signal }) => {
      if (signal.aborted) return 0;
      const retired = await deps.store.alerts.retireSinks({ nowMs: now.getTime(), configured });
      if (retired > 0) {
        deps.logger.warn({ deliveries: retired }, 'pending alerts for sinks no longer configured are now dead: see GET /api/v1/alerts?status=dead');
      }
      return retired;
    },
  };
  return [...dispatcher.jobs(), retire];
}

/** A short stable name for a set of sink names (their order aside), for a lease's name. */
export function sinkSetKey(names: readonly string[]): string {
  return createHash('sha256').update([...names].sort().join('\n')).digest('hex').slice(0, 16);
}
