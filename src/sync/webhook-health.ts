import { versionMismatchAlert, webhookAlert } from '../alerts/facts.js';
import { foreignVersion, UNDERSTOOD_VERSION } from '../domain/payload-version.js';
import { resyncReasonFromHeartbeats } from '../domain/polling.js';
import { runDeviceResync } from './device-resync.js';
import type { SyncDeps } from './types.js';
import type { NewAlert } from '../alerts/types.js';

/** A full resync at most this often when heartbeats keep asking for one. */
const MIN_RESYNC_GAP_MS = 30 * 60_000;
/** The lease under which one replica resyncs when heartbeats suggest lost events. */
const LOST_EVENTS_LEASE = 'resync:lost-events';

export interface WebhookHealthReport {
  checked: boolean;
  isActive: boolean | null;
  reactivated: boolean;
  resynced: boolean;
}

/**
 * A resync owed for events Enode dropped while its webhook was inactive, as a row of the leases
 * table: owed while the row is held (by this one holder name, shared by every replica), settled
 * when a resync finishes and gives it back. It outlives a run told to stop after the reactivation
 * (a deploy's SIGTERM, a lost job lease) or killed, so the next run, on any replica, resyncs
 * though it finds the webhook active again. A row, not a flag in memory: the next run may be
 * another replica's. A week: far beyond any replica's next webhook health run, but finite.
 */
const OWED_RESYNC = { name: 'resync:owed:webhook-reactivated', holder: 'owed' } as const;
const OWED_RESYNC_TTL_MS = 7 * 24 * 3_600_000;

/**
 * Watches the Enode webhook (ENODE_WEBHOOK_ID): when Enode has disabled it after failed
 * deliveries, says so loudly, reactivates it through the test endpoint, and resyncs devices to
 * recover the events Enode dropped. Each step (a call to Enode, an alert written, the resync) starts
 * only while `signal` is not aborted (the job's lease kept, the daemon not stopping). The resync
 * is owed from the moment the webhook is found inactive until one finishes: a run that finds it
 * active makes a resync still owed.
 */
export async function runWebhookHealth(deps: SyncDeps, now: Date, signal: AbortSignal = new AbortController().signal): Promise<WebhookHealthReport> {
  const id = deps.config.enode.webhookId;
  const report: WebhookHealthReport = { checked: false, isActive: null, reactivated: false, resynced: false };
  if (!id || signal.aborted) return report;
  const webhook = await deps.enode.getWebhook(id);
  report.checked = true;
  report.isActive = webhook.isActive === true;
  if (signal.aborted) return report;
  await checkApiVersion(deps, id, webhook.apiVersion, now);
  if (signal.aborted) return report;
  if (report.isActive) {
    if (!(await resyncIsOwed(deps, now))) return report;
    deps.logger.warn({ webhookId: id }, 'a resync for events Enode dropped is still owed (an earlier run stopped before it finished); resyncing devices');
  } else {
    report.reactivated = await reactivate(deps, id, webhook, now, signal);
    if (!report.reactivated || signal.aborted) return report;
    deps.logger.warn({ webhookId: id }, 'Enode webhook reactivated; resyncing devices to recover dropped events');
  }
  report.resynced = await settleOwedResync(deps, now, signal);
  return report;
}

/**
 * A webhook pinned to an API version this build does not understand: the same alert as an event
 * of that version raises (once per webhook and version), and a warning on every check. Null
 * `apiVersion` (not pinned: the client's default applies) cannot be judged here; the events'
 * own `version` is checked as they arrive.
 */
async function checkApiVersion(deps: SyncDeps, id: string, apiVersion: string | null | undefined, now: Date): Promise<void> {
  const foreign = foreignVersion(apiVersion);
  if (foreign === null) return;
  deps.logger.warn(
    { webhookId: id, apiVersion: foreign, understoodVersion: UNDERSTOOD_VERSION },
    `the Enode webhook is pinned to API version ${foreign}, this build understands ${UNDERSTOOD_VERSION}: events are applied only where their shape is complete`,
  );
  await raiseAlert(deps, versionMismatchAlert({ webhookId: id, version: foreign, seenIn: 'webhook', event: null, deliveryId: null, atMs: now.getTime() }));
}

