import { randomUUID } from 'node:crypto';
import { signEnodeBody } from '../ingest/signature.js';
import type { SimClock, TimerHandle } from './clock.js';
import type { Rng } from './random.js';
import type { TruthLog } from './truth.js';
import { API_VERSION, type SimEvent, type SimLogger } from './types.js';

export interface WebhookDeliveryOptions {
  dropRate: number;
  duplicateRate: number;
  reorderRate: number;
  delayMs: readonly [number, number];
  maxBatchSize: number;
  retryMaxAttempts: number;
  retryBaseSeconds: number;
  retryFactor: number;
  deliveryTimeoutMs: number;
}

export interface WebhookInput {
  url: string;
  secret: string;
  events?: string[];
  apiVersion?: string | null;
  authentication?: { headerName: string; headerValue: string } | null;
}

/** The webhook as the API shows it (the secret and header value are never echoed). */
export interface WebhookView {
  id: string;
  url: string;
  events: string[];
  lastSuccess: string | null;
  isActive: boolean;
  createdAt: string;
  apiVersion: string | null;
  authentication: { headerName: string } | null;
}

export interface WebhookTestResult {
  status: 'SUCCESS' | 'FAILURE';
  description: string;
  response: { code: number; body: string; headers: string[] } | null;
}

interface Batch {
  events: SimEvent[];
  body: string;
  attempts: number;
}

interface Hook {
  seq: number;
  id: string;
  url: string;
  secret: string;
  events: string[];
  apiVersion: string | null;
  authentication: { headerName: string; headerValue: string } | null;
  isActive: boolean;
  lastSuccess: string | null;
  createdAt: string;
  queue: SimEvent[];
  batch: Batch | null;
  sending: boolean;
  timer: TimerHandle | null;
  deleted: boolean;
  /** Events already re-queued as duplicates (a duplicate is never duplicated again). */
  duplicated: WeakSet<SimEvent>;
}

export interface WebhookHubDeps {
  clock: SimClock;
  rng: Rng;
  ids: Rng;
  truth: TruthLog;
  options: WebhookDeliveryOptions;
  logger: SimLogger;
  fetch: typeof fetch;
}

type AttemptOutcome = { ok: true; status: number } | { ok: false; status: number | null; error: string };

/**
 * Enode's webhook side: registrations, per-webhook queues, batching (≤ maxBatchSize events per
 * POST), HMAC-SHA1 signing of the exact bytes, retries on growing sim-time intervals, and
 * deactivation with the queue dropped once the retry budget is spent. Fault knobs drop, duplicate,
 * reorder and delay events; every such fault is counted in the truth log.
 */
export class WebhookHub {
  private readonly hooks = new Map<string, Hook>();
  private readonly inflight = new Set<Promise<void>>();
  private seq = 0;

  constructor(private readonly deps: WebhookHubDeps) {}

  create(input: WebhookInput): WebhookView | { error: string } {
    if ([...this.hooks.values()].some((h) => h.url === input.url)) return { error: 'Webhook already exists' };
    const hook: Hook = {
      seq: ++this.seq,
      id: this.deps.ids.uuid(),
      url: input.url,
      secret: input.secret,
      events: input.events && input.events.length > 0 ? [...input.events] : ['*'],
      apiVersion: input.apiVersion ?? null,
      authentication: input.authentication ?? null,
      isActive: true,
      lastSuccess: null,
      createdAt: this.deps.clock.iso(),
      queue: [],
      batch: null,
      sending: false,
      timer: null,
      deleted: false,
      duplicated: new WeakSet(),
    };
    this.hooks.set(hook.id, hook);
    return view(hook);
  }

  /** Newest first. */
  list(): Array<WebhookView & { seq: number }> {
    return [...this.hooks.values()].sort((a, b) => b.seq - a.seq).map((h) => ({ ...view(h), seq: h.seq }));
  }

  get(id: string): WebhookView | undefined {
    const h = this.hooks.get(id);
    return h ? view(h) : undefined;
  }

  /** Updates fields; an update also reactivates an inactive webhook. */
  update(id: string, patch: Partial<WebhookInput>): WebhookView | undefined {
    const h = this.hooks.get(id);
    if (!h) return undefined;
    if (patch.url !== undefined) h.url = patch.url;
    if (patch.secret !== undefined) h.secret = patch.secret;
    if (patch.events !== undefined) h.events = patch.events.length > 0 ? [...patch.events] : ['*'];
    if (patch.apiVersion !== undefined) h.apiVersion = patch.apiVersion;
    if (patch.authentication !== undefined) h.authentication = patch.authentication;
    h.isActive = true;
    this.pump();
    return view(h);
  }

