/**
 * FUZZ: hostile input against the webhook receiver, every admin route and the dashboard.
 * In-process through `app.request()` (fast, thousands of cases), then raw bytes over TCP against a
 * daemon process for what a `Request` cannot express (bad framing, odd headers).
 * Invariants: never a 5xx, never a crash, nothing changed by an unverified request, one error body.
 * `PROOF_LONG=1` (npm run test:long) multiplies the runs and checks that memory stays flat.
 * It runs on the engine of its vitest project (vitest.config.ts BOTH_ENGINES): the in-process app
 * is `makeApp`'s, the daemon's database a file on SQLite or a fresh schema on Postgres; tables are
 * counted and read with the same SQL on both.
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnodeBody } from '../../src/ingest/signature.js';
import { createSimulator, pickDevices, type Simulator } from '../../src/simulator/index.js';
import { gatewayEngineApp, seedDevice } from '../integration/gateway-support.js';
import { E2E_ADMIN, E2E_SECRET, removeDir, startDaemon, tempDir, type Daemon } from '../support/daemon.js';
import { daemonReader, type DaemonReader } from '../support/daemon-reader.js';
import { daemonDatabase, type DaemonDatabase } from '../support/engines-e2e.js';
import { actionEvent, ADMIN_TOKEN, makeApp, NOW, postWebhook, SECRET, testEngine, vehicleEvent, type EngineApp } from '../support/fixtures.js';
import { postgresAvailable } from '../support/postgres.js';
import {
  byteMutation,
  checkAnswer,
  commandBodyText,
  eventArrayArb,
  expectErrorBody,
  expectPrototypeClean,
  memoryLogger,
  mutateBytes,
  notEventArrayText,
  queryString,
  seededRandom,
  textEdit,
  trickySegment,
  validEvent,
} from './support-fuzz.js';
import { isErrorLevel } from './support-crash.js';

const LONG = process.env['PROOF_LONG'] === '1';

/** fast-check runs per property: bounded in `npm test`, ten times that in the long form. */
const scale = (n: number) => (LONG ? n * 10 : n);
/** Postgres takes about twice SQLite's time per case here (a round trip per statement): the slowest property ~50 s. */
const TIMEOUT_MS = LONG ? 900_000 : testEngine() === 'postgres' ? 150_000 : 60_000;
const LATER_MS = NOW.getTime() + 3 * 3_600_000;
/** `PROOF_SEED=<n>` replays a run (fast-check's and the raw mutations'); fast-check prints its seed on failure. */
const SEED = process.env['PROOF_SEED'] === undefined ? undefined : Number(process.env['PROOF_SEED']);
const runs = <Ts>(n: number): fc.Parameters<Ts> => ({ numRuns: scale(n), reporter: reporter<Ts>, ...(SEED === undefined ? {} : { seed: SEED }) });

/** fast-check's own report cannot print a counterexample nested thousands deep; this one can. */
function reporter<Ts>(details: fc.RunDetails<Ts>): void {
  if (!details.failed) return;
  let example: string;
  try {
    example = (JSON.stringify(details.counterexample) ?? 'undefined').slice(0, 2_000);
  } catch {
    example = '(too deeply nested to print)';
  }
  const cause = details.errorInstance;
  throw new Error(
    `Property failed after ${details.numRuns} runs (seed ${details.seed}, path "${details.counterexamplePath ?? ''}"; PROOF_SEED=${details.seed} runs it again)\n` +
      `Counterexample: ${example}\nCaused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`,
  );
}

// ── helpers ──

/** Requests sent, by target: printed at the end, for the record. */
const sent = { webhook: 0, admin: 0, dashboard: 0, raw: 0 };
afterAll(() => {
  console.info(`fuzz${LONG ? ' (long)' : ''}: ${sent.webhook} webhook, ${sent.admin} admin API, ${sent.dashboard} dashboard requests in-process; ${sent.raw} raw TCP requests to a daemon`);
});

function sendWebhook(t: EngineApp, body: string | Uint8Array, headers: Record<string, string>) {
  sent.webhook++;
  return t.app.request('/webhooks/enode', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

/**
 * Where each signed body was first stored: the same bytes again, under any delivery id, are a
 * duplicate of that delivery (generators repeat bodies across runs).
 */
function firstStored() {
  const ids = new Map<string, string>();
  const key = (body: string | Uint8Array) => Buffer.from(body).toString('base64');
  return {
    /** The stored delivery's id when these bytes were stored before, else undefined. */
    get: (body: string | Uint8Array) => ids.get(key(body)),
    set: (body: string | Uint8Array, id: string) => void ids.set(key(body), id),
  };
}

/** A 200 duplicate answer naming the delivery the same bytes were first stored as. */
function expectDuplicateOf(res: Response, answer: unknown, storedId: string) {
  expect(res.status).toBe(200);
  expect(answer).toMatchObject({ deliveryId: storedId, duplicate: true });
}

const signed = (body: string | Uint8Array, deliveryId: string = randomUUID()) => ({ 'x-enode-signature': signEnodeBody(body, SECRET), 'x-enode-delivery': deliveryId });

function deliveryRow(t: EngineApp, id: string) {
  return t.row<{ id: string; status: string; error: string | null; eventCount: number }>('SELECT id, status, error, event_count AS "eventCount" FROM deliveries WHERE id = ?', [id]);
}

/** The app's tables (the migrations journal aside), as each engine lists them. */
function tableNames(t: EngineApp): Promise<string[]> {
  return t.engine === 'sqlite'
    ? t.column<string>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '__drizzle_migrations' ORDER BY name`)
    : t.column<string>(`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '__drizzle_migrations' ORDER BY 1`);
}

/** Rows per table, in one query: nothing an unverified request sends may change one. */
async function tableCounts(t: EngineApp): Promise<Record<string, number>> {
  const names = await tableNames(t);
  const quoted = (n: string) => `"${n.replace(/"/g, '""')}"`;
  const row = await t.row<Record<string, unknown>>(`SELECT ${names.map((n) => `(SELECT count(*) FROM ${quoted(n)}) AS ${quoted(n)}`).join(', ')}`);
  return Object.fromEntries(names.map((n) => [n, Number(row?.[n])]));
}

/**
 * True in the Postgres project when no Postgres answers: a file-level setup must not try to reach
 * it (every test then skips with the reason: test/support/engine-setup.ts).
 */
const engineMissing = () => testEngine() === 'postgres' && 'skip' in postgresAvailable();

