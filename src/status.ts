/**
 * `enode-sync status`: what an operator checks first — counts, webhook health, last webhook and
 * heartbeat, findings, dead and held alerts — read straight from the database through the read port
 * (works with the daemon stopped, on either engine), plus the running daemon's /readyz when a URL
 * is given or the local port answers.
 */
import { SINK_HINT } from './alerts/cli.js';
import type { ReadStore, StorageInfo } from './store/read.js';

/** No webhook for this long while devices exist: probably an Enode-side problem (webhook disabled). */
const WEBHOOK_QUIET_MS = 30 * 60_000;
/** Enode sends heartbeats every few minutes; none for this long means the webhook is not getting through. */
const HEARTBEAT_QUIET_MS = 30 * 60_000;

export interface StatusReport {
  database: string;
  migrations: { applied: number; expected: number };
  devices: Record<string, number>;
  actions: Record<string, number>;
  deliveries: Record<string, number>;
  findings: Record<string, number>;
  alerts: Record<string, number>;
  lastWebhookAt: string | null;
  lastHeartbeatAt: string | null;
  /**
   * `healthy` only once a webhook has reached this database and nothing is wrong since; a database
   * that never received one is `never_delivered` (not healthy: the Enode webhook may point elsewhere).
   */
  webhook: { healthy: boolean; state: 'healthy' | 'never_delivered' | 'attention'; reasons: string[] };
  /**
   * Alerts no sink has taken: `held` with no sink configured in this environment (they wait, and go
   * out once one is), else `waiting` for the next dispatch run. `hint` says how to configure a sink.
   */
  heldAlerts: { count: number; sinksConfigured: boolean; hint: string | null };
  /** Engine-specific storage figures, where the engine has them (SQLite: file and WAL sizes). */
  storage?: StorageInfo;
  daemon?: { url: string; ready: boolean; detail: string };
}

const iso = (ms: number | null) => (ms !== null ? new Date(ms).toISOString() : null);


/**
 * Reads the report through the read port of an open, migrated database at `nowMs`; `database`
 * names it (a path, or a URL without its password); `sinksConfigured`: whether this environment
 * configures an alert sink.
 */
export async function collectStatus(read: ReadStore, database: string, nowMs: number, sinksConfigured = true): Promise<StatusReport> {
  const [gauges, migrations, storage] = await Promise.all([read.metricGauges(nowMs), read.migrations(), read.storageInfo?.()]);
  const { devicesByType: devices, lastWebhookMs: lastWebhook, lastHeartbeatMs: lastHeartbeat, deliveriesByStatus: deliveries } = gauges;
  const reasons: string[] = [];
  const hasDevices = Object.values(devices).some((n) => n > 0);
  if (lastWebhook === null) {
    reasons.push(`no webhook has reached this database yet${hasDevices ? ' although it holds devices' : ''}: check the webhook URL and secret configured at Enode`);
  } else if (nowMs - lastWebhook > WEBHOOK_QUIET_MS && hasDevices) {
    reasons.push(`no webhook for ${Math.round((nowMs - lastWebhook) / 60_000)} min`);
  }
  if (lastHeartbeat !== null && nowMs - lastHeartbeat > HEARTBEAT_QUIET_MS) {
    reasons.push(`no heartbeat for ${Math.round((nowMs - lastHeartbeat) / 60_000)} min`);
  }
  if ((deliveries.failed ?? 0) > 0) reasons.push(`${deliveries.failed} failed deliveries (replay them after a fix)`);
  const state = reasons.length === 0 ? 'healthy' : lastWebhook === null && reasons.length === 1 ? 'never_delivered' : 'attention';
  const held = gauges.alertsUnrouted;
  return {
    database,
    migrations,
    devices,
    actions: gauges.actionsByState,
    deliveries,
    findings: gauges.findingsByKind,
    alerts: gauges.alertDeliveriesByStatus,
    lastWebhookAt: iso(lastWebhook),
    lastHeartbeatAt: iso(lastHeartbeat),
    webhook: { healthy: state === 'healthy', state, reasons },
    heldAlerts: { count: held, sinksConfigured, hint: held > 0 && !sinksConfigured ? SINK_HINT : null },
    ...(storage ? { storage } : {}),
  };
}

/** Asks a running daemon whether it is ready (2 s timeout). */
export async function probeDaemon(baseUrl: string): Promise<{ url: string; ready: boolean; detail: string }> {
  const url = `${baseUrl.replace(/\/+$/, '')}/readyz`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    const text = await res.text();
    return { url, ready: res.status === 200, detail: res.status === 200 ? 'ready' : `HTTP ${res.status}: ${text.slice(0, 200)}` };
  } catch (err) {
    return { url, ready: false, detail: `not reachable (${(err as Error).message})` };
  }
}

const line = (label: string, value: string) => `${`${label}:`.padEnd(18)}${value}`;
const mb = (bytes: number | null) => (bytes === null ? 'unknown' : `${(bytes / 1_048_576).toFixed(1)} MB`);
const list = (r: Record<string, number>) => (Object.keys(r).length === 0 ? 'none' : Object.entries(r).map(([k, n]) => `${k} ${n}`).join(', '));

/** The report as a few readable lines. */
export function formatStatus(r: StatusReport): string {
  return [
    line('database', `${r.database} (migrations ${r.migrations.applied}/${r.migrations.expected})`),
    ...(r.daemon ? [line('daemon', `${r.daemon.ready ? 'ready' : 'NOT READY'} — ${r.daemon.url} ${r.daemon.ready ? '' : r.daemon.detail}`.trimEnd())] : []),
    line('webhook', r.webhook.state === 'healthy' ? 'healthy' : `${r.webhook.state === 'never_delivered' ? 'NEVER DELIVERED' : 'ATTENTION'}: ${r.webhook.reasons.join('; ')}`),
    line('last webhook', r.lastWebhookAt ?? 'never'),
    line('last heartbeat', r.lastHeartbeatAt ?? 'never'),
    line('devices', list(r.devices)),
    line('actions', list(r.actions)),
    line('deliveries', list(r.deliveries)),
    line('findings', list(r.findings)),
    line('alerts', list(r.alerts)),
    ...(r.heldAlerts.count > 0
      ? [line('held alerts', r.heldAlerts.sinksConfigured ? `${r.heldAlerts.count} waiting for the next dispatch run` : `${r.heldAlerts.count} HELD: no alert sink is configured; ${r.heldAlerts.hint}`)]
      : []),
    ...(r.storage ? [line('storage', `${mb(r.storage.databaseBytes)}${r.storage.walBytes !== null ? ` (WAL ${mb(r.storage.walBytes)})` : ''}`)] : []),
  ].join('\n');
}