  delete(id: string): boolean {
    const h = this.hooks.get(id);
    if (!h) return false;
    h.deleted = true;
    this.deps.clock.cancel(h.timer);
    this.hooks.delete(id);
    return true;
  }

  /** Sends `enode:webhook:test` now (not queued); reactivates the webhook on success. */
  async test(id: string): Promise<WebhookTestResult | undefined> {
    const h = this.hooks.get(id);
    if (!h) return undefined;
    const body = JSON.stringify([{ event: 'enode:webhook:test', createdAt: this.deps.clock.iso(), version: API_VERSION }]);
    const deliveryId = randomUUID();
    try {
      const res = await this.post(h, body, deliveryId);
      const text = (await res.text()).slice(0, 1000);
      const headers: string[] = [];
      res.headers.forEach((value, name) => headers.push(`${name}: ${value}`));
      const ok = res.status >= 200 && res.status < 300;
      this.recordAttempt(h, deliveryId, 1, 1, ok ? { ok: true, status: res.status } : { ok: false, status: res.status, error: `HTTP ${res.status}` });
      if (ok) {
        h.isActive = true;
        h.lastSuccess = this.deps.clock.iso();
        this.pump();
      }
      return {
        status: ok ? 'SUCCESS' : 'FAILURE',
        description: ok ? 'The webhook responded with a success status' : `The webhook responded with HTTP ${res.status}`,
        response: { code: res.status, body: text, headers },
      };
    } catch (err) {
      const message = errorMessage(err);
      this.recordAttempt(h, deliveryId, 1, 1, { ok: false, status: null, error: message });
      return { status: 'FAILURE', description: `The webhook could not be reached: ${message}`, response: null };
    }
  }

  /** Queues an event for every active webhook subscribed to it. */
  publish(event: SimEvent): void {
    for (const h of this.hooks.values()) {
      if (!subscribed(h, event.event)) continue;
      if (!h.isActive) {
        this.drop(h, event, 'inactive');
        continue;
      }
      h.queue.push(event);
    }
    this.pump();
  }

  /** Queues `system:heartbeat` (with the number of pending events) for every active webhook. */
  heartbeat(): void {
    for (const h of this.hooks.values()) {
      if (!h.isActive) continue;
      const pending = h.queue.length + (h.batch?.events.length ?? 0);
      h.queue.push({ event: 'system:heartbeat', createdAt: this.deps.clock.iso(), version: API_VERSION, pendingEvents: pending });
    }
    this.pump();
  }

  /** Starts every delivery that is due now. */
  pump(): void {
    for (const h of this.hooks.values()) this.pumpOne(h);
  }

  /** Resolves when nothing is in flight and nothing is due at the current sim time. */
  async flush(): Promise<void> {
    for (;;) {
      this.pump();
      if (this.inflight.size === 0) return;
      await Promise.allSettled([...this.inflight]);
    }
  }

  /** Events waiting (queued or in an unacknowledged batch), per webhook id. */
  pending(): Record<string, number> {
    return Object.fromEntries([...this.hooks.values()].map((h) => [h.id, h.queue.length + (h.batch?.events.length ?? 0)]));
  }

  private pumpOne(h: Hook): void {
    if (!h.isActive || h.sending || h.timer || h.deleted) return;
    if (!h.batch) {
      if (h.queue.length === 0) return;
      h.batch = this.formBatch(h);
      if (!h.batch) return;
      const [min, max] = this.deps.options.delayMs;
      const delay = max > 0 ? Math.round(min === max ? min : this.deps.rng.float(min, max)) : 0;
      if (delay > 0) {
        h.timer = this.deps.clock.after(delay, () => {
          h.timer = null;
          this.pumpOne(h);
        });
        return;
      }
    }
    this.send(h);
  }

  /** Takes the next batch off the queue, applying drop and reorder faults. */
  private formBatch(h: Hook): Batch | null {
    const { rng, options } = this.deps;
    const events: SimEvent[] = [];
    const deferred: SimEvent[] = [];
    while (h.queue.length > 0 && events.length < options.maxBatchSize) {
      const e = h.queue.shift() as SimEvent;
      if (rng.chance(options.dropRate)) {
        this.drop(h, e, 'fault');
        continue;
      }
      // Reorder between batches: hold this event back until after the rest of the queue.
      if (h.queue.length > 0 && rng.chance(options.reorderRate / 2)) {
        deferred.push(e);
        this.deps.truth.stats.reordered++;
        continue;
      }
      events.push(e);
    }
    h.queue.push(...deferred);
    if (events.length === 0) return null;
    let ordered = events;
    if (events.length > 1 && rng.chance(options.reorderRate)) {
      ordered = rng.shuffle(events);
      this.deps.truth.stats.reordered++;
    }
    return { events: ordered, body: JSON.stringify(ordered), attempts: 0 };
  }

