/**
 * Proof under hostile traffic at the HTTP edge (issue 14, items 1, 3 and 10), against a daemon
 * process on 127.0.0.1: memory stays bounded under many stalled webhook uploads, /healthz answers
 * quickly while thousands of half-sent requests are held, and SIGTERM answers what is in flight on
 * keep-alive connections. Each test stops its clients itself and is bounded in time.
 * It runs on both engines (describeEngines): the daemon's database is a file on SQLite, a fresh
 * schema on Postgres; what it stored is read with the same SQL.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signEnodeBody } from '../../src/ingest/signature.js';
import { E2E_SECRET, removeDir, startDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { daemonReader } from '../support/daemon-reader.js';
import { daemonDatabases, describeEngines } from '../support/engines-e2e.js';
import { openRaw, requestHead, type RawConnection } from '../support/raw-http.js';

/** Set explicitly, so the test holds whatever the defaults become. */
const BODY_TIMEOUT_SECONDS = 10;
const UNVERIFIED_MIB = 32;
/** This process's open-file limit (soft): the half-sent connections it holds must fit in it. */
function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\d+|unlimited)/m);
  return line?.[1] === undefined || line[1] === 'unlimited' ? 1_000_000 : Number(line[1]);
}
/** Half-sent connections held: 2,000, or fewer where the open-file limit is lower (keeping room for the rest). */
const HELD = Math.min(2_000, openFileLimit() - 300);
/** Half of what is held: the cap is always under siege. */
const MAX_CONNECTIONS = Math.min(1_000, Math.floor(HELD / 2));
const EDGE_ENV = {
  WEBHOOK_BODY_TIMEOUT_SECONDS: String(BODY_TIMEOUT_SECONDS),
  WEBHOOK_UNVERIFIED_BYTES_LIMIT: String(UNVERIFIED_MIB * 1024 * 1024),
  HTTP_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
};

/** Resident memory of a process in MB, from /proc. */
function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB$/m);
  if (!line) throw new Error(`no VmRSS for ${pid}`);
  return Number(line[1]) / 1024;
}

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const portOf = (d: Daemon) => Number(new URL(d.url).port);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Time for a fresh connection to get /healthz answered, in ms (the worst case: a new client). */
async function healthzMs(port: number): Promise<number> {
  const started = performance.now();
  const c = await openRaw(port);
  try {
    c.socket.write(requestHead('GET', '/healthz', { Connection: 'close' }));
    const answer = await c.nextResponse(5_000);
    expect(answer.status).toBe(200);
    return performance.now() - started;
  } finally {
    c.socket.destroy();
  }
}

function status(c: RawConnection): number | undefined {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(c.received());
  return m ? Number(m[1]) : undefined;
}

const databases = daemonDatabases();
afterAll(() => databases.dropAll(), 60_000);

