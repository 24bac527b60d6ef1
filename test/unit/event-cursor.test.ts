import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEventCursor, encodeEventCursor } from '../../src/events/cursor.js';

describe('event cursor', () => {
  it('round-trips every position', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (p) => decodeEventCursor(encodeEventCursor(p)) === p));
  });

  it('sorts as a string in position order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (a, b) => {
        const [x, y] = [encodeEventCursor(a), encodeEventCursor(b)];
        return Math.sign(a - b) === (x < y ? -1 : x > y ? 1 : 0);
      }),
    );
    expect(encodeEventCursor(9) < encodeEventCursor(10)).toBe(true);
    expect(encodeEventCursor(35) < encodeEventCursor(36)).toBe(true);
  });

  it('refuses what it did not make', () => {
    for (const bad of ['', 'ev1_', 'ev1_0000000000', 'ev1_000000000001', 'ev1_0000000000A', 'ev2_00000000001', 'WzFd', 'ev1_zzzzzzzzzzz']) {
      expect(decodeEventCursor(bad)).toBeUndefined();
    }
    expect(() => encodeEventCursor(-1)).toThrow(RangeError);
    expect(() => encodeEventCursor(1.5)).toThrow(RangeError);
  });
});
