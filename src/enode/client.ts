import type { z } from 'zod';
import type { Clock } from '../clock.js';
import type { DeviceType } from '../domain/devices.js';
import type { Logger } from '../logger.js';
import { DEFAULT_MAX_RETRY_AFTER_MS } from './backoff.js';
import type { Sleep, TokenBucket } from './budget.js';
import { EnodeApiError, errorFromResponse } from './errors.js';
import { actionPath, collectionPath, devicePath, segment, smartOverridePath, withQuery, type ActionTargetType } from './paths.js';
import { RequestCounter, type EnodeRequestStats } from './stats.js';
import { clientCredentialsFetcher, TokenCache } from './token.js';
import { createTransport, type ExchangeResult, type Send } from './transport.js';
import {
  deviceSchema,
  pageSchema,
  webhookSchema,
  webhookTestSchema,
  type BatteryOperationMode,
  type ChargeKind,
  type EnodeAction,
  type EnodeDevice,
  type EnodeWebhook,
  type EnodeWebhookTestResult,
  type PermanentHold,
  type EnodeSmartOverride,
  type WebhookPatch,
} from './types.js';

export const DEFAULT_API_VERSION = '2024-10-01';
/** Enode's page size when a list request names none (REFERENCE §4.5; its maximum is not documented). */
export const ENODE_DEFAULT_PAGE_SIZE = 50;
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_BASE_DELAY_MS = 250;
export const DEFAULT_MAX_DELAY_MS = 20_000;

export interface EnodeClientOptions {
  /** API base URL, e.g. `https://enode-api.sandbox.enode.io` (a path prefix is kept). */
  apiUrl: string;
  /** Full token endpoint URL, e.g. `https://oauth.sandbox.enode.io/oauth2/token`. */
  oauthUrl: string;
  clientId: string;
  clientSecret: string;
  clock: Clock;
  logger: Logger;
  fetch?: typeof fetch;
  /** Per attempt, ms (default 10 000). */
  timeoutMs?: number;
  /** Attempts per request including the first (default 5). */
  maxAttempts?: number;
  /** The request budget shared by every job; without one this client does not limit itself. */
  budget?: TokenBucket;
  sleep?: Sleep;
  /** Uniform in [0, 1), for backoff jitter (default `Math.random`). */
  random?: () => number;
  /** Sent as `Enode-Version` (default `2024-10-01`). */
  apiVersion?: string;
  /** Ceiling of the first retry's delay, ms (default 250); doubles per retry. */
  baseDelayMs?: number;
  /** Largest backoff delay, ms (default 20 000). */
  maxDelayMs?: number;
  /** Largest `Retry-After` honoured, ms (default 60 000). */
  maxRetryAfterMs?: number;
}

export type Query = Record<string, string | number | undefined>;

export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown;
  query?: Query;
  /** The request creates an action: not repeated after a 5xx or timeout (see transport `retry`). */
  createsAction?: boolean;
}

/** The Enode calls the daemon makes; jobs and the gateway depend on this, tests hand in fakes. */
export interface EnodeApi {
  request<T>(method: string, path: string, opts?: RequestOptions): Promise<T>;
  paginatePages<T>(path: string, query?: Query): AsyncGenerator<T[], void, undefined>;
  paginate<T>(path: string, query?: Query): AsyncGenerator<T, void, undefined>;
  getDevice(type: DeviceType, id: string): Promise<EnodeDevice>;
  listDevices(type: DeviceType, opts?: { pageSize?: number }): AsyncGenerator<EnodeDevice, void, undefined>;
  getAction(targetType: ActionTargetType, actionId: string): Promise<EnodeAction>;
  createChargeAction(type: 'vehicle' | 'charger', id: string, action: ChargeKind): Promise<EnodeAction>;
  setMaxCurrent(type: 'vehicle' | 'charger', id: string, maxCurrent: number): Promise<EnodeAction>;
  setPermanentHold(hvacId: string, body: PermanentHold): Promise<EnodeAction>;
  followSchedule(hvacId: string): Promise<EnodeAction>;
  setOperationMode(batteryId: string, mode: BatteryOperationMode): Promise<EnodeAction>;
  cancelAction(type: ActionTargetType, actionId: string): Promise<EnodeAction>;
  createSmartOverride(vehicleId: string): Promise<EnodeSmartOverride>;
  endSmartOverride(vehicleId: string): Promise<EnodeSmartOverride>;
  getWebhook(id: string): Promise<EnodeWebhook>;
  testWebhook(id: string): Promise<EnodeWebhookTestResult>;
  updateWebhook(id: string, patch: WebhookPatch): Promise<EnodeWebhook>;
  stats(): EnodeRequestStats;
}

