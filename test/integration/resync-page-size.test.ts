import { describe, expect, it } from 'vitest';
import { ENODE_DEFAULT_PAGE_SIZE } from '../../src/enode/client.js';
import { createSimulator, inProcessFetch } from '../../src/simulator/index.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import type { SyncDeps } from '../../src/sync/types.js';
import { silentLogger } from '../../src/logger.js';
import { makeEnodeClient } from '../support/enode.js';
import { makeTestApp } from '../support/fixtures.js';

/**
 * Issue 17, "Resync": Enode documents a default page size (50) and no maximum, so the resync
 * names no `pageSize` (it gets the default), and a caller that asks for more than Enode accepts
 * (a 400) gets the listing at the default instead of a failed resync. Against the simulator,
 * which pages like Enode and refuses page sizes it does not accept with a 400.
 */

const FLEET = { vehicles: 120, chargers: 3, hvacs: 2, batteries: 1 };

function setup() {
  const t = makeTestApp();
  const sim = createSimulator({ seed: 7, devices: 0, fleet: FLEET, userActivityRate: 0, interferenceRate: 0, heartbeatSeconds: 0 });
  const simFetch = inProcessFetch(sim.app);
  /** Every device-list request the client made, with the status the simulator answered. */
  const lists: Array<{ path: string; pageSize: string | null; status: number }> = [];
  const enode = makeEnodeClient({
    baseUrl: 'http://sim.local',
    clock: t.clock,
    fetch: async (url, init) => {
      const res = await simFetch(url, init);
      const u = new URL(url);
      if (/^\/(vehicles|chargers|hvacs|batteries|inverters|meters)$/.test(u.pathname)) lists.push({ path: u.pathname, pageSize: u.searchParams.get('pageSize'), status: res.status });
      return res;
    },
  });
  const deps: SyncDeps = {
    config: t.config,
    logger: silentLogger(),
    clock: t.clock,
    enode,
    store: t.deps.store,
    read: t.deps.read,
    state: { startedAt: t.clock.now().getTime(), lastFullResyncAt: null },
  };
  return { t, sim, enode, deps, lists };
}

describe('device resync page size', () => {
  it('names no pageSize (Enode’s default of 50) and still reaches every device across pages', async () => {
    const { t, sim, deps, lists } = setup();
    const report = await runDeviceResync(deps, t.clock.now(), 'test');
    expect(report).toMatchObject({ finished: true, failed: 0, byType: { vehicle: FLEET.vehicles, charger: FLEET.chargers, hvac: FLEET.hvacs, battery: FLEET.batteries } });
    expect(lists.filter((l) => l.status === 200).every((l) => l.pageSize === null)).toBe(true);
    // 120 vehicles at Enode's default page size: three pages.
    expect(lists.filter((l) => l.path === '/vehicles').map((l) => l.status)).toEqual([200, 200, 200]);
    expect(Math.ceil(FLEET.vehicles / ENODE_DEFAULT_PAGE_SIZE)).toBe(3);
    const stored = await t.deps.read.listDevices({ type: 'vehicle', limit: 500 });
    expect(stored.map((d) => d.id).sort()).toEqual(sim.world.list('vehicle').map((r) => r.data.id).sort());
  });

  it('falls back to Enode’s default page size when Enode answers 400 to the one asked for', async () => {
    const { enode, sim, lists } = setup();
    const ids: string[] = [];
    // The simulator, like Enode, refuses a page size beyond what it accepts.
    for await (const d of enode.listDevices('vehicle', { pageSize: 5_000 })) ids.push(d.id);
    expect(ids.sort()).toEqual(sim.world.list('vehicle').map((r) => r.data.id).sort());
    expect(lists.map((l) => [l.pageSize, l.status])).toEqual([
      ['5000', 400],
      [null, 200],
      [null, 200],
      [null, 200],
    ]);
  });

  it('keeps a page size Enode accepts', async () => {
    const { enode, lists } = setup();
    let n = 0;
    for await (const d of enode.listDevices('vehicle', { pageSize: 40 })) if (d.id) n++;
    expect(n).toBe(FLEET.vehicles);
    expect(lists.map((l) => [l.pageSize, l.status])).toEqual([
      ['40', 200],
      ['40', 200],
      ['40', 200],
    ]);
  });
});
