import { randomUUID } from 'node:crypto';
import { ManualClock } from '../../src/clock.js';
import { loadConfig, type Config } from '../../src/config.js';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { createDeps, depsOver, type Deps } from '../../src/deps.js';
import { createApp } from '../../src/app.js';
import type { EnodeApi } from '../../src/enode/client.js';
import { signEnodeBody } from '../../src/ingest/signature.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import type { SqlParam } from '../../src/store/sql.js';
import { createSqliteReader } from '../../src/store/sqlite/reader.js';
import { trackApp } from './app-lifecycle.js';

export const SECRET = 'test-webhook-secret-123';
export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const NOW = new Date('2026-03-01T12:00:00.000Z');

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ENODE_WEBHOOK_SECRET: SECRET, ADMIN_TOKEN, DATABASE_PATH: ':memory:', LOG_LEVEL: 'silent', ...overrides });
}

export interface TestAppOptions {
  /** The Enode client of the command gateway (none: the gateway answers 503), built over the app's clock. */
  enode?: (clock: ManualClock) => EnodeApi;
  /** The app's logger (default: silent); e.g. one writing to memory, to assert on what was logged. */
  logger?: Logger;
}

/** A fresh app over a fresh migrated :memory: database and a manual clock. */
export function makeTestApp(overrides: Record<string, string> = {}, options: TestAppOptions = {}) {
  const config = testConfig(overrides);
  const db = openDatabase(':memory:');
  runMigrations(db);
  const clock = new ManualClock(NOW);
  const deps: Deps = createDeps({ config, db, logger: options.logger ?? silentLogger(), clock, enode: options.enode?.(clock) });
  const app = createApp(deps);
  return { app, deps, db, clock, config };
}

export type TestApp = ReturnType<typeof makeTestApp>;

/** The engine integration tests run on: `TEST_ENGINE=postgres`, or SQLite by default. */
export function testEngine(): 'sqlite' | 'postgres' {
  const engine = process.env['TEST_ENGINE'] ?? 'sqlite';
  if (engine !== 'sqlite' && engine !== 'postgres') throw new Error(`TEST_ENGINE must be sqlite or postgres, got "${engine}"`);
  return engine;
}

/** An app on the engine of this run (`makeApp`), the same shape on both. */
export interface EngineApp {
  engine: 'sqlite' | 'postgres';
  app: ReturnType<typeof createApp>;
  deps: Deps;
  clock: ManualClock;
  config: Config;
  /**
   * Every row of portable SQL (`?` placeholders), for assertions that must look at tables. Rows
   * are shaped as SQLite returns them on both engines: booleans 0/1, JSON columns as their text.
   */
  rows<T = Record<string, unknown>>(query: string, params?: readonly SqlParam[]): Promise<T[]>;
  /** The first row of portable SQL, or undefined. */
  row<T = Record<string, unknown>>(query: string, params?: readonly SqlParam[]): Promise<T | undefined>;
  /** The first column of every row of portable SQL (as better-sqlite3's `pluck().all()`). */
  column<T = unknown>(query: string, params?: readonly SqlParam[]): Promise<T[]>;
  /** Runs a portable statement that returns nothing (test setup: an UPDATE, a DELETE). */
  exec(query: string, params?: readonly SqlParam[]): Promise<void>;
  /** The database goes away under the app: every later read and write of it fails (SQLite: its connection is closed; Postgres: its pool is ended). */
  loseDatabase(): Promise<void>;
  /** Stops the store and frees the database (closed after the test otherwise: see app-lifecycle.ts). */
  close(): Promise<void>;
}

const firstValue = (row: Record<string, unknown>): unknown => Object.values(row)[0];

/**
 * A fresh app on the engine of this run over an empty migrated database and a manual clock,
 * built as the daemon builds it: SQLite `:memory:` with its inline store, or a Postgres schema
 * with the Postgres store and read port (replicas' mode: leases for jobs and the gateway).
 */
export async function makeApp(overrides: Record<string, string> = {}, options: TestAppOptions = {}): Promise<EngineApp> {
  const config = testConfig(overrides);
  const clock = new ManualClock(NOW);
  const logger = options.logger ?? silentLogger();
  const enode = options.enode?.(clock);
  if (testEngine() === 'postgres') {
    const { openPostgresTestStorage } = await import('./pg-app.js');
    const pg = await openPostgresTestStorage({ config, clock, logger });
    const deps = depsOver({ config, logger, clock, enode }, pg.storage);
    const close = trackApp(() => pg.storage.close());
    const rows = pg.sql;
    return {
      engine: 'postgres',
      app: createApp(deps),
      deps,
      clock,
      config,
      rows,
      row: async (q, p) => (await rows(q, p))[0] as never,
      column: async (q, p) => (await rows<Record<string, unknown>>(q, p)).map((r) => firstValue(r) as never),
      exec: pg.exec,
      loseDatabase: pg.loseDatabase,
      close,
    };
  }
  const db = openDatabase(':memory:');
  runMigrations(db);
  const deps = createDeps({ config, db, logger, clock, enode });
  const reader = createSqliteReader(db.$client);
  const close = trackApp(async () => {
    await deps.store.close();
    if (db.$client.open) db.$client.close();
  });
  return {
    engine: 'sqlite',
    app: createApp(deps),
    deps,
    clock,
    config,
    rows: (q, p) => reader.all(q, p),
    row: (q, p) => reader.get(q, p),
    column: async (q, p) => (await reader.all<Record<string, unknown>>(q, p)).map((r) => firstValue(r) as never),
    exec: async (q, p = []) => {
      db.$client.prepare(q).run(...p);
    },
    loseDatabase: async () => {
      db.$client.close();
    },
    close,
  };
}

