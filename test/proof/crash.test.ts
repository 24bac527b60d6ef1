/**
 * CRASH: several clients deliver signed webhooks to a real daemon process (file database, writer
 * thread) while it is killed with SIGKILL at seeded random moments — under load, and once while
 * it starts — and restarted on the same file. Clients retry what was not acknowledged, as Enode
 * does, and re-send some acknowledged deliveries. Proven after every kill: every acknowledged
 * delivery is on disk and the file is sound; at the end: every delivery applied exactly once
 * (observations, heartbeats, device state, action versions, alerts), nothing left pending.
 * `PROOF_LONG=1` (npm run test:long) kills more often and runs longer rounds.
 * It runs on both engines: on Postgres the daemon's database is a fresh schema, and the proof reads
 * it with the same SQL (the file's integrity check is SQLite's alone).
 */
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { signEnodeBody } from '../../src/ingest/signature.js';
import { openPostgres } from '../../src/store/postgres/connect.js';
import { E2E_SECRET, removeDir, tempDir } from '../support/daemon.js';
import { daemonDatabases, describeEngines, type DaemonDatabase } from '../support/engines-e2e.js';
import { deliveryBody, deliveryId, errorLogLines, EVENTS_PER_DELIVERY, expectedState, kill9, spawnDaemon, type CrashDaemon } from './support-crash.js';
import { seededRandom } from './support-fuzz.js';

const LONG = process.env['PROOF_LONG'] === '1';
const SEED = Number(process.env['PROOF_SEED'] ?? 20_261_125);
/**
 * Kills under load, plus one while the daemon starts. Fewer on Postgres in the normal run, to keep
 * it short: replicas.test.ts kills Postgres replicas under load too, and test:long kills 40 times.
 */
const KILLS_UNDER_LOAD = { sqlite: LONG ? 40 : 10, postgres: LONG ? 40 : 4 };
const CLIENTS = 8;
/** How long the daemon serves before it is killed: uniform in [min, max) ms after it is ready. */
const ROUND_MS: [number, number] = LONG ? [20, 2_500] : [20, 900];
/** Share of requests that re-send an acknowledged delivery (it must answer `duplicate: true`). */
const DUPLICATE_RATE = 0.08;
const REQUEST_TIMEOUT_MS = 15_000;
const QUIET_MS = 1_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dirs: string[] = [];
const procs: CrashDaemon[] = [];
const databases = daemonDatabases();
afterAll(async () => {
  for (const d of procs) if (d.proc.child.exitCode === null && d.proc.child.signalCode === null) await kill9(d);
  await databases.dropAll();
  for (const dir of dirs) removeDir(dir);
}, 60_000);

/** The current daemon, or none while it is dead; clients wait for the next one. */
class Live {
  private current: CrashDaemon | undefined;
  private waiters: Array<() => void> = [];
  finished = false;
  set(d: CrashDaemon | undefined): void {
    this.current = d;
    for (const w of this.waiters.splice(0)) w();
  }
  finish(): void {
    this.finished = true;
    this.set(undefined);
  }
  /** The live daemon; undefined once the run is finished. */
  async get(): Promise<{ d: CrashDaemon } | undefined> {
    while (!this.finished && this.current === undefined) await new Promise<void>((r) => this.waiters.push(r));
    return this.finished || !this.current ? undefined : { d: this.current };
  }
}

/** The proof's view of the daemon's database, opened while no daemon runs or beside the last one. */
interface ProofDb {
  /** The first column of the first row. */
  one(sql: string): Promise<number>;
  /** The first column of every row. */
  column<T>(sql: string): Promise<T[]>;
  all<T>(sql: string): Promise<T[]>;
  /** SQLite's integrity check (`ok`); Postgres has no file of ours to check. */
  integrity(): Promise<string>;
  close(): Promise<void>;
}

function openProofDb(db: DaemonDatabase, path: string): ProofDb {
  if (db.engine === 'postgres') {
    const pool = openPostgres(db.env['DATABASE_URL'] as string, { max: 1, applicationName: 'crash-proof' });
    const all = async <T>(sql: string) => (await pool.query(sql)).rows as T[];
    const column = async <T>(sql: string) => (await pool.query({ text: sql, rowMode: 'array' })).rows.map((r: unknown[]) => r[0] as T);
    return { all, column, one: async (sql) => Number((await column(sql))[0]), integrity: async () => 'ok', close: () => pool.end() };
  }
  const file = new Database(path, { readonly: true, fileMustExist: true });
  return {
    all: async (sql) => file.prepare(sql).all() as never,
    column: async (sql) => file.prepare(sql).pluck().all() as never,
    one: async (sql) => file.prepare(sql).pluck().get() as number,
    integrity: async () => file.pragma('integrity_check', { simple: true }) as string,
    close: async () => {
      file.close();
    },
  };
}