/** Reads back everything a fuzzed delivery may have touched: no read may fail on stored input. */
async function readBack(t: EngineApp, deliveryId: string, events: unknown[]): Promise<void> {
  const get = async (path: string) => checkAnswer(await api(t, path), `GET /api/v1${path}`);
  const delivery = (await get(`/deliveries/${encodeURIComponent(deliveryId)}`)) as { id?: string };
  expect(delivery.id).toBe(deliveryId);
  const ids = new Set<string>();
  for (const e of events) {
    if (e === null || typeof e !== 'object') continue;
    for (const v of Object.values(e as Record<string, unknown>)) {
      const id = (v as { id?: unknown } | null)?.id;
      if (typeof id === 'string' && id.length > 0 && id.length <= 200) ids.add(id);
    }
  }
  for (const id of ids) {
    let enc: string;
    try {
      enc = encodeURIComponent(id);
    } catch {
      continue; // a lone surrogate: no URL can name it
    }
    await get(`/devices/${enc}`);
    await get(`/devices/${enc}/timeline?since=2000-01-01T00:00:00Z`);
    await get(`/actions/${enc}`);
    sent.dashboard++;
    const ui = await t.app.request(`/ui/devices/${enc}?hours=168`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    if (ui.status >= 500) throw new Error(`GET /ui/devices/${enc} → ${ui.status}: ${(await ui.text()).slice(0, 300)}`);
  }
  await get('/devices?limit=100');
  await get('/actions?limit=100');
  await get('/interference?limit=100');
  await get('/alerts?limit=100');
}

function api(t: { app: EngineApp['app'] }, path: string, init: RequestInit = {}, token: string | null = ADMIN_TOKEN) {
  const headers = new Headers(init.headers);
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  sent.admin++;
  return t.app.request(`/api/v1${path}`, { ...init, headers });
}

/**
 * Reconciles every due device: a call is time-boxed (Postgres's box is a few devices long), so
 * calls follow each other until none says `more`. Returns the devices that failed.
 */
async function reconcileAll(t: EngineApp): Promise<number> {
  let errors = 0;
  // Each call judges one device at least and a judged device is queued again only for later, and
  // a case queues a few devices: still more after this many calls is a reconciler that never runs
  // out (a bug to report before the test's timeout, not hang on; a lone surrogate in an id did it).
  for (let calls = 0; calls < 2_000; calls++) {
    const run = await t.deps.store.reconcile({ nowMs: LATER_MS });
    errors += run.errors;
    if (!run.more) return errors;
  }
  const queue = await t.rows(`SELECT device_id AS "deviceId", due_at_ms AS "dueAtMs", from_ms AS "fromMs" FROM reconcile_queue ORDER BY due_at_ms LIMIT 5`);
  const observations = await t.rows(`SELECT device_id, observed_at_ms, received_at, controlled, context FROM observations WHERE device_id = ? ORDER BY observed_at_ms LIMIT 20`, [
    String((queue[0] as { deviceId?: unknown } | undefined)?.deviceId ?? ''),
  ]);
  const pending = await t.column(`SELECT count(*) FROM deliveries WHERE status = 'pending'`);
  throw new Error(
    `reconcile never ran out of due devices; pending deliveries ${String(pending[0])}; queue ${JSON.stringify(queue)}; observations of the first ${JSON.stringify(observations).slice(0, 3_000)}`,
  );
}

/** The reconciler must digest whatever ingest accepted. */
async function reconcileClean(t: EngineApp, errors: string[] = []): Promise<void> {
  const failed = await reconcileAll(t);
  const why = errors.filter((l) => l.includes('reconcil')).join('\n');
  expect(failed, `reconcile errors on accepted input: ${why.slice(-3_000)}`).toBe(0);
}

// ── webhook: in-process ──

describe('fuzz: POST /webhooks/enode in-process', () => {
  it(
    'unsigned or wrongly signed requests answer 401 and change nothing',
    async () => {
      const t = await makeApp();
      // Something stored already, so that a wrong request could also disturb existing rows.
      await postWebhook(t, [vehicleEvent('v-seed', 1), actionEvent('a-seed', 'PENDING', 1)]);
      const bodyArb = fc.oneof(
        eventArrayArb.map((e) => Buffer.from(JSON.stringify(e))),
        notEventArrayText.map((s) => Buffer.from(s, 'latin1')),
        fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
      );
      const hex40 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 40, maxLength: 40 });
      const caseArb = bodyArb.chain((body) => {
        const valid = signEnodeBody(body, SECRET);
        return fc.record({
          body: fc.constant(body),
          signature: fc.oneof(
            fc.constant<string | undefined>(undefined),
            fc.constantFrom('', ' ', 'sha1', 'sha1=', 'sha1=zz', `sha256=${valid.slice(5)}`, valid.slice(5), `${valid}, ${valid}`, `${valid}0`, valid.slice(0, -1), `sha1=${Buffer.from(valid.slice(5), 'hex').toString('base64')}`),
            fc.constant(signEnodeBody(body, 'wrong-secret-123')),
            fc.constant(signEnodeBody(Buffer.concat([body, Buffer.from(' ')]), SECRET)),
            hex40.map((h) => `sha1=${h}`).filter((s) => s !== valid),
            fc.nat(39).map((i) => {
              const hex = valid.slice(5);
              const c = hex[i] === '0' ? '1' : '0';
              return `sha1=${hex.slice(0, i)}${c}${hex.slice(i + 1)}`;
            }),
          ),
          deliveryId: fc.oneof(fc.constant<string | undefined>(undefined), fc.uuid(), fc.constant('d-0001')),
          contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', ''),
        });
      });
      const before = await tableCounts(t);
      let requests = 0;
      await fc.assert(
        fc.asyncProperty(caseArb, async (c) => {
          const headers: Record<string, string> = { 'content-type': c.contentType };
          if (c.signature !== undefined) headers['x-enode-signature'] = c.signature;
          if (c.deliveryId !== undefined) headers['x-enode-delivery'] = c.deliveryId;
          const res = await sendWebhook(t, c.body, headers);
          requests++;
          const body = await checkAnswer(res, `webhook with signature ${JSON.stringify(c.signature)}`);
          expect(res.status).toBe(401);
          expectErrorBody(body, 401, 'webhook 401');
          await t.deps.store.idle();
          expect(await tableCounts(t)).toEqual(before);
        }),
        runs(300),
      );
      expect(requests).toBeGreaterThanOrEqual(scale(300));
    },
    TIMEOUT_MS,
  );

  it(
    'a signed body that is not an event array → 400 and kept as quarantined',
    async () => {
      const t = await makeApp();
      const stored = firstStored();
      await fc.assert(
        fc.asyncProperty(notEventArrayText, async (text) => {
          const id = randomUUID();
          const body = Buffer.from(text, 'latin1');
          const res = await sendWebhook(t, body, signed(body, id));
          const answer = await checkAnswer(res, `signed ${JSON.stringify(text.slice(0, 80))}`);
          const earlier = stored.get(body);
          if (earlier === undefined) {
            expect(res.status).toBe(400);
            stored.set(body, id);
          } else expectDuplicateOf(res, answer, earlier);
          const storedId = earlier ?? id;
          await t.deps.store.idle();
          expect((await deliveryRow(t, storedId))?.status).toBe('quarantined');
          // The same bytes again: acknowledged as a duplicate, not stored twice.
          const before = await tableCounts(t);
          const again = await sendWebhook(t, body, signed(body, id));
          expect(again.status).toBe(200);
          expect(await tableCounts(t)).toEqual(before);
          await readBack(t, storedId, []);
        }),
        runs(150),
      );
      expectPrototypeClean();
    },
    TIMEOUT_MS,
  );

  it(
    'a signed array of broken events → 2xx, applied or failed (never pending, never a 5xx), readable, reconcilable',
    async () => {
      const log = memoryLogger();
      const t = await makeApp({}, { logger: log.logger });
      const outcomes: Record<string, number> = {};
      const stored = firstStored();
      await fc.assert(
        fc.asyncProperty(eventArrayArb, textEdit, async (events, edit) => {
          const text = edit(JSON.stringify(events));
          const earlier = stored.get(text);
          const id = earlier ?? randomUUID();
          const res = await sendWebhook(t, text, signed(text, earlier === undefined ? id : randomUUID()));
          const answer = await checkAnswer(res, `signed events ${text.slice(0, 300)}`);
          if (earlier !== undefined) {
            // These bytes were stored before (the generator repeats itself): a duplicate of that delivery.
            expectDuplicateOf(res, answer, earlier);
            return;
          }
          stored.set(text, id);
          await t.deps.store.idle();
          const row = await deliveryRow(t, id);
          expect(row, 'a 2xx or 400 delivery is stored').toBeDefined();
          if (res.status === 400) {
            // Not an array of events any more: an edit removed an element's "event", or a BOM broke the JSON.
            expect(row?.status).toBe('quarantined');
          } else {
            expect(res.status).toBe(200);
            expect(['applied', 'failed']).toContain(row?.status);
          }
          outcomes[row?.status ?? 'missing'] = (outcomes[row?.status ?? 'missing'] ?? 0) + 1;
          // Redelivery changes nothing.
          const before = await tableCounts(t);
          expect((await sendWebhook(t, text, signed(text, id))).status).toBe(200);
          await t.deps.store.idle();
          expect(await tableCounts(t)).toEqual(before);
          await reconcileClean(t, log.errors);
          await readBack(t, id, events);
          expectPrototypeClean();
        }),
        runs(300),
      );
      // The generator must exercise both sides, or it proves little.
      expect(outcomes['applied'] ?? 0).toBeGreaterThan(scale(300) / 10);
      expect(outcomes['failed'] ?? 0).toBeGreaterThan(scale(300) / 10);
      // Replaying what failed never 5xx's either.
      const failed = await t.column<string>(`SELECT id FROM deliveries WHERE status = 'failed' ORDER BY id LIMIT 50`);
      for (const id of failed) await checkAnswer(await api(t, `/deliveries/${encodeURIComponent(id)}/replay`, { method: 'POST' }), `replay ${id}`);
      await checkAnswer(await t.app.request('/metrics'), 'GET /metrics');
    },
    TIMEOUT_MS,
  );

  it(
    'events that cannot be applied → 2xx and the delivery failed',
    async () => {
      const t = await makeApp();
      const broken = [
        [{ event: 'user:vehicle:updated', vehicle: 42 }],
        [{ event: 'user:vehicle:updated', vehicle: { id: 'v' } }],
        [{ event: 'user:hvac:updated', user: { id: 'u' }, hvac: { id: '' } }],
        [{ event: 'user:vendor-action:updated', vendorAction: { id: 'a' } }],
        [{ event: 'user:vendor-action:updated', vendorAction: null }],
        [{ event: 'system:heartbeat', pendingEvents: -1 }],
        [{ event: 'system:heartbeat', pendingEvents: 'many' }],
        [{ event: '' }],
        [validEvent(0, 'v-ok', 1), { event: 'user:battery:updated', battery: [] }],
      ];
      for (const events of broken) {
        const id = randomUUID();
        const text = JSON.stringify(events);
        const res = await sendWebhook(t, text, signed(text, id));
        await checkAnswer(res, text);
        expect(res.status, text).toBe(200);
        await t.deps.store.idle();
        expect((await deliveryRow(t, id))?.status, text).toBe('failed');
      }
      // A failed delivery applies nothing, not even its good events.
      expect(Number((await t.column(`SELECT count(*) FROM devices WHERE id = 'v-ok'`))[0])).toBe(0);
      // Nesting too deep to re-serialise is quarantined at ingest (the one nesting limit), not a crash.
      const deep = `[{"event":"user:thing:new","deep":${'['.repeat(200_000)}${']'.repeat(200_000)}}]`;
      const id = randomUUID();
      const res = await sendWebhook(t, deep, signed(deep, id));
      await checkAnswer(res, 'deeply nested event');
      expect(res.status).toBe(400);
      await t.deps.store.idle();
      expect((await deliveryRow(t, id))?.status).toBe('quarantined');
      await readBack(t, id, []);
    },
    TIMEOUT_MS,
  );

  it(
    'byte mutations of a valid body: signed after mutating → 200/400 as parsed; signed before → 401 and nothing changes',
    async () => {
      const t = await makeApp();
      const original = Buffer.from(JSON.stringify([validEvent(0, 'v-mut', 5), validEvent(6, 'a-mut', 6), validEvent(3, 'b-mut', 7), validEvent(7, 'hb', 8)]));
      let stored = 0;
      const firsts = firstStored();
      await fc.assert(
        fc.asyncProperty(fc.array(byteMutation, { minLength: 1, maxLength: 4 }), fc.boolean(), async (mutations, signAfter) => {
          const body = mutateBytes(original, mutations);
          if (body.equals(original)) return;
          // The same mutated bytes signed again are a duplicate of the first (checked in the tests above).
          if (signAfter && firsts.get(body) !== undefined) return;
          const id = randomUUID();
          const headers = signAfter ? signed(body, id) : signed(original, id);
          const before = await tableCounts(t);
          const res = await sendWebhook(t, body, headers);
          await checkAnswer(res, `mutated body ${body.toString('latin1').slice(0, 120)}`);
          await t.deps.store.idle();
          if (!signAfter) {
            expect(res.status).toBe(401);
            expect(await tableCounts(t)).toEqual(before);
            return;
          }
          expect([200, 400]).toContain(res.status);
          firsts.set(body, id);
          const status = (await deliveryRow(t, id))?.status;
          if (res.status === 400) expect(status).toBe('quarantined');
          else expect(['applied', 'failed']).toContain(status);
          stored++;
          await readBack(t, id, []);
        }),
        runs(300),
      );
      expect(stored).toBeGreaterThan(0);
      await reconcileClean(t);
    },
    TIMEOUT_MS,
  );

  it(
    'odd delivery ids and headers: stored under the id or the body hash, readable back by that id',
    async () => {
      const t = await makeApp();
      // Header values a fetch client can send: Latin-1 without controls.
      const latin1 = fc.string({ unit: fc.integer({ min: 0x21, max: 0xff }).filter((c) => c < 0x7f || c > 0x9f).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 40 });
      const idArb = fc.oneof(
        fc.constantFrom('../../etc/passwd', '..', '%2e%2e%2f', 'a/b', 'a\\b', '?x=1', '#frag', '__proto__', 'constructor', "'; DROP TABLE deliveries; --", '*', '%', 'sha256-abc'),
        latin1,
        fc.integer({ min: 195, max: 205 }).map((n) => 'd'.repeat(n)),
        fc.constant('d'.repeat(10_000)),
        fc.string({ minLength: 1, maxLength: 20 }).map((s) => ` ${s.replace(/[^\x20-\x7e]/g, '')} `),
      );
      let n = 0;
      await fc.assert(
        fc.asyncProperty(idArb, fc.constantFrom('', 'sha1=', 'SHA1=', ' sha1='), fc.boolean(), async (deliveryId, prefixStyle, extraHeaders) => {
          const text = JSON.stringify([validEvent(0, `v-${n++}`, n % 500)]);
          const valid = signEnodeBody(text, SECRET);
          // Enode's header is `sha1=<hex>`; case and surrounding spaces are tolerated.
          const signature = prefixStyle === '' ? valid : `${prefixStyle}${valid.slice(5)}`;
          const headers: Record<string, string> = { 'x-enode-signature': signature, 'x-enode-delivery': deliveryId };
          if (extraHeaders) Object.assign(headers, { 'x-enode-delivery-extra': 'x'.repeat(8_000), authorization: 'Bearer leaked?', cookie: 'a=b', 'x-api-key': 'k' });
          const res = await sendWebhook(t, text, headers);
          const body = (await checkAnswer(res, `delivery id ${JSON.stringify(deliveryId.slice(0, 60))}`)) as { deliveryId: string };
          expect(res.status).toBe(200);
          // Headers drop surrounding HTTP whitespace (spaces, tabs), not a no-break space as trim() would.
          const trimmed = deliveryId.replace(/^[ \t]+|[ \t]+$/g, '');
          // The header id, or (seen before with other bytes) its first characters and a body hash.
          if (/^(?!\.\.?$)[\x21-\x7e]{1,200}$/.test(trimmed)) {
            expect(body.deliveryId === trimmed || (body.deliveryId.startsWith(trimmed.slice(0, 183)) && /~[0-9a-f]{16}$/.test(body.deliveryId)), `${JSON.stringify(trimmed)} stored as ${body.deliveryId}`).toBe(true);
          }
          else expect(body.deliveryId).toMatch(/^sha256-[0-9a-f]{64}$/);
          expect(body.deliveryId.length).toBeLessThanOrEqual(200);
          await t.deps.store.idle();
          await readBack(t, body.deliveryId, []);
          // Credentials never stored with the delivery.
          const [storedHeaders] = await t.column('SELECT headers FROM deliveries WHERE id = ?', [body.deliveryId]);
          const stored = (typeof storedHeaders === 'string' ? JSON.parse(storedHeaders) : storedHeaders) as Record<string, string>;
          expect(Object.keys(stored).filter((k) => /auth|cookie|key/i.test(k))).toEqual([]);
        }),
        runs(150),
      );
    },
    TIMEOUT_MS,
  );
});

