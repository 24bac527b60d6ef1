import { afterEach, expect, it } from 'vitest';
import { canControlCharging, createSimulator, inProcessFetch, pickDevices, SimApiClient, type Simulator } from '../../src/simulator/index.js';
import { controlledState } from '../../src/domain/devices.js';
import { adminGet, allPages, E2E_SECRET, removeDir, startDaemon, tempDir, waitApplied, type Daemon } from '../support/daemon.js';
import { daemonDatabases, describeEngines } from '../support/engines-e2e.js';

let daemon: Daemon | undefined;
let sim: Simulator | undefined;
let dir: string | undefined;
const databases = daemonDatabases();

afterEach(async () => {
  await sim?.close();
  await daemon?.proc.stop();
  await databases.dropAll();
  if (dir) removeDir(dir);
  daemon = sim = dir = undefined;
});

describeEngines('daemon fed by the simulator over real HTTP', (engine) => {
  it('with Enode credentials, resyncs every device at start without any webhook', async () => {
    dir = tempDir();
    sim = createSimulator({ seed: 3, devices: 12 });
    const listening = await sim.listen(0, '127.0.0.1');
    daemon = await startDaemon(dir, {
      ...(await databases.make(engine)).env,
      ENODE_API_URL: listening.url,
      ENODE_OAUTH_URL: `${listening.url}/oauth2/token`,
      ENODE_CLIENT_ID: sim.options.clientId,
      ENODE_CLIENT_SECRET: sim.options.clientSecret,
    });
    const expected = sim.world.all().map((r) => r.data.id).sort();
    const deadline = Date.now() + 15_000;
    let ids: string[] = [];
    while (Date.now() < deadline) {
      ids = (await allPages<{ id: string }>(daemon.url, '/devices')).map((d) => d.id).sort();
      if (ids.length === expected.length && daemon.logs().includes('device resync finished')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(ids).toEqual(expected);
    expect(daemon.logs()).toContain('device resync finished');
    // Run once at start, not again a second later (croner's interval alone would allow that).
    expect(daemon.logs().match(/device resync started/g)).toHaveLength(1);
  });

  it('ends with the simulator’s device and action state, through duplicated and reordered webhooks', async () => {
    dir = tempDir();
    daemon = await startDaemon(dir, (await databases.make(engine)).env);
    sim = createSimulator({
      seed: 11,
      devices: 24,
      interferenceRate: 0.2,
      duplicateRate: 0.2,
      reorderRate: 0.3,
      actionDelaySeconds: [20, 120],
      webhookUrl: `${daemon.url}/webhooks/enode`,
      webhookSecret: E2E_SECRET,
    });
    sim.world.announceAll();
    const retailer = new SimApiClient({ baseUrl: 'http://sim.local', clientId: sim.options.clientId, clientSecret: sim.options.clientSecret, fetch: inProcessFetch(sim.app) });

    // Three simulated hours; every 10 minutes the retailer toggles charging somewhere.
    for (let step = 0; step < 18; step++) {
      const vehicles = pickDevices(sim.world, 'vehicle', (d) => canControlCharging(d) && d.chargeState.isPluggedIn === true);
      const target = vehicles[step % Math.max(1, vehicles.length)];
      if (target) await retailer.charging('vehicle', target.id, target.chargeState.isCharging ? 'STOP' : 'START');
      await sim.runFor(10 * 60_000);
    }
    await sim.runFor(60 * 60_000); // let every action resolve and every retry land
    await sim.flushWebhooks();
    await waitApplied(daemon.url);

    const truth = sim.truth();
    expect(truth.droppedEvents).toHaveLength(0);
    // The faults really happened: events were delivered twice and out of order, none dropped.
    expect(truth.webhookStats.duplicated).toBeGreaterThan(0);
    expect(truth.webhookStats.reordered).toBeGreaterThan(0);
    expect(truth.webhookStats.dropped).toBe(0);

    // Devices: the daemon's controlled state is the simulator's current state, for every device.
    const devices = await allPages<{ id: string; type: string; controlled: Record<string, unknown> }>(daemon.url, '/devices');
    const world = sim.world.all();
    expect(devices.map((d) => d.id).sort()).toEqual(world.map((r) => r.data.id).sort());
    for (const rec of world) {
      const mine = devices.find((d) => d.id === rec.data.id)!;
      expect(mine.controlled, `device ${rec.data.id}`).toEqual(controlledState(rec.type, rec.data as unknown as Record<string, unknown>));
    }

    // Actions: every action the simulator created has its final state in the daemon.
    const actions = await allPages<{ id: string; state: string; failureReason: unknown }>(daemon.url, '/actions');
    expect(truth.actions.length).toBeGreaterThan(5);
    for (const a of truth.actions) {
      const mine = actions.find((x) => x.id === a.id);
      expect(mine?.state, `action ${a.id}`).toBe(a.state);
    }
    expect(actions).toHaveLength(truth.actions.length);

    const failed = await (await adminGet(daemon.url, '/deliveries?status=failed')).json();
    expect(failed.data).toEqual([]);
  });
});