describeEngines('crash: SIGKILL under load', (engine) => {
  const kills = KILLS_UNDER_LOAD[engine];
  it(
    `loses no acknowledged delivery and applies none twice over ${kills} kills under load and one at startup`,
    async () => {
      const started = Date.now();
      console.info(`crash: seed ${SEED} (PROOF_SEED=${SEED} runs it again)`);
      const dir = tempDir('enode-sync-crash-');
      dirs.push(dir);
      const dbPath = `${dir}/enode-sync.db`;
      const database = await databases.make(engine);
      const readDb = () => openProofDb(database, dbPath);
      const spawn = () => spawnDaemon(dir, database.env);
      const rnd = seededRandom(SEED);
      const live = new Live();

      // ── the clients: Enode's retrying sender, eight at a time ──
      let next = 0;
      let generating = true;
      let inFlight = 0;
      const retry: number[] = [];
      const acked = new Set<number>();
      const ackedList: number[] = [];
      const violations: string[] = [];
      /** The first few answers other than 200, for the failure message. */
      const otherSamples: string[] = [];
      const stats = { requests: 0, acked: 0, duplicatesChecked: 0, connectionErrors: 0, retried: 0, other: {} as Record<number, number> };

      const post = (url: string, i: number) => {
        const body = deliveryBody(SEED, i);
        return fetch(`${url}/webhooks/enode`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-enode-delivery': deliveryId(i), 'x-enode-signature': signEnodeBody(body, E2E_SECRET) },
          body,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      };

      const client = async (clientSeed: number) => {
        const mine = seededRandom(clientSeed);
        for (;;) {
          const current = await live.get();
          if (!current) return;
          let i = retry.shift();
          let resend = false;
          if (i !== undefined) stats.retried++;
          else if (ackedList.length > 0 && mine() < DUPLICATE_RATE) {
            i = ackedList[Math.floor(mine() * ackedList.length)] as number;
            resend = true;
          } else if (generating) i = next++;
          else if (inFlight === 0) return;
          else {
            await sleep(20);
            continue;
          }
          inFlight++;
          stats.requests++;
          try {
            const res = await post(current.d.url, i);
            const text = await res.text();
            let body: { deliveryId?: string; duplicate?: boolean } = {};
            try {
              body = JSON.parse(text) as typeof body;
            } catch {
              // judged by its status below
            }
            if (res.status === 200) {
              if (resend && body.duplicate !== true) violations.push(`re-sent acknowledged ${deliveryId(i)} was not a duplicate: ${JSON.stringify(body)}`);
              if (body.deliveryId !== deliveryId(i)) violations.push(`${deliveryId(i)} stored as ${String(body.deliveryId)}`);
              if (resend) stats.duplicatesChecked++;
              else if (!acked.has(i)) {
                acked.add(i);
                ackedList.push(i);
                stats.acked++;
              }
            } else {
              // Only a storage failure may answer 5xx, and none is expected here: counted, then retried.
              stats.other[res.status] = (stats.other[res.status] ?? 0) + 1;
              if (otherSamples.length < 3) otherSamples.push(`${res.status} ${text.slice(0, 300)}`);
              if (!resend && !acked.has(i)) retry.push(i);
            }
          } catch {
            // Refused, reset or cut mid-answer: not acknowledged, sent again (to the next daemon,
            // when this one is being killed: until then the retry is refused at once).
            stats.connectionErrors++;
            if (!resend && !acked.has(i)) retry.push(i);
            inFlight--;
            await sleep(50);
            continue;
          }
          inFlight--;
        }
      };
      const clients = Array.from({ length: CLIENTS }, (_, c) => client(SEED + 1 + c));

      /** After each kill, with nothing running: acknowledged ⇒ on disk, and the file is sound. */
      const checkFile = async (round: number) => {
        const db = readDb();
        try {
          expect(await db.integrity(), `round ${round}`).toBe('ok');
          const stored = new Set(await db.column<string>('SELECT id FROM deliveries'));
          const lost = [...acked].filter((i) => !stored.has(deliveryId(i)));
          expect(lost.map(deliveryId), `acknowledged but lost after kill ${round}`).toEqual([]);
          const statuses = await db.column<string>('SELECT DISTINCT status FROM deliveries');
          expect(statuses.filter((s) => s !== 'pending' && s !== 'applied'), `round ${round}`).toEqual([]);
        } finally {
          await db.close();
        }
      };

      try {
        // ── the killer ──
        const startupKillRound = Math.floor(kills / 2);
        const killedAt: number[] = [];
        for (let round = 0; round < kills; round++) {
          if (round === startupKillRound) {
            // Killed while starting: loading, migrating or applying what the last kill left pending.
            const d = await spawn();
            procs.push(d);
            await sleep(300 + rnd() * 2_500);
            await kill9(d);
            await checkFile(-1);
          }
          const d = await spawn();
          procs.push(d);
          await d.ready;
          live.set(d);
          const ms = ROUND_MS[0] + rnd() * (ROUND_MS[1] - ROUND_MS[0]);
          await sleep(ms);
          await kill9(d);
          live.set(undefined);
          killedAt.push(Math.round(ms));
          await checkFile(round);
        }

        // ── the last start: clients finish what was not acknowledged, then all is quiet ──
        const last = await spawn();
        procs.push(last);
        await last.ready;
        generating = false;
        live.set(last);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(clients),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`clients did not finish: ${retry.length} to retry, ${inFlight} in flight`)), 60_000);
          }),
        ]).finally(() => clearTimeout(timer));
        live.finish();
        const deadline = Date.now() + 30_000;
        for (;;) {
          const db = readDb();
          const pending = await db.one(`SELECT count(*) FROM deliveries WHERE status = 'pending'`).finally(() => db.close());
          if (pending === 0) break;
          if (Date.now() > deadline) throw new Error(`${pending} deliveries still pending 30 s after the last start`);
          await sleep(100);
        }
        await sleep(QUIET_MS);
        expect(await last.proc.stop(), 'clean exit on SIGTERM').toBe(0);

        // ── the proof ──
        const n = next;
        expect(violations).toEqual([]);
        expect(stats.other, `answers other than 200: ${otherSamples.join(' | ')}`).toEqual({});
        expect(acked.size, 'every delivery acknowledged in the end').toBe(n);
        expect(stats.connectionErrors, 'kills happened under load').toBeGreaterThan(0);
        const want = expectedState(SEED, n);
        const db = readDb();
        try {
          const one = (sql: string) => db.one(sql);
          expect(await db.integrity()).toBe('ok');
          expect(await one('SELECT count(*) FROM deliveries')).toBe(n);
          expect(await db.all('SELECT status, count(*) AS n FROM deliveries GROUP BY status')).toEqual([{ status: 'applied', n }]);
          expect(await one(`SELECT count(*) FROM deliveries WHERE event_count <> ${EVENTS_PER_DELIVERY}`)).toBe(0);
          // Applied exactly once: one observation per vehicle event, one heartbeat per delivery.
          expect(await one('SELECT count(*) FROM observations')).toBe(want.observations);
          expect(await one('SELECT count(DISTINCT delivery_id) FROM observations')).toBe(n);
          expect(await one(`SELECT count(*) FROM system_events WHERE event = 'system:heartbeat'`)).toBe(want.heartbeats);
          // Devices at their newest snapshot; actions at the version the merge rules pick.
          const devices = await db.all<{ id: string; lastSeen: string }>('SELECT id, last_seen AS "lastSeen" FROM devices');
          expect(Object.fromEntries(devices.map((d) => [d.id, d.lastSeen]))).toEqual(Object.fromEntries(want.lastSeen));
          const actions = await db.all<{ id: string; state: string; updatedAt: string }>('SELECT id, state, updated_at AS "updatedAt" FROM actions');
          expect(Object.fromEntries(actions.map((a) => [a.id, { state: a.state, updatedAt: a.updatedAt }]))).toEqual(Object.fromEntries(want.actions));
          // One alert per failed or cancelled action, whatever the redeliveries and re-applies.
          const terminalAlerts = await db.all(`SELECT type, count(*) AS n FROM alerts WHERE type IN ('action.failed', 'action.cancelled') GROUP BY type ORDER BY type`);
          const failed = [...want.actions.values()].filter((a) => a.state === 'FAILED').length;
          const cancelled = [...want.actions.values()].filter((a) => a.state === 'CANCELLED').length;
          expect(terminalAlerts).toEqual([
            ...(cancelled ? [{ type: 'action.cancelled', n: cancelled }] : []),
            ...(failed ? [{ type: 'action.failed', n: failed }] : []),
          ]);
          expect(await one(`SELECT count(*) FROM alerts WHERE type = 'delivery.failed'`)).toBe(0);
        } finally {
          await db.close();
        }
        expect(errorLogLines(dir)).toEqual([]);
        const seconds = Math.round((Date.now() - started) / 1000);
        console.info(
          `crash [${engine}]: seed ${SEED}, ${kills} kills under load (after ${killedAt.join(', ')} ms) + 1 at startup, ${n} deliveries (${n * EVENTS_PER_DELIVERY} events), ` +
            `${stats.requests} requests, ${stats.connectionErrors} connection errors (cut or refused by a kill), ${stats.retried} retried, ${stats.duplicatesChecked} acknowledged re-sent, ${seconds} s`,
        );
      } finally {
        // However it ended, the clients stop.
        live.finish();
      }
    },
    LONG ? 1_800_000 : 240_000,
  );
});
