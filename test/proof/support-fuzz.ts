/**
 * Generators and checks of the fuzz suite (test/proof/fuzz.test.ts): hostile JSON, Enode-shaped
 * events with wrong types, byte mutations, path and query tricks, and the invariants every answer
 * must keep (never a 5xx, one error body shape, nothing changed by an unverified request).
 */
import type Database from 'better-sqlite3';
import fc from 'fast-check';
import { expect } from 'vitest';
import { createLogger, type Logger } from '../../src/logger.js';
import { actionEvent, vehicleAt } from '../support/fixtures.js';

// ── database ──

/** Row count of every table: what an unverified request must leave exactly as it was. */
export function tableCounts(sqlite: Database.Database): Record<string, number> {
  const names = sqlite.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all() as string[];
  return Object.fromEntries(names.map((n) => [n, sqlite.prepare(`SELECT count(*) FROM "${n.replace(/"/g, '""')}"`).pluck().get() as number]));
}

/** Fails when anything was added to Object.prototype (prototype pollution through parsed input). */
export function expectPrototypeClean(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).filter((k) => !BUILTIN_PROTO_KEYS.has(k))).toEqual([]);
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
}
const BUILTIN_PROTO_KEYS = new Set(Object.getOwnPropertyNames(Object.prototype));

/** A logger that keeps error-level lines in memory, to show why something failed. */
export function memoryLogger(): { logger: Logger; errors: string[] } {
  const errors: string[] = [];
  return { logger: createLogger('error', { write: (line: string) => void errors.push(line) }), errors };
}

// ── answers ──

/** A short description of a request, for failure messages. */
export type Described = string;

/**
 * Reads an answer and checks the invariants of every JSON route: no 5xx, and a 4xx carries
 * `{ error: { code, message, requestId } }`. Returns the parsed body (undefined when not JSON).
 */
export async function checkAnswer(res: Response, what: Described): Promise<unknown> {
  const text = await res.text();
  if (res.status >= 500) throw new Error(`${what} → ${res.status}: ${text.slice(0, 600)}`);
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status >= 400) expectErrorBody(body, res.status, what, text);
  return body;
}

/** The one error body of the app. */
export function expectErrorBody(body: unknown, status: number, what: Described, text = JSON.stringify(body)): void {
  const error = (body as { error?: Record<string, unknown> } | undefined)?.error;
  const ok =
    error !== undefined &&
    typeof error['code'] === 'string' &&
    /^[A-Z][A-Z_]*$/.test(error['code']) &&
    typeof error['message'] === 'string' &&
    typeof error['requestId'] === 'string' &&
    (error['requestId'] as string).length > 0;
  if (!ok) throw new Error(`${what} → ${status} without the error body {error:{code,message,requestId}}: ${String(text).slice(0, 400)}`);
}

// ── hostile values ──

/** Keys that pollute prototypes when code merges parsed objects carelessly. */
export const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__'] as const;

/** JSON text of objects that try prototype pollution (JSON.parse makes `__proto__` an own key). */
export const pollutionText = fc.constantFrom(
  '{"__proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"__proto__":{"__proto__":{"polluted":"yes"}},"toString":"x","valueOf":1,"hasOwnProperty":null}',
  '{"__proto__":null}',
  '{"__proto__":[]}',
);

const deep = (depth: number, leaf: unknown): unknown => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { d: v };
  return v;
};

/** Times as Enode might (not) send them. */
export const timeish: fc.Arbitrary<unknown> = fc.oneof(
  fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom(
    '+275760-09-13T00:00:00.000Z',
    '-271821-04-20T00:00:00.000Z',
    '+275760-09-13T00:00:00.001Z',
    '2026-02-30T25:61:61Z',
    '2026-03-01',
    '2026-03-01T12:00:00+14:00',
    '0',
    '',
    'yesterday',
    '1e308',
  ),
  fc.integer(),
  fc.constant(null),
);

/** Any value, with the nasty ones over-represented. */
export const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<unknown>(
      null,
      true,
      false,
      '',
      ' ',
      '\u0000',
      '\ud800',
      'ü😀\u202e',
      0,
      -0,
      -1,
      1.5,
      1e308,
      -1e308,
      5e-324,
      Number.MAX_SAFE_INTEGER + 2,
      '1e999',
      'NaN',
      [],
      {},
      [null],
      { id: 42 },
      'x'.repeat(100_000),
      deep(3_000, 'bottom'),
    ),
  },
  { weight: 1, arbitrary: timeish },
  { weight: 1, arbitrary: pollutionText.map((t) => JSON.parse(t) as unknown) },
);

