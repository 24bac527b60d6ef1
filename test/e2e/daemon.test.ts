import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { actionEvent, vehicleEvent } from '../support/fixtures.js';
import { adminGet, allPages, deliver, removeDir, startDaemon, tempDir, waitApplied, type Daemon } from '../support/daemon.js';
import { daemonDatabases, describeEngines, type DaemonDatabase } from '../support/engines-e2e.js';

const running: Daemon[] = [];
const dirs: string[] = [];
const databases = daemonDatabases();

afterEach(async () => {
  for (const d of running.splice(0)) await d.proc.stop();
  await databases.dropAll();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

async function start(dir: string, db: DaemonDatabase) {
  const d = await startDaemon(dir, db.env);
  running.push(d);
  return d;
}

const ids = async (url: string, path: string) => (await allPages<{ id: string }>(url, path)).map((r) => r.id);

/** The ids of the deliveries and actions the daemon holds, read through the admin API (the same on both engines). */
async function holdings(url: string) {
  const [deliveries, actions] = await Promise.all([ids(url, '/deliveries'), ids(url, '/actions')]);
  return { deliveries, actions };
}

/** How many observations the daemon recorded, over every device's whole timeline. */
async function observationCount(url: string): Promise<number> {
  const timelines = (await ids(url, '/devices')).map((id) => allPages<{ type: string }>(url, `/devices/${id}/timeline?since=2000-01-01T00:00:00.000Z`));
  return (await Promise.all(timelines)).flat().filter((e) => e.type === 'observation').length;
}

function eventsFor(i: number) {
  return [vehicleEvent(`vehicle-${i % 50}`, i, { charging: i % 2 === 0 }), actionEvent(`action-${i}`, i % 3 === 0 ? 'CONFIRMED' : 'PENDING', i)];
}

describeEngines('daemon over real HTTP', (engine) => {
  it('ingests signed deliveries, serves them through the admin API and stops cleanly on SIGTERM', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const d = await start(dir, await databases.make(engine));
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => deliver(d.url, `delivery-${i}`, eventsFor(i))));
    expect(responses.map((r) => r.status)).toEqual(Array(40).fill(200));
    expect((await deliver(d.url, 'delivery-0', eventsFor(0))).status).toBe(200);
    // Over real HTTP the limit is read from Content-Length (default 5 MiB), before the body.
    const big = await fetch(`${d.url}/webhooks/enode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(5 * 1024 * 1024 + 1) });
    expect(big.status).toBe(413);
    expect((await big.json()).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await fetch(`${d.url}/webhooks/enode`, { method: 'POST', body: '[]' })).status).toBe(401);
    const list = await (await adminGet(d.url, '/deliveries?limit=500')).json();
    expect(list.data).toHaveLength(40);
    // Applying follows the acknowledgement (after a burst, once it ends).
    await waitApplied(d.url, 15_000);
    const action = await (await adminGet(d.url, '/actions/action-3')).json();
    expect(action.state).toBe('CONFIRMED');
    expect(await d.proc.stop()).toBe(0);
    running.pop();
    expect(d.logs()).toContain('"msg":"stopped"');
  });

  it('loses no acknowledged delivery and applies none twice when killed with SIGKILL under load', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const db = await databases.make(engine);
    const acknowledged = new Set<string>();
    const total = 600;
    const clients = 8;
    let next = 0;
    for (let round = 0; round < 3; round++) {
      const d = await start(dir, db);
      // Several concurrent clients send until the daemon dies under them.
      const killAfter = 40 + Math.floor(Math.random() * 60);
      let sentThisRound = 0;
      const worker = async () => {
        for (;;) {
          const i = next++;
          if (i >= total) return;
          sentThisRound++;
          if (sentThisRound === killAfter) d.proc.child.kill('SIGKILL');
          try {
            const res = await deliver(d.url, `delivery-${i}`, eventsFor(i));
            if (res.status === 200) acknowledged.add(`delivery-${i}`);
          } catch {
            return; // connection refused or reset: the daemon is gone
          }
        }
      };
      await Promise.all(Array.from({ length: clients }, worker));
      await d.proc.stop();
      running.pop();
    }
    expect(acknowledged.size).toBeGreaterThan(50);

    // The SQLite file is sound after the kills (Postgres has no file of ours to check).
    if (engine === 'sqlite') {
      const file = new Database(`${dir}/enode-sync.db`, { readonly: true });
      expect(file.pragma('integrity_check', { simple: true })).toBe('ok');
      file.close();
    }

    // Every acknowledged delivery survived the kill; at restart, deliveries stored but not
    // applied before the kill are applied.
    const d = await start(dir, db);
    await waitApplied(d.url, 15_000);
    const afterRestart = await holdings(d.url);
    const stored = new Set(afterRestart.deliveries);
    for (const id of acknowledged) expect(stored.has(id), `acknowledged ${id} missing`).toBe(true);
    const actionIds = new Set(afterRestart.actions);
    for (const id of acknowledged) expect(actionIds.has(id.replace('delivery-', 'action-')), `effects of ${id} missing`).toBe(true);

    // Enode retries everything (acknowledged or not): nothing is applied twice.
    for (let i = 0; i < total; i += 50) {
      const batch = Array.from({ length: Math.min(50, total - i) }, (_, k) => deliver(d.url, `delivery-${i + k}`, eventsFor(i + k)));
      expect((await Promise.all(batch)).every((r) => r.status === 200)).toBe(true);
    }
    await waitApplied(d.url, 15_000);
    const final = await holdings(d.url);
    expect(new Set(final.deliveries).size).toBe(total);
    expect(final.deliveries).toHaveLength(total);
    expect(final.actions).toHaveLength(total);
    expect(await observationCount(d.url)).toBe(total);
  });
});
