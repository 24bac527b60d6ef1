import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createDeps } from '../../src/deps.js';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { createApp } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { actionEvent, makeApp, NOW, postWebhook, testConfig, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { itOn } from '../support/engines.js';

const DAY = 86_400_000;

/** The event with every ISO time in it moved by `deltaMs`: payloads dated when the clock says they were received. */
function shifted<T>(event: T, deltaMs: number): T {
  return JSON.parse(JSON.stringify(event), (_key, value: unknown) =>
    typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/.test(value) ? new Date(Date.parse(value) + deltaMs).toISOString() : value,
  ) as T;
}

async function counts(t: EngineApp) {
  const n = async (table: string) => Number((await t.column(`SELECT COUNT(*) FROM ${table}`))[0]);
  return {
    deliveries: await n('deliveries'),
    observations: await n('observations'),
    devices: await n('devices'),
    actions: await n('actions'),
    findings: await n('findings'),
    transitions: await n('transitions'),
  };
}

describe('retention', () => {
  it('prunes raw deliveries, observations and explained transitions past the age, and keeps projections, findings and failed deliveries', async () => {
    const t = await makeApp();
    // 40 days ago: an interference episode and an action, plus a delivery that failed to apply.
    t.clock.set(NOW.getTime() - 40 * DAY);
    const aged = [vehicleEvent('vehicle-1', 0, { charging: true }), vehicleEvent('vehicle-1', 5, { charging: false }), actionEvent('a1', 'CONFIRMED', 1)];
    await postWebhook(t, aged.map((e) => shifted(e, -40 * DAY)));
    await postWebhook(t, [{ event: 'user:vehicle:updated', vehicle: 'not an object' }], { deliveryId: 'bad' });
    t.clock.advance(61_000);
    await t.deps.store.reconcile({});
    // Now: a recent delivery.
    t.clock.set(NOW);
    await postWebhook(t, [vehicleEvent('vehicle-2', 0, { charging: false })]);
    const before = await counts(t);
    expect(before).toMatchObject({ deliveries: 3, observations: 3, devices: 2, actions: 1, findings: 1, transitions: 1 });

    const result = await t.deps.store.prune({ cutoffMs: NOW.getTime() - 30 * DAY });
    expect(result.more).toBe(false);
    expect(result.deleted).toMatchObject({ observations: 2, deliveries: 1 });
    // The transition behind a finding stays: the finding's timeline keeps its explanation.
    expect(await counts(t)).toEqual({ deliveries: 2, observations: 1, devices: 2, actions: 1, findings: 1, transitions: 1 });
    const kept = await t.rows(`SELECT id, status FROM deliveries ORDER BY received_at`);
    expect(kept).toEqual([{ id: 'bad', status: 'failed' }, expect.objectContaining({ status: 'applied' })]);
    // A second pass finds nothing more.
    expect(Object.values((await t.deps.store.prune({ cutoffMs: NOW.getTime() - 30 * DAY })).deleted).every((n) => n === 0)).toBe(true);
  });

  it('works in small time-boxed steps and reports when more is left', async () => {
    const t = await makeApp();
    t.clock.set(NOW.getTime() - 40 * DAY);
    for (let i = 0; i < 30; i++) await postWebhook(t, Array.from({ length: 100 }, (_, j) => vehicleEvent(`v${i}-${j}`, i, { charging: j % 2 === 0 })));
    const first = await t.deps.store.prune({ cutoffMs: NOW.getTime() - 30 * DAY, budgetMs: 0 });
    expect(first.more).toBe(true);
    // Each call deletes at least one batch (2,000 rows), so 3,000 observations take two calls, and
    // the 3,000 events (device.discovered), pruned last, a third.
    expect(first.deleted.observations).toBe(2000);
    let calls = 1;
    for (let more = true; more; calls++) more = (await t.deps.store.prune({ cutoffMs: NOW.getTime() - 30 * DAY, budgetMs: 0 })).more;
    expect(calls).toBe(3);
    expect(await counts(t)).toMatchObject({ deliveries: 0, observations: 0, devices: 3000 });
    expect(await t.rows(`SELECT position FROM events`)).toEqual([]);
  });

  itOn('sqlite', 'page counts of a database file; Postgres reuses space through VACUUM', 'keeps a file database bounded: freed pages are reused across retention periods', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'enode-sync-retention-'));
    try {
      const config = testConfig({ DATABASE_PATH: join(dir, 'db.sqlite') });
      const db = openDatabase(config.databasePath);
      runMigrations(db);
      const clock = new ManualClock(NOW);
      const deps = createDeps({ config, db, logger: silentLogger(), clock });
      const t = { app: createApp(deps), deps };
      const pageCounts: number[] = [];
      for (let day = 0; day < 12; day++) {
        for (let i = 0; i < 20; i++) await postWebhook(t, Array.from({ length: 50 }, (_, j) => vehicleEvent(`v${j}`, day * 1440 + i, { charging: (i + j) % 2 === 0 })));
        // Keep 3 "days" (here: simulated by moving the clock a day per round).
        while ((await deps.store.prune({ cutoffMs: clock.now().getTime() - 3 * DAY + 1 })).more) {
          /* drain */
        }
        clock.advance(DAY);
        db.$client.pragma('wal_checkpoint(TRUNCATE)');
        pageCounts.push(Number(db.$client.pragma('page_count', { simple: true })));
      }
      // After the first retention period the file stops growing (a little slack for B-tree shape).
      const settled = pageCounts.slice(5);
      expect(Math.max(...settled)).toBeLessThanOrEqual(Math.ceil(pageCounts[4]! * 1.1));
      expect(statSync(config.databasePath).size).toBeGreaterThan(0);
      await deps.store.close();
      db.$client.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
