import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { idKey, idKeyOrNull } from '../../src/store/id-key.js';

/**
 * The same key in BigInt arithmetic, written from its definition: 32-bit FNV-1a (offset basis
 * 0x811c9dc5, prime 0x01000193) and a second pass (basis 0x050c5d1f, prime 0x5bd1e995), each
 * finished with MurmurHash3's fmix32; the low 16 bits of the second above the 32 of the first,
 * less 2^47. Keys are stored in every event row, so the function may never drift from this.
 */
function reference(id: string): bigint {
  const M32 = (1n << 32n) - 1n;
  const fnv = (basis: bigint, prime: bigint) => {
    let h = basis;
    for (let i = 0; i < id.length; i++) h = ((h ^ BigInt(id.charCodeAt(i))) * prime) & M32;
    return h;
  };
  const fmix = (h: bigint) => {
    h = ((h ^ (h >> 16n)) * 0x85ebca6bn) & M32;
    h = ((h ^ (h >> 13n)) * 0xc2b2ae35n) & M32;
    return h ^ (h >> 16n);
  };
  const a = fmix(fnv(0x811c9dc5n, 0x01000193n));
  const b = fmix(fnv(0x050c5d1fn, 0x5bd1e995n));
  return ((b & 0xffffn) << 32n) + a - (1n << 47n);
}

describe('idKey (the event log filter key on SQLite)', () => {
  it('is the 48-bit hash its definition gives, for any string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uuid(), fc.string(), fc.string({ unit: 'grapheme' })), (id) => {
        expect(BigInt(idKey(id))).toBe(reference(id));
      }),
      { numRuns: 2000 },
    );
  });

  it('is a signed integer below 2^47 in magnitude, so SQLite stores it in 6 bytes', () => {
    fc.assert(
      fc.property(fc.string(), (id) => {
        const k = idKey(id);
        expect(Number.isSafeInteger(k)).toBe(true);
        expect(k).toBeGreaterThanOrEqual(-(2 ** 47));
        expect(k).toBeLessThan(2 ** 47);
      }),
    );
  });

  it('gives 100,000 distinct ids 100,000 distinct keys, and uses both halves of the range', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => idKey(`00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`));
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.filter((k) => k < 0).length).toBeGreaterThan(45_000);
    expect(keys.filter((k) => k >= 0).length).toBeGreaterThan(45_000);
  });

  it('has no key for an absent id', () => {
    expect(idKeyOrNull(null)).toBeNull();
    expect(idKeyOrNull('v1')).toBe(idKey('v1'));
  });
});
