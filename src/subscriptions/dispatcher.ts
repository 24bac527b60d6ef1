/**
 * The subscription dispatcher: fans the event log out to each subscription's deliveries, claims
 * the due ones with a lease, sends them as Standard Webhooks — never inside a database
 * transaction — and records the results.
 *
 * Guarantees:
 * - At least once: state lives in the database. A send whose result is not recorded (a crash, a
 *   lost job lease, a stop) is sent again once its claim expires, with the same `webhook-id` (the
 *   event id), so receivers de-duplicate on it.
 * - One slow endpoint never delays another: the job (`serve`) gives every subscription a lane of
 *   its own that loops — fan out, claim, send, record, and when nothing is due wait — without
 *   waiting for any other lane. A hanging endpoint holds only its own lane (until the attempt's
 *   timeout); the others keep sending. At most SUBSCRIPTION_CONCURRENCY lanes are in a round at
 *   once (a round: up to CLAIM_BATCH deliveries claimed at once, sent SEND_CONCURRENCY at a time,
 *   their results recorded together), so that many endpoints would have to hang together before
 *   another one waits.
 * - Soon after it is written: an idle lane wakes when the log's head moves (read once for all
 *   lanes every `headPollMs`, EVENTS_STREAM_POLL_MS in the daemon), and at least every `pollMs`
 *   for retries that came due. Three writes (fan-out, claim, record) carry a whole batch, so a
 *   subscription keeps up with the log under a burst (`npm run bench`, event log section).
 * - Failures are retried on the alert schedule (alerts/backoff.ts); after the last attempt the
 *   delivery is `dead` (listed by the API, retryable there).
 * - Paused: its deliveries are still queued but none is claimed. Deleted: its deliveries go with
 *   it (a result for one is then a no-op).
 * - During a secret rotation both secrets sign: `webhook-signature` carries one `v1,…` per secret,
 *   space-separated, as the spec allows; a receiver holding either verifies.
 * - A run told to stop (its signal: the daemon stopping, or its job lease lost) starts no more
 *   rounds and aborts the sends in flight. What was sent is recorded; an aborted send records
 *   nothing — its claim expires and it is sent again, with the same `webhook-id`.
 * - With SUBSCRIPTION_ALLOW_PRIVATE_URLS=false, a URL whose name resolves to a private address
 *   right before the send is not sent to (address-policy.ts); the attempt fails with the reason.
 * - Secrets and URLs (whose paths may carry tokens) are never logged: subscription ids and hosts are.
 */
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { planRetry } from '../alerts/backoff.js';
import { postJson } from '../alerts/sinks/http.js';
import type { FetchFn, SendResult } from '../alerts/sinks/types.js';
import { presentEvent } from '../api/events-routes.js';
import type { Clock } from '../clock.js';
import type { JobSpec } from '../jobs/scheduler.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/port.js';
import { defaultLookup, privateUrlRefusal, type LookupFn } from './address-policy.js';
import { SUBSCRIPTION_EVENT_PRUNED, type ClaimedSubscriptionDelivery, type SubscriptionAttemptResult, type SubscriptionTarget } from './types.js';

/** Subscriptions in a round (sending) at the same time. */
export const SUBSCRIPTION_CONCURRENCY = 16;
/** Deliveries sent to one subscription at the same time. */
export const SEND_CONCURRENCY = 8;
/** Deliveries claimed (and their results recorded) together in one round. */
export const CLAIM_BATCH = 64;
/** Events of the log looked at per fan-out step. */
const FAN_OUT_BATCH = 500;
/** Rounds per subscription and run() at most; the rest follow at the next run. */
const MAX_ROUNDS_PER_RUN = 25;
/** run(): no new round starts after this much wall time. */
const RUN_BUDGET_MS = 5_000;
/** A claim lasts the attempt's timeout plus this margin. */
const LEASE_MARGIN_MS = 60_000;

export interface SubscriptionDispatcherDeps {
  store: Pick<Store, 'subscriptions'>;
  clock: Clock;
  logger: Logger;
  /** One attempt's time limit (ALERT_TIMEOUT_SECONDS). */
  timeoutMs: number;
  /** Uniform in [0, 1) for the retry jitter; `Math.random` by default. */
  random?: () => number;
  /** Outbound HTTP; global `fetch` by default. */
  fetch?: FetchFn;
  /** This dispatcher's claim holder id; a fresh random one by default. */
  holder?: string;
  /** SUBSCRIPTION_ALLOW_PRIVATE_URLS (default true): false refuses sends to names that resolve to private addresses. */
  allowPrivateUrls?: boolean;
  /** Name resolution for that check; dns.lookup by default. */
  lookup?: LookupFn;
  /** serve(): how long an idle lane waits before it looks for due deliveries (retries) again (default: the job's interval). */
  pollMs?: number;
  /** serve(): the log's last position (ReadStore.lastEventPosition); with it, idle lanes wake as soon as the log grows. */
  head?: () => Promise<number>;
  /** serve(): how often `head` is read while lanes are idle (default 250 ms). */
  headPollMs?: number;
}

