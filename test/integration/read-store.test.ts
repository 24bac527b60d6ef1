/**
 * The read port's contract, one suite run against both engines: the same rows inserted with plain
 * SQL into a migrated SQLite `:memory:` database and into a fresh Postgres schema, then every
 * ReadStore method must answer the same data (booleans, JSON text and key order, numbers, order,
 * keyset cursors, empty results, stored JSON that does not parse).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNREADABLE_JSON } from '../../src/api/safe-json.js';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { createPostgresReader, numberPlaceholders, postgresEngineReads } from '../../src/store/postgres/reader.js';
import { createReadStore, type ReadStore } from '../../src/store/read.js';
import type { SqlParam } from '../../src/store/sql.js';
import { createSqliteReader, sqliteEngineReads } from '../../src/store/sqlite/reader.js';
import { describeIfPostgres, freshPostgresSchema } from '../support/postgres.js';

const T = Date.parse('2026-03-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

interface Engine {
  read: ReadStore;
  /** Runs one statement with `?` placeholders. */
  exec(sql: string, params?: SqlParam[]): Promise<void>;
  close(): Promise<void>;
}

/** Inserts one row: `cols` in order, `values` positional. */
const insert = (e: Engine, table: string, row: Record<string, SqlParam>) =>
  e.exec(`INSERT INTO ${table} (${Object.keys(row).join(', ')}) VALUES (${Object.keys(row).map(() => '?').join(', ')})`, Object.values(row));

