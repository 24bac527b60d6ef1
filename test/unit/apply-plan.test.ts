import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planApply, type ApplyState } from '../../src/store/sqlite/ingestor.js';

const NOW = 100_000;
/** A burst in progress: a delivery stored 5 ms ago, 100 waiting to be applied, the oldest stored 1 s ago. */
const burst: ApplyState = { now: NOW, lastStoredAt: NOW - 5, backlog: 100, oldestQueuedAt: NOW - 1_000 };

describe('planApply: acknowledgements first, applied state never far behind', () => {
  it('has nothing to do without a backlog', () => {
    expect(planApply({ ...burst, backlog: 0 }).at).toBe(Number.POSITIVE_INFINITY);
  });

  it('applies in long slices at once when deliveries stopped arriving', () => {
    expect(planApply({ ...burst, lastStoredAt: NOW - 50 })).toEqual({ at: NOW, sliceMs: 200 });
  });

  it('applies a small backlog at once under light load', () => {
    expect(planApply({ ...burst, backlog: 4 })).toEqual({ at: NOW, sliceMs: 2 });
  });

  it('during a burst only stores, until 50 ms pass without a delivery', () => {
    expect(planApply(burst)).toEqual({ at: NOW + 45, sliceMs: 0 });
  });

  it('applies at every turn once the oldest waiting delivery has waited 10 s', () => {
    expect(planApply({ ...burst, oldestQueuedAt: NOW - 9_990 })).toEqual({ at: NOW + 10, sliceMs: 0 });
    expect(planApply({ ...burst, oldestQueuedAt: NOW - 10_000 })).toEqual({ at: NOW, sliceMs: 1 });
    // Recovered at start (stored by an earlier process): behind from the first turn.
    expect(planApply({ ...burst, oldestQueuedAt: 0 })).toEqual({ at: NOW, sliceMs: 1 });
  });

  it('never waits more than 50 ms, and gives a slice due now time to run', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        (storedAgo, backlog, oldestAgo) => {
          const plan = planApply({ now: NOW, lastStoredAt: NOW - storedAgo, backlog, oldestQueuedAt: NOW - oldestAgo });
          expect(plan.at).toBeLessThanOrEqual(NOW + 50);
          if (plan.at <= NOW) expect(plan.sliceMs).toBeGreaterThan(0);
          else expect(plan.sliceMs).toBe(0);
        },
      ),
    );
  });
});