const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function positive(name: string, value: number, integer = false): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`Enode client option ${name} must be a positive ${integer ? 'integer' : 'number'}, got ${value}`);
  }
  return value;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Client for Enode's API (REFERENCE §2, §4): OAuth2 client credentials with a cached,
 * single-flight token, the shared request budget, per-attempt timeouts, retries with jittered
 * backoff on network errors, timeouts, 5xx and 429, and typed errors for everything else.
 */
export class EnodeClient implements EnodeApi {
  private readonly send: Send;
  private readonly tokens: TokenCache;
  private readonly counter = new RequestCounter();
  private readonly apiBase: string;
  private readonly apiVersion: string;
  private readonly logger: Logger;

  constructor(options: EnodeClientOptions) {
    try {
      new URL(options.apiUrl);
      new URL(options.oauthUrl);
    } catch {
      throw new Error('Enode client options apiUrl and oauthUrl must be absolute URLs');
    }
    this.apiBase = options.apiUrl.replace(/\/+$/, '');
    this.apiVersion = options.apiVersion ?? DEFAULT_API_VERSION;
    this.logger = options.logger;
    const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.send = createTransport({
      fetch: fetchImpl,
      clock: options.clock,
      logger: options.logger,
      sleep: options.sleep ?? realSleep,
      random: options.random ?? Math.random,
      timeoutMs: positive('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      maxAttempts: positive('maxAttempts', options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, true),
      baseDelayMs: positive('baseDelayMs', options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS),
      maxDelayMs: positive('maxDelayMs', options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS),
      maxRetryAfterMs: positive('maxRetryAfterMs', options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS),
      budget: options.budget,
      counter: this.counter,
    });
    const fetchToken = clientCredentialsFetcher(this.send, {
      oauthUrl: options.oauthUrl,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
    });
    this.tokens = new TokenCache(fetchToken, options.clock);
  }

  /**
   * One API call: JSON in, JSON out (`undefined` for 204 or an empty body). Retries as described
   * on the class; a 401 drops the cached token and tries once more with a fresh one. Non-2xx
   * answers throw the matching `EnodeApiError` subclass.
   */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const fullPath = withQuery(path, opts.query);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    let token = await this.tokens.getToken();
    const retry = opts.createsAction ? 'unsent-only' : 'all';
    let res = await this.exchange(method, fullPath, token, body, retry);
    if (res.status === 401) {
      // Tokens can die before expires_in (secret rotated, server restarted): one fresh try.
      // A 401 means Enode did not act on the request, so this is safe for actions too.
      this.tokens.invalidate(token);
      token = await this.tokens.getToken();
      res = await this.exchange(method, fullPath, token, body, retry);
    }
    if (res.status < 200 || res.status >= 300) {
      throw errorFromResponse({ status: res.status, method, path: fullPath, body: res.json, attempts: res.attempts });
    }
    if (res.status === 204 || res.text === '') return undefined as T;
    if (res.json === undefined) {
      throw new EnodeApiError({ status: res.status, method, path: fullPath }, `Enode ${method} ${fullPath} returned ${res.status} with a body that is not JSON`);
    }
    return res.json as T;
  }

