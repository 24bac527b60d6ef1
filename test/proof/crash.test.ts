/**
 * CRASH: several clients deliver signed webhooks to a real daemon process (file database, writer
 * thread) while it is killed with SIGKILL at seeded random moments — under load, and once while
 * it starts — and restarted on the same file. Clients retry what was not acknowledged, as Enode
 * does, and re-send some acknowledged deliveries. Proven after every kill: every acknowledged
 * delivery is on disk and the file is sound; at the end: every delivery applied exactly once
 * (observations, heartbeats, device state, action versions, alerts), nothing left pending.
 * `PROOF_LONG=1` (npm run test:long) kills more often and runs longer rounds.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { signEnodeBody } from '../../src/ingest/signature.js';
import { E2E_SECRET, removeDir, tempDir } from '../support/daemon.js';
import { deliveryBody, deliveryId, errorLogLines, EVENTS_PER_DELIVERY, expectedState, kill9, spawnDaemon, type CrashDaemon } from './support-crash.js';
import { seededRandom } from './support-fuzz.js';

const LONG = process.env['PROOF_LONG'] === '1';
const SEED = Number(process.env['PROOF_SEED'] ?? 20_261_125);
/** Kills under load, plus one while the daemon starts. */
const KILLS_UNDER_LOAD = LONG ? 40 : 10;
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
afterAll(async () => {
  for (const d of procs) if (d.proc.child.exitCode === null && d.proc.child.signalCode === null) await kill9(d);
  for (const dir of dirs) removeDir(dir);
});

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

function readDb(path: string) {
  return new Database(path, { readonly: true, fileMustExist: true });
}

describe('crash: SIGKILL under load', () => {
  it(
    `loses no acknowledged delivery and applies none twice over ${KILLS_UNDER_LOAD} kills under load and one at startup`,
    async () => {
      const started = Date.now();
      console.info(`crash: seed ${SEED} (PROOF_SEED=${SEED} runs it again)`);
      const dir = tempDir('enode-sync-crash-');
      dirs.push(dir);
      const dbPath = `${dir}/enode-sync.db`;
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
      const checkFile = (round: number) => {
        const db = readDb(dbPath);
        try {
          expect(db.pragma('integrity_check', { simple: true }), `round ${round}`).toBe('ok');
          const stored = new Set(db.prepare('SELECT id FROM deliveries').pluck().all() as string[]);
          const lost = [...acked].filter((i) => !stored.has(deliveryId(i)));
          expect(lost.map(deliveryId), `acknowledged but lost after kill ${round}`).toEqual([]);
          const statuses = db.prepare('SELECT DISTINCT status FROM deliveries').pluck().all() as string[];
          expect(statuses.filter((s) => s !== 'pending' && s !== 'applied'), `round ${round}`).toEqual([]);
        } finally {
          db.close();
        }
      };

      try {
        // ── the killer ──
        const startupKillRound = Math.floor(KILLS_UNDER_LOAD / 2);
        const killedAt: number[] = [];
        for (let round = 0; round < KILLS_UNDER_LOAD; round++) {
          if (round === startupKillRound) {
            // Killed while starting: loading, migrating or applying what the last kill left pending.
            const d = await spawnDaemon(dir);
            procs.push(d);
            await sleep(300 + rnd() * 2_500);
            await kill9(d);
            checkFile(-1);
          }
          const d = await spawnDaemon(dir);
          procs.push(d);
          await d.ready;
          live.set(d);
          const ms = ROUND_MS[0] + rnd() * (ROUND_MS[1] - ROUND_MS[0]);
          await sleep(ms);
          await kill9(d);
          live.set(undefined);
          killedAt.push(Math.round(ms));
          checkFile(round);
        }

        // ── the last start: clients finish what was not acknowledged, then all is quiet ──
        const last = await spawnDaemon(dir);
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
          const db = readDb(dbPath);
          const pending = db.prepare(`SELECT count(*) FROM deliveries WHERE status = 'pending'`).pluck().get() as number;
          db.close();
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
        const db = readDb(dbPath);
        try {
          const one = (sql: string) => db.prepare(sql).pluck().get() as number;
          expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
          expect(one('SELECT count(*) FROM deliveries')).toBe(n);
          expect(db.prepare('SELECT status, count(*) AS n FROM deliveries GROUP BY status').all()).toEqual([{ status: 'applied', n }]);
          expect(one(`SELECT count(*) FROM deliveries WHERE event_count <> ${EVENTS_PER_DELIVERY}`)).toBe(0);
          // Applied exactly once: one observation per vehicle event, one heartbeat per delivery.
          expect(one('SELECT count(*) FROM observations')).toBe(want.observations);
          expect(one('SELECT count(DISTINCT delivery_id) FROM observations')).toBe(n);
          expect(one(`SELECT count(*) FROM system_events WHERE event = 'system:heartbeat'`)).toBe(want.heartbeats);
          // Devices at their newest snapshot; actions at the version the merge rules pick.
          const devices = db.prepare('SELECT id, last_seen AS lastSeen FROM devices').all() as Array<{ id: string; lastSeen: string }>;
          expect(Object.fromEntries(devices.map((d) => [d.id, d.lastSeen]))).toEqual(Object.fromEntries(want.lastSeen));
          const actions = db.prepare('SELECT id, state, updated_at AS updatedAt FROM actions').all() as Array<{ id: string; state: string; updatedAt: string }>;
          expect(Object.fromEntries(actions.map((a) => [a.id, { state: a.state, updatedAt: a.updatedAt }]))).toEqual(Object.fromEntries(want.actions));
          // One alert per failed or cancelled action, whatever the redeliveries and re-applies.
          const terminalAlerts = db.prepare(`SELECT type, count(*) AS n FROM alerts WHERE type IN ('action.failed', 'action.cancelled') GROUP BY type ORDER BY type`).all();
          const failed = [...want.actions.values()].filter((a) => a.state === 'FAILED').length;
          const cancelled = [...want.actions.values()].filter((a) => a.state === 'CANCELLED').length;
          expect(terminalAlerts).toEqual([
            ...(cancelled ? [{ type: 'action.cancelled', n: cancelled }] : []),
            ...(failed ? [{ type: 'action.failed', n: failed }] : []),
          ]);
          expect(one(`SELECT count(*) FROM alerts WHERE type = 'delivery.failed'`)).toBe(0);
        } finally {
          db.close();
        }
        expect(errorLogLines(dir)).toEqual([]);
        const seconds = Math.round((Date.now() - started) / 1000);
        console.info(
          `crash: seed ${SEED}, ${KILLS_UNDER_LOAD} kills under load (after ${killedAt.join(', ')} ms) + 1 at startup, ${n} deliveries (${n * EVENTS_PER_DELIVERY} events), ` +
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
