import { errorStatus, type SyncDeps } from './types.js';

/** Device kinds listed by a full resync; Enode answers 404 for kinds a client has none of on some setups. */
const RESYNC_TYPES = ['vehicle', 'charger', 'hvac', 'battery', 'inverter', 'meter'] as const;
const PAGE_SIZE = 100;

export interface ResyncReport {
  reason: string;
  devices: number;
  applied: number;
  failed: number;
  byType: Record<string, number>;
}

/**
 * Lists every device of the client (paginated) and applies each as an observation through the
 * funnel: recovers state whose webhooks were lost (Enode deletes queued events after a day of
 * failures). Snapshots older than what is stored do not move state back.
 */
export async function runDeviceResync(deps: SyncDeps, now: Date, reason: string): Promise<ResyncReport> {
  const report: ResyncReport = { reason, devices: 0, applied: 0, failed: 0, byType: {} };
  deps.logger.info({ reason }, 'device resync started');
  for (const type of RESYNC_TYPES) {
    let batch: unknown[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const results = await deps.store.applyEvents(batch, 'poll');
      for (const r of results) {
        if ('error' in r) {
          report.failed++;
          deps.logger.error({ error: r.error, type }, 'resynced device could not be applied');
        } else if (r.outcome === 'applied') report.applied++;
      }
      batch = [];
    };
    try {
      for await (const device of deps.enode.listDevices(type, { pageSize: PAGE_SIZE })) {
        report.devices++;
        report.byType[type] = (report.byType[type] ?? 0) + 1;
        batch.push({ event: `user:${type}:updated`, createdAt: now.toISOString(), [type]: device });
        if (batch.length >= PAGE_SIZE) await flush();
      }
      await flush();
    } catch (err) {
      await flush();
      if (errorStatus(err) === 404) continue; // this kind of device is not offered here
      deps.logger.error({ err, type }, 'device resync could not list devices; the next resync tries again');
      report.failed++;
    }
    if ((report.byType[type] ?? 0) > 0) deps.logger.info({ type, devices: report.byType[type] }, 'device resync progress');
  }
  deps.state.lastFullResyncAt = now.getTime();
  deps.logger.info(report, 'device resync finished');
  return report;
}
