import { describe, expect, it } from 'vitest';
import { diffJson, jsonEqual } from '../../src/domain/diff.js';

describe('diffJson', () => {
  it('lists the changed leaves with dotted paths, sorted by key at each level', () => {
    const from = { a: 1, b: { c: 'x', d: [1, 2] }, z: true };
    const to = { a: 1, b: { c: 'y', d: [1, 2, 3] }, z: true };
    expect(diffJson(from, to)).toEqual([
      { path: 'b.c', from: 'x', to: 'y' },
      { path: 'b.d', from: [1, 2], to: [1, 2, 3] },
    ]);
  });

  it('equal values (whatever their key order) give no change', () => {
    expect(diffJson({ a: { x: 1, y: 2 } }, { a: { y: 2, x: 1 } })).toEqual([]);
  });

  it('a key on one side only reads as null on the other; a new object lists its leaves', () => {
    expect(diffJson({ a: 1 }, { b: { c: 2 } })).toEqual([
      { path: 'a', from: 1, to: null },
      { path: 'b', from: null, to: { c: 2 } },
    ]);
    expect(diffJson({ b: {} }, { b: { c: 2, d: null } })).toEqual([{ path: 'b.c', from: null, to: 2 }]);
  });

  it('an object replaced by a scalar (or the reverse) is one change of the whole value', () => {
    expect(diffJson({ a: { x: 1 } }, { a: 5 })).toEqual([{ path: 'a', from: { x: 1 }, to: 5 }]);
  });

  it('quotes keys that hold a dot or a bracket, so paths stay unambiguous', () => {
    expect(diffJson({ 'a.b': 1, c: { 'd[0]': 1 } }, { 'a.b': 2, c: { 'd[0]': 2 } })).toEqual([
      { path: '["a.b"]', from: 1, to: 2 },
      { path: 'c["d[0]"]', from: 1, to: 2 },
    ]);
  });

  it('jsonEqual compares structure, not identity or key order', () => {
    expect(jsonEqual([{ a: 1, b: [null] }], [{ b: [null], a: 1 }])).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(jsonEqual([1], { 0: 1 })).toBe(false);
  });
});

/** The first implementation, kept here as the reference: sorts each object's keys and walks them in that order. */
function referenceDiff(from: unknown, to: unknown): Array<{ path: string; from: unknown; to: unknown }> {
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const part = (k: string) => (/^[A-Za-z0-9_$-]+$/.test(k) ? k : `[${JSON.stringify(k)}]`);
  const join = (prefix: string, k: string) => (prefix === '' || part(k).startsWith('[') ? `${prefix}${part(k)}` : `${prefix}.${part(k)}`);
  const out: Array<{ path: string; from: unknown; to: unknown }> = [];
  const walk = (f: unknown, t: unknown, path: string): void => {
    if (isObj(f) && isObj(t)) {
      const keys = [...new Set([...Object.keys(f), ...Object.keys(t)])].sort();
      for (const k of keys) walk(Object.hasOwn(f, k) ? f[k] : null, Object.hasOwn(t, k) ? t[k] : null, join(path, k));
      return;
    }
    if (!jsonEqual(f, t)) out.push({ path, from: f === undefined ? null : f, to: t === undefined ? null : t });
  };
  walk(from, to, '');
  return out;
}

describe('diffJson against the reference implementation (property)', () => {
  it('gives the same changes, in the same order, for any two JSON values', async () => {
    const fc = (await import('fast-check')).default;
    // Few distinct keys (with dots, brackets, digits and case), so the two sides share and miss keys often.
    const key = fc.constantFrom('a', 'b', 'B', '_', '10', '2', 'a.b', 'd[0]', 'é', 'lastSeen', 'chargeState');
    const json = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, fc.constantFrom(null, true, false, 0, 1, 'x', ''), fc.array(tie('value'), { maxLength: 3 }), tie('object')),
      object: fc.dictionary(key, tie('value'), { maxKeys: 6 }),
    }));
    fc.assert(
      fc.property(json.value, json.value, (a, b) => {
        expect(diffJson(a, b)).toEqual(referenceDiff(a, b));
        // A value against an edited copy of itself: mostly equal subtrees.
        const edited = JSON.parse(JSON.stringify(a)) as unknown;
        if (edited !== null && typeof edited === 'object' && !Array.isArray(edited)) (edited as Record<string, unknown>)['b'] = b;
        expect(diffJson(a, edited)).toEqual(referenceDiff(a, edited));
      }),
      { numRuns: 2000 },
    );
  });
});
