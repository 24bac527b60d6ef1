import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { ManualClock } from '../../src/clock.js';
import { depsOver } from '../../src/deps.js';
import { checkBody } from '../../src/ingest/deliveries.js';
import { silentLogger } from '../../src/logger.js';
import { openStorage } from '../../src/storage.js';
import { INTAKE_JOURNAL_SUFFIX, openIntakeJournal } from '../../src/store/sqlite/intake-journal.js';
import { api, NOW, postWebhook, testConfig, vehicleEvent } from '../support/fixtures.js';

/**
 * The SQLite daemon acknowledges through its intake journal (`<database>-intake`): these run the
 * storage as the daemon opens it (the writer on its own thread) over a file.
 */
describe('intake journal under the daemon’s storage (SQLite file)', () => {
  let dir: string;
  let dbPath: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'intake-'));
    dbPath = join(dir, 'enode-sync.db');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  async function start() {
    const config = testConfig({ DATABASE_PATH: dbPath });
    const clock = new ManualClock(NOW);
    const storage = await openStorage(config, silentLogger(), clock, { mode: 'daemon' });
    const deps = depsOver({ config, logger: silentLogger(), clock }, storage);
    return { app: createApp(deps), deps, storage };
  }

  it('stores and applies, at start, deliveries a stopped process acknowledged into the journal but never stored', async () => {
    // The database exists (migrated) and is closed again, as after a crash.
    await (await start()).storage.close();
    const bodies = [[vehicleEvent('v-1', 1, { batteryLevel: 41 })], [vehicleEvent('v-2', 2, { batteryLevel: 52 })]].map((b) => new TextEncoder().encode(JSON.stringify(b)));
    const planted = await openIntakeJournal(`${dbPath}${INTAKE_JOURNAL_SUFFIX}`, async () => {});
    for (const [i, body] of bodies.entries()) {
      await planted.journal.append({ headerId: `lost-${i}`, receivedAt: NOW.getTime(), headers: { 'content-type': 'application/json' }, body, checked: checkBody(body) }).durable;
    }
    planted.journal.close();

    const t = await start();
    try {
      // Stored before the storage was handed out: nothing acknowledged is missing once the daemon serves.
      for (const id of ['lost-0', 'lost-1']) expect((await api(t, `/deliveries/${id}`)).status).toBe(200);
      expect(statSync(`${dbPath}${INTAKE_JOURNAL_SUFFIX}`).size).toBe(0);
      await t.deps.store.idle();
      const device = (await (await api(t, '/devices/v-2')).json()) as { snapshot: { chargeState: { batteryLevel: number } } };
      expect(device.snapshot.chargeState.batteryLevel).toBe(52);
      expect(((await (await api(t, '/deliveries/lost-0')).json()) as { status: string }).status).toBe('applied');
    } finally {
      await t.storage.close();
    }
  });

  it('acknowledges a webhook through the journal, answers its redelivery as a duplicate, and leaves the journal empty at stop', async () => {
    const t = await start();
    const body = [vehicleEvent('v-9', 3, { batteryLevel: 77 })];
    try {
      const first = await postWebhook(t, body, { deliveryId: 'd-1' });
      expect(await first.json()).toMatchObject({ deliveryId: 'd-1', status: 'pending', duplicate: false });
      expect(existsSync(`${dbPath}${INTAKE_JOURNAL_SUFFIX}`)).toBe(true);
      // postWebhook waited for idle(): stored and applied.
      expect(((await (await api(t, '/deliveries/d-1')).json()) as { status: string }).status).toBe('applied');
      const again = await postWebhook(t, body, { deliveryId: 'd-1' });
      expect(await again.json()).toMatchObject({ deliveryId: 'd-1', status: 'applied', duplicate: true });
      const sameBytes = await postWebhook(t, body, { deliveryId: null });
      expect(await sameBytes.json()).toMatchObject({ deliveryId: 'd-1', duplicate: true });
    } finally {
      await t.storage.close();
    }
    expect(statSync(`${dbPath}${INTAKE_JOURNAL_SUFFIX}`).size).toBe(0);
    const reopened = await start();
    try {
      const list = (await (await api(reopened, '/deliveries')).json()) as { data: Array<{ id: string }> };
      expect(list.data.map((d) => d.id)).toEqual(['d-1']);
    } finally {
      await reopened.storage.close();
    }
  });
});
