import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { presentable } from '../../src/api/safe-json.js';
import { compareActionVersions, isFutureDatedVersion, mergeAction, type ActionVersion } from '../../src/domain/actions.js';
import { compareSnapshotKeys, FUTURE_DATED_RANK, isDeviceDeleted, snapshotKey, type SnapshotKey } from '../../src/domain/devices.js';
import { jsonNestingExceeds, MAX_JSON_DEPTH, valueNestingExceeds } from '../../src/domain/json-depth.js';
import { isAheadOfReceipt, parseTimeMs } from '../../src/domain/time.js';
import { parseEventArray } from '../../src/ingest/deliveries.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');
const nestedArrays = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
const nestedObjects = (levels: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
};

describe('parseTimeMs: strict ISO 8601', () => {
  it.each([
    ['2026-03-01T12:00:00Z', Date.UTC(2026, 2, 1, 12, 0, 0)],
    ['2026-03-01T12:00:00.123Z', Date.UTC(2026, 2, 1, 12, 0, 0, 123)],
    ['2026-03-01T12:00:00.123456789Z', Date.UTC(2026, 2, 1, 12, 0, 0, 123)],
    ['2026-03-01T12:00Z', Date.UTC(2026, 2, 1, 12, 0, 0)],
    ['2026-03-01T14:30:00+02:30', Date.UTC(2026, 2, 1, 12, 0, 0)],
    ['2026-03-01T09:00:00-03:00', Date.UTC(2026, 2, 1, 12, 0, 0)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['0099-01-01T00:00:00Z', -59_042_995_200_000],
  ])('reads %s', (text, ms) => {
    expect(parseTimeMs(text)).toBe(ms);
  });

  it.each([
    '1',
    '-5',
    'Dec 1 2099',
    'Tue, 01 Dec 2099 00:00:00 GMT',
    '2026-03-01',
    '2026-03-01T12:00:00', // no zone: local time, ambiguous
    '2026-03-01 12:00:00Z',
    '2026-3-1T12:00:00Z',
    '2026-02-30T00:00:00Z',
    '2025-02-29T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-03-01T24:00:00Z',
    '2026-03-01T12:60:00Z',
    '2026-03-01T12:00:60Z',
    '2026-03-01T12:00:00+24:00',
    '+202603-01T12:00:00Z',
    ' 2026-03-01T12:00:00Z',
    '2026-03-01T12:00:00z',
    '',
  ])('ignores %j', (text) => {
    expect(parseTimeMs(text)).toBeUndefined();
  });

  it('ignores non-strings', () => {
    expect(parseTimeMs(1_700_000_000_000)).toBeUndefined();
    expect(parseTimeMs(null)).toBeUndefined();
    expect(parseTimeMs(undefined)).toBeUndefined();
  });

  it('agrees with Date.parse on every ISO string Date#toISOString writes', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2200-12-31T23:59:59Z'), noInvalidDate: true }), (d) => {
        expect(parseTimeMs(d.toISOString())).toBe(d.getTime());
      }),
    );
  });
});