/** Records the owed resync, raises the alerts and reactivates the webhook; true once Enode did. */
async function reactivate(deps: SyncDeps, id: string, webhook: { lastSuccess?: string | null | undefined }, now: Date, signal: AbortSignal): Promise<boolean> {
  const fact = { webhookId: id, lastSuccess: webhook.lastSuccess ?? null, atMs: now.getTime() };
  // Before the test call: once Enode reactivates the webhook, nothing else says events were lost.
  await oweResync(deps, now);
  await raiseAlert(deps, webhookAlert('webhook.inactive', fact));
  deps.logger.error({ webhookId: id, lastSuccess: webhook.lastSuccess ?? null }, 'Enode webhook is INACTIVE: Enode gave up delivering and dropped queued events; reactivating');
  if (signal.aborted) return false;
  const test = await deps.enode.testWebhook(id);
  if (test.status !== 'SUCCESS') {
    deps.logger.error({ webhookId: id, status: test.status, description: test.description ?? null }, 'Enode webhook test failed; it stays inactive — check that this daemon is reachable at the webhook URL');
    return false;
  }
  // Enode acted on the test already: the fact is recorded even when told to stop meanwhile.
  await raiseAlert(deps, webhookAlert('webhook.reactivated', fact));
  return true;
}

/** Takes or extends the owed-resync row; a failure is logged and does not stop the repair. */
async function oweResync(deps: SyncDeps, now: Date): Promise<void> {
  try {
    await deps.store.leases.acquire({ ...OWED_RESYNC, ttlMs: OWED_RESYNC_TTL_MS, nowMs: now.getTime(), extend: true });
  } catch (err) {
    deps.logger.error({ err }, 'could not record that a resync is owed; this run still resyncs unless told to stop');
  }
}

/**
 * The leases port has no read: a take of no length is the question. It is refused while the
 * row is held (owed); granted, it has lapsed at once and changes nothing. It asks under the
 * row's own holder name, so a replica recording an owed resync meanwhile extends it either way.
 */
async function resyncIsOwed(deps: SyncDeps, now: Date): Promise<boolean> {
  return (await deps.store.leases.acquire({ ...OWED_RESYNC, ttlMs: 0, nowMs: now.getTime(), extend: false })) === null;
}

/** Resyncs; once the resync finished (not told to stop), it is owed no more. True then. */
async function settleOwedResync(deps: SyncDeps, now: Date, signal: AbortSignal): Promise<boolean> {
  const resync = await runDeviceResync(deps, now, 'webhook reactivated', signal);
  if (!resync.finished) return false;
  await deps.store.leases.release({ ...OWED_RESYNC, nowMs: deps.clock.now().getTime() });
  return true;
}

/** Writes an alert through the writer; a failure to do so is logged and does not stop the repair. */
async function raiseAlert(deps: SyncDeps, alert: NewAlert): Promise<void> {
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
  if (deps.fleet && !(await deps.fleet.leases.acquire({ name: LOST_EVENTS_LEASE, holder: deps.fleet.holder, ttlMs: MIN_RESYNC_GAP_MS, nowMs, extend: false }))) return null;
  deps.logger.warn({ reason }, 'heartbeats suggest lost events; resyncing devices');
  let finished = false;
  try {
    finished = (await runDeviceResync(deps, now, reason, signal)).finished;
  } finally {
    // A resync told to stop (a deploy's SIGTERM, a lost job lease) or failed recovered nothing
    // for sure: the lease is given back, so the next heartbeat watch, on any replica, resyncs
    // instead of none for MIN_RESYNC_GAP_MS.
    if (!finished) await releaseLostEventsLease(deps);
  }
  return reason;
}

/** Gives the lost-events lease back; a failure is logged (the lease then lapses by itself). */
async function releaseLostEventsLease(deps: SyncDeps): Promise<void> {
  if (!deps.fleet) return;
  try {
    await deps.fleet.leases.release({ name: LOST_EVENTS_LEASE, holder: deps.fleet.holder, nowMs: deps.clock.now().getTime() });
  } catch (err) {
    deps.logger.warn({ err }, 'could not give back the lost-events resync lease; no replica resyncs for lost events until it lapses');
  }
}
