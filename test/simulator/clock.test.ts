import { describe, expect, it } from 'vitest';
import { deriveRng, Rng, SimClock } from '../../src/simulator/index.js';

describe('SimClock', () => {
  it('fires due timers in time order at their own sim time, and none early', () => {
    const clock = new SimClock('2025-01-01T00:00:00Z');
    const seen: Array<[string, string]> = [];
    clock.after(3000, () => seen.push(['c', clock.iso()]));
    clock.after(1000, () => seen.push(['a', clock.iso()]));
    clock.after(1000, () => seen.push(['b', clock.iso()]));
    const cancelled = clock.after(2000, () => seen.push(['x', clock.iso()]));
    clock.cancel(cancelled);
    clock.advance(2999);
    expect(seen).toEqual([
      ['a', '2025-01-01T00:00:01.000Z'],
      ['b', '2025-01-01T00:00:01.000Z'],
    ]);
    clock.advance(1);
    expect(seen.map(([k]) => k)).toEqual(['a', 'b', 'c']);
  });

  it('repeats every interval until cancelled, including timers scheduled while advancing', () => {
    const clock = new SimClock(0);
    let n = 0;
    const tick = clock.every(60_000, () => n++);
    clock.advance(3600_000);
    expect(n).toBe(60);
    tick.cancel();
    clock.advance(3600_000);
    expect(n).toBe(60);
  });
});

describe('Rng', () => {
  it('repeats the same sequence for the same seed and differs between streams', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(deriveRng(7, 'world').next()).not.toBe(deriveRng(7, 'ids').next());
    expect(new Rng(1).uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