// ── Enode-shaped events, then broken ──

export const DEVICE_TYPES = ['vehicle', 'charger', 'hvac', 'battery', 'inverter', 'meter'] as const;
export const EVENT_NAMES = [
  ...DEVICE_TYPES.flatMap((t) => ['discovered', 'updated', 'deleted'].map((v) => `user:${t}:${v}`)),
  'user:vendor-action:updated',
  'user:charge-action:updated',
  'system:heartbeat',
  'user:credentials:invalidated',
  'enode:webhook:test',
];

const BASE_MS = Date.parse('2026-03-01T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A well-formed event of each kind the daemon treats specially (device snapshots of every type). */
export function validEvent(kind: number, id: string, minute: number): Record<string, unknown> {
  const atMs = BASE_MS + minute * 60_000;
  const at = iso(atMs);
  const type = DEVICE_TYPES[kind % 9] ?? 'vehicle';
  switch (kind % 9) {
    case 0:
      return { event: 'user:vehicle:updated', createdAt: iso(atMs + 500), version: '2024-10-01', user: { id: `user-of-${id}` }, vehicle: vehicleAt(id, atMs, { charging: minute % 2 === 0 }), updatedFields: ['chargeState.isCharging'] };
    case 6:
      return actionEvent(id, ['PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED'][minute % 4] as string, minute, { targetId: `dev-${minute % 3}`, failureReason: minute % 4 === 2 ? { type: 'NO_RESPONSE', detail: 'x' } : null });
    case 7:
      return { event: 'system:heartbeat', createdAt: at, version: '2024-10-01', pendingEvents: minute };
    case 8:
      return { event: 'user:credentials:invalidated', createdAt: at, version: '2024-10-01', user: { id: `user-of-${id}` }, vendor: 'TESLA' };
    default: {
      const snapshot: Record<string, unknown> = {
        id,
        userId: `user-of-${id}`,
        vendor: 'ACME',
        lastSeen: at,
        isReachable: true,
        chargeState: { isPluggedIn: true, isCharging: minute % 2 === 0, maxCurrent: 16, batteryLevel: 50, chargeLimit: 80, powerDeliveryState: 'PLUGGED_IN:CHARGING', lastUpdated: at },
        thermostatState: { mode: 'HEAT', heatSetpoint: 20, coolSetpoint: null, holdType: 'SCHEDULED', lastUpdated: at },
        config: { operationMode: 'SELF_RELIANCE', lastUpdated: at },
        productionState: { productionRate: 1, isProducing: true, lastUpdated: at },
        energyState: { power: 1, lastUpdated: at },
        capabilities: {},
        information: { brand: 'Acme' },
      };
      return { event: `user:${type}:updated`, createdAt: iso(atMs + 500), version: '2024-10-01', user: { id: `user-of-${id}` }, [type]: snapshot, updatedFields: [] };
    }
  }
}

type Json = unknown;

/**
 * Paths an edit may pick: at most EDIT_DEPTH deep, so that a deep value inserted by one edit is
 * never the parent of another deep value (two of deep(3_000) stacked are too deep for the test's
 * own JSON.stringify: a Postgres CI run overflowed the stack there, not in the daemon).
 */
const EDIT_DEPTH = 12;

/** Every path (keys and indexes) of containers and leaves in a JSON value, root excluded, to EDIT_DEPTH. */
function pathsOf(value: Json, prefix: Array<string | number> = [], out: Array<Array<string | number>> = [], budget = { n: 2_000 }): Array<Array<string | number>> {
  if (budget.n-- <= 0 || prefix.length >= EDIT_DEPTH || value === null || typeof value !== 'object') return out;
  const entries: Array<[string | number, Json]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  for (const [k, v] of entries) {
    const p = [...prefix, k];
    out.push(p);
    pathsOf(v, p, out, budget);
  }
  return out;
}

/** One edit of a JSON value: replace, delete, or wrap the value at a path. */
export interface JsonEdit {
  pick: number;
  op: 'set' | 'delete' | 'wrap' | 'setKey';
  value: unknown;
  key: string;
}

export const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({
  pick: fc.nat(),
  op: fc.constantFrom<JsonEdit['op']>('set', 'set', 'set', 'delete', 'wrap', 'setKey'),
  value: weirdValue,
  key: fc.oneof(fc.constantFrom(...POLLUTION_KEYS, 'id', 'event', 'userId', 'state', 'lastUpdated'), fc.string({ maxLength: 8 })),
});

/** Applies edits to a deep copy (`__proto__` keys are defined as own properties, as JSON.parse does). */
export function applyEdits(value: Json, edits: JsonEdit[]): Json {
  const root = { v: JSON.parse(JSON.stringify(value)) as Json };
  for (const e of edits) {
    const paths = pathsOf(root.v);
    if (paths.length === 0) continue;
    const path = paths[e.pick % paths.length] as Array<string | number>;
    let parent = root.v as Record<string | number, Json>;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
    const last = path[path.length - 1] as string | number;
    const define = (obj: Record<string | number, Json>, k: string | number, v: Json) =>
      Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
    // Generated values may be shared between runs (constants): insert copies, never the originals.
    const value = e.value === undefined ? undefined : (JSON.parse(JSON.stringify(e.value)) as Json);
    if (e.op === 'set') define(parent, last, value);
    else if (e.op === 'wrap') define(parent, last, [parent[last]]);
    else if (e.op === 'setKey' && parent !== null && typeof parent === 'object' && !Array.isArray(parent)) define(parent, e.key, value);
    else if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  }
  return root.v;
}

/** Text-level edits JSON.stringify cannot produce: huge literals, duplicate keys, BOM, junk. */
export const textEdit = fc.constantFrom<(s: string) => string>(
  (s) => s,
  (s) => s,
  (s) => s.replace(/(?<=:)-?\d+(\.\d+)?(?=[,}\]])/, '1e999'),
  (s) => s.replace(/(?<=:)-?\d+(\.\d+)?(?=[,}\]])/, '-1e999'),
  (s) => s.replace(/(?<=:)-?\d+(\.\d+)?(?=[,}\]])/, '123456789012345678901234567890'),
  (s) => s.replace(/(?<=:)-?\d+(\.\d+)?(?=[,}\]])/, '-0'),
  (s) => s.replace(/\{"event":/, '{"event":"user:vehicle:updated","event":'),
  (s) => s.replace(/\{/, '{"__proto__":{"polluted":"yes"},'),
  (s) => `\ufeff${s}`,
  (s) => ` \n\t${s}\n `,
);

/** An array of 1–4 events, each a valid one with 0–3 edits; sometimes plain junk objects. */
export const eventArrayArb: fc.Arbitrary<Json[]> = fc.array(
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({ kind: fc.nat(8), id: fc.oneof(fc.constantFrom('dev-a', 'dev-b', 'act-a'), fc.string({ minLength: 1, maxLength: 12 })), minute: fc.integer({ min: 0, max: 600 }), edits: fc.array(jsonEdit, { maxLength: 3 }) })
        .map(({ kind, id, minute, edits }) => applyEdits(validEvent(kind, id, minute), edits)),
    },
    {
      weight: 1,
      arbitrary: fc.record({ event: fc.oneof(fc.constantFrom(...EVENT_NAMES), fc.string({ maxLength: 30 })), payload: weirdValue }).map(({ event, payload }) => ({ event, ...(payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? payload : { x: payload }) })),
    },
  ),
  { minLength: 1, maxLength: 4 },
);

