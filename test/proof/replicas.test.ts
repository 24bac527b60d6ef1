/**
 * REPLICAS: several daemon processes on one Postgres database, over real HTTP on loopback.
 *
 * 1. Ingest under kill -9: eight senders spread over three replicas (some ids sent twice, to
 *    different replicas); one replica is killed mid-load and restarted. Every acknowledged delivery
 *    is stored and applied exactly once, and the admin API shows the state a single SQLite daemon
 *    fed the same deliveries shows (devices, actions, findings).
 * 2. Jobs not doubled: against the simulated Enode, the poller's requests and the device listings
 *    do not grow from one replica to three; each job's lease has one holder.
 * 3. Failover: the replica holding the poller's lease is killed; another runs the poller within
 *    its interval plus the lease check (15 s). The measured time is printed.
 * 4. Gateway: the same command sent to two replicas at once reaches Enode once; the daily budget
 *    holds across replicas.
 * 5. Readiness: a replica cut off from Postgres answers /readyz and webhooks 503, and recovers by
 *    itself when Postgres is back.
 *
 * Needs POSTGRES_TEST_URL (skipped with the reason printed otherwise). `PROOF_LONG=1`
 * (npm run test:long) repeats the kill scenario with ten seeds.
 */
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_CHECK_SECONDS } from '../../src/jobs/scheduler.js';
import { createSimulator, pickDevices, type Simulator } from '../../src/simulator/index.js';
import { allPages, E2E_SECRET, removeDir, tempDir } from '../support/daemon.js';
import { describeIfPostgres, freshPostgresSchema, type FreshSchema } from '../support/postgres.js';
import { deliveryBody, deliveryId, errorLogLines, EVENTS_PER_DELIVERY, expectedState, kill9, spawnDaemon, VEHICLE_EVENTS_PER_DELIVERY, type CrashDaemon } from './support-crash.js';
import { seededRandom } from './support-fuzz.js';
import {
  adminFetch,
  apiState,
  assertAlive,
  enodeEnv,
  INTERFERENCE_VEHICLES,
  interferenceBody,
  interferenceDeliveryId,
  isAlive,
  pgQuery,
  postDelivery,
  readLeases,
  replicaOfHolder,
  serveCounting,
  sleep,
  spawnReplica,
  startTcpProxy,
  viaPort,
  waitFor,
  type CountingEnode,
  type Replica,
} from './support-replicas.js';

const LONG = process.env['PROOF_LONG'] === '1';
const BASE_SEED = Number(process.env['PROOF_SEED'] ?? 20_261_202);
const SEEDS = LONG ? Array.from({ length: 10 }, (_, k) => BASE_SEED + k) : [BASE_SEED];

const SENDERS = 8;
const REPLICAS = 3;
/** Share of requests that re-send an acknowledged delivery to another replica (it must be a duplicate). */
const DUPLICATE_RATE = 0.08;
/** Pause of each sender between requests: load, not a flood that starves the restarting replica of CPU. */
const SENDER_PAUSE_MS = 25;
/** The kill comes once this many deliveries are acknowledged; sending stops once the restarted replica acknowledged RESTARTED_ACKS. */
const KILL_AFTER_ACKS = 120;
const RESTARTED_ACKS = 30;
/** How long after a request to the victim is sent the kill comes. */
const KILL_DELAY_MS = 1;
/** Findings wait this long for a late action webhook; short, so they come within the test. */
const GRACE_ENV = { INTERFERENCE_GRACE_SECONDS: '1' };

const dirs: string[] = [];
const procs: CrashDaemon[] = [];
const track = <T extends CrashDaemon>(d: T): T => {
  procs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of procs) if (isAlive(d)) await kill9(d);
  for (const dir of dirs) removeDir(dir);
});
const newDir = (prefix: string) => {
  const dir = tempDir(prefix);
  dirs.push(dir);
  return dir;
};

/** What the senders send: crash deliveries 0…n-1, with the interference pairs mixed in early. */
interface Item {
  id: string;
  body: string;
}

