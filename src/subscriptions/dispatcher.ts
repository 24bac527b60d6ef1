/**
 * The subscription dispatcher: fans the event log out to each subscription's deliveries, claims
 * the due ones with a lease, sends them as Standard Webhooks — never inside a database
 * transaction — and records the results.
 *
 * Guarantees:
 * - At least once: state lives in the database. A send whose result is not recorded (a crash, a
 *   lost job lease) is sent again once its claim expires, with the same `webhook-id` (the event
 *   id), so receivers de-duplicate on it.
 * - One slow endpoint never delays another: every attempt has a timeout, and subscriptions are
 *   drained side by side (SUBSCRIPTION_CONCURRENCY at a time), each in rounds of its own that
 *   fan out, claim, send and record — while one endpoint hangs, the others keep going.
 * - Failures are retried on the alert schedule (alerts/backoff.ts); after the last attempt the
 *   delivery is `dead` (listed by the API, retryable there).
 * - Paused: its deliveries are still queued but none is claimed. Deleted: its deliveries go with
 *   it (a result for one is then a no-op).
 * - During a secret rotation both secrets sign: `webhook-signature` carries one `v1,…` per secret,
 *   space-separated, as the spec allows; a receiver holding either verifies.
 * - A run told to stop (its signal) starts no more rounds or sends; what it sent is recorded.
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
import { SUBSCRIPTION_EVENT_PRUNED, type ClaimedSubscriptionDelivery, type SubscriptionAttemptResult, type SubscriptionTarget } from './types.js';

/** Subscriptions drained at the same time in one run. */
export const SUBSCRIPTION_CONCURRENCY = 8;
/** Deliveries sent to one subscription at the same time. */
export const SEND_CONCURRENCY = 4;
/** Events of the log looked at per fan-out step. */
const FAN_OUT_BATCH = 500;
/** Rounds per subscription and run at most; the rest follow at the next run. */
const MAX_ROUNDS_PER_RUN = 25;
/** No new round starts after this much wall time in one run. */
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
  /** Fans out and sends every subscription's due deliveries until done, out of budget, or `signal` aborts. */
  run(signal?: AbortSignal): Promise<SubscriptionRunReport[]>;
  /** The periodic job (one replica per interval under the scheduler's lease; the claims make overlap safe anyway). */
  job(everySeconds: number): JobSpec;
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

export function createSubscriptionDispatcher(deps: SubscriptionDispatcherDeps): SubscriptionDispatcher {
  const { store, clock, logger } = deps;
  const random = deps.random ?? Math.random;
  const fetchFn: FetchFn = deps.fetch ?? ((url, init) => fetch(url, init));
  const holder = deps.holder ?? `subs:${randomUUID()}`;
  const nowMs = () => clock.now().getTime();

  /** One send and what became of it. */
  const attempt = async (target: SubscriptionTarget, c: ClaimedSubscriptionDelivery): Promise<SubscriptionAttemptResult> => {
    const log = { subscriptionId: target.id, host: hostOf(target.url), eventId: c.eventId, attempt: c.attempts + 1 };
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
      result = await postJson({ url: target.url, body, headers, signal: AbortSignal.timeout(deps.timeoutMs), fetch: fetchFn, clock });
    } catch (err) {
      result = { kind: 'failed', status: null, error: (err as Error).message };
    }
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

  /** Rounds of fan-out, claim, send and record for one subscription. */
  const drain = async (target: SubscriptionTarget, signal: AbortSignal, started: number): Promise<SubscriptionRunReport> => {
    const report: SubscriptionRunReport = { subscriptionId: target.id, queued: 0, attempted: 0, sent: 0, failed: 0, dead: 0 };
    for (let round = 0; round < MAX_ROUNDS_PER_RUN && !signal.aborted; round++) {
      // Fanned out every round, so events written while this run sends reach it in this run.
      for (let step = 0; step < MAX_ROUNDS_PER_RUN && !signal.aborted; step++) {
        const f = await store.subscriptions.fanOut({ id: target.id, nowMs: nowMs(), limit: FAN_OUT_BATCH });
        report.queued += f.queued;
        if (!f.more) break;
      }
      if (target.paused || signal.aborted) break;
      const claimed = await store.subscriptions.claim({ id: target.id, holder, nowMs: nowMs(), limit: SEND_CONCURRENCY, leaseMs: deps.timeoutMs + LEASE_MARGIN_MS });
      if (claimed.length === 0) break;
      const results = await Promise.all(claimed.map((c) => attempt(target, c)));
      // Recorded even when told to stop meanwhile: what was sent must not be sent again.
      await store.subscriptions.record({ id: target.id, holder, nowMs: nowMs(), results });
      const sent = results.filter((r) => r.status === 'sent').length;
      const dead = results.filter((r) => r.status === 'dead').length;
      report.attempted += results.length;
      report.sent += sent;
      report.dead += dead;
      report.failed += results.length - sent - dead;
      // A round with no success suggests the endpoint is down: the rest waits for its retry time
      // rather than spending a timeout each now.
      if (sent === 0 || performance.now() - started > RUN_BUDGET_MS) break;
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
        return { subscriptionId: t.id, queued: 0, attempted: 0, sent: 0, failed: 0, dead: 0 };
      }
    });
  };

  return {
    run,
    job: (everySeconds) => ({ name: 'subscriptions', everySeconds, runAtStart: true, run: (_now, ctx) => run(ctx.signal) }),
  };
}
