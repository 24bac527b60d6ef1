import type { JobSpec } from '../jobs/scheduler.js';
import { runDeviceResync } from './device-resync.js';
import { runPendingActions } from './pending-actions.js';
import type { SyncDeps } from './types.js';
import { runHeartbeatWatch, runWebhookHealth } from './webhook-health.js';

/** How often heartbeats are looked at (cheap: one local query). */
const HEARTBEAT_WATCH_SECONDS = 60;

/** The gap-filling jobs and their schedule, from the configuration. */
export function syncJobs(deps: SyncDeps): JobSpec[] {
  const jobs: JobSpec[] = [
    { name: 'pending-actions', everySeconds: deps.config.pollIntervalSeconds, run: (now, { signal }) => runPendingActions(deps, now, signal) },
    {
      name: 'device-resync',
      everySeconds: deps.config.resyncIntervalMinutes * 60,
      runAtStart: true,
      run: (now, { signal }) => runDeviceResync(deps, now, 'scheduled', signal),
    },
    { name: 'heartbeat-watch', everySeconds: HEARTBEAT_WATCH_SECONDS, run: (now, { signal }) => runHeartbeatWatch(deps, now, signal) },
  ];
  if (deps.config.enode.webhookId) {
    jobs.push({ name: 'webhook-health', everySeconds: deps.config.webhookHealthIntervalSeconds, runAtStart: true, run: (now, { signal }) => runWebhookHealth(deps, now, signal) });
  }
  return jobs;
}