/** A JSON body that is surely not an event array Enode could send: scalars, objects, odd arrays. */
export const notEventArrayText: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).filter((v) => !Array.isArray(v)).map((v) => JSON.stringify(v)),
  pollutionText,
  fc.constantFrom('null', '0', '-0', '1e999', '"[]"', '{}', '{"0":{"event":"x"}}', '[1]', '[null]', '[[]]', '[{"event":1}]', '[{}]', `${'['.repeat(50_000)}${']'.repeat(50_000)}`, '', ' ', '[', '[{"event":"x"},]', "[{'event':'x'}]", 'NaN'),
  fc.string({ maxLength: 40 }),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
);

// ── bytes ──

/** One mutation of a byte string: flip a bit, cut, duplicate a slice, insert or delete bytes. */
export interface ByteMutation {
  op: 'flip' | 'truncate' | 'duplicate' | 'insert' | 'delete' | 'swap';
  at: number;
  len: number;
  byte: number;
}

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.record({
  op: fc.constantFrom<ByteMutation['op']>('flip', 'truncate', 'duplicate', 'insert', 'delete', 'swap'),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 64 }),
  byte: fc.integer({ min: 0, max: 255 }),
});

export function mutateBytes(input: Buffer, mutations: ByteMutation[]): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.op) {
      case 'flip':
        b[at] = (b[at] as number) ^ (1 << (m.byte % 8));
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at, at + m.len), b.subarray(at + m.len)]);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.alloc(m.len, m.byte), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
        break;
      case 'swap': {
        const other = (at + m.len) % b.length;
        const x = b[at] as number;
        b[at] = b[other] as number;
        b[other] = x;
        break;
      }
    }
  }
  return b;
}