describe('nesting limit', () => {
  it('counts brackets on the bytes, not inside strings', () => {
    expect(jsonNestingExceeds(bytes(nestedArrays(MAX_JSON_DEPTH)))).toBeUndefined();
    expect(jsonNestingExceeds(bytes(nestedArrays(MAX_JSON_DEPTH + 1)))).toBe(MAX_JSON_DEPTH);
    expect(jsonNestingExceeds(bytes(JSON.stringify([{ s: '['.repeat(500) + '{"\\"[['.repeat(100) }])))).toBeUndefined();
    // Escaped quotes and runs of backslashes neither end a string nor hide its end.
    const escapes = JSON.stringify(['\\', '"', '\\"[{', '\\\\', [[1]]]);
    expect(jsonNestingExceeds(bytes(escapes), 3)).toBeUndefined();
    expect(jsonNestingExceeds(bytes(escapes), 2)).toBe(escapes.lastIndexOf('[[') + 1);
    expect(jsonNestingExceeds(bytes('["unterminated [[[['), 1)).toBeUndefined();
    // Multi-byte characters shift byte offsets; the reported offset is the byte that opened one level too many.
    const text = JSON.stringify([{ s: 'é€😀[' }, nestedObjects(3)]);
    const innermost = text.lastIndexOf('{');
    expect(jsonNestingExceeds(bytes(text), 4)).toBeUndefined();
    expect(jsonNestingExceeds(bytes(text), 3)).toBe(Buffer.byteLength(text.slice(0, innermost)));
  });

  it('quarantines a body nested past the limit before parsing it, with the reason', () => {
    const shallow = JSON.stringify([{ event: 'user:vehicle:updated', vehicle: nestedObjects(10) }]);
    expect(parseEventArray(bytes(shallow)).ok).toBe(true);
    const tooDeep = `[{"event":"user:vehicle:updated","vehicle":${'{"a":'.repeat(16_000)}1${'}'.repeat(16_000)}}]`;
    const parsed = parseEventArray(bytes(tooDeep));
    expect(parsed).toEqual({ ok: false, reason: expect.stringContaining(`deeper than ${MAX_JSON_DEPTH} levels`) });
  });

  it('measures parsed values without recursion, stopping at the limit', () => {
    expect(valueNestingExceeds(nestedObjects(MAX_JSON_DEPTH))).toBe(false);
    expect(valueNestingExceeds(nestedObjects(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(valueNestingExceeds(JSON.parse(nestedArrays(20_000)))).toBe(true);
    expect(valueNestingExceeds('text')).toBe(false);
    expect(valueNestingExceeds(null)).toBe(false);
  });

  it('byte and value measures agree on any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), fc.integer({ min: 1, max: 12 }), (v, limit) => {
        const text = JSON.stringify(v);
        expect(jsonNestingExceeds(bytes(text), limit) !== undefined).toBe(valueNestingExceeds(v, limit));
      }),
    );
  });

  it('presents a too deep value as null with a note, and anything shallower as itself', () => {
    expect(presentable({ a: 1 }, 'snapshot')).toEqual({ value: { a: 1 }, note: null });
    const shown = presentable(nestedObjects(10_000), 'snapshot');
    expect(shown.value).toBeNull();
    expect(shown.note).toMatch(/^snapshot nests deeper than 64 levels/);
  });
});

const TOLERANCE_MS = 600_000;
const RECEIVED_MS = Date.UTC(2026, 2, 1, 12, 0, 0);

