/**
 * Helpers of the gateway tests: a scripted fake of Enode's action endpoints behind the real Enode
 * client, an app wired to it, and device snapshots fed through the webhook route.
 */
import type { ManualClock } from '../../src/clock.js';
import { makeEnodeClient } from '../support/enode.js';
import { api, makeApp, makeTestApp, postWebhook, vehicleAt, type EngineApp, type TestApp } from '../support/fixtures.js';

/** What the helpers below need of an app: either builder's (makeTestApp, makeApp). */
type AnyApp = Pick<TestApp, 'app' | 'deps' | 'clock'>;

const BASE = 'http://enode.fake';
const TYPES: Record<string, string> = { vehicles: 'vehicle', chargers: 'charger', hvacs: 'hvac', batteries: 'battery' };

export interface EnodeRequest {
  method: string;
  path: string;
  body: unknown;
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

export function problem(status: number, title: string, detail: string, extra: Record<string, unknown> = {}): Response {
  return new Response(JSON.stringify({ type: 'https://developers.enode.com/api/problems/x', title, detail, ...extra }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
}

/**
 * Enode's action endpoints, scripted: by default every create answers a new PENDING action built
 * from the request (ids `act-1`, `act-2`, …); `script` answers a `METHOD /path` differently.
 */
export function fakeEnode(clock: () => ManualClock) {
  const requests: EnodeRequest[] = [];
  const script = new Map<string, (req: EnodeRequest) => Response | Promise<Response>>();
  let seq = 0;

  const fetch = async (url: string, init?: RequestInit): Promise<Response> => {
    const u = new URL(url);
    if (u.pathname === '/oauth2/token') return json(200, { access_token: 'token', expires_in: 3600, scope: '', token_type: 'bearer' });
    const req: EnodeRequest = { method: init?.method ?? 'GET', path: u.pathname, body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined };
    requests.push(req);
    const scripted = script.get(`${req.method} ${req.path}`);
    if (scripted) return scripted(req);
    const m = /^\/(vehicles|chargers|hvacs|batteries)\/([^/]+)\/([a-z-]+)$/.exec(u.pathname);
    if (req.method === 'POST' && m) return json(200, newAction(`act-${++seq}`, TYPES[m[1] as string] as string, decodeURIComponent(m[2] as string), m[3] as string, req.body));
    return problem(404, 'Not Found', `No route ${req.method} ${req.path}`);
  };

  const newAction = (id: string, targetType: string, targetId: string, command: string, body: unknown) => {
    const now = clock().now().toISOString();
    const b = (body ?? {}) as Record<string, unknown>;
    const base = { id, userId: `user-of-${targetId}`, createdAt: now, updatedAt: now, completedAt: null, state: 'PENDING', targetId, targetType, failureReason: null };
    switch (command) {
      case 'charging':
        return { ...base, kind: b['action'] };
      case 'max-current':
        return { ...base, targetState: { maxCurrent: b['maxCurrent'] } };
      case 'permanent-hold':
        return { ...base, target: { ...b, holdType: 'PERMANENT' } };
      case 'follow-schedule':
        return { ...base, target: { holdType: 'SCHEDULED' } };
      default:
        return { ...base, targetState: { operationMode: b['operationMode'] } };
    }
  };

  return { fetch, requests, script, commandRequests: () => requests.filter((r) => r.method === 'POST') };
}

export type FakeEnode = ReturnType<typeof fakeEnode>;

/** An app whose gateway talks to a fake Enode through the real client. */
export function gatewayApp(env: Record<string, string> = {}): { t: TestApp; enode: FakeEnode } {
  let clock: ManualClock | undefined;
  const enode = fakeEnode(() => clock as ManualClock);
  const t = makeTestApp(env, {
    enode: (c) => {
      clock = c;
      return makeEnodeClient({ baseUrl: BASE, clock: c, fetch: enode.fetch });
    },
  });
  return { t, enode };
}

/** Ids of commands in the order the gateway first wrote them to the log, per app (see commandLog). */
const writeOrder = new WeakMap<object, Map<string, number>>();

/**
 * The same on the engine of this run (fixtures.ts `makeApp`). The store's recordCommand is
 * watched to learn the order commands were written in: Postgres keeps no insertion order
 * (SQLite's rowid), and commands requested in one millisecond of the manual clock tie.
 */
export async function gatewayEngineApp(env: Record<string, string> = {}): Promise<{ t: EngineApp; enode: FakeEnode }> {
  let clock: ManualClock | undefined;
  const enode = fakeEnode(() => clock as ManualClock);
  const t = await makeApp(env, {
    enode: (c) => {
      clock = c;
      return makeEnodeClient({ baseUrl: BASE, clock: c, fetch: enode.fetch });
    },
  });
  const order = new Map<string, number>();
  writeOrder.set(t, order);
  const record = t.deps.store.recordCommand.bind(t.deps.store);
  t.deps.store.recordCommand = (r) => {
    if (!order.has(r.id)) order.set(r.id, order.size);
    return record(r);
  };
  return { t, enode };
}

/** Every row of the command log, JSON columns parsed, in the order the commands were requested and written. */
export async function commandLog(t: EngineApp) {
  const order = writeOrder.get(t) ?? new Map<string, number>();
  const rows = await t.rows('SELECT * FROM commands');
  const rank = (r: Record<string, unknown>) => order.get(r['id'] as string) ?? Number.MAX_SAFE_INTEGER;
  rows.sort((a, b) => (a['requested_at_ms'] as number) - (b['requested_at_ms'] as number) || rank(a) - rank(b));
  return rows.map((r): Record<string, unknown> & { body: unknown; notes: Array<{ code: string }> } => ({
    ...r,
    body: JSON.parse(r['body'] as string),
    notes: JSON.parse(r['notes'] as string),
  }));
}

const CAP = (isCapable = true, interventionIds: string[] = []) => ({ isCapable, interventionIds });

/** Snapshots of each controllable type, with every control capability true unless overridden. */
export function snapshotOf(type: 'vehicle' | 'charger' | 'hvac' | 'battery', id: string, atMs: number, capabilities: Record<string, unknown> = {}) {
  const at = new Date(atMs).toISOString();
  const common = { id, userId: `user-of-${id}`, lastSeen: at, isReachable: true, scopes: [], location: { id: null, lastUpdated: at } };
  switch (type) {
    case 'vehicle': {
      const v = vehicleAt(id, atMs);
      return { ...v, capabilities: { ...v.capabilities, setMaxCurrent: CAP(), ...capabilities } };
    }
    case 'charger':
      return {
        ...common,
        vendor: 'ZAPTEC',
        chargeState: { isPluggedIn: true, isCharging: false, chargeRate: null, lastUpdated: at, maxCurrent: 16, powerDeliveryState: 'PLUGGED_IN:STOPPED' },
        capabilities: { information: CAP(), chargeState: CAP(), startCharging: CAP(), stopCharging: CAP(), setMaxCurrent: CAP(), ...capabilities },
        information: { brand: 'Zaptec', model: 'Go', year: 2023, serialNumber: 'Z1' },
      };
    case 'hvac':
      return {
        ...common,
        vendor: 'ECOBEE',
        consumptionRate: null,
        information: { brand: 'Ecobee', model: 'Smart', displayName: 'Hall', groupName: null, category: 'HEATING' },
        temperatureState: { currentTemperature: 20, isActive: true, lastUpdated: at },
        thermostatState: { mode: 'HEAT', heatSetpoint: 20, coolSetpoint: null, holdType: 'SCHEDULED', lastUpdated: at },
        capabilities: {
          capableModes: ['HEAT', 'OFF'],
          coolSetpointRange: null,
          heatSetpointRange: { min: 7, max: 30 },
          setpointDifferenceRange: null,
          setFollowSchedule: CAP(),
          setPermanentHold: CAP(),
          ...capabilities,
        },
      };
    case 'battery':
      return {
        ...common,
        vendor: 'TESLA',
        chargeState: { status: 'IDLE', batteryCapacity: 13.5, batteryLevel: 60, chargeRate: 0, dischargeLimit: 20, lastUpdated: at },
        config: { operationMode: 'SELF_RELIANCE', lastUpdated: at },
        information: { id, brand: 'Tesla', model: 'Powerwall', siteName: 'Home', installationDate: at },
        capabilities: { exportFocus: CAP(), importFocus: CAP(), timeOfUse: CAP(), selfReliance: CAP(), idle: CAP(), ...capabilities },
        hemSystemId: null,
      };
  }
}

/** Stores a device through the webhook route, as Enode would report it. */
export async function seedDevice(t: AnyApp, type: 'vehicle' | 'charger' | 'hvac' | 'battery', id: string, capabilities: Record<string, unknown> = {}) {
  const atMs = t.clock.now().getTime() - 60_000;
  const snapshot = snapshotOf(type, id, atMs, capabilities);
  const res = await postWebhook(t, [
    { event: `user:${type}:updated`, createdAt: new Date(atMs + 500).toISOString(), version: '2024-10-01', user: { id: snapshot.userId }, [type]: snapshot, updatedFields: [] },
  ]);
  if (res.status !== 200) throw new Error(`seeding ${type} ${id} failed with ${res.status}`);
}

/** POSTs JSON to an admin route. */
export function post(t: AnyApp, path: string, body?: unknown, raw?: string) {
  const init: RequestInit = { method: 'POST', headers: { 'content-type': 'application/json' } };
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) init.body = JSON.stringify(body);
  return api(t, path, init);
}