// ── admin API and dashboard: in-process ──

interface Route {
  method: 'GET' | 'POST';
  path: (id: string) => string;
  body?: boolean;
}

const API_ROUTES: Route[] = [
  { method: 'GET', path: () => '/actions' },
  { method: 'GET', path: (id) => `/actions/${id}` },
  { method: 'GET', path: () => '/devices' },
  { method: 'GET', path: (id) => `/devices/${id}` },
  { method: 'GET', path: (id) => `/devices/${id}/timeline` },
  { method: 'GET', path: () => '/deliveries' },
  { method: 'GET', path: (id) => `/deliveries/${id}` },
  { method: 'GET', path: () => '/interference' },
  { method: 'GET', path: (id) => `/interference/${id}` },
  { method: 'GET', path: () => '/alerts' },
  { method: 'GET', path: (id) => `/alerts/${id}` },
  { method: 'GET', path: () => '/openapi.json' },
  { method: 'GET', path: () => '/reference' },
  { method: 'POST', path: (id) => `/deliveries/${id}/replay` },
  { method: 'POST', path: (id) => `/alerts/${id}/retry` },
  { method: 'POST', path: (id) => `/vehicles/${id}/charging`, body: true },
  { method: 'POST', path: (id) => `/chargers/${id}/charging`, body: true },
  { method: 'POST', path: (id) => `/chargers/${id}/max-current`, body: true },
  { method: 'POST', path: (id) => `/hvacs/${id}/permanent-hold`, body: true },
  { method: 'POST', path: (id) => `/hvacs/${id}/follow-schedule`, body: true },
  { method: 'POST', path: (id) => `/batteries/${id}/operation-mode`, body: true },
  { method: 'POST', path: (id) => `/actions/${id}/cancel` },
];