// ── paths and queries ──

/** Path segments that try traversal, bad escapes, odd characters and huge lengths. */
export const trickySegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '..',
    '.',
    '%2e%2e',
    '%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
    '..%2F..%2F',
    'a%2Fb',
    '%2F',
    '%5C..%5C',
    '%00',
    '%',
    '%zz',
    '%E0%A4%A',
    '%C0%AE%C0%AE',
    '%FF%FE',
    '~',
    '%20',
    '+',
    '__proto__',
    'constructor',
    'prototype',
    "1'%20OR%20'1'='1",
    '*',
    '%2A',
    '%0D%0ASet-Cookie:%20x=1',
    'null',
    'undefined',
    'NaN',
  ),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).map(encodeURIComponent),
  fc.string({ minLength: 1, maxLength: 16 }),
  fc.integer({ min: 195, max: 205 }).map((n) => 'i'.repeat(n)),
  fc.constant('x'.repeat(10_000)),
  fc.constant(encodeURIComponent('ü'.repeat(5_000))),
);

const cursorValue = fc.oneof(
  fc.array(fc.oneof(fc.double(), fc.integer(), fc.string({ maxLength: 10 }), fc.constantFrom<unknown>(1e308, -1e308, 8.64e15 + 1, 0, '', null, [], {})), { maxLength: 5 }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Query values: bad limits, bad cursors (also base64url of wrong JSON), huge numbers, junk. */
export const queryValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', '0', '-1', '1', '50', '500', '501', '1e3', '1.5', '0x10', ' 5', '99999999999999999999999', 'NaN', 'Infinity', 'null', 'true', 'false', 'TRUE', 'PENDING', 'CONFIRMED', 'pending', 'applied', 'dead', 'vehicle', 'hvac', 'ACTION_OVERRIDDEN', '2026-03-01T00:00:00Z', '+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '2026-99-99', '%', '%zz', '%00', '..', '[]', '{}', 'dev-a', 'act-a'),
  cursorValue.map((v) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url')),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.base64String({ maxLength: 40 }),
  fc.integer({ min: 1_990, max: 2_010 }).map((n) => 'c'.repeat(n)),
);

export const QUERY_KEYS = ['limit', 'after', 'status', 'state', 'targetId', 'type', 'userId', 'deviceId', 'kind', 'since', 'until', 'override', 'supersede', 'result', 'hours', 'next'] as const;

/** A query string (with leading `?`, or empty): repeated keys, pollution keys, raw and encoded values. */
export const queryString: fc.Arbitrary<string> = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.constantFrom(...POLLUTION_KEYS), fc.string({ maxLength: 6 })), queryValue, fc.boolean()), { maxLength: 4 })
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v, raw]) => `${encodeURIComponent(k)}=${raw ? v : encodeURIComponent(v)}`).join('&')}`));

/** Request bodies for the command routes: Enode's, nearly Enode's, and junk. */
export const commandBodyText: fc.Arbitrary<string> = fc.oneof(
  fc
    .constantFrom<unknown>(
      { action: 'START' },
      { action: 'STOP' },
      { maxCurrent: 16 },
      { mode: 'HEAT', heatSetpoint: 20 },
      { mode: 'COOL', coolSetpoint: 22 },
      { mode: 'AUTO', heatSetpoint: 18, coolSetpoint: 24 },
      { mode: 'OFF' },
      { operationMode: 'IMPORT_FOCUS' },
      { operationMode: 'IDLE' },
      { action: 'start' },
      { action: 'START', extra: 1 },
      { maxCurrent: 1e308 },
      { maxCurrent: 5e-324 },
      { maxCurrent: -0 },
      { maxCurrent: '16' },
      { mode: 'HEAT', heatSetpoint: -1e308 },
      { mode: 'HEAT' },
      { mode: 'LOL', heatSetpoint: 20 },
      { operationMode: '__proto__' },
      [],
      null,
      'START',
    )
    .map((v) => JSON.stringify(v)),
  fc.constantFrom('', ' ', '{', '{"action":"START","action":"STOP"}', '{"maxCurrent":1e999}', '{"maxCurrent":-1e999}', '{"__proto__":{"action":"START"}}', '{"action":"START","__proto__":{"polluted":"yes"}}', `${'['.repeat(20_000)}${']'.repeat(20_000)}`, '\ufeff{"action":"START"}', 'x'.repeat(200_000)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 30 }),
);

// ── seeded randomness for the raw and crash suites ──

/** mulberry32: a tiny seeded PRNG, so a failing run can be replayed with its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
