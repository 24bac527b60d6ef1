/**
 * createEnodeSync from the source (the packed library is tested in test/e2e/embedding.test.ts):
 * the environment is never read, no signal handler is installed and the process never exits;
 * options are validated by the environment's schema with messages naming the options; events()
 * reads the log, waits for new events and ends at stop().
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { configFromOptions } from '../../src/embed/options.js';
import { signEnodeBody } from '../../src/ingest/signature.js';
import { ConfigError, createEnodeSync, EventCursorExpiredError, type EnodeSync, type EnodeSyncEvent } from '../../src/index.js';
import { silentLogger } from '../../src/logger.js';
import { pruneEvents } from '../../src/store/sqlite/events.js';
import { removeDir, tempDir } from '../support/daemon.js';
import { describeIfPostgres, freshPostgresDatabase } from '../support/postgres.js';
import { actionEvent, vehicleEvent } from '../support/fixtures.js';

const SECRET = 'embedding-webhook-secret-0123456789';
const ADMIN_TOKEN = 'embedding-admin-token-0123456789abcdef';

/** Variables that would break the configuration (or switch the engine) if anything read them. */
const POISON: Record<string, string> = {
  DATABASE_URL: 'postgres://nobody:nothing@127.0.0.1:1/none',
  DATABASE_PATH: '/nonexistent/dir/enode-sync.db',
  ENODE_WEBHOOK_SECRET: 'x',
  ADMIN_TOKEN: 'short',
  PORT: 'not-a-port',
  LOG_LEVEL: 'loud',
  RETENTION_DAYS: '-1',
};

let dir: string;
let saved: Record<string, string | undefined>;
const opened: EnodeSync[] = [];

beforeEach(() => {
  dir = tempDir('enode-sync-embed-');
  saved = Object.fromEntries(Object.keys(POISON).map((k) => [k, process.env[k]]));
  Object.assign(process.env, POISON);
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.stop()));
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  removeDir(dir);
});

async function open(extra: Record<string, unknown> = {}): Promise<EnodeSync> {
  const sync = await createEnodeSync({ databasePath: join(dir, 'embedded.db'), enodeWebhookSecret: SECRET, adminToken: ADMIN_TOKEN, logger: silentLogger(), ...extra });
  opened.push(sync);
  return sync;
}

function deliver(sync: EnodeSync, events: unknown[]): Promise<Response> {
  const body = JSON.stringify(events);
  return Promise.resolve(
    sync.fetch(
      new Request('http://host.local/webhooks/enode', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-enode-signature': signEnodeBody(body, SECRET), 'x-enode-delivery': randomUUID() },
        body,
      }),
    ),
  );
}

/** The next `count` events of the iterator, failing after `ms`. */
async function take(it: AsyncIterator<EnodeSyncEvent>, count: number, ms = 10_000): Promise<EnodeSyncEvent[]> {
  const got: EnodeSyncEvent[] = [];
  const deadline = Date.now() + ms;
  while (got.length < count) {
    const left = deadline - Date.now();
    const next = await Promise.race([it.next(), new Promise<'late'>((r) => setTimeout(() => r('late'), Math.max(0, left)))]);
    if (next === 'late') throw new Error(`only ${got.length} of ${count} events within ${ms} ms`);
    if (next.done) throw new Error(`iterator ended after ${got.length} of ${count} events`);
    got.push(next.value);
  }
  return got;
}