const UI_ROUTES: Route[] = [
  { method: 'GET', path: () => '' },
  { method: 'GET', path: (id) => `/devices/${id}` },
  { method: 'GET', path: () => '/findings' },
  { method: 'GET', path: () => '/actions' },
  { method: 'GET', path: () => '/deliveries' },
  { method: 'GET', path: () => '/alerts' },
  { method: 'POST', path: (id) => `/deliveries/${id}/replay`, body: true },
  { method: 'POST', path: (id) => `/alerts/${id}/retry`, body: true },
];

const SEED_DEVICES: Array<['vehicle' | 'charger' | 'hvac' | 'battery', string]> = [
  ['vehicle', 'veh-1'],
  ['vehicle', 'veh/2'],
  ['vehicle', 'veh ü 😀'],
  ['charger', 'chg-1'],
  ['charger', '..'],
  ['hvac', 'hvac-1'],
  ['hvac', '%2e%2e'],
  ['battery', 'bat-1'],
  ['battery', 'b'.repeat(200)],
];

/** An app with a fake Enode behind the gateway and some of everything stored. */
async function seededApp() {
  // Failure throttling (429) has its own tests; here every wrong token must reach the 401.
  const { t } = await gatewayEngineApp({ AUTH_FAILURES_PER_MINUTE: '10000' });
  for (const [type, id] of SEED_DEVICES) await seedDevice(t, type, id);
  for (let i = 0; i < 6; i++) {
    await postWebhook(t, [actionEvent(`act-${i}`, ['PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED'][i % 4] as string, 30 + i, { targetId: 'veh-1' })], { deliveryId: `seed-action-${i}` });
  }
  await postWebhook(t, [actionEvent('act/slash', 'PENDING', 40, { targetId: 'veh/2' })]);
  // A charging flip nobody asked for: a finding once the grace is over.
  await postWebhook(t, [vehicleEvent('veh-1', 100, { charging: false }), vehicleEvent('veh-1', 110, { charging: true })]);
  await reconcileAll(t);
  await postWebhook(t, [{ event: 'user:vehicle:updated', vehicle: 42 }], { deliveryId: 'seed-failed' });
  await postWebhook(t, { not: 'an array' }, { deliveryId: 'seed-quarantined' });
  // A dead alert delivery, so that retry has something to do.
  const [alertId] = await t.column<string>('SELECT id FROM alerts ORDER BY id LIMIT 1');
  if (alertId) {
    await t.exec(
      `INSERT INTO alert_deliveries (alert_id, sink, status, attempts, next_attempt_at_ms, last_status, last_error, updated_at_ms) VALUES (?, 'webhook:https://example.test', 'dead', 9, 0, 500, 'boom', ?)`,
      [alertId, NOW.getTime()],
    );
  }
  const ids = (sql: string) => t.column<string | number>(sql).then((all) => all.map(String));
  const known = [...(await ids('SELECT id FROM devices')), ...(await ids('SELECT id FROM actions')), ...(await ids('SELECT id FROM deliveries')), ...(await ids('SELECT id FROM alerts')), ...(await ids('SELECT id FROM findings'))];
  expect((await ids('SELECT id FROM findings')).length).toBeGreaterThan(0);
  return { t, known: known.map(encodeURIComponent) };
}

