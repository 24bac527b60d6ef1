import { isTerminal } from '../domain/actions.js';
import { isPollDue, isStale } from '../domain/polling.js';
import { parseTimeMs } from '../domain/time.js';
import type { ActionPoll } from '../store/port.js';
import { errorStatus, type ControllableType, type SyncDeps } from './types.js';

const CONTROLLABLE = new Set(['vehicle', 'charger', 'hvac', 'battery']);
/** Polls in flight at once; the client's request budget still bounds the rate. */
const CONCURRENCY = 4;

export interface PendingActionsReport {
  pending: number;
  due: number;
  polled: number;
  resolved: number;
  notFound: number;
  stale: number;
  failed: number;
  deviceRefreshes: number;
}

/**
 * Fills the gaps left by missed `user:vendor-action:updated` webhooks: GETs each PENDING action
 * whose backoff step has passed since the last news, and applies the answer through the same
 * funnel as webhooks. Terminal actions are never polled; actions resolved by webhook cost nothing.
 *
 * Once `signal` is aborted (the job's lease was lost, or the daemon stops) no further action is
 * polled. The polls already made are still recorded: they happened, and the replica now holding
 * the lease must see them, or it would poll those actions again at once.
 */
export async function runPendingActions(deps: SyncDeps, now: Date, signal: AbortSignal = new AbortController().signal): Promise<PendingActionsReport> {
  const nowMs = now.getTime();
  const pending = await deps.read.pendingActions();
  const due = pending.filter((a) => a.upstream !== 'not_found' && isPollDue(a, nowMs));
  const report: PendingActionsReport = { pending: pending.length, due: due.length, polled: 0, resolved: 0, notFound: 0, stale: 0, failed: 0, deviceRefreshes: 0 };
  const polls: ActionPoll[] = [];

  const pollOne = async (a: (typeof due)[number]) => {
    if (!CONTROLLABLE.has(a.targetType) || signal.aborted) return;
    const type = a.targetType as ControllableType;
    let upstream: ActionPoll['upstream'] = null;
    try {
      const action = await deps.enode.getAction(type, a.id);
      report.polled++;
      const [result] = await deps.store.applyEvents([{ event: 'user:vendor-action:updated', createdAt: now.toISOString(), vendorAction: action }], 'poll');
      if (result && 'error' in result) {
        report.failed++;
        deps.logger.error({ actionId: a.id, error: result.error }, 'polled action could not be applied');
      }
      const state = String(action.state ?? '');
      if (isTerminal(state)) {
        report.resolved++;
        // The device's own update was probably missed with the action's webhook: refresh it
        // (unless told to stop: the next resync, on whichever replica, catches it up).
        if (!signal.aborted) {
          report.deviceRefreshes++;
          const device = await deps.enode.getDevice(type, a.targetId);
          await deps.store.applyEvents([{ event: `user:${type}:updated`, createdAt: now.toISOString(), [type]: device }], 'poll');
        }
      } else if (isStale(parseTimeMs(a.createdAt) ?? nowMs, nowMs)) {
        upstream = 'stale';
        if (a.upstream !== 'stale') {
          report.stale++;
          deps.logger.warn({ actionId: a.id, createdAt: a.createdAt }, 'action still PENDING far past Enode’s 30-minute horizon; flagged stale');
        }
      }
    } catch (err) {
      if (errorStatus(err) === 404) {
        upstream = 'not_found';
        report.notFound++;
        deps.logger.warn({ actionId: a.id, targetType: type }, 'Enode no longer knows this PENDING action; flagged not_found and no longer polled');
      } else {
        report.failed++;
        deps.logger.warn({ err, actionId: a.id }, 'could not poll action; trying again at its next step');
      }
    }
    polls.push({ id: a.id, polledAt: nowMs, upstream });
  };

  for (let i = 0; i < due.length && !signal.aborted; i += CONCURRENCY) {
    await Promise.all(due.slice(i, i + CONCURRENCY).map(pollOne));
  }
  if (polls.length > 0) await deps.store.recordActionPolls(polls);
  if (report.due > 0) deps.logger.info(report, 'polled pending actions');
  return report;
}