  private send(h: Hook): void {
    const batch = h.batch;
    if (!batch) return;
    h.sending = true;
    batch.attempts++;
    const attempt = batch.attempts;
    const deliveryId = randomUUID();
    const p = this.attempt(h, batch.body, deliveryId)
      .then((outcome) => this.afterAttempt(h, batch, deliveryId, attempt, outcome))
      .catch((err: unknown) => this.deps.logger.error({ err, webhookId: h.id }, 'webhook delivery bookkeeping failed'))
      .finally(() => {
        this.inflight.delete(p);
      });
    this.inflight.add(p);
  }

  private async attempt(h: Hook, body: string, deliveryId: string): Promise<AttemptOutcome> {
    try {
      const res = await this.post(h, body, deliveryId);
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? { ok: true, status: res.status } : { ok: false, status: res.status, error: `HTTP ${res.status}` };
    } catch (err) {
      return { ok: false, status: null, error: errorMessage(err) };
    }
  }

  private post(h: Hook, body: string, deliveryId: string): Promise<Response> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'enode-sync-simulator',
      'x-enode-delivery': deliveryId,
      'x-enode-signature': signEnodeBody(body, h.secret),
    };
    if (h.authentication) headers[h.authentication.headerName.toLowerCase()] = h.authentication.headerValue;
    return this.deps.fetch(h.url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(this.deps.options.deliveryTimeoutMs),
    });
  }

  private afterAttempt(h: Hook, batch: Batch, deliveryId: string, attempt: number, outcome: AttemptOutcome): void {
    h.sending = false;
    this.recordAttempt(h, deliveryId, attempt, batch.events.length, outcome);
    if (h.deleted) return;
    const { options, rng, clock, logger } = this.deps;
    if (outcome.ok) {
      h.batch = null;
      h.lastSuccess = clock.iso();
      for (const e of batch.events) {
        if (!h.duplicated.has(e) && rng.chance(options.duplicateRate)) {
          h.duplicated.add(e);
          h.queue.push(e);
          this.deps.truth.stats.duplicated++;
        }
      }
      this.pumpOne(h);
      return;
    }
    if (attempt >= options.retryMaxAttempts) {
      logger.warn({ webhookId: h.id, attempts: attempt }, 'webhook retries exhausted; deactivating and dropping its queue');
      h.isActive = false;
      h.batch = null;
      this.deps.truth.stats.deactivations++;
      for (const e of [...batch.events, ...h.queue]) this.drop(h, e, 'retries_exhausted');
      h.queue = [];
      return;
    }
    const waitMs = Math.round(options.retryBaseSeconds * 1000 * options.retryFactor ** (attempt - 1));
    logger.debug({ webhookId: h.id, attempt, waitMs, error: outcome.error }, 'webhook delivery failed; will retry');
    h.timer = clock.after(waitMs, () => {
      h.timer = null;
      this.pumpOne(h);
    });
  }

  private recordAttempt(h: Hook, deliveryId: string, attempt: number, events: number, outcome: AttemptOutcome): void {
    this.deps.truth.recordDelivery({
      webhookId: h.id,
      deliveryId,
      attempt,
      at: this.deps.clock.iso(),
      events,
      ok: outcome.ok,
      status: outcome.status,
      error: outcome.ok ? null : outcome.error,
    });
  }

  private drop(h: Hook, e: SimEvent, reason: 'fault' | 'inactive' | 'retries_exhausted'): void {
    this.deps.truth.recordDropped({ webhookId: h.id, event: e.event, createdAt: e.createdAt, reason, subject: subjectOf(e) });
  }
}

function subscribed(h: Hook, event: string): boolean {
  return event === 'system:heartbeat' || h.events.includes('*') || h.events.includes(event);
}

function view(h: Hook): WebhookView {
  return {
    id: h.id,
    url: h.url,
    events: [...h.events],
    lastSuccess: h.lastSuccess,
    isActive: h.isActive,
    createdAt: h.createdAt,
    apiVersion: h.apiVersion,
    authentication: h.authentication ? { headerName: h.authentication.headerName } : null,
  };
}

function subjectOf(e: SimEvent): string | null {
  for (const key of ['vehicle', 'charger', 'hvac', 'battery', 'vendorAction']) {
    const v = e[key];
    if (v && typeof v === 'object' && 'id' in v && typeof v.id === 'string') return v.id;
  }
  const smart = e['smartChargingStatus'];
  if (smart && typeof smart === 'object' && 'vehicleId' in smart && typeof smart.vehicleId === 'string') return smart.vehicleId;
  const status = e['status'];
  if (status && typeof status === 'object' && 'scheduleId' in status && typeof status.scheduleId === 'string') return status.scheduleId;
  return null;
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}