const TOKEN_HEADERS = fc.constantFrom<string | undefined>(undefined, '', 'Bearer', 'Bearer ', 'Bearer wrong-token', `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`, ADMIN_TOKEN, `Bearer ${ADMIN_TOKEN}x`, `Bearer ${ADMIN_TOKEN.slice(1)}`, `Bearer ${ADMIN_TOKEN.toUpperCase()}`, `Token ${ADMIN_TOKEN}`, `Bearer ${'x'.repeat(10_000)}`);

describe('fuzz: admin API and dashboard in-process', () => {
  let seeded: Awaited<ReturnType<typeof seededApp>>;
  beforeAll(async () => {
    if (engineMissing()) return;
    seeded = await seededApp();
  }, 60_000);

  const requestArb = () =>
    fc.record({
      route: fc.nat(API_ROUTES.length - 1),
      id: fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...seeded.known) }, { weight: 3, arbitrary: trickySegment }),
      query: queryString,
      body: commandBodyText,
      contentType: fc.constantFrom('application/json', 'text/plain', 'application/json; charset=utf-16', ''),
    });

  it(
    'every route answers 401 with the error body without a valid token, and changes nothing',
    async () => {
      const { t } = seeded;
      const before = await tableCounts(t);
      await fc.assert(
        fc.asyncProperty(requestArb(), TOKEN_HEADERS, async (r, authorization) => {
          const route = API_ROUTES[r.route] as Route;
          const path = `${route.path(r.id)}${r.query}`;
          const headers: Record<string, string> = { 'content-type': r.contentType };
          if (authorization !== undefined) headers['authorization'] = authorization;
          sent.admin++;
          const res = await t.app.request(`/api/v1${path}`, { method: route.method, headers, ...(route.body ? { body: r.body } : {}) });
          const body = await checkAnswer(res, `${route.method} ${path.slice(0, 200)} with ${JSON.stringify(authorization?.slice(0, 40))}`);
          expect(res.status, `${route.method} ${path.slice(0, 200)}`).toBe(401);
          expectErrorBody(body, 401, path);
        }),
        runs(300),
      );
      expect(await tableCounts(t)).toEqual(before);
    },
    TIMEOUT_MS,
  );

  it(
    'with the token, generated ids, queries and bodies on every route: never a 5xx, errors always {error:{code,message,requestId}}',
    async () => {
      const { t } = seeded;
      const statuses: Record<number, number> = {};
      await fc.assert(
        fc.asyncProperty(requestArb(), async (r) => {
          const route = API_ROUTES[r.route] as Route;
          const path = `${route.path(r.id)}${r.query}`;
          const res = await api(t, path, { method: route.method, headers: { 'content-type': r.contentType }, ...(route.body ? { body: r.body } : {}) });
          await checkAnswer(res, `${route.method} /api/v1${path.slice(0, 300)}${route.body ? ` body ${r.body.slice(0, 100)}` : ''}`);
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          expectPrototypeClean();
        }),
        runs(800),
      );
      console.info(`fuzz admin API answers by status: ${JSON.stringify(statuses)}`);
      // Not only refusals: the generator reaches the handlers' success paths too.
      expect(statuses[200] ?? 0).toBeGreaterThan(scale(800) / 20);
      await t.deps.store.idle();
      // A file of ours to check on SQLite; on Postgres the server keeps its own pages.
      if (t.engine === 'sqlite') expect(await t.column('PRAGMA integrity_check')).toEqual(['ok']);
    },
    TIMEOUT_MS,
  );

  it(
    'well-formed commands on stored devices (odd ids included) pass the guards to Enode: 2xx or a clear 4xx',
    async () => {
      const { t } = seeded;
      const device = (type: string) => fc.constantFrom(...SEED_DEVICES.filter(([ty]) => ty === type).map(([, id]) => encodeURIComponent(id)));
      const setpoint = fc.oneof(fc.integer({ min: 5, max: 35 }), fc.double({ noNaN: true }));
      const command = fc.oneof(
        fc.record({ path: device('vehicle').map((id) => `/vehicles/${id}/charging`), body: fc.record({ action: fc.constantFrom('START', 'STOP') }) }),
        fc.record({ path: device('charger').map((id) => `/chargers/${id}/charging`), body: fc.record({ action: fc.constantFrom('START', 'STOP') }) }),
        fc.record({ path: device('charger').map((id) => `/chargers/${id}/max-current`), body: fc.record({ maxCurrent: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.double({ min: 5e-324, max: 1e308, noNaN: true })) }) }),
        fc.record({ path: device('hvac').map((id) => `/hvacs/${id}/permanent-hold`), body: fc.oneof(fc.record({ mode: fc.constant('HEAT'), heatSetpoint: setpoint }), fc.record({ mode: fc.constant('AUTO'), heatSetpoint: setpoint, coolSetpoint: setpoint }), fc.constant({ mode: 'OFF' })) }),
        fc.record({ path: device('hvac').map((id) => `/hvacs/${id}/follow-schedule`), body: fc.constant({}) }),
        fc.record({ path: device('battery').map((id) => `/batteries/${id}/operation-mode`), body: fc.record({ operationMode: fc.constantFrom('IMPORT_FOCUS', 'EXPORT_FOCUS', 'TIME_OF_USE', 'SELF_RELIANCE', 'IDLE') }) }),
        fc.record({ path: fc.constantFrom('act-0', 'act-1', 'act-2', 'act%2Fslash').map((id) => `/actions/${id}/cancel`), body: fc.constant(undefined) }),
      );
      const flags = fc.constantFrom('', '?override=true', '?supersede=false', '?override=true&supersede=false');
      const statuses: Record<number, number> = {};
      await fc.assert(
        fc.asyncProperty(command, flags, async (c, q) => {
          const res = await api(t, `${c.path}${q}`, { method: 'POST', headers: { 'content-type': 'application/json' }, ...(c.body === undefined ? {} : { body: JSON.stringify(c.body) }) });
          await checkAnswer(res, `POST ${c.path}${q} ${JSON.stringify(c.body)}`);
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        }),
        runs(150),
      );
      console.info(`fuzz gateway commands by status: ${JSON.stringify(statuses)}`);
      expect(statuses[200] ?? 0).toBeGreaterThan(0);
    },
    TIMEOUT_MS,
  );

  it('a NUL in an id or a filter of the URL is a clear 400 on every engine, never a 5xx', async () => {
    const { t } = seeded;
    const reads = [
      ...API_ROUTES.filter((r) => r.method === 'GET').map((r) => `/api/v1${r.path('%00')}`).filter((path) => path.includes('%00')),
      '/api/v1/devices?userId=%00',
      '/api/v1/actions?targetId=%00',
      '/api/v1/interference?userId=%00&deviceId=%00',
      '/ui/devices/%00',
      '/ui/devices/a%00b?hours=168',
    ];
    for (const path of reads) {
      const res = await t.app.request(path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(res.status, path).toBe(400);
      expect(await res.json(), path).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('NUL') } });
    }
  });

  it(
    'the dashboard: never a 5xx; without a session or token nothing but the login page is served',
    async () => {
      const { t } = seeded;
      await fc.assert(
        fc.asyncProperty(fc.nat(UI_ROUTES.length - 1), fc.oneof(fc.constantFrom(...seeded.known), trickySegment), queryString, commandBodyText, TOKEN_HEADERS, fc.boolean(), async (ri, id, query, body, badAuth, authed) => {
          const route = UI_ROUTES[ri] as Route;
          const path = `/ui${route.path(id)}${query}`;
          const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
          const authorization = authed ? `Bearer ${ADMIN_TOKEN}` : badAuth;
          if (authorization !== undefined) headers['authorization'] = authorization;
          sent.dashboard++;
          const res = await t.app.request(path, { method: route.method, headers, ...(route.method === 'POST' ? { body } : {}) });
          const text = await res.text();
          if (res.status >= 500) throw new Error(`${route.method} ${path.slice(0, 200)} → ${res.status}: ${text.slice(0, 300)}`);
          if (!authed) expect(res.status, `${route.method} ${path.slice(0, 200)} without auth`).not.toBeLessThan(300);
        }),
        runs(300),
      );
    },
    TIMEOUT_MS,
  );
});

