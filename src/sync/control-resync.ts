/**
 * Reads what the webhooks of Enode's other levels of control may have missed (issue 17), after a
 * device resync, and applies it through the funnel as the event Enode would have sent
 * (`user:vehicle:smart-charging-status-updated`, `user:schedule:execution-updated`):
 * - the smart charging status of every vehicle whose policy is enabled, and of every vehicle a
 *   status was stored for (a policy turned off with its last webhook lost leaves a plan in force);
 * - the status of every schedule a status was stored for. A schedule Enode answers 404 for was
 *   deleted: a status in enode-sync's own state `DELETED` (disabled, asking nothing) ends the last
 *   one, so that a deleted schedule neither holds commands back nor judges changes.
 * A status already stored is a duplicate and changes nothing.
 */
import { DELETED_SCHEDULE_STATE } from '../domain/control.js';
import type { KnownControl } from '../store/read.js';
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
  /** Schedules Enode no longer knows (404), recorded as deleted. */
  deleted: number;
  applied: number;
  failed: number;
}

/** Whether a listed vehicle has smart charging enabled (its status is then worth reading). */
export function smartChargingEnabled(vehicle: unknown): boolean {
  const policy = (vehicle as { smartChargingPolicy?: { isEnabled?: unknown } } | null)?.smartChargingPolicy;
  return policy?.isEnabled === true;
}

export async function resyncControls(
  deps: Pick<SyncDeps, 'store' | 'logger'> & { enode: ControlStatusApi; knownControls: () => Promise<KnownControl[]> },
  smartVehicles: ReadonlyArray<{ id: string; userId: string }>,
  now: Date,
  signal: AbortSignal,
): Promise<ControlResyncReport> {
  const report: ControlResyncReport = { smartCharging: 0, schedules: 0, deleted: 0, applied: 0, failed: 0 };
  const createdAt = now.toISOString();
  const events: unknown[] = [];
  const { getSmartChargingStatus, getSchedule, getScheduleStatus } = deps.enode;
  let known: KnownControl[] = [];
  try {
    known = await deps.knownControls();
  } catch (err) {
    report.failed++;
    deps.logger.error({ err }, 'could not read the known schedules and smart charging; the next resync tries again');
  }
  if (getSmartChargingStatus) {
    const vehicles = new Map(smartVehicles.map((v) => [v.id, v.userId]));
    for (const c of known) if (c.source === 'smart_charging' && !vehicles.has(c.id)) vehicles.set(c.id, c.userId);
    for (const [id, userId] of vehicles) {
      if (signal.aborted) return report;
      try {
        const status = await getSmartChargingStatus.call(deps.enode, id);
        events.push({ event: 'user:vehicle:smart-charging-status-updated', createdAt, user: { id: userId }, smartChargingStatus: status, updatedFields: [] });
        report.smartCharging++;
      } catch (err) {
        if (errorStatus(err) === 404) continue; // the vehicle is gone: its deletion ends what controlled it
        report.failed++;
        deps.logger.warn({ err, vehicleId: id }, 'could not read a smart charging status; the next resync tries again');
      }
    }
  }
  if (getSchedule && getScheduleStatus) {
    for (const s of known) {
      if (s.source !== 'schedule') continue;
      if (signal.aborted) return report;
      try {
        const [schedule, status] = await Promise.all([getSchedule.call(deps.enode, s.id), getScheduleStatus.call(deps.enode, s.id)]);
        events.push({ event: 'user:schedule:execution-updated', createdAt, user: { id: s.userId }, status, schedule, updatedFields: [] });
        report.schedules++;
      } catch (err) {
        if (errorStatus(err) !== 404) {
          report.failed++;
          deps.logger.warn({ err, scheduleId: s.id }, 'could not read a schedule status; the next resync tries again');
          continue;
        }
        deps.logger.info({ scheduleId: s.id, deviceId: s.deviceId }, 'Enode no longer knows this schedule: recorded as deleted');
        events.push({
          event: 'user:schedule:execution-updated',
          createdAt,
          user: { id: s.userId },
          status: { scheduleId: s.id, changedAt: createdAt, state: DELETED_SCHEDULE_STATE, upcomingTransitions: [], smartOverride: null },
          schedule: { id: s.id, targetId: s.deviceId, isEnabled: false },
          updatedFields: [],
        });
        report.deleted++;
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
