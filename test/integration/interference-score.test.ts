import { describe, expect, it } from 'vitest';
import { runInterferenceScenario } from '../support/interference-score.js';

describe('reconciler against the simulator’s ground truth', () => {
  it(
    'over a simulated day with 20 % of webhooks dropped, duplicated or reordered, flags interference with precision and recall ≥ 0.99',
    async () => {
      const score = await runInterferenceScenario({
        seed: 2,
        devices: 100,
        hours: 24,
        interferenceRate: 0.4,
        dropRate: 0.1,
        duplicateRate: 0.05,
        reorderRate: 0.05,
        commandEveryMinutes: 5,
      });
      const { mistakes, ...summary } = score;
      console.info(`interference score: ${JSON.stringify(summary)}`);
      // The faults really happened, at about the rate asked for.
      const faults = score.faults.dropped + score.faults.duplicated + score.faults.reordered;
      expect(faults / (score.faults.eventsDelivered + score.faults.dropped)).toBeGreaterThan(0.12);
      expect(score.transitions).toBeGreaterThanOrEqual(1000);
      expect(score.truePositives).toBeGreaterThan(300);
      expect(score.waiting).toBe(0);
      expect(score.precision, JSON.stringify(mistakes)).toBeGreaterThanOrEqual(0.99);
      expect(score.recall, JSON.stringify(mistakes)).toBeGreaterThanOrEqual(0.99);
    },
    240_000,
  );
});
