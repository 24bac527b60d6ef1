import { describe, expect, it } from 'vitest';
import { testEngine } from '../support/fixtures.js';
import { runInterferenceScenario } from '../support/interference-score.js';

/**
 * The whole simulated day on SQLite (15–40 s here). Postgres applies the same events several
 * times slower on this machine (the whole day took 3 to 6 minutes), so in the normal run it scores
 * the first two hours of the same day (15–30 s, over 100 judged transitions) and the whole day
 * with `PROOF_LONG=1` (npm run test:long).
 */
const WHOLE_DAY = testEngine() === 'sqlite' || process.env['PROOF_LONG'] === '1';
const HOURS = WHOLE_DAY ? 24 : 2;
/** Judged transitions and true findings expected at least: about proportional to the hours run. */
const MIN_TRANSITIONS = WHOLE_DAY ? 1000 : 100;
const MIN_TRUE_POSITIVES = WHOLE_DAY ? 300 : 30;
const TIMEOUT_MS = testEngine() === 'sqlite' ? 240_000 : WHOLE_DAY ? 900_000 : 120_000;

describe('reconciler against the simulator’s ground truth', () => {
  it(
    `over a simulated day (${HOURS} h of it) with 20 % of webhooks dropped, duplicated or reordered, flags interference with precision and recall ≥ 0.99`,
    async () => {
      const score = await runInterferenceScenario({
        seed: 2,
        devices: 100,
        hours: HOURS,
        interferenceRate: 0.4,
        dropRate: 0.1,
        duplicateRate: 0.05,
        reorderRate: 0.05,
        commandEveryMinutes: 5,
      });
      const { mistakes, ...summary } = score;
      console.info(`interference score [${testEngine()}, ${HOURS} h]: ${JSON.stringify(summary)}`);
      // The faults really happened, at about the rate asked for.
      const faults = score.faults.dropped + score.faults.duplicated + score.faults.reordered;
      expect(faults / (score.faults.eventsDelivered + score.faults.dropped)).toBeGreaterThan(0.12);
      expect(score.transitions).toBeGreaterThanOrEqual(MIN_TRANSITIONS);
      expect(score.truePositives).toBeGreaterThan(MIN_TRUE_POSITIVES);
      expect(score.waiting).toBe(0);
      expect(score.precision, JSON.stringify(mistakes)).toBeGreaterThanOrEqual(0.99);
      expect(score.recall, JSON.stringify(mistakes)).toBeGreaterThanOrEqual(0.99);
    },
    TIMEOUT_MS,
  );

  it(
    `with Enode Schedules on a fifth of the devices and smart charging on a third of the vehicles (${HOURS} h), their changes are own automation and interference still scores ≥ 0.99`,
    async () => {
      const score = await runInterferenceScenario({
        seed: 5,
        devices: 100,
        hours: HOURS,
        interferenceRate: 0.4,
        dropRate: 0.1,
        duplicateRate: 0.05,
        reorderRate: 0.05,
        commandEveryMinutes: 5,
        schedulesShare: 0.2,
        smartChargingShare: 0.35,
      });
      const { mistakes, ...summary } = score;
      console.info(`interference score with schedules and smart charging [${testEngine()}, ${HOURS} h]: ${JSON.stringify(summary)}`);
      // The automation really acted: its changes are in the truth, and the daemon judged them.
      expect(score.automationChanges).toBeGreaterThan(WHOLE_DAY ? 50 : 5);
      expect(score.automationExplained).toBeGreaterThan(WHOLE_DAY ? 50 : 5);
      // Over a whole day every level shows up explained: schedules, plans and the fleet's own smart overrides.
      if (WHOLE_DAY) expect(Object.keys(score.automationByCause).sort()).toEqual(['enode_schedule', 'smart_charging_plan', 'smart_override']);
      expect(score.transitions).toBeGreaterThanOrEqual(MIN_TRANSITIONS);
      expect(score.truePositives).toBeGreaterThan(MIN_TRUE_POSITIVES);
      expect(score.waiting).toBe(0);
      expect(score.precision, JSON.stringify(mistakes)).toBeGreaterThanOrEqual(0.99);
      expect(score.recall, JSON.stringify(mistakes)).toBeGreaterThanOrEqual(0.99);
    },
    TIMEOUT_MS,
  );
});