// ── raw bytes over TCP against a daemon process ──

interface RawAnswer {
  statuses: number[];
  text: string;
  /** A socket error (e.g. reset by the server), if any. */
  error?: string;
}

/**
 * Writes `parts` (with `pauseMs` between them) to a fresh connection, half-closes when `end`,
 * and collects whatever comes back until the server closes or `waitMs` passes.
 */
function raw(port: number, parts: Array<string | Buffer>, o: { end?: boolean; waitMs?: number; pauseMs?: number } = {}): Promise<RawAnswer> {
  sent.raw++;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1');
    let error: string | undefined;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ statuses: [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1])), text, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(done, o.waitMs ?? 2_000);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (err) => {
      error = err.message;
      done();
    });
    socket.on('close', done);
    socket.on('connect', async () => {
      for (const p of parts) {
        if (socket.destroyed) return;
        socket.write(p);
        if (o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs));
      }
      if (o.end ?? true) socket.end();
    });
  });
}

function request(method: string, path: string, headers: Array<[string, string]>, body: string | Buffer = '', version = 'HTTP/1.1'): Buffer {
  const head = `${method} ${path} ${version}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), typeof body === 'string' ? Buffer.from(body) : body]);
}

describe('fuzz: raw HTTP against a daemon process', () => {
  let d: Daemon | undefined;
  let sim: Simulator | undefined;
  let dir: string;
  let port: number;
  let vehicleId = 'none';
  let database: DaemonDatabase | undefined;
  let reader: DaemonReader | undefined;
  beforeAll(async () => {
    if (engineMissing()) return;
    dir = tempDir('enode-sync-fuzz-');
    database = await daemonDatabase(testEngine());
    reader = daemonReader(database, () => d!.dbPath, 'fuzz-proof');
    // A simulated Enode behind the gateway, so that command routes read their bodies.
    sim = createSimulator({ seed: 9, devices: 0, fleet: { vehicles: 1, chargers: 0, hvacs: 0, batteries: 1 }, incapableRate: 0, startTime: new Date().toISOString() });
    const enode = await sim.listen(0, '127.0.0.1');
    vehicleId = pickDevices(sim.world, 'vehicle')[0]?.id ?? 'none';
    d = await startDaemon(dir, { ...database.env, ENODE_API_URL: enode.url, ENODE_OAUTH_URL: `${enode.url}/oauth2/token`, ENODE_CLIENT_ID: sim.options.clientId, ENODE_CLIENT_SECRET: sim.options.clientSecret });
    port = Number(new URL(d.url).port);
    // The start-up resync stores the fleet; wait for it, so the fuzzing below changes nothing.
    const deadline = Date.now() + 20_000;
    while ((await fetch(`${d.url}/api/v1/devices/${vehicleId}`, { headers: { authorization: `Bearer ${E2E_ADMIN}` } })).status !== 200) {
      if (Date.now() > deadline) throw new Error('the device resync did not store the vehicle');
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 60_000);
  afterAll(async () => {
    await d?.proc.stop();
    await sim?.close();
    await reader?.close();
    await database?.drop();
    if (dir) removeDir(dir);
  });

  const good = JSON.stringify([validEvent(0, 'raw-v', 1), validEvent(6, 'raw-a', 2)]);
  const goodSig = signEnodeBody(good, E2E_SECRET);
  const base = (extra: Array<[string, string]> = []): Array<[string, string]> => [['Host', '127.0.0.1'], ['Content-Type', 'application/json'], ['Connection', 'close'], ...extra];
  /** What a request can add: the resync and the reconciler change other tables in the background. */
  const counts = async () => {
    const [row] = await reader!.all<Record<string, unknown>>(
      'SELECT (SELECT count(*) FROM deliveries) AS deliveries, (SELECT count(*) FROM commands) AS commands, (SELECT count(*) FROM system_events) AS "systemEvents"',
    );
    return { deliveries: Number(row?.['deliveries']), commands: Number(row?.['commands']), systemEvents: Number(row?.['systemEvents']) };
  };

  it(
    'bad framing, odd headers and path tricks: no 5xx, no crash, nothing stored, no error logged',
    async () => {
      const wh = '/webhooks/enode';
      const cl = (n: number) => ['Content-Length', String(n)] as [string, string];
      const unsignedCases: Array<{ name: string; parts: Array<string | Buffer>; expect?: number[]; end?: boolean; pauseMs?: number; waitMs?: number }> = [
        { name: 'no signature', parts: [request('POST', wh, base([cl(good.length)]), good)], expect: [401] },
        { name: 'body shorter than Content-Length, then EOF', parts: [request('POST', wh, base([['x-enode-signature', goodSig], cl(good.length + 50)]), good)] },
        { name: 'body shorter than Content-Length, socket kept open', parts: [request('POST', wh, base([['x-enode-signature', goodSig], cl(good.length + 50)]), good)], end: false },
        // The extra bytes are a malformed next request: Node may answer its 400 first and close.
        { name: 'body longer than Content-Length', parts: [request('POST', wh, base([['x-enode-signature', goodSig], cl(good.length - 10)]), good)] },
        { name: 'Content-Length not a number', parts: [request('POST', wh, base([['x-enode-signature', goodSig], ['Content-Length', 'abc']]), good)] },
        { name: 'negative Content-Length', parts: [request('POST', wh, base([['x-enode-signature', goodSig], ['Content-Length', '-1']]), good)] },
        { name: 'Content-Length 1e3', parts: [request('POST', wh, base([['x-enode-signature', goodSig], ['Content-Length', '1e3']]), good)] },
        { name: 'huge Content-Length', parts: [request('POST', wh, base([['x-enode-signature', goodSig], ['Content-Length', '99999999999999999999']]), good)], expect: [400, 413] },
        { name: 'Content-Length over the limit', parts: [request('POST', wh, base([['x-enode-signature', goodSig], ['Content-Length', String(6 * 1024 * 1024)]]), good)], expect: [413] },
        { name: 'two different Content-Lengths', parts: [request('POST', wh, base([['x-enode-signature', goodSig], cl(good.length), cl(good.length + 1)]), good)] },
        { name: 'Content-Length and chunked', parts: [request('POST', wh, base([['x-enode-signature', goodSig], cl(good.length), ['Transfer-Encoding', 'chunked']]), `${good.length.toString(16)}\r\n${good}\r\n0\r\n\r\n`)] },
        { name: 'bad chunk size', parts: [request('POST', wh, base([['x-enode-signature', goodSig], ['Transfer-Encoding', 'chunked']]), `zz\r\n${good}\r\n0\r\n\r\n`)] },
        { name: 'chunked without its last chunk, then EOF', parts: [request('POST', wh, base([['x-enode-signature', goodSig], ['Transfer-Encoding', 'chunked']]), `${good.length.toString(16)}\r\n${good}\r\n`)] },
        { name: 'chunked, corrupt body under a valid signature', parts: [request('POST', wh, base([['x-enode-signature', goodSig], ['Transfer-Encoding', 'chunked']]), `5\r\n[{"ev\r\n0\r\n\r\n`)], expect: [401] },
        { name: 'header over 16 KiB', parts: [request('POST', wh, base([['x-enode-signature', goodSig], ['x-enode-delivery', 'd'.repeat(100_000)], cl(good.length)]), good)], expect: [431] },
        { name: 'two signature headers', parts: [request('POST', wh, base([['x-enode-signature', goodSig], ['x-enode-signature', goodSig], cl(good.length)]), good)], expect: [401] },
        { name: 'signature with UTF-8 bytes', parts: [request('POST', wh, base([['x-enode-signature', Buffer.from(`sha1=ü${goodSig.slice(6)}`).toString('latin1')], cl(good.length)]), good)], expect: [401] },
        { name: 'NUL in a header', parts: [request('POST', wh, base([['x-enode-signature', `sha1=\u0000${goodSig.slice(6)}`], cl(good.length)]), good)] },
        { name: 'bare LF line endings', parts: [Buffer.from(`POST ${wh} HTTP/1.1\nHost: x\nContent-Length: ${good.length}\n\n${good}`)] },
        { name: 'header without a colon', parts: [`POST ${wh} HTTP/1.1\r\nHost: x\r\nx-enode-signature: ${goodSig}\r\nbroken-header-no-colon\r\nContent-Length: ${good.length}\r\n\r\n${good}`], expect: [400] },
        { name: 'HTTP/1.0 without Host', parts: [request('POST', wh, [['Content-Length', String(good.length)]], good, 'HTTP/1.0')], expect: [401] },
        { name: 'HTTP/2 preface', parts: ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'] },
        { name: 'garbage request line', parts: ['\u0000\u0001\u0002 GARBAGE\r\n\r\n'] },
        { name: 'absolute-form target', parts: [request('POST', `http://evil.example${wh}`, base([cl(good.length)]), good)], expect: [401] },
        { name: 'trailing slash', parts: [request('POST', `${wh}/`, base([['x-enode-signature', goodSig], cl(good.length)]), good)] },
        { name: 'double slash', parts: [request('POST', `/${wh}`, base([['x-enode-signature', goodSig], cl(good.length)]), good)] },
        { name: 'encoded path', parts: [request('POST', '/webhooks/%65node', base([cl(good.length)]), good)] },
        { name: 'bad escape in query', parts: [request('POST', `${wh}?x=%zz&__proto__[a]=1`, base([cl(good.length)]), good)], expect: [401] },
        { name: 'GET on the webhook', parts: [request('GET', wh, base())], expect: [404] },
        { name: 'unknown method', parts: [request('FOO', wh, base())] },
        { name: 'Expect: 100-continue unsigned', parts: [request('POST', wh, base([['Expect', '100-continue'], cl(good.length)]), good)] },
        { name: 'headers cut in the middle', parts: [`POST ${wh} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Len`] },
        { name: 'slow headers, then EOF', parts: ['POST ', `${wh} HTTP/1.1\r\n`, 'Host: x\r\n'], pauseMs: 100 },
        { name: 'pipelined unsigned requests', parts: [Buffer.concat([request('POST', wh, [['Host', 'x'], cl(2)], '[]'), request('POST', wh, [['Host', 'x'], cl(2)], '{}')])] },
        { name: 'admin traversal without a token', parts: [request('GET', '/api/v1/x/../devices', base())], expect: [401] },
        { name: 'admin encoded traversal without a token', parts: [request('GET', '/api/v1/devices/..%2F..%2F..%2Fetc%2Fpasswd', base())], expect: [401] },
        { name: 'dashboard traversal into the API without a token', parts: [request('GET', '/ui/../api/v1/devices', base())], expect: [401] },
        { name: 'encoded prefix into the API without a token', parts: [request('GET', '/%61pi/v1/devices', base())] },
        { name: 'admin with a 10k id', parts: [request('GET', `/api/v1/devices/${'x'.repeat(10_000)}`, base([['Authorization', `Bearer ${E2E_ADMIN}`]]))], expect: [400] },
        // Its 404 needs a database read: not half-closed, since Node drops an answer not ready when the client's FIN arrives.
        { name: 'admin with a bad escape', parts: [request('GET', '/api/v1/actions/%E0%A4%A', base([['Authorization', `Bearer ${E2E_ADMIN}`]]))], expect: [404], end: false, waitMs: 5_000 },
        { name: 'admin with UTF-8 path bytes', parts: [request('GET', Buffer.from('/api/v1/devices/ü😀').toString('latin1'), base([['Authorization', `Bearer ${E2E_ADMIN}`]]))] },
        { name: 'command with a truncated body, then EOF', parts: [request('POST', `/api/v1/vehicles/${vehicleId}/charging`, base([['Authorization', `Bearer ${E2E_ADMIN}`], cl(100)]), '{"action":')] },
        { name: 'command with a truncated body, socket kept open', parts: [request('POST', `/api/v1/vehicles/${vehicleId}/charging`, base([['Authorization', `Bearer ${E2E_ADMIN}`], cl(100)]), '{"action":')], end: false },
        { name: 'command with a bad chunked body', parts: [request('POST', `/api/v1/vehicles/${vehicleId}/charging`, base([['Authorization', `Bearer ${E2E_ADMIN}`], ['Transfer-Encoding', 'chunked']]), '5\r\n{"act\r\nzz\r\n')] },
        { name: 'command with a body that is not JSON', parts: [request('POST', `/api/v1/vehicles/${vehicleId}/charging`, base([['Authorization', `Bearer ${E2E_ADMIN}`], cl(5)]), '{"act')], expect: [400] },
        { name: 'command with a body that is not UTF-8', parts: [request('POST', `/api/v1/vehicles/${vehicleId}/charging`, base([['Authorization', `Bearer ${E2E_ADMIN}`], cl(4)]), Buffer.from([0xff, 0xfe, 0x7b, 0x7d]))], expect: [400] },
      ];
      const before = await counts();
      const answers: Record<string, number[]> = {};
      for (const c of unsignedCases) {
        const a = await raw(port, c.parts, { end: c.end ?? true, pauseMs: c.pauseMs ?? 0, waitMs: c.waitMs ?? (c.end === false ? 500 : 2_000) });
        answers[c.name] = a.statuses;
        for (const s of a.statuses) expect(s, `${c.name}: ${a.text.slice(0, 300)}`).toBeLessThan(500);
        if (c.expect) expect(c.expect, `${c.name}: ${a.text.slice(0, 300)}`).toContain(a.statuses[0]);
      }
      // Random mutations of a well-formed unsigned request.
      const rnd = seededRandom(SEED ?? 9);
      const template = request('POST', wh, base([['x-enode-delivery', 'raw-1'], cl(good.length)]), good);
      for (let i = 0; i < (LONG ? 600 : 80); i++) {
        const mutated = mutateBytes(template, [{ op: (['flip', 'truncate', 'duplicate', 'insert', 'delete', 'swap'] as const)[Math.floor(rnd() * 6)]!, at: Math.floor(rnd() * template.length), len: 1 + Math.floor(rnd() * 40), byte: Math.floor(rnd() * 256) }]);
        const a = await raw(port, [mutated], { waitMs: 1_000 });
        for (const s of a.statuses) expect(s, `mutation ${i}: ${mutated.toString('latin1').slice(0, 200)} → ${a.text.slice(0, 200)}`).toBeLessThan(500);
      }
      // Still up, nothing stored from any of it, and nothing it logged is an error.
      expect((await fetch(`${d!.url}/healthz`)).status).toBe(200);
      expect(d!.proc.child.exitCode).toBeNull();
      expect(await counts()).toEqual(before);
      const errors = d!
        .logs()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: unknown; msg: string })
        .filter((l) => isErrorLevel(l.level));
      expect(errors, JSON.stringify(errors).slice(0, 1_000)).toEqual([]);
      expect(Object.keys(answers).length).toBe(unsignedCases.length);
    },
    TIMEOUT_MS,
  );

  it(
    'signed deliveries over odd but valid framing are stored once',
    async () => {
      const chunked = (body: string, size: number) => {
        let out = '';
        for (let i = 0; i < body.length; i += size) out += `${Math.min(size, body.length - i).toString(16)}\r\n${body.slice(i, i + size)}\r\n`;
        return `${out}0\r\n\r\n`;
      };
      // Each case sends the same events in its own bytes (trailing spaces): identical bytes would be one delivery.
      const bodyOf = (n: number) => `${good}${' '.repeat(n)}`;
      const signedHeaders = (id: string, n: number) => base([['x-enode-signature', signEnodeBody(bodyOf(n), E2E_SECRET)], ['x-enode-delivery', id]]);
      const cases: Array<{ id: string; parts: Array<string | Buffer>; pauseMs?: number }> = [
        { id: 'raw-plain', parts: [request('POST', '/webhooks/enode', [...signedHeaders('raw-plain', 1), ['Content-Length', String(bodyOf(1).length)]], bodyOf(1))] },
        { id: 'raw-chunked-1', parts: [request('POST', '/webhooks/enode', [...signedHeaders('raw-chunked-1', 2), ['Transfer-Encoding', 'chunked']], chunked(bodyOf(2), 1))] },
        { id: 'raw-slow', parts: [request('POST', '/webhooks/enode', [...signedHeaders('raw-slow', 3), ['Content-Length', String(bodyOf(3).length)]]), bodyOf(3).slice(0, 10), bodyOf(3).slice(10)], pauseMs: 200 },
        { id: 'raw-expect', parts: [request('POST', '/webhooks/enode', [...signedHeaders('raw-expect', 4), ['Expect', '100-continue'], ['Content-Length', String(bodyOf(4).length)]], bodyOf(4))] },
        { id: 'raw-gzip-chunked', parts: [request('POST', '/webhooks/enode', [...signedHeaders('raw-gzip-chunked', 5), ['Transfer-Encoding', 'gzip, chunked']], chunked(bodyOf(5), 100))] },
        { id: 'raw-10k-id', parts: [request('POST', '/webhooks/enode', [...base([['x-enode-signature', signEnodeBody(bodyOf(6), E2E_SECRET)], ['x-enode-delivery', 'i'.repeat(10_000)]]), ['Content-Length', String(bodyOf(6).length)]], bodyOf(6))] },
      ];
      for (const c of cases) {
        // Not half-closed: Node drops a pending answer when the client shuts its side first.
        const a = await raw(port, c.parts, { pauseMs: c.pauseMs ?? 0, end: false, waitMs: 10_000 });
        expect(a.statuses.filter((s) => s !== 100), `${c.id}: ${a.error ?? ''} ${a.text.slice(0, 300)}`).toEqual([200]);
      }
      const ids = (await reader!.all<{ id: string }>('SELECT id FROM deliveries')).map((r) => r.id);
      expect(ids.filter((i) => i.startsWith('raw-')).sort()).toEqual(['raw-chunked-1', 'raw-expect', 'raw-gzip-chunked', 'raw-plain', 'raw-slow'].sort());
      // Bytes under a 10k id (not usable) are stored by their hash.
      expect(ids.some((i) => i.startsWith('sha256-'))).toBe(true);
    },
    TIMEOUT_MS,
  );
});