function workload(seed: number) {
  const rnd = seededRandom(seed);
  // Both halves of each pair, in a seeded order: some pairs arrive stop-first.
  const interference: Item[] = [];
  for (let j = 0; j < INTERFERENCE_VEHICLES; j++) {
    for (const part of ['before', 'stop'] as const) interference.push({ id: interferenceDeliveryId(j, part), body: interferenceBody(j, part) });
  }
  for (let k = interference.length - 1; k > 0; k--) {
    const j = Math.floor(rnd() * (k + 1));
    [interference[k], interference[j]] = [interference[j] as Item, interference[k] as Item];
  }
  let crash = 0;
  let generated = 0;
  const all: Item[] = [];
  return {
    next(): Item {
      const item = generated % 9 === 4 && interference.length > 0 ? (interference.shift() as Item) : { id: deliveryId(crash), body: deliveryBody(seed, crash++) };
      generated++;
      all.push(item);
      return item;
    },
    /** Crash deliveries generated so far (expectedState's n). */
    crashCount: () => crash,
    interferenceLeft: () => interference.length,
    all,
  };
}

describeIfPostgres('replicas on one Postgres', () => {
  for (const seed of SEEDS) {
    it(`ingest under kill -9 (seed ${seed}): nothing acknowledged lost, each delivery applied once, the state of one SQLite daemon`, async () => {
      const started = Date.now();
      const ours = procs.length;
      const db = await freshPostgresSchema({ migrate: false });
      const root = newDir('enode-sync-replicas-');
      const fleetDir = `${root}/fleet`;
      const refDir = `${root}/sqlite`;
      const env = { ...GRACE_ENV };
      // Started together: migrations at start must be safe when replicas race for them.
      mkdirSync(refDir, { recursive: true });
      const reference = track(await spawnDaemon(refDir, env));
      const slots = await Promise.all(Array.from({ length: REPLICAS }, (_, r) => spawnReplica(fleetDir, `r${r}`, db.url, env).then(track)));
      await Promise.all([reference, ...slots].map((d) => d.ready));
      const live: Array<Replica | undefined> = [...slots];
      const startupMs = Date.now() - started;

      const work = workload(seed);
      let generating = true;
      let inFlight = 0;
      const retry: Item[] = [];
      const acked = new Map<string, { item: Item; by: string }>();
      const ackedList: Item[] = [];
      const ackedBy = new Map<string, number>();
      const violations: string[] = [];
      const others: string[] = [];
      const stats = { requests: 0, duplicatesChecked: 0, connectionErrors: 0, cutByKill: 0, retried: 0 };
      let victimName = '';
      const inFlightTo = new Map<string, number>();
      let killWhenBusy: ((target: Replica) => void) | undefined;

      const pickReplica = (turn: number, avoid?: string): Replica | undefined => {
        for (let k = 0; k < REPLICAS; k++) {
          const r = live[(turn + k) % REPLICAS];
          if (r && r.name !== avoid) return r;
        }
        return undefined;
      };

      const sender = async (c: number) => {
        const mine = seededRandom(seed * 31 + c);
        for (let turn = c; ; turn++) {
          let item = retry.shift();
          let resend = false;
          if (item) stats.retried++;
          else if (ackedList.length > 0 && mine() < DUPLICATE_RATE) {
            item = ackedList[Math.floor(mine() * ackedList.length)] as Item;
            resend = true;
          } else if (generating) item = work.next();
          else if (inFlight === 0 && retry.length === 0) return;
          else {
            await sleep(20);
            continue;
          }
          // A re-sent id goes to a replica other than the one that acknowledged it.
          const target = pickReplica(turn, resend ? acked.get(item.id)?.by : undefined);
          if (!target) {
            if (!resend) retry.push(item);
            await sleep(20);
            continue;
          }
          inFlight++;
          stats.requests++;
          inFlightTo.set(target.name, (inFlightTo.get(target.name) ?? 0) + 1);
          try {
            const sending = postDelivery(target.url, item.id, item.body);
            killWhenBusy?.(target);
            const res = await sending;
            const text = await res.text();
            let body: { deliveryId?: string; duplicate?: boolean } = {};
            try {
              body = JSON.parse(text) as typeof body;
            } catch {
              // judged by its status
            }
            if (res.status === 200) {
              if (body.deliveryId !== item.id) violations.push(`${item.id} stored as ${String(body.deliveryId)} by ${target.name}`);
              if (resend) {
                if (body.duplicate !== true) violations.push(`${item.id}, acknowledged by ${acked.get(item.id)?.by}, was not a duplicate on ${target.name}`);
                stats.duplicatesChecked++;
              } else if (!acked.has(item.id)) {
                acked.set(item.id, { item, by: target.name });
                ackedList.push(item);
                ackedBy.set(target.name, (ackedBy.get(target.name) ?? 0) + 1);
              }
            } else {
              if (others.length < 5) others.push(`${target.name}: ${res.status} ${text.slice(0, 200)}`);
              if (!resend && !acked.has(item.id)) retry.push(item);
            }
          } catch {
            // Cut by the kill (or refused): not acknowledged, so sent again, to another replica.
            stats.connectionErrors++;
            if (target.name === victimName) stats.cutByKill++;
            if (!resend && !acked.has(item.id)) retry.push(item);
          } finally {
            inFlight--;
            inFlightTo.set(target.name, (inFlightTo.get(target.name) ?? 0) - 1);
          }
          await sleep(SENDER_PAUSE_MS);
        }
      };

      const senders = Array.from({ length: SENDERS }, (_, c) => sender(c));
      let restartMs = 0;
      try {
        await waitFor('acknowledgements before the kill', async () => acked.size >= KILL_AFTER_ACKS, 60_000, 10);
        const victim = live[1] as Replica;
        victimName = victim.name;
        // Killed while it serves: once two requests are in flight to it (one after 2 s armed), a
        // few milliseconds after the last was sent, so that it is being handled, not yet answered.
        const armedAt = Date.now();
        let inFlightAtKill = 0;
        await new Promise<void>((resolve) => {
          const arm = (target: Replica) => {
            const busy = inFlightTo.get(victim.name) ?? 0;
            if (target !== victim || (busy < 2 && Date.now() - armedAt < 2_000)) return;
            killWhenBusy = undefined;
            setTimeout(() => {
              // Its answers came back meanwhile (a fast store): wait for the next requests to it,
              // so that the kill really cuts some in flight.
              if ((inFlightTo.get(victim.name) ?? 0) === 0) {
                killWhenBusy = arm;
                return;
              }
              live[1] = undefined;
              inFlightAtKill = inFlightTo.get(victim.name) ?? 0;
              victim.proc.child.kill('SIGKILL');
              resolve();
            }, KILL_DELAY_MS);
          };
          killWhenBusy = arm;
        });
        await victim.exited;
        const killedAt = Date.now();
        const ackedAtKill = acked.size;
        // Restarted on the same database (a new process, port and lease holder id).
        const restarted = track(await spawnReplica(fleetDir, 'r1-restarted', db.url, env));
        await restarted.ready;
        restartMs = Date.now() - killedAt;
        live[1] = restarted;
        await waitFor(
          'the restarted replica taking its share',
          async () => (ackedBy.get(restarted.name) ?? 0) >= RESTARTED_ACKS && work.interferenceLeft() === 0,
          60_000,
          20,
        );
        generating = false;
        await Promise.race([
          Promise.all(senders),
          sleep(60_000).then(() => {
            throw new Error(`senders did not finish: ${retry.length} to retry, ${inFlight} in flight`);
          }),
        ]);

        // ── every replica has applied everything; the reference gets the same deliveries ──
        const anyReplica = live[0] as Replica;
        await waitFor('no delivery pending on the fleet', async () => (await allPages(anyReplica.url, '/deliveries?status=pending')).length === 0, 60_000);
        const items = [...new Map(work.all.map((i) => [i.id, i])).values()];
        await feed(reference.url, items);
        await waitFor('no delivery pending on the reference', async () => (await allPages(reference.url, '/deliveries?status=pending')).length === 0, 60_000);
        // Findings come a grace and a reconcile run after the data: wait for the pairs' findings on both.
        const interferenceFindings = async (url: string) =>
          (await allPages<{ deviceId: string }>(url, '/interference')).filter((f) => f.deviceId.startsWith('iv-')).length === INTERFERENCE_VEHICLES;
        await waitFor('the interference findings on the fleet', () => interferenceFindings(anyReplica.url), 60_000);
        await waitFor('the interference findings on the reference', () => interferenceFindings(reference.url), 60_000);
        await sleep(3_000);

        // ── the proof ──
        const n = work.crashCount();
        const total = n + 2 * INTERFERENCE_VEHICLES;
        expect(violations).toEqual([]);
        expect(others, 'answers other than 200').toEqual([]);
        expect(stats.cutByKill, 'the kill cut requests in flight').toBeGreaterThan(0);
        expect(acked.size, 'every delivery acknowledged in the end').toBe(total);
        expect(ackedAtKill).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);

        // Stored and applied exactly once (the database's own counts: the fleet's only SQL here).
        const deliveries = await allPages<{ id: string; status: string; eventCount: number }>(anyReplica.url, '/deliveries');
        expect(deliveries.map((d) => d.id).sort()).toEqual([...acked.keys()].sort());
        expect(deliveries.filter((d) => d.status !== 'applied')).toEqual([]);
        const twice = await pgQuery(db.pool, `SELECT delivery_id, event_index, count(*)::int AS n FROM observations GROUP BY 1, 2 HAVING count(*) > 1 LIMIT 5`);
        expect(twice, 'observations per (delivery_id, event_index)').toEqual([]);
        const [counts] = await pgQuery<{ observations: number; heartbeats: number; deliveries: number }>(
          db.pool,
          `SELECT (SELECT count(*)::int FROM observations) AS observations,
                  (SELECT count(*)::int FROM system_events WHERE event = 'system:heartbeat') AS heartbeats,
                  (SELECT count(DISTINCT delivery_id)::int FROM observations) AS deliveries`,
        );
        const want = expectedState(seed, n);
        expect(counts).toEqual({ observations: want.observations + INTERFERENCE_VEHICLES * 2, heartbeats: want.heartbeats, deliveries: total });
        expect(deliveries.filter((d) => d.id.startsWith('crash-') && d.eventCount !== EVENTS_PER_DELIVERY)).toEqual([]);

        // The state the merge rules promise, and the same answers as one SQLite daemon.
        const fleet = await apiState(anyReplica.url);
        const lastSeen = Object.fromEntries(fleet.devices.filter((d) => String(d['id']).startsWith('cv-')).map((d) => [d['id'], d['lastSeen']]));
        expect(lastSeen).toEqual(Object.fromEntries(want.lastSeen));
        const actionStates = Object.fromEntries(fleet.actions.map((a) => [a['id'], { state: a['state'], updatedAt: a['updatedAt'] }]));
        expect(actionStates).toEqual(Object.fromEntries(want.actions));
        const single = await apiState(reference.url);
        expect(fleet.devices).toEqual(single.devices);
        expect(fleet.actions).toEqual(single.actions);
        expect(fleet.findings).toEqual(single.findings);
        expect(fleet.findings.filter((f) => String(f['deviceId']).startsWith('iv-')).map((f) => f['kind'])).toEqual(Array(INTERFERENCE_VEHICLES).fill('UNEXPECTED_CHANGE'));
        // Every replica answers alike (they read the same database).
        expect(await apiState((live[2] as Replica).url)).toEqual(fleet);
        // Each finding raised one alert, whichever replica judged it.
        const alerts = await pgQuery<{ n: number }>(db.pool, `SELECT count(*)::int AS n FROM alerts WHERE type = 'interference.detected'`);
        expect(alerts[0]?.n).toBe(fleet.findings.length);

        expect(errorLogLines(fleetDir)).toEqual([]);
        expect(errorLogLines(refDir)).toEqual([]);
        console.info(
          `replicas: seed ${seed}, ${n} deliveries + ${2 * INTERFERENCE_VEHICLES} interference (${n * EVENTS_PER_DELIVERY} events) over ${REPLICAS} replicas, ` +
            `kill -9 of ${victimName} after ${ackedAtKill} acknowledged (${inFlightAtKill} requests in flight to it, ${stats.cutByKill} cut), restarted and ready in ${restartMs} ms, ` +
            `acknowledged per replica ${JSON.stringify(Object.fromEntries(ackedBy))}, ${stats.duplicatesChecked} re-sent to another replica, ${stats.retried} retried, ` +
            `${fleet.findings.length} findings, startup ${startupMs} ms, ${Math.round((Date.now() - started) / 1000)} s`,
        );
      } finally {
        generating = false;
        retry.length = 0;
        live.fill(undefined);
        await Promise.all(procs.slice(ours).filter(isAlive).map((d) => d.proc.stop()));
        await db.drop();
      }
    }, 300_000);
  }

  describe('jobs and the gateway against the simulated Enode', () => {
    jobsAndGateway();
  });

  it('readiness: a replica cut off from Postgres answers 503 and recovers by itself', async () => {
    const db = await freshPostgresSchema({ migrate: false });
    const dir = newDir('enode-sync-readiness-');
    const target = new URL(db.url);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const replica = track(await spawnReplica(dir, 'proxied', viaPort(db.url, '127.0.0.1', proxy.port)));
    try {
      await replica.ready;
      const body = (i: number) => deliveryBody(BASE_SEED, i);
      expect((await postDelivery(replica.url, 'ready-0', body(0))).status).toBe(200);

      await proxy.cut();
      const cutAt = Date.now();
      const status = async (path: string) => {
        assertAlive(dir, replica, 'after Postgres was cut');
        return (await fetch(`${replica.url}${path}`)).status;
      };
      const notReadyMs = await waitFor('/readyz 503 once Postgres is gone', async () => (await status('/readyz')) === 503, 30_000);
      const refused = await postDelivery(replica.url, 'ready-1', body(1), 30_000);
      expect(refused.status, await refused.clone().text()).toBe(503);
      // The process stays up and says so; Enode keeps the delivery and retries.
      expect(await status('/healthz')).toBe(200);
      await sleep(2_000);
      expect(await status('/readyz')).toBe(503);

      await proxy.restore();
      const awayMs = Date.now() - cutAt;
      const recoveredMs = await waitFor('/readyz 200 once Postgres is back', async () => (await status('/readyz')) === 200, 60_000);
      const retried = await postDelivery(replica.url, 'ready-1', body(1));
      expect(retried.status).toBe(200);
      await waitFor('both deliveries applied', async () => (await allPages(replica.url, '/deliveries?status=pending')).length === 0, 30_000);
      const stored = await allPages<{ id: string; status: string }>(replica.url, '/deliveries');
      expect(stored.map((d) => [d.id, d.status]).sort()).toEqual([
        ['ready-0', 'applied'],
        ['ready-1', 'applied'],
      ]);
      const [obs] = await pgQuery<{ n: number }>(db.pool, 'SELECT count(*)::int AS n FROM observations');
      expect(obs?.n).toBe(2 * VEHICLE_EVENTS_PER_DELIVERY);
      console.info(`replicas: readiness — /readyz 503 ${notReadyMs} ms after Postgres was cut, 200 again ${recoveredMs} ms after it came back (Postgres away ${awayMs} ms; the webhook meanwhile answered 503)`);
    } finally {
      await replica.proc.stop();
      await proxy.close();
      await db.drop();
    }
  }, 180_000);
});

