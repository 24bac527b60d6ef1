import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeenFilter } from '../../src/store/sqlite/seen-filter.js';

describe('SeenFilter', () => {
  it('never answers no for a key it was given', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 0, maxLength: 80, unit: 'binary' }), { maxLength: 300 }), (keys) => {
        const filter = new SeenFilter();
        for (const k of keys) filter.add(k);
        return keys.every((k) => filter.mightHave(k));
      }),
    );
  });

  it('keeps every key and few false maybes as it grows past its first filter (ids and SHA-256 hex, as the intake gives it)', () => {
    const filter = new SeenFilter();
    const added = 400_000;
    for (let i = 0; i < added; i++) filter.add(i % 2 ? `d-${i}-${(i * 2654435761) >>> 0}` : (BigInt(i) * 0x9e3779b97f4a7c15n).toString(16).padStart(64, '0'));
    for (let i = 0; i < added; i += 997) expect(filter.mightHave(i % 2 ? `d-${i}-${(i * 2654435761) >>> 0}` : (BigInt(i) * 0x9e3779b97f4a7c15n).toString(16).padStart(64, '0'))).toBe(true);
    let wrong = 0;
    const probes = 50_000;
    for (let i = 0; i < probes; i++) if (filter.mightHave(`never-${i}`)) wrong++;
    expect(filter.stats().layers).toBeGreaterThan(1);
    expect(filter.stats().keys).toBe(added);
    // Under 1 % a filter once full; three filters here.
    expect(wrong / probes).toBeLessThan(0.03);
  });
});