// ── memory ──

/** `global.gc` without restarting node: V8 exposes it to a new context once the flag is set. */
function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('fuzz: memory', () => {
  it(
    'heap stays flat over many fuzzed requests',
    async () => {
      const gc = gcFunction();
      const { t } = await seededApp();
      const batches = LONG ? 12 : 4;
      const perBatch = LONG ? 2_000 : 300;
      const rnd = seededRandom(17);
      const samples = fc.sample(fc.record({ events: eventArrayArb, query: queryString, id: trickySegment, route: fc.nat(API_ROUTES.length - 1), body: commandBodyText }), { numRuns: 500, seed: 17 });
      const heap: number[] = [];
      for (let b = 0; b < batches; b++) {
        for (let i = 0; i < perBatch; i++) {
          const s = samples[Math.floor(rnd() * samples.length)]!;
          const text = JSON.stringify(s.events);
          const kind = i % 4;
          if (kind === 0) await sendWebhook(t, text, signed(text));
          else if (kind === 1) await sendWebhook(t, text, { 'x-enode-signature': 'sha1=0000000000000000000000000000000000000000' });
          else {
            const route = API_ROUTES[s.route] as Route;
            await (await api(t, `${route.path(s.id)}${s.query}`, { method: route.method, ...(route.body ? { body: s.body } : {}) })).arrayBuffer();
          }
        }
        await t.deps.store.idle();
        await (await t.app.request('/metrics')).text();
        gc();
        gc();
        heap.push(process.memoryUsage().heapUsed);
      }
      const mb = heap.map((h) => Math.round(h / 1e5) / 10);
      console.info(`fuzz memory: heap MB after each of ${batches} batches of ${perBatch} requests: ${mb.join(', ')}`);
      // After the first batch (warm-up: code, caches), the heap must not keep growing.
      const growth = (heap[heap.length - 1]! - heap[1]!) / 1e6;
      expect(growth, `heap MB per batch: ${mb.join(', ')}`).toBeLessThan(LONG ? 24 : 16);
    },
    TIMEOUT_MS,
  );
});
