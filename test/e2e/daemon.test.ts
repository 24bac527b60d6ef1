import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { actionEvent, vehicleEvent } from '../support/fixtures.js';
import { adminGet, deliver, removeDir, startDaemon, tempDir, waitApplied, type Daemon } from '../support/daemon.js';

const running: Daemon[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const d of running.splice(0)) await d.proc.stop();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

async function start(dir: string) {
  const d = await startDaemon(dir);
  running.push(d);
  return d;
}

function eventsFor(i: number) {
  return [vehicleEvent(`vehicle-${i % 50}`, i, { charging: i % 2 === 0 }), actionEvent(`action-${i}`, i % 3 === 0 ? 'CONFIRMED' : 'PENDING', i)];
}

describe('daemon over real HTTP (file database, writer thread)', () => {
  it('ingests signed deliveries, serves them through the admin API and stops cleanly on SIGTERM', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const d = await start(dir);
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
    const acknowledged = new Set<string>();
    const total = 600;
    const clients = 8;
    let next = 0;
    for (let round = 0; round < 3; round++) {
      const d = await start(dir);
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

    // Every acknowledged delivery survived the kill, and the file is sound.
    const db = new Database(`${dir}/enode-sync.db`);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const stored = new Set((db.prepare('SELECT id FROM deliveries').all() as Array<{ id: string }>).map((r) => r.id));
    for (const id of acknowledged) expect(stored.has(id), `acknowledged ${id} missing`).toBe(true);
    db.close();

    // At restart, deliveries stored but not applied before the kill are applied.
    const d = await start(dir);
    await waitApplied(d.url, 15_000);
    const afterRestart = new Database(`${dir}/enode-sync.db`, { readonly: true });
    const actionIds = new Set((afterRestart.prepare('SELECT id FROM actions').all() as Array<{ id: string }>).map((r) => r.id));
    for (const id of acknowledged) expect(actionIds.has(id.replace('delivery-', 'action-')), `effects of ${id} missing`).toBe(true);
    afterRestart.close();

    // Enode retries everything (acknowledged or not): nothing is applied twice.
    for (let i = 0; i < total; i += 50) {
      const batch = Array.from({ length: Math.min(50, total - i) }, (_, k) => deliver(d.url, `delivery-${i + k}`, eventsFor(i + k)));
      expect((await Promise.all(batch)).every((r) => r.status === 200)).toBe(true);
    }
    await waitApplied(d.url, 15_000);
    const check = new Database(`${dir}/enode-sync.db`, { readonly: true });
    const n = (sql: string) => (check.prepare(sql).get() as { n: number }).n;
    expect(n('SELECT count(*) AS n FROM deliveries')).toBe(total);
    expect(n('SELECT count(*) AS n FROM actions')).toBe(total);
    expect(n('SELECT count(*) AS n FROM observations')).toBe(total);
    check.close();
  });
});