describe('createEnodeSync', () => {
  it('runs on its options alone: a poisoned environment, no signal handlers, no exit', async () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => {
      throw new Error('process.exit called');
    }) as never);
    const signals = ['SIGTERM', 'SIGINT'].map((s) => process.listenerCount(s));
    try {
      const sync = await open();
      sync.start();
      const res = await deliver(sync, [vehicleEvent('v-embed', 1, { batteryLevel: 40 }, 'discovered')]);
      expect(res.status).toBe(200);
      const [event] = await take(sync.events(), 1);
      expect(event?.type).toBe('device.discovered');
      if (event?.type === 'device.discovered') expect(event.data.device.id).toBe('v-embed');
      // The admin API is behind the token from the options, not the poisoned ADMIN_TOKEN.
      const devices = await sync.fetch(new Request('http://host.local/api/v1/devices', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
      expect(devices.status).toBe(200);
      await sync.stop();
      expect(['SIGTERM', 'SIGINT'].map((s) => process.listenerCount(s))).toEqual(signals);
      expect(exit).not.toHaveBeenCalled();
    } finally {
      exit.mockRestore();
    }
  });

  it('pages the log by cursor, filters by type prefix, and waits for new events', async () => {
    const sync = await open();
    await deliver(sync, [vehicleEvent('v1', 1, { batteryLevel: 40 }, 'discovered'), actionEvent('a1', 'PENDING', 2, { targetId: 'v1' })]);
    const all = await take(sync.events(), 2);
    expect(all.map((e) => e.type).sort()).toEqual(['action.updated', 'device.discovered']);
    const first = all[0] as EnodeSyncEvent;

    // Resuming after the first event yields the second; `action.*` skips the device.
    const [second] = await take(sync.events({ after: first.id }), 1);
    expect(second?.id).toBe(all[1]?.id);
    const [action] = await take(sync.events({ types: ['action.*'] }), 1);
    expect(action?.type).toBe('action.updated');

    // A waiting iterator gets what is written later.
    const live = sync.events({ after: all[1]?.id, types: ['device.*'] });
    const pending = take(live, 1);
    await deliver(sync, [vehicleEvent('v1', 3, { batteryLevel: 55, charging: true })]);
    const [update] = await pending;
    expect(update?.type).toBe('device.updated');
    if (update?.type === 'device.updated') expect(update.data.changes.some((c) => c.path.includes('batteryLevel'))).toBe(true);
    await live.return?.();
  });

  it('rejects a bad type or cursor at the call', async () => {
    const sync = await open();
    expect(() => sync.events({ types: ['device.updatd'] })).toThrow(/Unknown event type "device.updatd"/);
    expect(() => sync.events({ after: 'not-a-cursor' })).toThrow(/Invalid cursor/);
  });

  it('throws CURSOR_EXPIRED with the oldest cursor kept once retention passed the cursor', async () => {
    const sync = await open();
    await deliver(sync, [vehicleEvent('v1', 1, {}, 'discovered'), vehicleEvent('v2', 1, {}, 'discovered'), vehicleEvent('v3', 1, {}, 'discovered')]);
    const [first, second] = await take(sync.events(), 3);
    // The retention job's own prune, on a second connection: the two oldest events go, the mark moves to the second.
    const db = new Database(join(dir, 'embedded.db'));
    try {
      expect(db.transaction(() => pruneEvents(db, Date.now() + 3_600_000, 2))()).toBe(2);
    } finally {
      db.close();
    }
    const err = await sync.events({ after: first!.id }).next().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventCursorExpiredError);
    expect((err as EventCursorExpiredError).oldestCursor).toBe(second!.id);
    // From the mark on, and from the oldest kept, the log reads on.
    expect((await take(sync.events({ after: second!.id }), 1))[0]?.data).toMatchObject({ device: { id: 'v3' } });
    expect((await take(sync.events(), 1))[0]?.data).toMatchObject({ device: { id: 'v3' } });
  });

  it('stop() ends waiting iterators and for-await loops, and answers 503 afterwards', async () => {
    const sync = await open();
    sync.start();
    const waiting = sync.events();
    const next = waiting.next();
    const loop = (async () => {
      let n = 0;
      for await (const _ of sync.events()) n++;
      return n;
    })();
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    await sync.stop();
    await expect(next).resolves.toEqual({ done: true, value: undefined });
    await expect(loop).resolves.toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    const after = await sync.fetch(new Request('http://host.local/healthz'));
    expect(after.status).toBe(503);
    // An iterator asked for after stop() ends at once; stop() again is the same stop.
    await expect(sync.events().next()).resolves.toMatchObject({ done: true });
    await sync.stop();
    expect(() => sync.start()).toThrow(/stopped/);
  });

  it('a consumer that breaks out ends its iterator without stopping the others', async () => {
    const sync = await open();
    await deliver(sync, [vehicleEvent('v1', 1, {}, 'discovered'), vehicleEvent('v2', 1, {}, 'discovered')]);
    for await (const e of sync.events()) {
      expect(e.type).toBe('device.discovered');
      break;
    }
    expect(await take(sync.events(), 2)).toHaveLength(2);
  });
});