/** The same rows for both engines; booleans as 1/0 (SQLite integers, Postgres boolean input). */
async function seed(e: Engine): Promise<void> {
  const action = (id: string, o: Record<string, SqlParam>) =>
    insert(e, 'actions', {
      id,
      user_id: 'u1',
      target_type: 'vehicle',
      kind: 'START',
      target: null,
      failure_reason: null,
      completed_at: null,
      origin: 'enode',
      raw: `{"id":"${id}"}`,
      raw_hash: `h-${id}`,
      first_seen_at: T,
      last_news_at: T,
      poll_attempts: 0,
      last_polled_at: null,
      upstream: null,
      ...o,
    });
  await action('a1', { target_id: 'v1', state: 'PENDING', target: '{"chargeLimit":80,"a":[1,2]}', created_at: iso(T), updated_at: iso(T + 1000), updated_at_ms: T + 1000, origin: 'gateway', poll_attempts: 2, last_polled_at: T + 500 });
  await action('a2', { target_id: 'v1', state: 'CONFIRMED', kind: 'STOP', created_at: iso(T), updated_at: iso(T + 2000), updated_at_ms: T + 2000, completed_at: iso(T + 2000) });
  await action('a3', { target_id: 'v2', target_type: 'charger', state: 'PENDING', created_at: 'not a time', updated_at: iso(T + 3000), updated_at_ms: T + 3000, upstream: 'stale', failure_reason: '{"type":"X","detail":"y"}', first_seen_at: T - 5 });
  await action('a4', { target_id: 'v1', state: 'FAILED', created_at: iso(T + 5000), updated_at: iso(T + 2000), updated_at_ms: T + 2000 });

  const device = (id: string, o: Record<string, SqlParam>) =>
    insert(e, 'devices', {
      id,
      type: 'vehicle',
      user_id: 'u1',
      vendor: 'TESLA',
      last_seen: iso(T),
      is_reachable: 1,
      snapshot: `{"id":"${id}"}`,
      controlled: '{}',
      snapshot_at_ms: T,
      snapshot_rank: 0,
      snapshot_event_at_ms: T,
      snapshot_hash: `s-${id}`,
      first_seen_at: T,
      updated_at: T,
      deleted_at_ms: null,
      ...o,
    });
  await device('v1', { snapshot: '{"id":"v1","z":1,"a":{"b":null}}', controlled: '{"charging":true}' });
  await device('v2', { type: 'charger', is_reachable: 0, deleted_at_ms: T + 10, vendor: null });
  await device('v3', { is_reachable: null, user_id: 'u2' });

  await insert(e, 'delivery_bodies', { id: 7, body: Buffer.from('[{"event":"system:heartbeat"}]') });
  const delivery = (id: string, o: Record<string, SqlParam>) =>
    insert(e, 'deliveries', { id, received_at: T, headers: '{}', body: Buffer.alloc(0), body_sha256: `sha-${id}`, status: 'applied', error: null, event_count: 1, applied_at: null, attempts: 1, body_id: null, ...o });
  await delivery('d1', { headers: '{"x-enode-delivery":"d1","content-type":"application/json"}', body_id: 7, applied_at: T + 5 });
  // Stored before bodies had a table of their own: the body is in the row.
  await delivery('d0', { body: Buffer.from([0xff, 0x00, 0x01]), status: 'failed', error: 'boom', attempts: 2 });
  await delivery('d2', { received_at: T + 100, status: 'pending', event_count: 0 });

  const systemEvent = (hash: string, event: string, receivedAt: number, pending: number | null) =>
    insert(e, 'system_events', { event, user_id: null, vendor: null, created_at: null, pending_events: pending, payload: '{}', delivery_id: null, received_at: receivedAt, hash });
  await systemEvent('e1', 'system:heartbeat', T - 1000, null);
  await systemEvent('e2', 'system:heartbeat', T + 50, 3);
  await systemEvent('e3', 'enode:webhook:test', T + 60, null);

  const observation = (id: number, atMs: number, stale: number) =>
    insert(e, 'observations', {
      id,
      device_id: 'v1',
      device_type: 'vehicle',
      user_id: 'u1',
      event: 'user:vehicle:updated',
      source: 'webhook',
      delivery_id: 'd1',
      event_index: 0,
      observed_at_ms: atMs,
      event_created_at: null,
      received_at: atMs + 1,
      updated_fields: null,
      snapshot: null,
      controlled: `{"charging":${stale === 0}}`,
      context: '{"pluggedIn":true}',
      stale,
      hash: `o${id}`,
    });
  await observation(1, T, 0);
  await observation(2, T, 1);
  await observation(3, T + 5000, 0);
  const transition = (atMs: number, status: string, findingId: string | null) =>
    insert(e, 'transitions', { device_id: 'v1', at_ms: atMs, field: 'charging', from_value: 'false', to_value: 'true', received_at_ms: atMs, explanation: '{"kind":"unexplained"}', status, finding_id: findingId });
  await transition(T, 'finding', 'f1');
  await transition(T + 5000, 'explained', null);

  const command = (id: string, o: Record<string, SqlParam>) =>
    insert(e, 'commands', { id, device_id: 'v1', device_type: 'vehicle', command: 'charging', body: '{"action":"START"}', outcome: 'sent', action_id: null, override: 0, notes: '[]', error: null, ...o });
  await command('c1', { requested_at_ms: T, override: 1, action_id: 'a1' });
  await command('c2', { requested_at_ms: T - 10, outcome: 'refused', body: 'not json{', error: 'ACTION_PENDING: x' });
  await command('c3', { requested_at_ms: T + 10, command: 'cancel', body: '{}' });
  await command('c4', { requested_at_ms: T + 20, outcome: 'unknown' });

  const finding = (id: string, o: Record<string, SqlParam>) =>
    insert(e, 'findings', { id, key: `k-${id}`, device_id: 'v1', device_type: 'vehicle', user_id: 'u1', kind: 'UNEXPECTED_CHANGE', field: 'charging', from_value: 'false', to_value: 'true', observed_at_ms: T, detected_at_ms: T + 1, action_id: null, evidence: '{"a":1}', ...o });
  await finding('f1', {});
  await finding('f2', { kind: 'ACTION_OVERRIDDEN', to_value: '{', action_id: 'a1' });
  await finding('f3', { device_id: 'v2', device_type: 'charger', user_id: 'u1', observed_at_ms: T + 100, field: null });

  await insert(e, 'alerts', { id: 'al1', type: 'interference.detected', dedupe_key: 'k1', device_id: 'v1', user_id: 'u1', data: '{"x":1}', created_at_ms: T, fanned_out_at_ms: T + 1 });
  await insert(e, 'alerts', { id: 'al2', type: 'apply.stalled', dedupe_key: 'k2', device_id: null, user_id: null, data: 'not json', created_at_ms: T + 5, fanned_out_at_ms: null });
  const alertDelivery = (alertId: string, sink: string, o: Record<string, SqlParam>) =>
    insert(e, 'alert_deliveries', { alert_id: alertId, sink, status: 'pending', attempts: 0, next_attempt_at_ms: T, last_status: null, last_error: null, updated_at_ms: T, delivered_at_ms: null, ...o });
  await alertDelivery('al1', 'slack', { status: 'delivered', attempts: 1, last_status: 200, updated_at_ms: T + 10, delivered_at_ms: T + 10 });
  await alertDelivery('al1', 'http', { status: 'dead', attempts: 5, last_status: 500, last_error: 'boom', updated_at_ms: T + 10 });
  await alertDelivery('al2', 'http', { next_attempt_at_ms: T + 6, updated_at_ms: T + 6 });

  await insert(e, 'ui_session_revocations', { id: 's1', expires_at_ms: T + 1000 });
  await insert(e, 'reconcile_queue', { device_id: 'v1', due_at_ms: T - 1, from_ms: 0 });
  await insert(e, 'reconcile_queue', { device_id: 'v2', due_at_ms: T + 100, from_ms: 0 });
}