/** What one run did for one subscription. */
export interface SubscriptionRunReport {
  subscriptionId: string;
  queued: number;
  attempted: number;
  sent: number;
  /** Failed and to be retried. */
  failed: number;
  dead: number;
}

export interface SubscriptionDispatcher {
  /** One pass: every subscription's lane sends what is due until none is left, out of budget, or `signal` aborts (tests, one-shot use). */
  run(signal?: AbortSignal): Promise<SubscriptionRunReport[]>;
  /** Lanes per subscription, each looping on its own, until `signal` aborts; the subscriptions are looked up again every `pollMs`. */
  serve(signal: AbortSignal, pollMs: number): Promise<void>;
  /**
   * The job: a run that serves until the scheduler stops it or its lease is lost (one replica at a
   * time under the scheduler's lease, renewed while it runs; the claims make overlap safe anyway).
   */
  job(everySeconds: number): JobSpec;
}

/**
 * How long a claim lasts: the batch's sends, SEND_CONCURRENCY at a time, even when every one of
 * them runs into the attempt's timeout, plus a margin. A send whose result is not recorded by
 * then (a crash, a stop) goes out again after it.
 */
export function claimLeaseMs(timeoutMs: number): number {
  return timeoutMs * Math.ceil(CLAIM_BATCH / SEND_CONCURRENCY) + LEASE_MARGIN_MS;
}

/** The `webhook-signature` value: one signature per secret that signs now, space-separated. */
export function signatureHeader(target: Pick<SubscriptionTarget, 'secret' | 'previousSecret' | 'previousSecretUntilMs'>, msgId: string, at: Date, body: string): string {
  const secrets = [target.secret];
  if (target.previousSecret && target.previousSecretUntilMs !== null && target.previousSecretUntilMs > at.getTime()) secrets.push(target.previousSecret);
  return secrets.map((s) => new Webhook(s).sign(msgId, at, body)).join(' ');
}

const hostOf = (url: string): string => {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid-url';
  }
};

/** Runs `fn` over `items`, at most `limit` at a time. */
async function pooled<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** At most `limit` holders at once; the others wait in order. */
function semaphore(limit: number): { acquire(): Promise<() => void> } {
  let held = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else held--;
  };
  return {
    acquire: () =>
      new Promise((resolve) => {
        if (held < limit) {
          held++;
          resolve(release);
        } else waiting.push(() => resolve(release));
      }),
  };
}

/** Waits `ms` (real time), or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** What one round (fan-out, one claim, its sends, their record) did. */
interface RoundReport extends Omit<SubscriptionRunReport, 'subscriptionId'> {
  /** Deliveries claimed: fewer than CLAIM_BATCH means none other was due. */
  claimed: number;
}

/**
 * The log's head, read once for every idle lane: `wait` resolves when the head moved past what the
 * caller last saw, after `ms`, or when `signal` aborts — whichever comes first.
 */
function headWatch(read: () => Promise<number>, everyMs: number, signal: AbortSignal, logger: Logger) {
  let head = -1;
  const waiters = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  // Stopped: no read is left scheduled (an embedding host's process must be free to exit).
  signal.addEventListener(
    'abort',
    () => {
      clearTimeout(timer);
      timer = undefined;
    },
    { once: true },
  );
  const tick = async () => {
    timer = undefined;
    if (signal.aborted || waiters.size === 0) return;
    try {
      const h = await read();
      if (h !== head) {
        head = h;
        for (const w of [...waiters]) w();
      }
    } catch (err) {
      logger.warn({ err }, 'could not read the event log head; subscription lanes fall back to their poll');
    }
    if (!signal.aborted && waiters.size > 0 && timer === undefined) timer = setTimeout(() => void tick(), everyMs);
  };
  return {
    /** The head as last read (-1 before the first read). */
    get current() {
      return head;
    },
    wait(seen: number, ms: number): Promise<void> {
      if (signal.aborted) return Promise.resolve();
      if (head > seen) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(fallback);
          waiters.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        const fallback = setTimeout(done, ms);
        signal.addEventListener('abort', done, { once: true });
        waiters.add(done);
        if (timer === undefined) timer = setTimeout(() => void tick(), everyMs);
      });
    },
  };
}

