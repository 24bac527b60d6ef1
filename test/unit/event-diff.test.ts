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
