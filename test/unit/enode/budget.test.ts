import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { TokenBucket } from '../../../src/enode/budget.js';

const NOW = '2025-03-01T12:00:00.000Z';

function bucket(capacity: number, refillPerSecond: number) {
  const clock = new ManualClock(NOW);
  return { clock, bucket: new TokenBucket({ capacity, refillPerSecond }, clock) };
}

describe('TokenBucket', () => {
  it('starts full and refuses once empty', () => {
    const { bucket: b } = bucket(3, 1);
    expect([b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, true]);
    expect(b.tryTake()).toBe(false);
  });

  it('says exactly how long until the next token', () => {
    const { bucket: b, clock } = bucket(2, 4); // one token per 250 ms
    b.tryTake();
    expect(b.msUntilAvailable()).toBe(0);
    b.tryTake();
    expect(b.msUntilAvailable()).toBe(250);
    clock.advance(100);
    expect(b.msUntilAvailable()).toBe(150);
    expect(b.tryTake()).toBe(false);
    clock.advance(150);
    expect(b.msUntilAvailable()).toBe(0);
    expect(b.tryTake()).toBe(true);
  });

  it('refills with time but never beyond capacity', () => {
    const { bucket: b, clock } = bucket(2, 10);
    b.tryTake();
    b.tryTake();
    clock.advance(60_000);
    expect([b.tryTake(), b.tryTake(), b.tryTake()]).toEqual([true, true, false]);
  });

  it('mints no tokens when the clock steps backwards', () => {
    const { bucket: b, clock } = bucket(1, 1);
    b.tryTake();
    clock.advance(-10_000);
    expect(b.tryTake()).toBe(false);
    expect(b.msUntilAvailable()).toBe(1_000);
  });

  it('take() sleeps exactly as long as the refill needs, once', async () => {
    const { bucket: b, clock } = bucket(1, 2);
    b.tryTake();
    const sleeps: number[] = [];
    await b.take(async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
    });
    expect(sleeps).toEqual([500]);
    expect(b.tryTake()).toBe(false);
  });

  it('take() returns at once without sleeping when a token is there', async () => {
    const { bucket: b } = bucket(1, 1);
    const sleeps: number[] = [];
    await b.take(async (ms) => void sleeps.push(ms));
    expect(sleeps).toEqual([]);
  });

  it('rejects a capacity below 1 or a non-positive refill rate', () => {
    const clock = new ManualClock(NOW);
    expect(() => new TokenBucket({ capacity: 0, refillPerSecond: 1 }, clock)).toThrow(/capacity/);
    expect(() => new TokenBucket({ capacity: 1, refillPerSecond: 0 }, clock)).toThrow(/refillPerSecond/);
  });
});
