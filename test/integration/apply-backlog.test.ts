/**
 * Memory does not grow with the backlog (issue 19): past MAX_QUEUED, stored deliveries wait only
 * in the database and are read back a page at a time; deliveries recovered at start too. Every one
 * is applied exactly once, whatever the size of the backlog.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createIngestRepo } from '../../src/db/ingest-repo.js';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { checkBody, type ReceivedDelivery } from '../../src/ingest/deliveries.js';
import { appliedEventCounts } from '../../src/ingest/apply.js';
import { Ingestor, MAX_QUEUED } from '../../src/store/sqlite/ingestor.js';
import { silentLogger } from '../../src/logger.js';
import { NOW, vehicleEvent } from '../support/fixtures.js';

const BACKLOG = 2 * MAX_QUEUED + 345;

function delivery(n: number): ReceivedDelivery {
  // One vehicle per delivery, each a snapshot newer than the last: applied once ⇒ one observation each.
  const body = Buffer.from(JSON.stringify([vehicleEvent(`v-${n % 50}`, n)]));
  return { headerId: `d-${n}`, receivedAt: NOW.getTime() + n * 60_000, headers: {}, body, checked: checkBody(body) };
}

/** Events this thread applied with outcome `duplicate` so far: a delivery applied twice adds its events here. */
const duplicatesSoFar = () => appliedEventCounts().filter((c) => c.outcome === 'duplicate').reduce((s, c) => s + c.count, 0);

/** The repo, counting the pages of pending ids read back and the largest page asked for. */
function countingRepo() {
  const db = openDatabase(':memory:');
  runMigrations(db);
  const repo = createIngestRepo(db.$client);
  const reads = { pages: 0, largest: 0 };
  const pendingDeliveryIds = repo.pendingDeliveryIds.bind(repo);
  repo.pendingDeliveryIds = (limit: number) => {
    reads.pages++;
    reads.largest = Math.max(reads.largest, limit);
    return pendingDeliveryIds(limit);
  };
  const count = (sql: string) => db.$client.prepare(sql).pluck().get() as number;
  return { db, repo, reads, count };
}

describe('apply backlog', () => {
  it(`applies a burst of ${BACKLOG} deliveries exactly once, reading those past ${MAX_QUEUED} back from the database a page at a time`, async () => {
    const { db, repo, reads, count } = countingRepo();
    const duplicatesBefore = duplicatesSoFar();
    const ingestor = new Ingestor(repo, systemClock, silentLogger());
    // One burst: the writer only stores while deliveries keep coming, so the backlog builds up.
    const outcomes = await Promise.all(Array.from({ length: BACKLOG }, (_, n) => ingestor.submit(delivery(n))));
    expect(outcomes.every((o) => o.status === 'pending' && !o.duplicate)).toBe(true);
    // The backlog counts those waiting only in the database too.
    expect(ingestor.backlog().deliveries).toBe(count("SELECT count(*) FROM deliveries WHERE status = 'pending'"));
    expect(ingestor.backlog().deliveries).toBeGreaterThan(MAX_QUEUED);
    await ingestor.idle();
    expect(count("SELECT count(*) FROM deliveries WHERE status = 'applied'")).toBe(BACKLOG);
    expect(count('SELECT count(*) FROM observations')).toBe(BACKLOG);
    expect(reads.pages).toBeGreaterThanOrEqual(2);
    expect(reads.largest).toBe(MAX_QUEUED);
    expect(ingestor.backlog().deliveries).toBe(0);
    // Exactly once: no event was applied a second time (it would count as a duplicate).
    expect(duplicatesSoFar()).toBe(duplicatesBefore);
    await ingestor.close();
    db.$client.close();
  });

  it('recovers a backlog left by a stop without loading its ids at once, and applies each exactly once', async () => {
    const { db, repo, reads, count } = countingRepo();
    const first = new Ingestor(repo, systemClock, silentLogger());
    await Promise.all(Array.from({ length: BACKLOG }, (_, n) => first.submit(delivery(n))));
    // Stopped before applying anything (the burst defers applying).
    await first.close();
    const pendingAtStop = count("SELECT count(*) FROM deliveries WHERE status = 'pending'");
    expect(pendingAtStop).toBeGreaterThan(MAX_QUEUED);
    reads.pages = 0;
    const duplicatesBefore = duplicatesSoFar();
    const second = new Ingestor(repo, systemClock, silentLogger());
    // Counted, not loaded: nothing was read yet.
    expect(second.backlog().deliveries).toBe(pendingAtStop);
    expect(reads.pages).toBe(0);
    await second.idle();
    expect(count("SELECT count(*) FROM deliveries WHERE status = 'pending'")).toBe(0);
    expect(count('SELECT count(*) FROM observations')).toBe(BACKLOG);
    expect(reads.largest).toBe(MAX_QUEUED);
    expect(reads.pages).toBeGreaterThanOrEqual(Math.ceil(pendingAtStop / MAX_QUEUED));
    expect(duplicatesSoFar()).toBe(duplicatesBefore);
    await second.close();
    db.$client.close();
  });
});