const emptyReport = (subscriptionId: string): SubscriptionRunReport => ({ subscriptionId, queued: 0, attempted: 0, sent: 0, failed: 0, dead: 0 });

export function createSubscriptionDispatcher(deps: SubscriptionDispatcherDeps): SubscriptionDispatcher {
  const { store, clock, logger } = deps;
  const random = deps.random ?? Math.random;
  const fetchFn: FetchFn = deps.fetch ?? ((url, init) => fetch(url, init));
  const holder = deps.holder ?? `subs:${randomUUID()}`;
  const allowPrivate = deps.allowPrivateUrls ?? true;
  const lookup = deps.lookup ?? defaultLookup;
  const nowMs = () => clock.now().getTime();

  /** One send and what became of it; null when it was stopped by `signal` (nothing to record: the claim expires). */
  const attempt = async (target: SubscriptionTarget, c: ClaimedSubscriptionDelivery, signal: AbortSignal): Promise<SubscriptionAttemptResult | null> => {
    const log = { subscriptionId: target.id, host: hostOf(target.url), eventId: c.eventId, attempt: c.attempts + 1 };
    if (signal.aborted) return null;
    if (!c.event) {
      // Retention deleted the event before it could be sent: every retry would find nothing.
      logger.error(log, 'subscription delivery dead: its event was deleted by retention (RETENTION_DAYS) before it could be sent');
      return { position: c.position, status: 'dead', nextAttemptAtMs: nowMs(), lastStatus: null, lastError: SUBSCRIPTION_EVENT_PRUNED };
    }
    const body = JSON.stringify(presentEvent({ position: c.position, ...c.event }));
    const at = clock.now();
    const headers = {
      'webhook-id': c.eventId,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signatureHeader(target, c.eventId, at, body),
    };
    let result: SendResult;
    try {
      const refusal = allowPrivate ? null : await privateUrlRefusal(target.url, lookup);
      result = refusal
        ? { kind: 'failed', status: null, error: refusal }
        : // The run's signal aborts the send too: a stopped run leaves no request in flight.
          await postJson({ url: target.url, body, headers, signal: AbortSignal.any([signal, AbortSignal.timeout(deps.timeoutMs)]), fetch: fetchFn, clock });
    } catch (err) {
      result = { kind: 'failed', status: null, error: (err as Error).message };
    }
    // Stopped mid-send: whether the receiver got it is unknown, so nothing is recorded and the
    // claim's expiry sends it again (same webhook-id). A send that did succeed is recorded.
    if (signal.aborted && result.kind !== 'delivered') return null;
    const doneMs = nowMs();
    if (result.kind === 'delivered') return { position: c.position, status: 'sent', nextAttemptAtMs: doneMs, lastStatus: result.status, lastError: null };
    const retryAfterMs = result.kind === 'failed' ? result.retryAfterMs : undefined;
    const plan = planRetry({ attempts: c.attempts + 1, nowMs: doneMs, random, retryAfterMs });
    if (plan.status === 'dead') {
      logger.error({ ...log, status: result.status, error: result.error }, `subscription delivery dead after ${c.attempts + 1} attempts; retry it with POST /api/v1/subscriptions/{id}/deliveries/{eventId}/retry`);
      return { position: c.position, status: 'dead', nextAttemptAtMs: doneMs, lastStatus: result.status, lastError: result.error };
    }
    logger.warn({ ...log, status: result.status, error: result.error, nextAttemptAt: new Date(plan.nextAttemptAtMs).toISOString() }, 'subscription delivery failed; will retry');
    return { position: c.position, status: 'pending', nextAttemptAtMs: plan.nextAttemptAtMs, lastStatus: result.status, lastError: result.error };
  };

  /** Fans out what is new for the subscription, claims its due deliveries, sends them side by side and records the results. */
  const round = async (target: SubscriptionTarget, signal: AbortSignal): Promise<RoundReport> => {
    const report: RoundReport = { queued: 0, attempted: 0, sent: 0, failed: 0, dead: 0, claimed: 0 };
    // Fanned out every round, so events written while this lane sends reach it without waiting.
    for (let step = 0; step < MAX_ROUNDS_PER_RUN && !signal.aborted; step++) {
      const f = await store.subscriptions.fanOut({ id: target.id, nowMs: nowMs(), limit: FAN_OUT_BATCH });
      report.queued += f.queued;
      if (!f.more) break;
    }
    if (target.paused || signal.aborted) return report;
    const claimed = await store.subscriptions.claim({ id: target.id, holder, nowMs: nowMs(), limit: CLAIM_BATCH, leaseMs: claimLeaseMs(deps.timeoutMs) });
    report.claimed = claimed.length;
    if (claimed.length === 0) return report;
    const results = (await pooled(claimed, SEND_CONCURRENCY, (c) => attempt(target, c, signal))).filter((r) => r !== null);
    // Recorded even when told to stop meanwhile: what was sent must not be sent again.
    if (results.length > 0) await store.subscriptions.record({ id: target.id, holder, nowMs: nowMs(), results });
    report.attempted = results.length;
    report.sent = results.filter((r) => r.status === 'sent').length;
    report.dead = results.filter((r) => r.status === 'dead').length;
    report.failed = results.length - report.sent - report.dead;
    return report;
  };

  /** True when the lane should go on at once: it sent a full round, so more may be due; a round with no success suggests the endpoint is down, and the rest waits for its retry time. */
  const busy = (r: RoundReport) => r.claimed === CLAIM_BATCH && r.sent > 0;

  /** run(): rounds for one subscription until nothing is due, out of rounds or budget, or stopped. */
  const drain = async (target: SubscriptionTarget, signal: AbortSignal, started: number): Promise<SubscriptionRunReport> => {
    const report = emptyReport(target.id);
    for (let n = 0; n < MAX_ROUNDS_PER_RUN && !signal.aborted; n++) {
      const r = await round(target, signal);
      report.queued += r.queued;
      report.attempted += r.attempted;
      report.sent += r.sent;
      report.failed += r.failed;
      report.dead += r.dead;
      if (r.claimed === 0 || r.sent === 0 || performance.now() - started > RUN_BUDGET_MS) break;
    }
    return report;
  };

  const run = async (signal: AbortSignal = new AbortController().signal): Promise<SubscriptionRunReport[]> => {
    if (signal.aborted) return [];
    const started = performance.now();
    const targets = await store.subscriptions.targets();
    return pooled(targets, SUBSCRIPTION_CONCURRENCY, async (t) => {
      try {
        return await drain(t, signal, started);
      } catch (err) {
        // One subscription's failure (e.g. deleted meanwhile, a storage error) does not stop the others.
        logger.error({ subscriptionId: t.id, err }, 'subscription dispatch failed; retried at the next run');
        return emptyReport(t.id);
      }
    });
  };

  const serve = async (signal: AbortSignal, pollMs: number): Promise<void> => {
    const current = new Map<string, SubscriptionTarget>();
    const lanes = new Map<string, Promise<void>>();
    const slots = semaphore(SUBSCRIPTION_CONCURRENCY);
    const watch = deps.head ? headWatch(deps.head, deps.headPollMs ?? 250, signal, logger) : undefined;
    const lane = async (id: string) => {
      while (!signal.aborted) {
        // The latest settings (URL, types, paused, secrets); gone once the subscription is deleted.
        const target = current.get(id);
        if (!target) return;
        let again = false;
        // What the head was before this round's fan-out: anything written after it wakes the lane.
        const seen = watch?.current ?? -1;
        const release = await slots.acquire();
        try {
          if (!signal.aborted) again = busy(await round(target, signal));
        } catch (err) {
          logger.error({ subscriptionId: id, err }, 'subscription dispatch failed; tried again at the next poll');
        } finally {
          release();
        }
        if (!again) await (watch ? watch.wait(seen, pollMs) : pause(pollMs, signal));
      }
    };
    while (!signal.aborted) {
      try {
        const targets = await store.subscriptions.targets();
        current.clear();
        for (const t of targets) current.set(t.id, t);
        for (const t of targets) {
          if (lanes.has(t.id)) continue;
          lanes.set(
            t.id,
            lane(t.id).finally(() => lanes.delete(t.id)),
          );
        }
      } catch (err) {
        logger.error({ err }, 'could not read the subscriptions; trying again at the next poll');
      }
      // A subscription created meanwhile gets its lane with the first event written after it.
      await (watch ? watch.wait(watch.current, pollMs) : pause(pollMs, signal));
    }
    await Promise.allSettled(lanes.values());
  };

  return {
    run,
    serve,
    job: (everySeconds) => ({ name: 'subscriptions', everySeconds, runAtStart: true, run: (_now, ctx) => serve(ctx.signal, deps.pollMs ?? everySeconds * 1000) }),
  };
}