describeEngines('edge: a daemon under hostile connections', (engine) => {
  let d: Daemon;
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('enode-sync-edge-');
    d = await startDaemon(dir, { ...EDGE_ENV, ...(await databases.make(engine)).env });
  }, 60_000);
  afterAll(async () => {
    await d?.proc.stop();
    removeDir(dir);
  });

  it(
    '200 stalled uploads declaring 4 MiB each: memory stays bounded, each is refused (503) or cut at the body deadline, /healthz stays fast',
    async () => {
      const pid = d.proc.child.pid!;
      const port = portOf(d);
      const before = rssMb(pid);
      const declared = 4 * 1024 * 1024;
      const sent = Buffer.alloc(512 * 1024, 0x78);
      const started = Date.now();
      const uploads: RawConnection[] = [];
      try {
        for (let i = 0; i < 200; i++) {
          const c = await openRaw(port);
          c.socket.on('error', () => undefined);
          c.socket.write(requestHead('POST', '/webhooks/enode', { 'Content-Type': 'application/json', 'Content-Length': String(declared), 'x-enode-signature': `sha1=${'0'.repeat(40)}` }));
          // Half a MiB of it, then nothing: the stall of the review (400 of these took RSS to 2.3 GB).
          c.socket.write(sent);
          uploads.push(c);
        }
        await sleep(1_000);
        const during = rssMb(pid);
        const latencies = [];
        for (let i = 0; i < 5; i++) latencies.push(await healthzMs(port));
        // At most the budget's worth of bodies is read; the rest wait in kernel buffers, not ours.
        expect(during - before, `RSS ${before.toFixed(0)} → ${during.toFixed(0)} MB`).toBeLessThan(UNVERIFIED_MIB + 48);
        expect(Math.max(...latencies), `healthz ms: ${latencies.map((l) => l.toFixed(0)).join(', ')}`).toBeLessThan(1_000);

        // Every stalled upload ends: 503 at once (over the budget) or 408 at the body deadline.
        await Promise.all(uploads.map((c) => c.whenClosed((BODY_TIMEOUT_SECONDS + 5) * 1000)));
        expect(Date.now() - started).toBeLessThan((BODY_TIMEOUT_SECONDS + 5) * 1000);
        const statuses = uploads.map(status);
        const counts = { refused: statuses.filter((s) => s === 503).length, cut: statuses.filter((s) => s === 408).length };
        expect(counts.refused + counts.cut, JSON.stringify(statuses)).toBe(200);
        expect(counts.cut).toBeLessThanOrEqual(UNVERIFIED_MIB / 4);
        const after = rssMb(pid);
        console.info(`edge: RSS MB before ${before.toFixed(0)}, with 200 stalled uploads ${during.toFixed(0)}, after ${after.toFixed(0)}; 503 ${counts.refused}, 408 ${counts.cut}; healthz ms ${latencies.map((l) => l.toFixed(0)).join(', ')}`);
        expect(after - before, `RSS after the clients went: ${before.toFixed(0)} → ${after.toFixed(0)} MB`).toBeLessThan(UNVERIFIED_MIB + 48);
        // The refusals are logged in aggregate, not once each.
        const refusals = d.logs().split('\n').filter((l) => l.includes('webhook refused: unverified bytes over budget'));
        expect(refusals.length).toBeLessThanOrEqual(2);
      } finally {
        for (const c of uploads) c.socket.destroy();
      }
    },
    40_000,
  );

  it(
    `${HELD} half-sent requests held and renewed: /healthz answers within a second throughout, a signed webhook is stored, open files stay under the cap`,
    async () => {
      const pid = d.proc.child.pid!;
      const port = portOf(d);
      const held = new Set<RawConnection>();
      let flooding = true;
      const openOne = async () => {
        const c = await openRaw(port);
        c.socket.on('error', () => undefined);
        c.socket.write('POST /webhooks/enode HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
        held.add(c);
        c.socket.once('close', () => held.delete(c));
      };
      try {
        for (let i = 0; i < HELD; i++) await openOne();
        // The attacker keeps renewing what the cap closes, in 8 parallel streams.
        const flood = Promise.all(
          Array.from({ length: 8 }, async () => {
            while (flooding) {
              if (held.size < HELD) await openOne().catch(() => undefined);
              else await sleep(5);
            }
          }),
        );
        const latencies: number[] = [];
        const fds: number[] = [];
        for (let i = 0; i < 20; i++) {
          latencies.push(await healthzMs(port));
          fds.push(openFds(pid));
          await sleep(50);
        }
        const body = JSON.stringify([{ event: 'system:heartbeat', pendingEvents: 0 }]);
        const hook = await openRaw(port);
        hook.socket.write(requestHead('POST', '/webhooks/enode', { 'Content-Type': 'application/json', 'Content-Length': String(body.length), 'x-enode-delivery': 'under-flood', 'x-enode-signature': signEnodeBody(body, E2E_SECRET), Connection: 'close' }) + body);
        const stored = await hook.nextResponse(5_000);
        flooding = false;
        await flood;
        const sorted = [...latencies].sort((a, b) => a - b);
        const shown = `healthz ms: ${latencies.map((l) => l.toFixed(0)).join(', ')}; open fds: ${fds.join(', ')}`;
        console.info(`edge: under ${HELD} renewed half-sent requests, healthz ms p50 ${sorted[10]!.toFixed(0)} max ${sorted.at(-1)!.toFixed(0)}; daemon open fds max ${Math.max(...fds)}`);
        expect(sorted.at(-1)!, shown).toBeLessThan(1_000);
        expect(stored.status).toBe(200);
        // The cap, plus the database, the log and Node's own descriptors.
        expect(Math.max(...fds), shown).toBeLessThan(MAX_CONNECTIONS + 150);
      } finally {
        flooding = false;
        for (const c of held) c.socket.destroy();
      }
    },
    40_000,
  );
});

