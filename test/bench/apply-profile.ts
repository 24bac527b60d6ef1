/**
 * The writer's apply path on a file database, without HTTP (BENCHMARKS.md, issue 16): stores
 * `N` bench deliveries of 10 events, then applies them in transactions of `B` deliveries, and
 * prints the wall and CPU time per delivery and the WAL bytes written per delivery (automatic
 * checkpoints off, so the WAL file holds every page written).
 *
 *   node --import tsx test/bench/apply-profile.ts                 # as the daemon writes
 *   NOLOG=1 node --import tsx test/bench/apply-profile.ts         # without the event log
 *   IDS=uuid node --import tsx test/bench/apply-profile.ts        # UUID-shaped ids, as Enode's
 *   N=3000 B=100 node --cpu-prof --import tsx test/bench/apply-profile.ts
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIngestRepo } from '../../src/db/ingest-repo.js';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase } from '../../src/db/open.js';
import { applyDelivery, storeDelivery } from '../../src/ingest/deliveries.js';
import { makeDeliveries } from './payloads.js';

const N = Number(process.env.N ?? 3_000);
const B = Number(process.env.B ?? 25);
const noLog = process.env.NOLOG === '1';
const dir = mkdtempSync(join(tmpdir(), 'enode-sync-apply-profile-'));
try {
  const db = openDatabase(join(dir, 'apply.db'));
  runMigrations(db);
  const repo = createIngestRepo(db.$client);
  db.$client.pragma('wal_autocheckpoint = 0');
  if (noLog) repo.appendEvent = () => {};
  const uuidIds = process.env.IDS === 'uuid';
  const deliveries = makeDeliveries(N, 'profile', { uuidIds });
  const now = Date.now();
  repo.transaction(() => {
    for (const d of deliveries) storeDelivery(repo, { headerId: d.id, receivedAt: now, headers: {}, body: Buffer.from(d.body) });
  });
  db.$client.pragma('wal_checkpoint(TRUNCATE)');
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < N; i += B) {
    repo.transaction(() => {
      for (let j = i; j < Math.min(N, i + B); j++) applyDelivery(repo, deliveries[j]!.id, now);
    });
  }
  const wall = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  const events = (db.$client.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  const walBytes = statSync(join(dir, 'apply.db-wal')).size;
  db.$client.close();
  process.stdout.write(
    `${noLog ? 'without the event log' : 'with the event log'}${uuidIds ? ', UUID ids' : ''}: ${N} deliveries in transactions of ${B}; ` +
      `${((wall / N) * 1000).toFixed(0)} µs wall and ${((cpu.user + cpu.system) / N).toFixed(0)} µs CPU per delivery; ` +
      `${(walBytes / N / 1024).toFixed(1)} KB of WAL per delivery; ${events} events logged\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