describe('clock skew: future-dated times never win a merge', () => {
  it('a time counts as ahead only past the tolerance', () => {
    expect(isAheadOfReceipt(RECEIVED_MS + TOLERANCE_MS, RECEIVED_MS, TOLERANCE_MS)).toBe(false);
    expect(isAheadOfReceipt(RECEIVED_MS + TOLERANCE_MS + 1, RECEIVED_MS, TOLERANCE_MS)).toBe(true);
    expect(isAheadOfReceipt(RECEIVED_MS + 1, RECEIVED_MS, 0)).toBe(true);
  });

  it('a snapshot dated 2099 is kept with its time but ranked below a present one', () => {
    const future = snapshotKey({ atMs: Date.UTC(2099, 0, 1), eventAtMs: RECEIVED_MS, discovered: false, hash: 'f' }, RECEIVED_MS, TOLERANCE_MS);
    const present = snapshotKey({ atMs: RECEIVED_MS - 60_000, eventAtMs: RECEIVED_MS, discovered: false, hash: 'p' }, RECEIVED_MS + 60_000, TOLERANCE_MS);
    const discovered = snapshotKey({ atMs: 0, eventAtMs: RECEIVED_MS, discovered: true, hash: 'd' }, RECEIVED_MS, TOLERANCE_MS);
    expect(future).toEqual({ atMs: Date.UTC(2099, 0, 1), rank: FUTURE_DATED_RANK, eventAtMs: RECEIVED_MS, hash: 'f' });
    expect(compareSnapshotKeys(present, future)).toBeGreaterThan(0);
    expect(compareSnapshotKeys(discovered, future)).toBeGreaterThan(0);
    // A createdAt in the future demotes it too (it is the next tie-breaker).
    expect(snapshotKey({ atMs: RECEIVED_MS, eventAtMs: Date.UTC(2099, 0, 1), discovered: false, hash: 'e' }, RECEIVED_MS, TOLERANCE_MS).rank).toBe(FUTURE_DATED_RANK);
  });

  it('future-dated snapshots never displace a present one, whatever the order', () => {
    const snapshot = fc.record({
      atMs: fc.oneof(fc.constant(0), fc.integer({ min: RECEIVED_MS - 86_400_000, max: Date.UTC(2100, 0, 1) })),
      eventAtMs: fc.oneof(fc.constant(0), fc.integer({ min: RECEIVED_MS - 86_400_000, max: Date.UTC(2100, 0, 1) })),
      discovered: fc.boolean(),
      hash: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 4, maxLength: 4 }),
      receivedAtMs: fc.integer({ min: RECEIVED_MS - 86_400_000, max: RECEIVED_MS + 86_400_000 }),
    });
    fc.assert(
      fc.property(fc.array(snapshot, { minLength: 1, maxLength: 12 }), (list) => {
        const keys = list.map((s) => snapshotKey(s, s.receivedAtMs, TOLERANCE_MS));
        const current = keys.reduce((a, b) => (compareSnapshotKeys(b, a) > 0 ? b : a));
        // Whatever wins over the whole set, no future-dated snapshot wins while a credible one exists.
        if (keys.some((k) => k.rank !== FUTURE_DATED_RANK)) expect(current.rank).not.toBe(FUTURE_DATED_RANK);
        // And the winner is the same for any arrival order (the fold is over a total order).
        const reversed = [...keys].reverse().reduce((a, b) => (compareSnapshotKeys(b, a) > 0 ? b : a));
        expect(compareSnapshotKeys(current, reversed)).toBe(0);
      }),
    );
  });

  it('a device whose current snapshot is future-dated yields to any deletion', () => {
    const base = { snapshotAtMs: Date.UTC(2099, 0, 1), snapshotEventAtMs: RECEIVED_MS };
    expect(isDeviceDeleted({ ...base, snapshotRank: FUTURE_DATED_RANK, deletedAtMs: RECEIVED_MS })).toBe(true);
    expect(isDeviceDeleted({ ...base, snapshotRank: 1, deletedAtMs: RECEIVED_MS })).toBe(false);
    expect(isDeviceDeleted({ ...base, snapshotRank: FUTURE_DATED_RANK, deletedAtMs: null })).toBe(false);
  });

  const version = (state: string, updatedAtMs: number, receivedAtMs: number, rawHash: string): ActionVersion => ({
    state,
    updatedAtMs,
    rawHash,
    origin: 'enode',
    futureDated: isFutureDatedVersion({ updatedAtMs }, receivedAtMs, TOLERANCE_MS),
  });

  it('an action version dated 2099 loses to a present one, terminal or not, in either order', () => {
    const futureFailed = version('FAILED', Date.UTC(2099, 0, 1), RECEIVED_MS, 'f');
    const presentPending = version('PENDING', RECEIVED_MS, RECEIVED_MS, 'p');
    const presentConfirmed = version('CONFIRMED', RECEIVED_MS + 60_000, RECEIVED_MS + 60_000, 'c');
    expect(mergeAction(presentPending, futureFailed)).toEqual({ write: 'none' });
    expect(mergeAction(futureFailed, presentPending)).toEqual({ write: 'version', origin: 'enode' });
    expect(mergeAction(futureFailed, presentConfirmed)).toEqual({ write: 'version', origin: 'enode' });
    // Within the tolerance a time ahead is still credible (clocks differ a little).
    expect(version('PENDING', RECEIVED_MS + TOLERANCE_MS, RECEIVED_MS, 'x').futureDated).toBe(false);
  });

  it('future-dated action versions never displace a present one, whatever the order', () => {
    const v = fc
      .record({
        state: fc.constantFrom('PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED'),
        updatedAtMs: fc.integer({ min: RECEIVED_MS - 3_600_000, max: Date.UTC(2100, 0, 1) }),
        receivedAtMs: fc.integer({ min: RECEIVED_MS - 3_600_000, max: RECEIVED_MS + 3_600_000 }),
        rawHash: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 4, maxLength: 4 }),
      })
      .map((r) => version(r.state, r.updatedAtMs, r.receivedAtMs, r.rawHash));
    fc.assert(
      fc.property(fc.array(v, { minLength: 1, maxLength: 10 }), fc.func(fc.integer()), (versions, shuffleKey) => {
        const fold = (list: ActionVersion[]) =>
          list.reduce<ActionVersion | undefined>((stored, incoming) => {
            const m = mergeAction(stored, incoming);
            return m.write === 'version' ? incoming : stored;
          }, undefined)!;
        const order = versions.map((x, i) => ({ x, k: shuffleKey(i) })).sort((a, b) => a.k - b.k).map((e) => e.x);
        const a = fold(versions);
        const b = fold(order);
        expect(compareActionVersions(a, b)).toBe(0);
        if (versions.some((x) => !x.futureDated)) expect(a.futureDated).toBe(false);
      }),
    );
  });
});
