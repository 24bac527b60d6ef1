import type { Hono } from 'hono';
import type { DeviceRecord, World } from './world.js';
import { DEVICE_PATHS, type Device, type DeviceByType, type DeviceType, type OperationMode, type VendorAction } from './types.js';

export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

/** A fetch that calls a Hono app in-process (no socket). */
export function inProcessFetch(app: Hono): FetchLike {
  return async (url, init) => app.request(url, init);
}

export interface SimApiClientOptions {
  /** API base URL (any origin works with an in-process fetch, e.g. `http://sim.local`). */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  fetch?: FetchLike;
}

export interface ApiResult<T> {
  status: number;
  body: T;
}

/**
 * A small client for the simulator's own HTTP API — handy for demos ("a retailer sends commands")
 * and tests. It fetches and caches a token and retries once on 401.
 */
export class SimApiClient {
  private token: string | null = null;
  private readonly fetch: FetchLike;

  constructor(private readonly o: SimApiClientOptions) {
    this.fetch = o.fetch ?? ((url, init) => globalThis.fetch(url, init));
  }

  async accessToken(force = false): Promise<string> {
    if (this.token && !force) return this.token;
    const res = await this.fetch(`${this.o.baseUrl}/oauth2/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${this.o.clientId}:${this.o.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    if (!res.ok) throw new Error(`Token request failed: HTTP ${res.status}`);
    this.token = ((await res.json()) as { access_token: string }).access_token;
    return this.token;
  }

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = await this.accessToken(attempt > 0);
      const res = await this.fetch(`${this.o.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (res.status === 401 && attempt === 0) continue;
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
    }
    throw new Error('unreachable');
  }

  /** Every device of a type, walking all pages. */
  async listDevices<T extends DeviceType>(type: T, pageSize = 50): Promise<Array<DeviceByType[T]>> {
    const out: Array<DeviceByType[T]> = [];
    let after: string | null = null;
    do {
      const q: string = `?pageSize=${pageSize}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
      const r: ApiResult<{ data: Array<DeviceByType[T]>; pagination: { after: string | null } }> = await this.request('GET', `/${DEVICE_PATHS[type]}${q}`);
      if (r.status !== 200) throw new Error(`Listing ${type} failed: HTTP ${r.status}`);
      out.push(...r.body.data);
      after = r.body.pagination.after;
    } while (after);
    return out;
  }

  getDevice<T extends DeviceType>(type: T, id: string): Promise<ApiResult<DeviceByType[T]>> {
    return this.request('GET', `/${DEVICE_PATHS[type]}/${id}`);
  }
  charging(type: 'vehicle' | 'charger', id: string, action: 'START' | 'STOP'): Promise<ApiResult<VendorAction>> {
    return this.request('POST', `/${DEVICE_PATHS[type]}/${id}/charging`, { action });
  }
  maxCurrent(type: 'vehicle' | 'charger', id: string, maxCurrent: number): Promise<ApiResult<VendorAction>> {
    return this.request('POST', `/${DEVICE_PATHS[type]}/${id}/max-current`, { maxCurrent });
  }
  permanentHold(
    id: string,
    body: { mode: 'HEAT'; heatSetpoint: number } | { mode: 'COOL'; coolSetpoint: number } | { mode: 'AUTO'; heatSetpoint: number; coolSetpoint: number } | { mode: 'OFF' },
  ): Promise<ApiResult<VendorAction>> {
    return this.request('POST', `/hvacs/${id}/permanent-hold`, body);
  }
  followSchedule(id: string): Promise<ApiResult<VendorAction>> {
    return this.request('POST', `/hvacs/${id}/follow-schedule`);
  }
  operationMode(id: string, operationMode: OperationMode): Promise<ApiResult<VendorAction>> {
    return this.request('POST', `/batteries/${id}/operation-mode`, { operationMode });
  }
  getAction(type: DeviceType, actionId: string): Promise<ApiResult<VendorAction>> {
    return this.request('GET', `/${DEVICE_PATHS[type]}/actions/${actionId}`);
  }
  cancelAction(type: DeviceType, actionId: string): Promise<ApiResult<VendorAction>> {
    return this.request('POST', `/${DEVICE_PATHS[type]}/actions/${actionId}/cancel`);
  }
}

/** Devices of a type (oldest first) matching a predicate on their current Enode object. */
export function pickDevices<T extends DeviceType>(
  world: World,
  type: T,
  predicate: (device: DeviceByType[T], rec: Extract<DeviceRecord, { type: T }>) => boolean = () => true,
): Array<DeviceByType[T]> {
  return world
    .all()
    .filter((r): r is Extract<DeviceRecord, { type: T }> => r.type === type)
    .filter((r) => predicate(r.data as DeviceByType[T], r))
    .map((r) => r.data as DeviceByType[T]);
}

/** True when a device can take charging commands. */
export function canControlCharging(d: Device): boolean {
  return 'capabilities' in d && 'startCharging' in d.capabilities && d.capabilities.startCharging.isCapable && d.capabilities.stopCharging.isCapable;
}
