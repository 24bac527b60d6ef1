import { afterEach, expect, it } from 'vitest';
import { createSimulator, pickDevices, type Simulator } from '../../src/simulator/index.js';
import { E2E_ADMIN, adminGet, removeDir, startDaemon, tempDir, type Daemon } from '../support/daemon.js';
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

function adminPost(url: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${url}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${E2E_ADMIN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

describeEngines('command gateway in the running daemon (real HTTP)', (engine) => {
  it('sends, collapses and cancels through the simulator; the timeline shows the commands', async () => {
    dir = tempDir();
    // Simulated time starts now and stands still: the action stays PENDING until cancelled.
    sim = createSimulator({ seed: 4, devices: 0, fleet: { vehicles: 0, chargers: 0, hvacs: 0, batteries: 2 }, incapableRate: 0, startTime: new Date().toISOString() });
    const listening = await sim.listen(0, '127.0.0.1');
    daemon = await startDaemon(dir, {
      ...(await databases.make(engine)).env,
      ENODE_API_URL: listening.url,
      ENODE_OAUTH_URL: `${listening.url}/oauth2/token`,
      ENODE_CLIENT_ID: sim.options.clientId,
      ENODE_CLIENT_SECRET: sim.options.clientSecret,
    });
    const battery = pickDevices(sim.world, 'battery')[0];
    if (!battery) throw new Error('no battery in the fleet');
    const deadline = Date.now() + 15_000;
    while ((await adminGet(daemon.url, `/devices/${battery.id}`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('the device resync did not store the battery');
      await new Promise((r) => setTimeout(r, 100));
    }
    const mode = battery.config.operationMode === 'IDLE' ? 'TIME_OF_USE' : 'IDLE';

    const first = await adminPost(daemon.url, `/batteries/${battery.id}/operation-mode`, { operationMode: mode });
    expect(first.status).toBe(200);
    const sent = await first.json();
    expect(sent).toMatchObject({ outcome: 'sent', action: { state: 'PENDING', origin: 'gateway', target: { operationMode: mode } }, budget: { used: 1 } });

    const again = await (await adminPost(daemon.url, `/batteries/${battery.id}/operation-mode`, { operationMode: mode })).json();
    expect(again).toMatchObject({ outcome: 'collapsed', action: { id: sent.action.id } });
    expect(sim.truth().actions).toHaveLength(1);

    const cancelled = await adminPost(daemon.url, `/actions/${sent.action.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect((await cancelled.json()).action).toMatchObject({ id: sent.action.id, state: 'CANCELLED', failureReason: { type: 'REQUESTED_CANCELLATION' } });

    const timeline = await (await adminGet(daemon.url, `/devices/${battery.id}/timeline`)).json();
    const commands = (timeline.data as Array<{ type: string; command?: { command: string; outcome: string; actionId: string } }>)
      .filter((e) => e.type === 'command')
      .map((e) => [e.command?.command, e.command?.outcome, e.command?.actionId]);
    expect(commands).toEqual([
      ['operation-mode', 'sent', sent.action.id],
      ['operation-mode', 'collapsed', sent.action.id],
      ['cancel', 'sent', sent.action.id],
    ]);
  }, 60_000);

  it('without Enode credentials the command routes answer 503', async () => {
    dir = tempDir();
    daemon = await startDaemon(dir, (await databases.make(engine)).env);
    const res = await adminPost(daemon.url, '/vehicles/v1/charging', { action: 'START' });
    expect(res.status).toBe(503);
    expect((await res.json()).error.code).toBe('ENODE_NOT_CONFIGURED');
  }, 60_000);
});
