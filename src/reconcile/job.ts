import type { JobSpec } from '../jobs/scheduler.js';
import type { Store } from '../store/port.js';
import type { Logger } from '../logger.js';

/** Calls per job run at most: a backlog larger than this waits for the next run (seconds later). */
const MAX_CALLS_PER_RUN = 1000;

/**
 * The reconcile job: asks the writer to reconcile due devices, one time-boxed call after another
 * (stores of incoming webhooks slot in between), until none are due.
 */
export function reconcileJob(store: Store, everySeconds: number, logger: Logger): JobSpec {
  return {
    name: 'reconcile',
    everySeconds,
    runAtStart: true,
    // Every replica reconciles: devices are claimed one by one, so two replicas never judge one device at once.
    eachReplica: true,
    // Unleased, so its signal aborts only when the daemon stops: no new call starts then.
    run: async (now, { signal }) => {
      const started = Date.now();
      let devices = 0;
      let findings = 0;
      let errors = 0;
      let deferred = false;
      for (let calls = 0; calls < MAX_CALLS_PER_RUN && !signal.aborted; calls++) {
        const r = await store.reconcile({ nowMs: now.getTime() });
        devices += r.devices;
        findings += r.findings.length;
        errors += r.errors;
        deferred = r.deferred;
        if (!r.more) break;
      }
      if (deferred) logger.debug('reconciling waits for stored deliveries to be applied first');
      if (devices > 0) logger.debug({ devices, findings, errors, ms: Date.now() - started }, 'reconciled changed devices');
      return { devices, findings, errors };
    },
  };
}