const ids = (rows: Array<{ id: string | number }>) => rows.map((r) => r.id);

/** The suite every engine runs. */
function contract(open: () => Promise<Engine>, engine: 'sqlite' | 'postgres') {
  let e: Engine;
  let read: ReadStore;
  beforeAll(async () => {
    e = await open();
    read = e.read;
    await seed(e);
  }, 60_000);
  afterAll(async () => {
    await e?.close();
  });

  it('names its engine and its migrations', async () => {
    expect(read.engine).toBe(engine);
    const m = await read.migrations();
    expect(m.expected).toBeGreaterThan(0);
    expect(m.applied).toBe(m.expected);
  });

  it('actions: one by id with JSON decoded, lists newest first with keyset paging and filters', async () => {
    expect(await read.getAction('a1')).toEqual({
      id: 'a1',
      userId: 'u1',
      targetId: 'v1',
      targetType: 'vehicle',
      kind: 'START',
      target: { chargeLimit: 80, a: [1, 2] },
      state: 'PENDING',
      failureReason: null,
      createdAt: iso(T),
      updatedAt: iso(T + 1000),
      updatedAtMs: T + 1000,
      completedAt: null,
      origin: 'gateway',
      raw: { id: 'a1' },
      rawHash: 'h-a1',
      firstSeenAt: T,
      lastNewsAt: T,
      pollAttempts: 2,
      lastPolledAt: T + 500,
      upstream: null,
    });
    expect((await read.getAction('a3'))?.failureReason).toEqual({ type: 'X', detail: 'y' });
    expect(await read.getAction('nope')).toBeUndefined();
    expect(ids(await read.listActions({ limit: 2 }))).toEqual(['a3', 'a4', 'a2']);
    expect(ids(await read.listActions({ after: [T + 2000, 'a4'], limit: 2 }))).toEqual(['a2', 'a1']);
    expect(ids(await read.listActions({ state: 'PENDING', limit: 10 }))).toEqual(['a3', 'a1']);
    expect(ids(await read.listActions({ targetId: 'v1', limit: 10 }))).toEqual(['a4', 'a2', 'a1']);
    expect(await read.listActions({ state: 'CANCELLED', limit: 10 })).toEqual([]);
  });

  it('the poller and the gateway: pending actions, budgeted command times', async () => {
    expect(await read.pendingActions()).toEqual([
      { id: 'a1', targetId: 'v1', targetType: 'vehicle', createdAt: iso(T), lastNewsAt: T, lastPolledAt: T + 500, pollAttempts: 2, upstream: null },
      { id: 'a3', targetId: 'v2', targetType: 'charger', createdAt: 'not a time', lastNewsAt: T, lastPolledAt: null, pollAttempts: 0, upstream: 'stale' },
    ]);
    const forV1 = await read.pendingActionsFor('v1');
    expect(ids(forV1)).toEqual(['a1']);
    expect(forV1[0]?.target).toEqual({ chargeLimit: 80, a: [1, 2] });
    expect(await read.pendingActionsFor('v3')).toEqual([]);
    // Refused commands and cancels do not count; the bound is exclusive.
    expect(await read.budgetedCommandTimes('v1', T - 100)).toEqual([T, T + 20]);
    expect(await read.budgetedCommandTimes('v1', T)).toEqual([T + 20]);
    expect(await read.budgetedCommandTimes('v9', 0)).toEqual([]);
  });

  it('heartbeats and the last webhook', async () => {
    expect(await read.lastHeartbeat()).toEqual({ receivedAt: T + 50, pendingEvents: 3 });
    expect(await read.lastWebhookMs()).toBe(T + 100);
  });

  it('devices: booleans normalised, JSON key order kept, keyset paging and filters', async () => {
    const v1 = await read.getDevice('v1');
    expect(v1).toMatchObject({ id: 'v1', type: 'vehicle', isReachable: true, controlled: { charging: true }, snapshotAtMs: T, deletedAtMs: null });
    expect(Object.keys(v1!.snapshot)).toEqual(['id', 'z', 'a']);
    expect((await read.getDevice('v2'))?.isReachable).toBe(false);
    expect((await read.getDevice('v2'))?.deletedAtMs).toBe(T + 10);
    expect((await read.getDevice('v3'))?.isReachable).toBeNull();
    expect(await read.getDevice('nope')).toBeUndefined();
    expect(ids(await read.listDevices({ limit: 2 }))).toEqual(['v1', 'v2', 'v3']);
    expect(ids(await read.listDevices({ type: 'vehicle', after: 'v1', limit: 2 }))).toEqual(['v3']);
    expect(ids(await read.listDevices({ userId: 'u2', limit: 2 }))).toEqual(['v3']);
    expect(await read.listDevices({ type: 'meter', limit: 2 })).toEqual([]);
  });

  it('deliveries: body from its table or the row, headers decoded, newest first with keyset paging', async () => {
    const d1 = await read.getDelivery('d1');
    expect(d1).toMatchObject({ id: 'd1', receivedAt: T, status: 'applied', error: null, eventCount: 1, appliedAt: T + 5, attempts: 1, bodySha256: 'sha-d1', bodyId: 7 });
    expect(d1?.headers).toEqual({ 'x-enode-delivery': 'd1', 'content-type': 'application/json' });
    expect(d1?.body).toEqual(Buffer.from('[{"event":"system:heartbeat"}]'));
    const d0 = await read.getDelivery('d0');
    expect(d0?.body).toEqual(Buffer.from([0xff, 0x00, 0x01]));
    expect(d0?.bodyId).toBeNull();
    expect(await read.getDelivery('nope')).toBeUndefined();
    const page = await read.listDeliveries({ limit: 2 });
    expect(ids(page)).toEqual(['d2', 'd1', 'd0']);
    expect(page[2]).toEqual({ id: 'd0', receivedAt: T, status: 'failed', error: 'boom', eventCount: 1, appliedAt: null, attempts: 2, bodySha256: 'sha-d0' });
    expect(ids(await read.listDeliveries({ after: [T, 'd1'], limit: 2 }))).toEqual(['d0']);
    expect(ids(await read.listDeliveries({ status: 'failed', limit: 2 }))).toEqual(['d0']);
    expect(await read.listDeliveries({ status: 'quarantined', limit: 2 })).toEqual([]);
  });

  it('findings: by id, newest change first with keyset paging and filters, counts per kind', async () => {
    expect(await read.getFinding('f2')).toEqual({
      id: 'f2',
      deviceId: 'v1',
      deviceType: 'vehicle',
      userId: 'u1',
      kind: 'ACTION_OVERRIDDEN',
      field: 'charging',
      fromValue: 'false',
      // Stored text that does not parse comes back as it is, for the presenter to mark.
      toValue: '{',
      observedAtMs: T,
      detectedAtMs: T + 1,
      actionId: 'a1',
      evidence: '{"a":1}',
      // An operator's decision: a new finding is open, with no note.
      state: 'open',
      stateNote: null,
      stateChangedAtMs: null,
    });
    expect(await read.getFinding('nope')).toBeUndefined();
    expect(ids(await read.listFindings({ limit: 2 }))).toEqual(['f3', 'f2', 'f1']);
    expect(ids(await read.listFindings({ state: 'open', limit: 5 }))).toEqual(['f3', 'f2', 'f1']);
    expect(ids(await read.listFindings({ state: 'resolved', limit: 5 }))).toEqual([]);
    expect(ids(await read.listFindings({ after: [T, 'f2'], limit: 2 }))).toEqual(['f1']);
    expect(ids(await read.listFindings({ deviceId: 'v2', limit: 5 }))).toEqual(['f3']);
    expect(ids(await read.listFindings({ kind: 'ACTION_OVERRIDDEN', userId: 'u1', limit: 5 }))).toEqual(['f2']);
    expect(ids(await read.listFindings({ sinceMs: T + 1, limit: 5 }))).toEqual(['f3']);
    expect(await read.listFindings({ userId: 'nobody', limit: 5 })).toEqual([]);
    expect(await read.countFindingsByKind()).toEqual({ UNEXPECTED_CHANGE: 2, ACTION_OVERRIDDEN: 1 });
  });

  it('timeline parts: every source in order, booleans normalised, JSON as text', async () => {
    const parts = await read.timelinePage('v1', { fromMs: T - 1000, untilMs: T + 10_000, limit: 10 });
    expect(parts.observations).toEqual([
      { id: 1, atMs: T, receivedAtMs: T + 1, source: 'webhook', event: 'user:vehicle:updated', stale: false, controlled: '{"charging":true}', context: '{"pluggedIn":true}' },
      { id: 2, atMs: T, receivedAtMs: T + 1, source: 'webhook', event: 'user:vehicle:updated', stale: true, controlled: '{"charging":false}', context: '{"pluggedIn":true}' },
      { id: 3, atMs: T + 5000, receivedAtMs: T + 5001, source: 'webhook', event: 'user:vehicle:updated', stale: false, controlled: '{"charging":true}', context: '{"pluggedIn":true}' },
    ]);
    expect(parts.transitions).toEqual([
      { atMs: T, field: 'charging', fromValue: 'false', toValue: 'true', status: 'finding', explanation: '{"kind":"unexplained"}', findingId: 'f1' },
      { atMs: T + 5000, field: 'charging', fromValue: 'false', toValue: 'true', status: 'explained', explanation: '{"kind":"unexplained"}', findingId: null },
    ]);
    expect(parts.actions.map((a) => [a.id, a.atMs])).toEqual([
      ['a1', T],
      ['a2', T],
      ['a4', T + 5000],
    ]);
    expect(parts.actions[0]).toMatchObject({ target: '{"chargeLimit":80,"a":[1,2]}', failureReason: null, origin: 'gateway', updatedAtMs: T + 1000 });
    expect(parts.commands.map((c) => [c.id, c.override])).toEqual([
      ['c2', false],
      ['c1', true],
      ['c3', false],
      ['c4', false],
    ]);
    expect(parts.commands[0]).toEqual({ id: 'c2', command: 'charging', body: 'not json{', requestedAtMs: T - 10, outcome: 'refused', actionId: null, override: false, notes: '[]', error: 'ACTION_PENDING: x' });
    expect(ids(parts.findings)).toEqual(['f1', 'f2']);
  });

  it('timeline parts after a cursor: same instant by rank, then id; a cursor before the window reads it all', async () => {
    const window = { fromMs: T - 1000, untilMs: T + 10_000, limit: 10 };
    const afterA1 = await read.timelinePage('v1', { ...window, after: [T, 1, 'a1'] });
    expect(ids(afterA1.commands)).toEqual(['c3', 'c4']);
    expect(ids(afterA1.actions)).toEqual(['a2', 'a4']);
    expect(ids(afterA1.observations)).toEqual([1, 2, 3]);
    expect(ids(afterA1.findings)).toEqual(['f1', 'f2']);
    const afterObs1 = await read.timelinePage('v1', { ...window, after: [T, 2, '0000000000000001'] });
    expect(ids(afterObs1.observations)).toEqual([2, 3]);
    expect(ids(afterObs1.actions)).toEqual(['a4']);
    expect(ids(afterObs1.findings)).toEqual(['f1', 'f2']);
    const limited = await read.timelinePage('v1', { ...window, limit: 1 });
    expect([ids(limited.observations), ids(limited.actions), ids(limited.commands), ids(limited.findings)]).toEqual([[1], ['a1'], ['c2'], ['f1']]);
    const early = await read.timelinePage('v1', { ...window, after: [T - 5000, 3, 'zzz'] });
    expect(ids(early.commands)).toEqual(['c2', 'c1', 'c3', 'c4']);
    const none = await read.timelinePage('nobody', window);
    expect(none).toEqual({ observations: [], transitions: [], actions: [], commands: [], findings: [], controls: [] });
  });

  it('alerts: deliveries with their alert, keyset paging and filters; one alert with its deliveries; counts', async () => {
    const page = await read.listAlertDeliveries({ limit: 2 });
    expect(page.map((d) => [d.alertId, d.sink])).toEqual([
      ['al1', 'slack'],
      ['al1', 'http'],
      ['al2', 'http'],
    ]);
    expect(page[0]).toEqual({
      alertId: 'al1',
      sink: 'slack',
      status: 'delivered',
      attempts: 1,
      nextAttemptAtMs: T,
      lastStatus: 200,
      lastError: null,
      updatedAtMs: T + 10,
      deliveredAtMs: T + 10,
      alert: { id: 'al1', type: 'interference.detected', dedupeKey: 'k1', deviceId: 'v1', userId: 'u1', data: '{"x":1}', createdAtMs: T, fannedOutAtMs: T + 1 },
    });
    expect((await read.listAlertDeliveries({ after: [T + 10, 'al1', 'slack'], limit: 5 })).map((d) => [d.alertId, d.sink])).toEqual([
      ['al1', 'http'],
      ['al2', 'http'],
    ]);
    expect((await read.listAlertDeliveries({ status: 'dead', limit: 5 })).map((d) => [d.alertId, d.sink])).toEqual([['al1', 'http']]);
    expect((await read.listAlertDeliveries({ type: 'apply.stalled', limit: 5 }))[0]?.alert).toMatchObject({ id: 'al2', data: 'not json', deviceId: null, fannedOutAtMs: null });
    expect(await read.listAlertDeliveries({ type: 'webhook.inactive', limit: 5 })).toEqual([]);
    const al1 = await read.getAlert('al1');
    expect(al1?.alert.id).toBe('al1');
    expect(al1?.deliveries.map((d) => [d.sink, d.status, d.lastError])).toEqual([
      ['http', 'dead', 'boom'],
      ['slack', 'delivered', null],
    ]);
    expect(await read.getAlert('nope')).toBeUndefined();
    expect(await read.alertDeliveryCounts()).toEqual({ delivered: 1, dead: 1, pending: 1 });
  });

  it('dashboard logouts: revoked until their expiry', async () => {
    expect(await read.isUiSessionRevoked('s1', T)).toBe(true);
    expect(await read.isUiSessionRevoked('s1', T + 1000)).toBe(false);
    expect(await read.isUiSessionRevoked('s2', T)).toBe(false);
  });

  it('metric gauges and status numbers', async () => {
    const counts = {
      deliveries: { applied: 1, failed: 1, pending: 1 },
      actions: { PENDING: 2, CONFIRMED: 1, FAILED: 1 },
      devices: { vehicle: 2, charger: 1 },
      findings: { UNEXPECTED_CHANGE: 2, ACTION_OVERRIDDEN: 1 },
      alerts: { delivered: 1, dead: 1, pending: 1 },
    };
    expect(await read.metricGauges(T)).toEqual({
      deliveriesByStatus: counts.deliveries,
      actionsByState: counts.actions,
      devicesByType: counts.devices,
      findingsByKind: counts.findings,
      alertDeliveriesByStatus: counts.alerts,
      alertsUnrouted: 1,
      lastWebhookMs: T + 100,
      lastHeartbeatMs: T + 50,
      // a3 is PENDING too, but flagged stale: the poller no longer follows it.
      oldestPendingActionMs: T,
      reconcileDue: 1,
    });
    expect((await read.metricGauges(T + 100)).reconcileDue).toBe(2);
    expect(await read.statusNumbers()).toEqual({ ...counts, lastWebhookMs: T + 100, lastHeartbeatMs: T + 50 });
  });
}