/** POSTs every item to one daemon, four at a time; each must be acknowledged. */
async function feed(url: string, items: Array<{ id: string; body: string }>): Promise<void> {
  let k = 0;
  const failures: string[] = [];
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (k < items.length) {
        const item = items[k++] as { id: string; body: string };
        const res = await postDelivery(url, item.id, item.body);
        if (res.status !== 200) failures.push(`${item.id}: ${res.status} ${(await res.text()).slice(0, 200)}`);
        else await res.arrayBuffer();
      }
    }),
  );
  expect(failures).toEqual([]);
}

/** Poller interval of the jobs fleet: short, so a window of a few seconds holds several runs. */
const POLL_SECONDS = 2;
/** Past LEASE_CHECK_SECONDS in the long run, whose failover then measures the lease check too. */
const WEBHOOK_HEALTH_SECONDS = LONG ? 30 : 10;
const RESYNC_MINUTES = 1;
/** How long each side of the 1-vs-3 comparison is watched. */
const WINDOW_MS = 6_000;
const LIST_PATH = /^\/(vehicles|chargers|hvacs|batteries)$/;

function jobsAndGateway(): void {
  let sim: Simulator;
  let enode: CountingEnode;
  let db: FreshSchema;
  let dir: string;
  const replicas: Replica[] = [];
  /** PENDING actions the poller asks Enode about on every run (their backoff is reset below). */
  const polled: Array<{ id: string; type: 'charger' | 'vehicle' }> = [];
  let resetting: Promise<void> | undefined;
  let stopReset = false;
  let firstStart = 0;
  let spawned = 0;

  const env = () => ({ ...enodeEnv(sim, enode.url), POLL_INTERVAL_SECONDS: String(POLL_SECONDS), WEBHOOK_HEALTH_INTERVAL_SECONDS: String(WEBHOOK_HEALTH_SECONDS), RESYNC_INTERVAL_MINUTES: String(RESYNC_MINUTES) });
  const liveReplicas = () => replicas.filter(isAlive);
  const ensureReplicas = async (n: number) => {
    const missing = Math.max(0, n - liveReplicas().length);
    const started = await Promise.all(Array.from({ length: missing }, () => spawnReplica(dir, `j${spawned++}`, db.url, env()).then(track)));
    firstStart ||= Date.now();
    replicas.push(...started);
    await Promise.all(started.map((r) => r.ready));
  };
  /** Chargers that take a max-current command and leave it PENDING (16, 20 or 32 A now; the commands ask for less). */
  const controllableChargers = () => pickDevices(sim.world, 'charger', (d) => d.isReachable === true && d.capabilities.setMaxCurrent.isCapable);
  const pollPath = () => new RegExp(`^/(vehicles|chargers)/actions/(${polled.map((p) => p.id).join('|')})$`);

  beforeAll(async () => {
    // Its clock starts now: actions it creates are young, not past Enode's horizon (the gateway ignores those).
    sim = createSimulator({ seed: 5, startTime: new Date().toISOString(), fleet: { vehicles: 1, chargers: 4, hvacs: 1, batteries: 1 }, incapableRate: 0, webhookUrl: 'http://127.0.0.1:9/never-called', webhookSecret: E2E_SECRET });
    enode = await serveCounting(sim);
    db = await freshPostgresSchema({ migrate: false });
    dir = newDir('enode-sync-jobs-');
  }, 60_000);

  afterAll(async () => {
    stopReset = true;
    await resetting;
    for (const r of replicas) if (isAlive(r)) await r.proc.stop();
    await enode?.close();
    await sim?.close();
    await db?.drop();
  }, 60_000);

  /**
   * Two PENDING actions the simulator keeps PENDING (its clock never moves here), told to the
   * fleet by webhook; their poll backoff is reset in a loop so that every run of the poller asks
   * about both. What is counted is then the number of runs, whichever replica makes them.
   */
  const startPolledActions = async (url: string) => {
    for (const c of controllableChargers().slice(1, 3)) {
      const made = sim.actions.create('charger', c.id, { kind: 'maxCurrent', maxCurrent: 10 });
      if (!made.ok) throw new Error(`simulator refused the action: ${made.detail}`);
      polled.push({ id: made.action.id, type: 'charger' });
      const event = { event: 'user:vendor-action:updated', createdAt: new Date().toISOString(), version: '2024-10-01', user: { id: made.action.userId }, vendorAction: made.action, updatedFields: ['state'] };
      expect((await postDelivery(url, `action-${made.action.id}`, JSON.stringify([event]))).status).toBe(200);
    }
    const ids = polled.map((p) => p.id);
    await waitFor('the polled actions stored', async () => (await pgQuery(db.pool, `SELECT id FROM actions WHERE id = ANY($1)`, [ids])).length === ids.length, 20_000);
    resetting = (async () => {
      while (!stopReset) {
        await pgQuery(db.pool, `UPDATE actions SET last_news_at = 0, last_polled_at = NULL, poll_attempts = 0 WHERE id = ANY($1)`, [ids]).catch(() => {});
        await sleep(150);
      }
    })();
  };

  it('jobs run once per interval across replicas: the poller and the device listings do not grow from 1 replica to 3', async () => {
    await ensureReplicas(1);
    await waitFor('the first device resync', async () => enode.count('GET', LIST_PATH) >= 4, 30_000);
    await startPolledActions(liveReplicas()[0]!.url);
    const bound = polled.length * (Math.floor(WINDOW_MS / (POLL_SECONDS * 1000)) + 1);

    const watch = async () => {
      const from = Date.now();
      const holders = new Map<string, Set<string>>();
      const tokens = new Map<string, number>();
      const regressions: string[] = [];
      while (Date.now() - from < WINDOW_MS) {
        for (const l of await readLeases(db.pool)) {
          if (!holders.has(l.name)) holders.set(l.name, new Set());
          holders.get(l.name)!.add(replicaOfHolder(replicas, l.holder)?.name ?? `unknown ${l.holder}`);
          // Fencing: a lease's token never goes back.
          if (l.token < (tokens.get(l.name) ?? 0)) regressions.push(`${l.name} token ${l.token} after ${tokens.get(l.name)}`);
          tokens.set(l.name, l.token);
        }
        await sleep(250);
      }
      const to = Date.now();
      return { polls: enode.count('GET', pollPath(), from, to), holders, regressions };
    };

    const one = await watch();
    await ensureReplicas(REPLICAS);
    const three = await watch();

    expect(one.polls, 'the poller runs on one replica').toBeGreaterThan(0);
    expect(three.polls, 'the poller runs on three replicas').toBeGreaterThan(0);
    // One run per interval at most, however many replicas: never the doubled (tripled) count.
    expect(one.polls).toBeLessThanOrEqual(bound);
    expect(three.polls).toBeLessThanOrEqual(bound);
    expect(three.regressions).toEqual([]);
    for (const name of ['job:pending-actions', 'job:device-resync', 'job:webhook-health', 'job:heartbeat-watch']) {
      for (const holder of three.holders.get(name) ?? []) expect(holder, name).not.toMatch(/^unknown/);
    }
    expect(three.holders.has('job:pending-actions')).toBe(true);
    // One row, so one holder, per job; reconcile runs on every replica and takes no job lease.
    const leases = await readLeases(db.pool);
    expect(new Set(leases.map((l) => l.name)).size).toBe(leases.length);
    expect(leases.map((l) => l.name)).not.toContain('job:reconcile');

    // Device listings: one resync per RESYNC_MINUTES fleet-wide (each replica runs it at start only if it takes the lease).
    const elapsed = Date.now() - firstStart;
    const resyncBound = 1 + Math.floor(elapsed / (RESYNC_MINUTES * 60_000));
    for (const path of ['/vehicles', '/chargers', '/hvacs', '/batteries']) {
      const n = enode.count('GET', new RegExp(`^${path}$`));
      expect(n, path).toBeGreaterThanOrEqual(1);
      expect(n, path).toBeLessThanOrEqual(resyncBound);
    }
    const health = enode.count('GET', new RegExp(`^/webhooks/${sim.defaultWebhookId}$`));
    expect(health).toBeGreaterThanOrEqual(1);
    expect(health).toBeLessThanOrEqual(1 + Math.floor(elapsed / (WEBHOOK_HEALTH_SECONDS * 1000)));
    const fmt = (m: Map<string, Set<string>>) => JSON.stringify(Object.fromEntries([...m].map(([k, v]) => [k, [...v].sort()])));
    console.info(
      `replicas: jobs over ${WINDOW_MS} ms — pending-action polls ${one.polls} on 1 replica, ${three.polls} on ${REPLICAS} (bound ${bound} for ${polled.length} actions every ${POLL_SECONDS} s); ` +
        `device listings ${enode.count('GET', LIST_PATH)} and webhook checks ${health} in ${Math.round(elapsed / 1000)} s; lease holders seen ${fmt(three.holders)}`,
    );
  }, 180_000);

  it('gateway across replicas: the same command twice at once reaches Enode once; the daily budget holds on every replica', async () => {
    await ensureReplicas(REPLICAS);
    const [a, b, c] = liveReplicas() as [Replica, Replica, Replica];
    // A command the simulator leaves PENDING (its clock never moves here): less current than now.
    const target = controllableChargers()[3]!;
    const path = `/chargers/${target.id}/max-current`;
    const before = enode.count('POST', new RegExp(`^${path}$`));
    const answers = await Promise.all([a, b].map((r) => adminFetch(r.url, path, { method: 'POST', body: JSON.stringify({ maxCurrent: 10 }) })));
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as Array<{ outcome?: string; action?: { id: string } }>;
    expect(answers.map((r) => r.status), JSON.stringify(bodies)).toEqual([200, 200]);
    expect(bodies.map((x) => x.outcome).sort(), JSON.stringify(bodies)).toEqual(['collapsed', 'sent']);
    expect(bodies[0]?.action?.id).toBe(bodies[1]?.action?.id);
    // The simulator makes a new action for every max-current command: two requests would show.
    expect(enode.count('POST', new RegExp(`^${path}$`)) - before, 'commands that reached Enode').toBe(1);

    // The budget: more distinct commands than it allows, at once, spread over the replicas.
    const limit = 6;
    const charger = controllableChargers()[0]!;
    const current = `/chargers/${charger.id}/max-current`;
    const values = Array.from({ length: limit + 2 }, (_, k) => 6 + k);
    const sent = await Promise.all(values.map((maxCurrent, k) => adminFetch([a, b, c][k % 3]!.url, current, { method: 'POST', body: JSON.stringify({ maxCurrent }) })));
    const sentBodies = (await Promise.all(sent.map((r) => r.json()))) as Array<{ outcome?: string; error?: { code: string } }>;
    const statuses = sent.map((r) => r.status).sort();
    expect(statuses, JSON.stringify(sentBodies)).toEqual([...Array(limit).fill(200), 429, 429]);
    expect(sentBodies.filter((x) => x.error).map((x) => x.error?.code)).toEqual(['DAILY_COMMAND_LIMIT', 'DAILY_COMMAND_LIMIT']);
    expect(enode.count('POST', new RegExp(`^${current}$`)), 'commands that reached Enode').toBe(limit);
    // And the next is refused on any replica.
    for (const [k, r] of [a, b, c].entries()) {
      const res = await adminFetch(r.url, current, { method: 'POST', body: JSON.stringify({ maxCurrent: 30 + k }) });
      expect(res.status, r.name).toBe(429);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('DAILY_COMMAND_LIMIT');
    }
    expect(enode.count('POST', new RegExp(`^${current}$`))).toBe(limit);
  }, 120_000);

  /**
   * Kills the replica holding `job`'s lease (one still in force) and measures until the job's
   * Enode request comes from another replica, which then holds the lease.
   */
  const measureFailover = async (job: string, everySeconds: number, request: () => RegExp) => {
    let victim: Replica | undefined;
    await waitFor(
      `a live holder of ${job}`,
      async () => {
        const lease = (await readLeases(db.pool)).find((l) => l.name === job);
        victim = lease && lease.expiresAtMs > Date.now() ? replicaOfHolder(liveReplicas(), lease.holder) : undefined;
        return victim !== undefined;
      },
      (everySeconds + LEASE_CHECK_SECONDS + 10) * 1000,
      50,
    );
    const killedAt = Date.now();
    await kill9(victim!);
    let newHolder = '';
    await waitFor(
      `another replica running ${job}`,
      async () => {
        const lease = (await readLeases(db.pool)).find((l) => l.name === job);
        const holder = lease && replicaOfHolder(liveReplicas(), lease.holder);
        if (!holder || enode.count('GET', request(), killedAt) === 0) return false;
        newHolder = holder.name;
        return true;
      },
      (everySeconds + LEASE_CHECK_SECONDS + 30) * 1000,
      50,
    );
    // The first such request after the kill is the new holder's run: its time is the failover time.
    const first = enode.requests.find((r) => r.method === 'GET' && request().test(r.path) && r.atMs >= killedAt)!;
    const failoverMs = first.atMs - killedAt;
    expect(failoverMs, job).toBeLessThanOrEqual((everySeconds + LEASE_CHECK_SECONDS + 5) * 1000);
    console.info(
      `replicas: failover — kill -9 of ${victim!.name}, holder of ${job} (every ${everySeconds} s); ${newHolder} ran it ${failoverMs} ms later ` +
        `(bound: ${everySeconds} s interval + ${LEASE_CHECK_SECONDS} s lease check + 5 s)`,
    );
  };

  it(`failover: when the replica holding a job's lease is killed, another runs the job within its interval + ${LEASE_CHECK_SECONDS} s`, async () => {
    await ensureReplicas(REPLICAS);
    if (polled.length === 0) await startPolledActions(liveReplicas()[0]!.url);
    await measureFailover('job:pending-actions', POLL_SECONDS, pollPath);
    // A job whose interval is past the lease check: the others look every 15 s, not every interval.
    if (LONG) await measureFailover('job:webhook-health', WEBHOOK_HEALTH_SECONDS, () => new RegExp(`^/webhooks/${sim.defaultWebhookId}$`));
  }, LONG ? 240_000 : 120_000);
}
