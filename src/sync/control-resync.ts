/**
 * Reads what the webhooks of Enode's other levels of control may have missed (issue 17): the smart
 * charging status of every vehicle whose policy is enabled, and the status of every schedule
 * enode-sync has heard of, each applied through the funnel as the event Enode would have sent
 * (`user:vehicle:smart-charging-status-updated`, `user:schedule:execution-updated`). A status
 * already stored is a duplicate and changes nothing. Runs after a device resync.
 */
import { errorStatus, type SyncDeps } from './types.js';

/** Enode reads this needs; a client without them (a test's fake) skips the step. */
export interface ControlStatusApi {
  getSmartChargingStatus?(vehicleId: string): Promise<unknown>;
  getSchedule?(scheduleId: string): Promise<unknown>;
  getScheduleStatus?(scheduleId: string): Promise<unknown>;
}

export interface ControlResyncReport {
  smartCharging: number;
  schedules: number;
  applied: number;
  failed: number;
}

/** Whether a listed vehicle has smart charging enabled (its status is then worth reading). */
export function smartChargingEnabled(vehicle: unknown): boolean {
  const policy = (vehicle as { smartChargingPolicy?: { isEnabled?: unknown } } | null)?.smartChargingPolicy;
  return policy?.isEnabled === true;
}

export async function resyncControls(
  deps: Pick<SyncDeps, 'store' | 'logger'> & { enode: ControlStatusApi; knownSchedules: () => Promise<Array<{ id: string; userId: string }>> },
  vehicles: ReadonlyArray<{ id: string; userId: string }>,
  now: Date,
  signal: AbortSignal,
): Promise<ControlResyncReport> {
  const report: ControlResyncReport = { smartCharging: 0, schedules: 0, applied: 0, failed: 0 };
  const createdAt = now.toISOString();
  const events: unknown[] = [];
  const { getSmartChargingStatus, getSchedule, getScheduleStatus } = deps.enode;
  if (getSmartChargingStatus) {
    for (const v of vehicles) {
      if (signal.aborted) return report;
      try {
        const status = await getSmartChargingStatus.call(deps.enode, v.id);
        events.push({ event: 'user:vehicle:smart-charging-status-updated', createdAt, user: { id: v.userId }, smartChargingStatus: status, updatedFields: [] });
        report.smartCharging++;
      } catch (err) {
        if (errorStatus(err) === 404) continue; // no status for this vehicle (policy changed since the listing)
        report.failed++;
        deps.logger.warn({ err, vehicleId: v.id }, 'could not read a smart charging status; the next resync tries again');
      }
    }
  }
  if (getSchedule && getScheduleStatus) {
    let schedules: Array<{ id: string; userId: string }> = [];
    try {
      schedules = await deps.knownSchedules();
    } catch (err) {
      report.failed++;
      deps.logger.error({ err }, 'could not read the known schedules; the next resync tries again');
    }
    for (const s of schedules) {
      if (signal.aborted) return report;
      try {
        const [schedule, status] = await Promise.all([getSchedule.call(deps.enode, s.id), getScheduleStatus.call(deps.enode, s.id)]);
        events.push({ event: 'user:schedule:execution-updated', createdAt, user: { id: s.userId }, status, schedule, updatedFields: [] });
        report.schedules++;
      } catch (err) {
        if (errorStatus(err) === 404) continue; // the schedule was deleted
        report.failed++;
        deps.logger.warn({ err, scheduleId: s.id }, 'could not read a schedule status; the next resync tries again');
      }
    }
  }
  if (events.length === 0 || signal.aborted) return report;
  for (const r of await deps.store.applyEvents(events, 'poll')) {
    if ('error' in r) {
      report.failed++;
      deps.logger.error({ error: r.error }, 'a schedule or smart charging status read through the API could not be applied');
    } else if (r.outcome !== 'duplicate') report.applied++;
  }
  return report;
}
