import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonical } from '../../src/domain/transitions.js';

/** The definition canonical() keeps to: JSON.stringify with every object's keys sorted. */
const byReplacer = (value: unknown) =>
  JSON.stringify(value, (_key, v: unknown) => {
    if (v === undefined || v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });

describe('canonical', () => {
  it('is JSON.stringify with sorted keys, for any value', () => {
    fc.assert(
      fc.property(fc.anything({ withDate: true, withNullPrototype: true, withObjectString: true, withSparseArray: true }), (v) => {
        expect(canonical(v)).toBe(byReplacer(v));
      }),
      { numRuns: 5_000 },
    );
  });

  it('orders keys, keeps "__proto__" as data, applies toJSON and drops what JSON drops', () => {
    // A computed "__proto__" key is an own property, as JSON.parse makes it.
    const v = { b: 1, a: { d: [1, { z: 2, y: undefined }], c: new Date(0) }, ['__proto__']: { x: 1 }, f: () => 1 };
    expect(canonical(v)).toBe('{"__proto__":{"x":1},"a":{"c":"1970-01-01T00:00:00.000Z","d":[1,{"z":2}]},"b":1}');
    expect(canonical(v)).toBe(byReplacer(v));
  });
});