describe('read store on SQLite', () => {
  contract(async () => {
    const db = openDatabase(':memory:');
    runMigrations(db);
    const sqlite = db.$client;
    return {
      read: createReadStore(createSqliteReader(sqlite), sqliteEngineReads(sqlite)),
      exec: async (sql, params = []) => void sqlite.prepare(sql).run(...params),
      close: async () => {
        sqlite.close();
      },
    };
  }, 'sqlite');
});

describe('read store on SQLite: what only SQLite can hold or tell', () => {
  it('JSON columns that do not parse read as unreadable; storage figures', async () => {
    const db = openDatabase(':memory:');
    runMigrations(db);
    const sqlite = db.$client;
    const read = createReadStore(createSqliteReader(sqlite), sqliteEngineReads(sqlite));
    // A Postgres `json` column refuses such text, so this case exists on SQLite only.
    sqlite
      .prepare(
        `INSERT INTO devices (id, type, user_id, snapshot, controlled, snapshot_at_ms, snapshot_rank, snapshot_event_at_ms, snapshot_hash, first_seen_at, updated_at)
         VALUES ('v', 'vehicle', 'u', 'nope', '{"charging":', 0, 0, 0, 'h', 0, 0)`,
      )
      .run();
    const device = await read.getDevice('v');
    expect(device?.snapshot).toBe(UNREADABLE_JSON);
    expect(device?.controlled).toBe(UNREADABLE_JSON);
    const info = await read.storageInfo?.();
    expect(info).toMatchObject({ engine: 'sqlite', walBytes: null });
    expect(info!.pageCount).toBeGreaterThan(0);
    expect(info!.databaseBytes).toBe(info!.pageCount! * info!.pageSize!);
    sqlite.close();
  });
});

