import { webhookAlert } from '../alerts/facts.js';
import { resyncReasonFromHeartbeats } from '../domain/polling.js';
import { runDeviceResync } from './device-resync.js';
import type { SyncDeps } from './types.js';

/** A full resync at most this often when heartbeats keep asking for one. */
const MIN_RESYNC_GAP_MS = 30 * 60_000;

export interface WebhookHealthReport {
  checked: boolean;
  isActive: boolean | null;
  reactivated: boolean;
  resynced: boolean;
}

/**
 * Watches the Enode webhook (ENODE_WEBHOOK_ID): when Enode has disabled it after failed
 * deliveries, says so loudly, reactivates it through the test endpoint, and resyncs devices to
 * recover the events Enode dropped. Each step (a call to Enode, an alert written, the resync) starts
 * only while `signal` is not aborted (the job's lease kept, the daemon not stopping).
 */
export async function runWebhookHealth(deps: SyncDeps, now: Date, signal: AbortSignal = new AbortController().signal): Promise<WebhookHealthReport> {
  const id = deps.config.enode.webhookId;
  const report: WebhookHealthReport = { checked: false, isActive: null, reactivated: false, resynced: false };
  if (!id || signal.aborted) return report;
  const webhook = await deps.enode.getWebhook(id);
  report.checked = true;
  report.isActive = webhook.isActive === true;
  if (report.isActive || signal.aborted) return report;

  const fact = { webhookId: id, lastSuccess: webhook.lastSuccess ?? null, atMs: now.getTime() };
  await raiseAlert(deps, webhookAlert('webhook.inactive', fact));
  deps.logger.error({ webhookId: id, lastSuccess: webhook.lastSuccess ?? null }, 'Enode webhook is INACTIVE: Enode gave up delivering and dropped queued events; reactivating');
  if (signal.aborted) return report;
  const test = await deps.enode.testWebhook(id);
  if (test.status !== 'SUCCESS') {
    deps.logger.error({ webhookId: id, status: test.status, description: test.description ?? null }, 'Enode webhook test failed; it stays inactive — check that this daemon is reachable at the webhook URL');
    return report;
  }
  report.reactivated = true;
  // Enode acted on the test already: the fact is recorded even when told to stop meanwhile.
  await raiseAlert(deps, webhookAlert('webhook.reactivated', fact));
  if (signal.aborted) return report;
  deps.logger.warn({ webhookId: id }, 'Enode webhook reactivated; resyncing devices to recover dropped events');
  await runDeviceResync(deps, now, 'webhook reactivated', signal);
  report.resynced = !signal.aborted;
  return report;
}

/** Writes an alert through the writer; a failure to do so is logged and does not stop the repair. */
async function raiseAlert(deps: SyncDeps, alert: ReturnType<typeof webhookAlert>): Promise<void> {
  try {
    await deps.store.alerts.raise(alert);
  } catch (err) {
    deps.logger.error({ err, type: alert.type }, 'could not record the alert; going on with the webhook repair');
  }
}

/**
 * Resyncs devices when heartbeats report a backlog or stop arriving (at most every 30 minutes);
 * the resync stops between pages once `signal` is aborted.
 */
export async function runHeartbeatWatch(deps: SyncDeps, now: Date, signal: AbortSignal = new AbortController().signal): Promise<string | null> {
  const nowMs = now.getTime();
  const last = await deps.read.lastHeartbeat();
  const reason = resyncReasonFromHeartbeats(
    { lastHeartbeatAt: last?.receivedAt ?? null, pendingEvents: last?.pendingEvents ?? null },
    nowMs,
    deps.state.startedAt,
  );
  if (!reason) return null;
  if (signal.aborted || (deps.state.lastFullResyncAt !== null && nowMs - deps.state.lastFullResyncAt < MIN_RESYNC_GAP_MS)) return null;
  // Every replica sees the same heartbeats: one of them resyncs, and none again for MIN_RESYNC_GAP_MS.
  if (deps.fleet && !(await deps.fleet.leases.acquire({ name: 'resync:lost-events', holder: deps.fleet.holder, ttlMs: MIN_RESYNC_GAP_MS, nowMs, extend: false }))) return null;
  deps.logger.warn({ reason }, 'heartbeats suggest lost events; resyncing devices');
  await runDeviceResync(deps, now, reason, signal);
  return reason;
}