describeEngines('edge: SIGTERM under keep-alive load', (engine) => {
  it(
    'requests in flight on keep-alive connections get whole answers with Connection: close; idle ones are closed; the daemon exits 0',
    async () => {
      const dir = tempDir('enode-sync-edge-term-');
      const database = await databases.make(engine);
      const d = await startDaemon(dir, { ...EDGE_ENV, ...database.env });
      try {
        const port = portOf(d);
        const conns: RawConnection[] = [];
        for (let i = 0; i < 12; i++) {
          const c = await openRaw(port);
          c.socket.write(requestHead('GET', '/healthz'));
          expect((await c.nextResponse()).headers['connection']).toBe('keep-alive');
          conns.push(c);
        }
        const busy = conns.slice(0, 8);
        const idle = conns.slice(8);
        const bodies = busy.map((_, i) => JSON.stringify([{ event: 'system:heartbeat', pendingEvents: i }]));
        busy.forEach((c, i) => {
          const body = bodies[i]!;
          const head = requestHead('POST', '/webhooks/enode', { 'Content-Type': 'application/json', 'Content-Length': String(body.length), 'x-enode-delivery': `term-${i}`, 'x-enode-signature': signEnodeBody(body, E2E_SECRET) });
          c.socket.write(head + body.slice(0, 10));
        });
        await sleep(200);
        d.proc.child.kill('SIGTERM');
        // Idle connections closing shows the server has begun to stop; the busy ones wait for their bodies.
        await Promise.all(idle.map((c) => c.whenClosed(10_000)));
        for (const c of idle) expect(c.error()).toBeUndefined();
        expect(busy.filter((c) => c.closed())).toEqual([]);
        busy.forEach((c, i) => c.socket.write(bodies[i]!.slice(10)));
        for (const [i, c] of busy.entries()) {
          const answer = await c.nextResponse(5_000);
          expect(answer.status).toBe(200);
          expect(answer.headers['connection']).toBe('close');
          expect(JSON.parse(answer.body)).toMatchObject({ deliveryId: `term-${i}` });
          await c.whenClosed(5_000);
          expect(c.error()).toBeUndefined();
        }
        // Not proc.stop(): a second SIGTERM would make the daemon exit at once.
        const child = d.proc.child;
        const code = child.exitCode ?? (await new Promise<number | null>((r) => child.once('exit', (c) => r(c))));
        expect(code).toBe(0);
        const reader = daemonReader(database, () => d.dbPath, 'edge-proof');
        try {
          const ids = (await reader.all<{ id: string }>(`SELECT id FROM deliveries WHERE id LIKE 'term-%' ORDER BY id`)).map((r) => r.id);
          expect(ids).toEqual(busy.map((_, i) => `term-${i}`).sort());
        } finally {
          await reader.close();
        }
      } finally {
        await d.proc.stop();
        removeDir(dir);
      }
    },
    40_000,
  );
});
