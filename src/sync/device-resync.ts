import { resyncControls, smartChargingEnabled, type ControlStatusApi } from './control-resync.js';
import { errorStatus, type SyncDeps } from './types.js';

/** Device kinds listed by a full resync; Enode answers 404 for kinds a client has none of on some setups. */
const RESYNC_TYPES = ['vehicle', 'charger', 'hvac', 'battery', 'inverter', 'meter'] as const;
/** Devices applied per store call. Listing asks for Enode's default page size (no `pageSize`): Enode documents no maximum. */
const APPLY_BATCH = 100;

export interface ResyncReport {
  reason: string;
  devices: number;
  applied: number;
  failed: number;
  byType: Record<string, number>;
  /** True when it went through every kind of device; false when told to stop before that. */
  finished: boolean;
}

/**
 * Lists every device of the client (paginated) and applies each as an observation through the
 * funnel: recovers state whose webhooks were lost (Enode deletes queued events after a day of
 * failures). Snapshots older than what is stored do not move state back.
 *
 * Once `signal` is aborted (the job's lease was lost, or the daemon stops) it fetches no further
 * page and writes no further batch: the signal is looked at after each device, so the listing
 * ends before it asks for the next page whatever Enode's page size. What it fetched and did not
 * write yet is dropped (the next resync, on whichever replica, lists it again). An aborted
 * resync does not count as the last full one, and its report says it did not finish.
 */
export async function runDeviceResync(deps: SyncDeps, now: Date, reason: string, signal: AbortSignal = new AbortController().signal): Promise<ResyncReport> {
  const report: ResyncReport = { reason, devices: 0, applied: 0, failed: 0, byType: {}, finished: false };
  deps.logger.info({ reason }, 'device resync started');
  // Vehicles with smart charging on: their plan statuses are read after the listing.
  const smartVehicles: Array<{ id: string; userId: string }> = [];
  for (const type of RESYNC_TYPES) {
    if (signal.aborted) break;
    let batch: unknown[] = [];
    const flush = async () => {
      if (batch.length === 0 || signal.aborted) return;
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
      for await (const device of deps.enode.listDevices(type)) {
        report.devices++;
        report.byType[type] = (report.byType[type] ?? 0) + 1;
        batch.push({ event: `user:${type}:updated`, createdAt: now.toISOString(), [type]: device });
        if (type === 'vehicle' && smartChargingEnabled(device) && typeof device.userId === 'string') smartVehicles.push({ id: device.id, userId: device.userId });
        if (batch.length >= APPLY_BATCH) await flush();
        // Before asking for the next device, which at a page's end fetches the next page (Enode
        // may answer pages smaller than a batch): leaving the loop here ends the listing.
        if (signal.aborted) break;
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
  if (signal.aborted) {
    deps.logger.info(report, 'device resync stopped early: told to stop');
    return report;
  }
  const knownControls = deps.read.knownControls?.bind(deps.read) ?? (async () => []);
  const controls = await resyncControls({ store: deps.store, logger: deps.logger, enode: deps.enode as ControlStatusApi, knownControls }, smartVehicles, now, signal);
  if (controls.smartCharging + controls.schedules + controls.deleted + controls.failed > 0) deps.logger.info(controls, 'device resync read schedule and smart charging statuses');
  report.failed += controls.failed;
  if (signal.aborted) {
    deps.logger.info(report, 'device resync stopped early: told to stop');
    return report;
  }
  report.finished = true;
  deps.state.lastFullResyncAt = now.getTime();
  deps.logger.info(report, 'device resync finished');
  return report;
}