/**
 * POSTs a body to the webhook route, signed with `secret` unless a signature is given, then
 * waits until the store has applied what it stored (applying follows the acknowledgement). An
 * answer other than 2xx stored nothing to apply: it is returned at once (on Postgres, idle()
 * would wait for a database that may be gone).
 */
export async function postWebhook(
  t: { app: TestApp['app']; deps: TestApp['deps'] },
  body: string | unknown,
  opts: { deliveryId?: string | null; secret?: string; signature?: string | null; headers?: Record<string, string> } = {},
) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(opts.headers ?? {}) };
  const signature = opts.signature === undefined ? signEnodeBody(text, opts.secret ?? SECRET) : opts.signature;
  if (signature !== null) headers['x-enode-signature'] = signature;
  const deliveryId = opts.deliveryId === undefined ? randomUUID() : opts.deliveryId;
  if (deliveryId !== null) headers['x-enode-delivery'] = deliveryId;
  const res = await t.app.request('/webhooks/enode', { method: 'POST', headers, body: text });
  if (res.ok) await t.deps.store.idle();
  return res;
}

export function api(t: { app: TestApp['app'] }, path: string, init: RequestInit = {}, token: string | null = ADMIN_TOKEN) {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  return t.app.request(`/api/v1${path}`, { ...init, headers });
}

const iso = (ms: number) => new Date(ms).toISOString();
const BASE_MS = Date.parse('2026-03-01T10:00:00.000Z');

export interface VehicleState {
  charging?: boolean;
  batteryLevel?: number;
  pluggedIn?: boolean;
  userId?: string;
}

/** A vehicle as Enode's 2024-10-01 `user:vehicle:updated` carries it, at device time `atMs`. */
export function vehicleAt(id: string, atMs: number, state: VehicleState = {}) {
  const at = iso(atMs);
  const charging = state.charging ?? false;
  const level = state.batteryLevel ?? 50;
  return {
    id,
    userId: state.userId ?? `user-of-${id}`,
    vendor: 'TESLA',
    lastSeen: at,
    isReachable: true,
    information: { vin: `5YJ${id.slice(-10)}`, brand: 'Tesla', model: 'Model 3', year: 2024, displayName: 'Family car' },
    chargeState: {
      batteryLevel: level,
      range: level * 4,
      isPluggedIn: state.pluggedIn ?? true,
      isCharging: charging,
      isFullyCharged: false,
      batteryCapacity: 75,
      chargeLimit: 80,
      chargeRate: charging ? 11 : null,
      chargeTimeRemaining: charging ? 60 : null,
      lastUpdated: at,
      maxCurrent: 16,
      powerDeliveryState: charging ? 'PLUGGED_IN:CHARGING' : 'PLUGGED_IN:STOPPED',
    },
    smartChargingPolicy: { isEnabled: false, deadline: null, minimumChargeLimit: 0 },
    odometer: { distance: 12345, lastUpdated: at },
    capabilities: {
      information: { isCapable: true, interventionIds: [] },
      chargeState: { isCapable: true, interventionIds: [] },
      location: { isCapable: true, interventionIds: [] },
      odometer: { isCapable: true, interventionIds: [] },
      setMaxCurrent: { isCapable: false, interventionIds: ['4eaeb363-296d-4ccc-a973-7805e6f400bd'] },
      startCharging: { isCapable: true, interventionIds: [] },
      stopCharging: { isCapable: true, interventionIds: [] },
      smartCharging: { isCapable: true, interventionIds: [] },
    },
    scopes: ['vehicle:read:data', 'vehicle:read:location', 'vehicle:control:charging'],
    location: { id: null, longitude: 10.7522, latitude: 59.9139, lastUpdated: at },
  };
}

/** The same, at `atMinute` minutes after the fixtures' base time. */
export function vehicleSnapshot(id: string, atMinute: number, state: VehicleState = {}) {
  return vehicleAt(id, BASE_MS + atMinute * 60_000, state);
}

export function vehicleEvent(
  id: string,
  atMinute: number,
  state: { charging?: boolean; batteryLevel?: number; pluggedIn?: boolean } = {},
  verb: 'discovered' | 'updated' | 'deleted' = 'updated',
) {
  const vehicle = vehicleSnapshot(id, atMinute, state);
  return {
    event: `user:vehicle:${verb}`,
    createdAt: iso(BASE_MS + atMinute * 60_000 + 500),
    version: '2024-10-01',
    user: { id: vehicle.userId },
    vehicle,
    ...(verb === 'updated' ? { updatedFields: ['chargeState.isCharging', 'chargeState.lastUpdated'] } : {}),
  };
}

/** A `user:vendor-action:updated` event for a charge action, `atMinute` after the base time. */
export function actionEvent(
  id: string,
  state: 'PENDING' | 'CONFIRMED' | 'FAILED' | 'CANCELLED' | string,
  atMinute: number,
  extra: { targetId?: string; kind?: 'START' | 'STOP'; failureReason?: { type: string; detail: string } | null } = {},
) {
  const targetId = extra.targetId ?? 'vehicle-1';
  const vendorAction = {
    id,
    userId: `user-of-${targetId}`,
    createdAt: iso(BASE_MS),
    updatedAt: iso(BASE_MS + atMinute * 60_000),
    completedAt: state === 'PENDING' ? null : iso(BASE_MS + atMinute * 60_000),
    state,
    targetId,
    targetType: 'vehicle',
    kind: extra.kind ?? 'START',
    failureReason: extra.failureReason ?? null,
  };
  return {
    event: 'user:vendor-action:updated',
    createdAt: iso(BASE_MS + atMinute * 60_000 + 100),
    version: '2024-10-01',
    user: { id: vendorAction.userId },
    vendorAction,
    updatedFields: ['state'],
  };
}