describe('createEnodeSync options', () => {
  it('names a missing webhook secret by its option name', async () => {
    const err = await createEnodeSync({ databasePath: join(dir, 'x.db'), logger: silentLogger() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('enodeWebhookSecret: is required');
    expect((err as ConfigError).message).not.toContain('ENODE_WEBHOOK_SECRET');
  });

  it("reports every bad option at once with the environment schema's messages, in option names", async () => {
    const err = await createEnodeSync({
      enodeWebhookSecret: SECRET,
      databaseUrl: 'mysql://db/enode',
      pollIntervalSeconds: 0,
      trustProxy: 'maybe',
      logger: silentLogger(),
      ...({ databasePth: './typo.db' } as object),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const text = (err as ConfigError).message;
    expect(text).toContain('databaseUrl: must be a postgres:// or postgresql:// URL (a SQLite file is databasePath)');
    expect(text).toMatch(/pollIntervalSeconds: must be a whole number from 1 to 86400/);
    expect(text).toContain('trustProxy: must be true or false');
    expect(text).toContain('databasePth: unknown option');
    expect(text).not.toMatch(/\b[A-Z]+_[A-Z_]+\b/);
  });

  it('applies the rules across options in option names too', async () => {
    const err = await createEnodeSync({ enodeWebhookSecret: SECRET, alertWebhookUrls: ['https://hooks.example.test/a'], enodeClientId: 'id', logger: silentLogger() }).catch((e: unknown) => e);
    const text = (err as ConfigError).message;
    expect(text).toContain('alertWebhookSecret: is required when alertWebhookUrls is set');
    expect(text).toContain('enodeClientId and enodeClientSecret: set both or neither');
  });

  it('takes values as the environment would hold them or as their parsed types, with the same defaults', () => {
    const fromEnv = loadConfig({ ENODE_WEBHOOK_SECRET: `${SECRET},${SECRET}-next`, RETENTION_DAYS: '7', TRUST_PROXY: 'true' });
    const typed = configFromOptions({ enodeWebhookSecret: [SECRET, `${SECRET}-next`], retentionDays: 7, trustProxy: true });
    const asText = configFromOptions({ enodeWebhookSecret: `${SECRET},${SECRET}-next`, retentionDays: '7', trustProxy: 'true' });
    expect(typed).toEqual(fromEnv);
    expect(asText).toEqual(fromEnv);
  });
});

describeIfPostgres('createEnodeSync on Postgres', () => {
  it('stores a webhook through fetch and yields its event (databaseUrl from the options, not the environment)', async () => {
    const database = await freshPostgresDatabase();
    const sync = await createEnodeSync({ databaseUrl: database.url, enodeWebhookSecret: SECRET, adminToken: ADMIN_TOKEN, logger: silentLogger() });
    opened.push(sync);
    sync.start();
    expect((await deliver(sync, [vehicleEvent('v-pg', 1, { batteryLevel: 33 }, 'discovered')])).status).toBe(200);
    const [event] = await take(sync.events({ types: ['device.*'] }), 1);
    expect(event).toMatchObject({ type: 'device.discovered', deviceId: 'v-pg' });
    await sync.stop();
  });
});
