import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { EnodeAuthError, EnodeClient, EnodeConflictError, EnodeNotFoundError, type EnodeClientOptions } from '../../src/enode/index.js';
import { silentLogger } from '../../src/logger.js';
import { canControlCharging, pickDevices, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { quietSim, startReceiver } from '../simulator/helpers.js';

const TYPES = ['vehicle', 'charger', 'hvac', 'battery'] as const;

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A quiet simulator listening on a free port of 127.0.0.1, closed after the test. */
async function serve(overrides: Partial<SimulatorOptions> = {}): Promise<{ sim: Simulator; url: string }> {
  const sim = quietSim(overrides);
  const { url } = await sim.listen(0, '127.0.0.1');
  cleanup.push(() => sim.close());
  return { sim, url };
}

/** A client over real HTTP whose retry sleeps are recorded but not waited for. */
function clientFor(url: string, overrides: Partial<EnodeClientOptions> = {}) {
  const sleeps: number[] = [];
  const client = new EnodeClient({
    apiUrl: url,
    oauthUrl: `${url}/oauth2/token`,
    clientId: 'enode-sim-client',
    clientSecret: 'enode-sim-secret',
    clock: systemClock,
    logger: silentLogger(),
    baseDelayMs: 1,
    maxDelayMs: 5,
    timeoutMs: 5_000,
    sleep: async (ms) => void sleeps.push(ms),
    ...overrides,
  });
  return { client, sleeps };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function worldIds(sim: Simulator, type: (typeof TYPES)[number]): string[] {
  return sim.world.list(type).map((r) => r.data.id);
}

/**
 * A vehicle plugged in and not charging, below its charge limit: plugged in through the sim's
 * control, then stopped through the client (a STOP action that the sim confirms after 30 sim s).
 */
async function stoppedVehicle(sim: Simulator, client: EnodeClient) {
  const [vehicle] = pickDevices(sim.world, 'vehicle', (v, rec) => canControlCharging(v) && v.chargeState.isPluggedIn !== true && rec.sim.level < (v.chargeState.chargeLimit ?? 100) - 10);
  if (!vehicle) throw new Error('the seeded fleet has no unplugged vehicle below its limit');
  sim.control.setPlugged(vehicle.id, true);
  const stop = await client.createChargeAction('vehicle', vehicle.id, 'STOP');
  expect(stop['state']).toBe('PENDING');
  await sim.runFor(60_000);
  expect(await client.getAction('vehicle', String(stop['id']))).toMatchObject({ state: 'CONFIRMED' });
  return vehicle;
}

describe('EnodeClient against the simulator over HTTP', () => {
  it('lists every device of each type across small pages, matching the simulated world', async () => {
    const { sim, url } = await serve({ devices: 20 });
    const { client } = clientFor(url);
    for (const type of TYPES) {
      const devices = await collect(client.listDevices(type, { pageSize: 2 }));
      expect(devices.map((d) => d.id), type).toEqual(worldIds(sim, type));
      expect(devices.length, type).toBeGreaterThan(2); // really crossed pages
    }
    // Without injected faults nothing needed a retry.
    expect(client.stats()).toMatchObject({ retries: 0 });
    expect(client.stats().byStatus['200']).toBe(client.stats().requests);
  });

  it('creates a START action, reads it back by id, and a second cancel answers 409 with the resolved action', async () => {
    const { sim, url } = await serve();
    const { client } = clientFor(url);
    const vehicle = await stoppedVehicle(sim, client);

    const created = await client.createChargeAction('vehicle', vehicle.id, 'START');
    expect(created).toMatchObject({ state: 'PENDING', targetId: vehicle.id, targetType: 'vehicle', kind: 'START' });
    const id = String(created['id']);
    expect(await client.getAction('vehicle', id)).toEqual(created);
    expect((await client.getDevice('vehicle', vehicle.id)).id).toBe(vehicle.id);

    expect(await client.cancelAction('vehicle', id)).toMatchObject({ id, state: 'CANCELLED' });
    const err = (await client.cancelAction('vehicle', id).catch((e: unknown) => e)) as EnodeConflictError;
    expect(err).toBeInstanceOf(EnodeConflictError);
    expect(err.action).toMatchObject({ id, state: 'CANCELLED' });
    await expect(client.getAction('vehicle', 'no-such-action')).rejects.toBeInstanceOf(EnodeNotFoundError);
  });

  it('every call still succeeds with 30 % 5xx and 20 % 429 thanks to retries', async () => {
    const { sim, url } = await serve({ devices: 16, errorRate: 0.3, rateLimitRate: 0.2 });
    const { client, sleeps } = clientFor(url, { maxAttempts: 15 });

    for (const type of TYPES) {
      const devices = await collect(client.listDevices(type, { pageSize: 2 }));
      expect(devices.map((d) => d.id), type).toEqual(worldIds(sim, type));
    }
    const vehicle = await stoppedVehicle(sim, client);
    // Creating an action is not repeated after a 5xx (Enode may have acted); the caller decides.
    let action: Record<string, unknown> | undefined;
    for (let i = 0; i < 10 && !action; i++) {
      try {
        action = await client.createChargeAction('vehicle', vehicle.id, 'START');
      } catch (err) {
        if (!((err as { status?: number }).status! >= 500)) throw err;
      }
    }
    expect(action).toBeDefined();
    expect(await client.getAction('vehicle', String(action!['id']))).toMatchObject({ id: action!['id'], state: 'PENDING' });
    for (const rec of sim.world.list('hvac')) expect((await client.getDevice('hvac', rec.data.id)).id).toBe(rec.data.id);

    const stats = client.stats();
    expect(stats.retries).toBeGreaterThan(0);
    expect(stats.byStatus['429']).toBeGreaterThan(0);
    expect((stats.byStatus['500'] ?? 0) + (stats.byStatus['502'] ?? 0) + (stats.byStatus['503'] ?? 0)).toBeGreaterThan(0);
    expect(stats.requests).toBe(Object.values(stats.byStatus).reduce((a, b) => a + b, 0));
    // The simulator sends Retry-After of 1–5 s; those waits were honoured (recorded, not slept).
    expect(sleeps.some((ms) => ms >= 1_000 && ms <= 5_000)).toBe(true);
  });

  it('reads, tests and updates the webhook', async () => {
    const receiver = await startReceiver();
    cleanup.push(() => receiver.close());
    const { sim, url } = await serve({ webhookUrl: receiver.url, webhookSecret: 'whsec-test-123' });
    const webhookId = sim.defaultWebhookId;
    if (!webhookId) throw new Error('simulator created no webhook');
    const { client } = clientFor(url);

    const hook = await client.getWebhook(webhookId);
    expect(hook).toMatchObject({ id: webhookId, url: receiver.url, isActive: true, lastSuccess: null });

    const result = await client.testWebhook(webhookId);
    expect(result.status).toBe('SUCCESS');
    expect(receiver.received.some((r) => r.events.some((e) => e['event'] === 'enode:webhook:test'))).toBe(true);
    expect((await client.getWebhook(webhookId)).lastSuccess).not.toBeNull();

    const updated = await client.updateWebhook(webhookId, { events: ['user:vendor-action:updated'] });
    expect(updated.events).toEqual(['user:vendor-action:updated']);
    await expect(client.getWebhook('no-such-webhook')).rejects.toBeInstanceOf(EnodeNotFoundError);
  });

  it('wrong client credentials fail with EnodeAuthError and no API call', async () => {
    const { url } = await serve({ devices: 2 });
    const { client } = clientFor(url, { clientSecret: 'wrong-secret' });
    const err = (await client.getDevice('vehicle', 'x').catch((e: unknown) => e)) as EnodeAuthError;
    expect(err).toBeInstanceOf(EnodeAuthError);
    expect(err.message).not.toContain('wrong-secret');
    expect(client.stats()).toMatchObject({ requests: 1, byStatus: { '401': 1 } });
  });
});
