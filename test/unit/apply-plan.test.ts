import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planApply, type ApplyState } from '../../src/ingest/ingestor.js';

const NOW = 100_000;
/** A burst in progress: a delivery stored 5 ms ago, 100 waiting (the oldest stored 1 s ago), the last slice 5 ms ago. */
const burst: ApplyState = { now: NOW, lastStoredAt: NOW - 5, lastAppliedAt: NOW - 5, backlog: 100, oldestQueuedAt: NOW - 1_000 };

describe('planApply: acknowledgements first, applied state never far behind', () => {
  it('has nothing to do without a backlog', () => {
    expect(planApply({ ...burst, backlog: 0 }).at).toBe(Number.POSITIVE_INFINITY);
  });

  it('applies in long slices at once when deliveries stopped arriving', () => {
    expect(planApply({ ...burst, lastStoredAt: NOW - 50 })).toEqual({ at: NOW, sliceMs: 50 });
  });

  it('applies a small backlog at once under light load', () => {
    expect(planApply({ ...burst, backlog: 4 })).toEqual({ at: NOW, sliceMs: 2 });
  });

  it('during a burst waits for the next slot, 20 ms after the last slice', () => {
    expect(planApply(burst)).toEqual({ at: NOW + 15, sliceMs: 2 });
    expect(planApply({ ...burst, lastAppliedAt: NOW - 20 })).toEqual({ at: NOW, sliceMs: 2 });
  });

  it('does not wait past the end of the burst', () => {
    expect(planApply({ ...burst, lastStoredAt: NOW - 45, lastAppliedAt: NOW - 1 })).toEqual({ at: NOW + 5, sliceMs: 2 });
  });

  it('applies at every turn once the oldest waiting delivery has waited 10 s', () => {
    expect(planApply({ ...burst, oldestQueuedAt: NOW - 10_000 })).toEqual({ at: NOW, sliceMs: 1 });
    // Recovered at start (stored by an earlier process): behind from the first turn.
    expect(planApply({ ...burst, oldestQueuedAt: 0 })).toEqual({ at: NOW, sliceMs: 1 });
  });

  it('never plans a slice later than 50 ms ahead, nor one without time to run', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        (storedAgo, appliedAgo, backlog, oldestAgo) => {
          const plan = planApply({ now: NOW, lastStoredAt: NOW - storedAgo, lastAppliedAt: NOW - appliedAgo, backlog, oldestQueuedAt: NOW - oldestAgo });
          expect(plan.at).toBeGreaterThanOrEqual(NOW - 100);
          expect(plan.at).toBeLessThanOrEqual(NOW + 50);
          expect(plan.sliceMs).toBeGreaterThan(0);
        },
      ),
    );
  });
});
