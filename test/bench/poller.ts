import { runDropScenario, setupSyncHarness } from '../support/sync-harness.js';

const POLL_INTERVAL_MS = 30_000;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/**
 * The poller under 20 % webhook drops, against the simulator in-process (simulated time): how
 * many requests each action costs and how long a missed resolution takes to reach the daemon,
 * in multiples of the poll interval.
 */
export async function pollerBench(o: { devices: number; hours: number; seed: number }) {
  const s = setupSyncHarness({ dropRate: 0.2, devices: o.devices, seed: o.seed });
  const outcomes = await runDropScenario(s, { hours: o.hours, settleHours: 2 });
  const missed = outcomes.filter((x) => x.missedResolution);
  const byWebhook = outcomes.filter((x) => !x.missedResolution);
  const lags = missed
    .filter((x) => x.daemonResolvedAtMs !== null && x.completedAtMs !== null)
    .map((x) => ((x.daemonResolvedAtMs as number) - (x.completedAtMs as number)) / POLL_INTERVAL_MS)
    .sort((a, b) => a - b);
  return {
    actions: outcomes.length,
    correct: outcomes.filter((x) => x.daemonState === x.trueState).length,
    missed: missed.length,
    getsPerMissed: missed.reduce((n, x) => n + x.gets, 0) / Math.max(1, missed.length),
    getsPerWebhookResolved: byWebhook.reduce((n, x) => n + x.gets, 0) / Math.max(1, byWebhook.length),
    webhookResolvedWithoutRequest: byWebhook.filter((x) => x.gets === 0).length / Math.max(1, byWebhook.length),
    requestsPerAction: s.requests() / Math.max(1, outcomes.length),
    lagInPollIntervals: { p50: quantile(lags, 0.5), p90: quantile(lags, 0.9), max: lags[lags.length - 1] ?? Number.NaN },
  };
}
