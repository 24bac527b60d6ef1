import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, runSimulatorCli, SimApiClient, pickDevices, type Simulator } from '../../src/simulator/index.js';
import { quietSim, startReceiver, type Receiver } from './helpers.js';

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

describe('running the simulator', () => {
  it('runSimulatorCli serves the API over HTTP, auto-creates the webhook and ticks in real time', async () => {
    const receiver: Receiver = await startReceiver();
    cleanup.push(() => receiver.close());
    const logs: string[] = [];
    const logger = { info: (_o: unknown, m?: string) => void logs.push(m ?? ''), warn: () => {}, error: () => {}, debug: () => {}, child: () => logger };
    const running = await runSimulatorCli(
      ['--port', '0', '--time-scale', '600', '--heartbeat-seconds', '60', '--webhook-url', receiver.url, '--webhook-secret', 'secret-123'],
      {},
      logger,
    );
    cleanup.push(() => running.close());
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(logs.join('\n')).toContain(running.url);
    expect(logs.join('\n')).toContain('ENODE_CLIENT_SECRET=enode-sim-secret');

    const client = new SimApiClient({ baseUrl: running.url, clientId: running.clientId, clientSecret: running.clientSecret });
    const vehicles = await client.listDevices('vehicle', 3);
    expect(vehicles).toHaveLength(8);
    const hooks = await client.request<{ data: Array<{ id: string; url: string }> }>('GET', '/webhooks');
    expect(hooks.body.data).toEqual([expect.objectContaining({ id: running.webhookId, url: receiver.url })]);

    const t0 = running.simulator.clock.nowMs();
    // 600× → a heartbeat every 100 ms of wall time (waited for up to 5 s: a loaded machine is slow to tick).
    for (let i = 0; i < 100 && !receiver.received.some((r) => r.events.some((e) => e['event'] === 'system:heartbeat')); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(running.simulator.clock.nowMs()).toBeGreaterThan(t0);
    expect(receiver.received.some((r) => r.events.some((e) => e['event'] === 'system:heartbeat'))).toBe(true);
  });

  it('injects 429 with Retry-After and 5xx problems at the configured rates', async () => {
    const limited = quietSim({ rateLimitRate: 1 });
    const r = await limited.app.request('http://sim.test/vehicles');
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    const broken = quietSim({ errorRate: 1 });
    const e = await broken.app.request('http://sim.test/vehicles');
    expect([500, 502, 503]).toContain(e.status);
    expect((await broken.app.request('http://sim.test/_sim/state')).status).toBe(200);
  });

  it('lets a demo client pick devices and send commands through the API in-process', async () => {
    const sim: Simulator = quietSim();
    const client = new SimApiClient({ baseUrl: 'http://sim.local', clientId: 'enode-sim-client', clientSecret: 'enode-sim-secret', fetch: (u, i) => Promise.resolve(sim.app.request(u, i)) });
    const [battery] = pickDevices(sim.world, 'battery', (b) => b.config.operationMode !== 'IDLE' && b.capabilities.idle.isCapable);
    const r = await client.operationMode(battery!.id, 'IDLE');
    expect(r.body).toMatchObject({ state: 'PENDING' });
    await sim.runFor(30_000);
    expect((await client.getAction('battery', r.body.id)).body.state).toBe('CONFIRMED');
  });

  it('createSimulator listens on a free port and closes cleanly', async () => {
    const sim = createSimulator({ devices: 4 });
    const l = await sim.listen(0, '127.0.0.1');
    const res = await fetch(`${l.url}/health/ready`);
    expect(res.status).toBe(204);
    await sim.close();
    await expect(fetch(`${l.url}/health/ready`)).rejects.toThrow();
  });
});