describeIfPostgres('read store on Postgres', () => {
  contract(async () => {
    const fresh = await freshPostgresSchema();
    return {
      read: createReadStore(createPostgresReader(fresh.pool), postgresEngineReads(fresh.pool)),
      exec: async (sql, params = []) => void (await fresh.pool.query(numberPlaceholders(sql), params)),
      close: () => fresh.drop(),
    };
  }, 'postgres');

  it('has no engine-specific storage figures', async () => {
    const fresh = await freshPostgresSchema({ migrate: false });
    try {
      expect(createReadStore(createPostgresReader(fresh.pool), postgresEngineReads(fresh.pool)).storageInfo).toBeUndefined();
      expect(await postgresEngineReads(fresh.pool).migrations()).toMatchObject({ applied: 0 });
    } finally {
      await fresh.drop();
    }
  });
});

describe('portable placeholders for Postgres', () => {
  it('numbers ? in order, leaves quoted text alone, refuses ? inside quotes or comments', () => {
    expect(numberPlaceholders(`SELECT a FROM t WHERE b = ? AND c IN (?, ?) LIMIT ?`)).toBe(`SELECT a FROM t WHERE b = $1 AND c IN ($2, $3) LIMIT $4`);
    expect(numberPlaceholders(`SELECT x AS "userId" FROM t WHERE s = 'it''s' AND y = ?`)).toBe(`SELECT x AS "userId" FROM t WHERE s = 'it''s' AND y = $1`);
    expect(numberPlaceholders(`SELECT 1 -- note\nWHERE a = ?`)).toBe(`SELECT 1 -- note\nWHERE a = $1`);
    for (const bad of [`SELECT '?' FROM t WHERE a = ?`, `SELECT "a?" FROM t`, `SELECT 1 -- why?\n`, `SELECT 1 /* ? */`, `SELECT $$?$$`, `SELECT 'open`]) {
      expect(() => numberPlaceholders(bad)).toThrow(/portable SQL refused/);
    }
  });
});