  private exchange(method: string, path: string, token: string, body: string | undefined, retry: 'all' | 'unsent-only' = 'all'): Promise<ExchangeResult> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: 'application/json',
      'enode-version': this.apiVersion,
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    return this.send({ method, url: `${this.apiBase}${path}`, path, headers, useBudget: true, retry, ...(body === undefined ? {} : { body }) });
  }

  /**
   * Every page of a list endpoint, following `pagination.after` until it is null (REFERENCE §4.5).
   * Pages are fetched lazily: stop iterating and no further request is made.
   */
  async *paginatePages<T>(path: string, query: Query = {}): AsyncGenerator<T[], void, undefined> {
    let after: string | undefined = typeof query['after'] === 'string' ? query['after'] : undefined;
    const seen = new Set<string>();
    for (;;) {
      const raw = await this.request<unknown>('GET', path, { query: { ...query, after } });
      const page = pageSchema.safeParse(raw);
      if (!page.success) {
        throw new EnodeApiError({ status: 200, method: 'GET', path }, `Enode GET ${path} did not return a page ({ data: [], pagination })`);
      }
      yield page.data.data as T[];
      const next = page.data.pagination.after;
      if (next === null || next === undefined || next === '') return;
      // A server bug repeating a cursor would otherwise make a resync loop forever.
      if (seen.has(next)) throw new EnodeApiError({ status: 200, method: 'GET', path }, `Enode GET ${path} returned a pagination cursor it had already returned`);
      seen.add(next);
      after = next;
    }
  }

  /** Every item of a list endpoint, across all pages. */
  async *paginate<T>(path: string, query: Query = {}): AsyncGenerator<T, void, undefined> {
    for await (const page of this.paginatePages<T>(path, query)) yield* page;
  }

  /** `GET /{type}s/{id}`. */
  async getDevice(type: DeviceType, id: string): Promise<EnodeDevice> {
    const path = devicePath(type, id);
    return this.parse(deviceSchema, await this.request('GET', path), 'GET', path);
  }

  /**
   * Every device of a type the client can see (`GET /{type}s`, all pages). Enode documents no
   * maximum `pageSize`: when it refuses the one asked for (400 on the first page), the listing
   * starts again with Enode's default page size, and says so in the log.
   */
  async *listDevices(type: DeviceType, opts: { pageSize?: number } = {}): AsyncGenerator<EnodeDevice, void, undefined> {
    const path = collectionPath(type);
    let pages = this.paginatePages<unknown>(path, { pageSize: opts.pageSize });
    let page: IteratorResult<unknown[], void>;
    try {
      page = await pages.next();
    } catch (err) {
      if (opts.pageSize === undefined || !(err instanceof EnodeApiError) || err.status !== 400) throw err;
      this.logger.warn({ path, pageSize: opts.pageSize, err }, `Enode refused the page size; listing with its default (${ENODE_DEFAULT_PAGE_SIZE})`);
      pages = this.paginatePages<unknown>(path);
      page = await pages.next();
    }
    for (; !page.done; page = await pages.next()) for (const item of page.value) yield this.parse(deviceSchema, item, 'GET', path);
  }

  /** `GET /{type}s/actions/{actionId}` (REFERENCE §2.8). */
  getAction(targetType: ActionTargetType, actionId: string): Promise<EnodeAction> {
    return this.requestObject('GET', actionPath(targetType, actionId));
  }

  /** `POST /{vehicles|chargers}/{id}/charging` with `{ action }`. */
  createChargeAction(type: 'vehicle' | 'charger', id: string, action: ChargeKind): Promise<EnodeAction> {
    return this.requestObject('POST', `${devicePath(type, id)}/charging`, { action }, true);
  }

  /** `POST /{vehicles|chargers}/{id}/max-current` with `{ maxCurrent }` (amperes). */
  setMaxCurrent(type: 'vehicle' | 'charger', id: string, maxCurrent: number): Promise<EnodeAction> {
    return this.requestObject('POST', `${devicePath(type, id)}/max-current`, { maxCurrent }, true);
  }

  /** `POST /hvacs/{id}/permanent-hold`. */
  setPermanentHold(hvacId: string, body: PermanentHold): Promise<EnodeAction> {
    return this.requestObject('POST', `${devicePath('hvac', hvacId)}/permanent-hold`, body, true);
  }

  /** `POST /hvacs/{id}/follow-schedule` (no body; also ends a permanent hold). */
  followSchedule(hvacId: string): Promise<EnodeAction> {
    return this.requestObject('POST', `${devicePath('hvac', hvacId)}/follow-schedule`, undefined, true);
  }

  /** `POST /batteries/{id}/operation-mode` with `{ operationMode }`. */
  setOperationMode(batteryId: string, mode: BatteryOperationMode): Promise<EnodeAction> {
    return this.requestObject('POST', `${devicePath('battery', batteryId)}/operation-mode`, { operationMode: mode }, true);
  }

  /**
   * `POST /{type}s/actions/{id}/cancel` → the action, now CANCELLED. When it had already resolved,
   * Enode answers 409 and this throws `EnodeConflictError` whose `action` is the resolved action.
   */
  cancelAction(type: ActionTargetType, actionId: string): Promise<EnodeAction> {
    return this.requestObject('POST', `${actionPath(type, actionId)}/cancel`);
  }

  /**
   * `POST /vehicles/{id}/smart-override` (no body): charge now although a schedule or smart
   * charging plan controls the vehicle, until charging stops or the override is ended. Enode
   * answers the override (`SmartOverrideResponse`), whose `vendorActionId` names the action that
   * starts charging. It creates an action: not repeated after a 5xx or timeout. Returned as
   * answered (the gateway parses it). Enode 2024-10-01 has no such path for chargers.
   */
  createSmartOverride(vehicleId: string): Promise<EnodeSmartOverride> {
    return this.requestObject('POST', smartOverridePath(vehicleId), undefined, true);
  }

  /**
   * `DELETE /vehicles/{id}/smart-override`: ends the vehicle's smart override; the schedule or plan
   * regains control (Enode answers 404 when there is none). Sends the vehicle nothing by itself.
   */
  endSmartOverride(vehicleId: string): Promise<EnodeSmartOverride> {
    return this.requestObject('DELETE', smartOverridePath(vehicleId));
  }

  /** `GET /vehicles/{id}/smart-charging-status` (Enode's SmartChargingStatus; parsed by domain/control.ts where it is applied). */
  getSmartChargingStatus(vehicleId: string): Promise<unknown> {
    return this.requestObject('GET', `${devicePath('vehicle', vehicleId)}/smart-charging-status`);
  }

  /** `GET /schedules/{id}` (Enode's ScheduleResponse). */
  getSchedule(scheduleId: string): Promise<unknown> {
    return this.requestObject('GET', `/schedules/${segment(scheduleId)}`);
  }

  /** `GET /schedules/{id}/status` (Enode's ScheduleStatus). */
  getScheduleStatus(scheduleId: string): Promise<unknown> {
    return this.requestObject('GET', `/schedules/${segment(scheduleId)}/status`);
  }

  /** `GET /webhooks/{id}`. */
  async getWebhook(id: string): Promise<EnodeWebhook> {
    const path = `/webhooks/${segment(id)}`;
    return this.parse(webhookSchema, await this.request('GET', path), 'GET', path);
  }

  /** `POST /webhooks/{id}/test`: Enode sends `enode:webhook:test`; success reactivates the webhook. */
  async testWebhook(id: string): Promise<EnodeWebhookTestResult> {
    const path = `/webhooks/${segment(id)}/test`;
    return this.parse(webhookTestSchema, await this.request('POST', path), 'POST', path);
  }

  /** `PATCH /webhooks/{id}` (also reactivates an inactive webhook). */
  async updateWebhook(id: string, patch: WebhookPatch): Promise<EnodeWebhook> {
    const path = `/webhooks/${segment(id)}`;
    return this.parse(webhookSchema, await this.request('PATCH', path, { body: patch }), 'PATCH', path);
  }

  /** Request counters since the client was created (a copy). */
  stats(): EnodeRequestStats {
    return this.counter.snapshot();
  }

  private async requestObject<T extends Record<string, unknown> = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    createsAction = false,
  ): Promise<T> {
    const value = await this.request<unknown>(method, path, { ...(body === undefined ? {} : { body }), createsAction });
    if (!isRecord(value)) throw new EnodeApiError({ status: 200, method, path }, `Enode ${method} ${path} did not return a JSON object`);
    return value as T;
  }

  private parse<S extends z.ZodType>(schema: S, value: unknown, method: string, path: string): z.infer<S> {
    const r = schema.safeParse(value);
    if (!r.success) {
      const fields = r.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
      throw new EnodeApiError({ status: 200, method, path }, `Enode ${method} ${path} returned an unexpected shape (fields: ${fields})`);
    }
    return r.data;
  }
}

/** Builds an `EnodeClient`; see `EnodeClientOptions` for defaults. */
export function createEnodeClient(options: EnodeClientOptions): EnodeClient {
  return new EnodeClient(options);
}
