/**
 * `enode-sync status`: what an operator checks first — counts, webhook health, last webhook and
 * heartbeat, findings and dead alerts — read straight from the database (works with the daemon
 * stopped), plus the running daemon's /readyz when a URL is given or the local port answers.
 */
import { migrationStatus } from './db/migrate.js';
import type { Db } from './db/open.js';

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
  webhook: { healthy: boolean; reasons: string[] };
  daemon?: { url: string; ready: boolean; detail: string };
}

function grouped(db: Db, sql: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of db.$client.prepare(sql).all() as Array<{ k: string; n: number }>) out[r.k] = r.n;
  return out;
}

const iso = (ms: unknown) => (typeof ms === 'number' ? new Date(ms).toISOString() : null);

/** Reads the report from an open, migrated database at `nowMs`. */
export function collectStatus(db: Db, databasePath: string, nowMs: number): StatusReport {
  const lastWebhook = db.$client.prepare(`SELECT MAX(received_at) FROM deliveries`).pluck().get();
  const lastHeartbeat = db.$client.prepare(`SELECT MAX(received_at) FROM system_events WHERE event = 'system:heartbeat'`).pluck().get();
  const devices = grouped(db, `SELECT type AS k, COUNT(*) AS n FROM devices GROUP BY type`);
  const reasons: string[] = [];
  const hasDevices = Object.values(devices).some((n) => n > 0);
  if (typeof lastWebhook !== 'number') {
    if (hasDevices) reasons.push('no webhook received yet');
  } else if (nowMs - lastWebhook > WEBHOOK_QUIET_MS && hasDevices) {
    reasons.push(`no webhook for ${Math.round((nowMs - lastWebhook) / 60_000)} min`);
  }
  if (typeof lastHeartbeat === 'number' && nowMs - lastHeartbeat > HEARTBEAT_QUIET_MS) {
    reasons.push(`no heartbeat for ${Math.round((nowMs - lastHeartbeat) / 60_000)} min`);
  }
  const deliveries = grouped(db, `SELECT status AS k, COUNT(*) AS n FROM deliveries GROUP BY status`);
  if ((deliveries.failed ?? 0) > 0) reasons.push(`${deliveries.failed} failed deliveries (replay them after a fix)`);
  return {
    database: databasePath,
    migrations: migrationStatus(db),
    devices,
    actions: grouped(db, `SELECT state AS k, COUNT(*) AS n FROM actions GROUP BY state`),
    deliveries,
    findings: grouped(db, `SELECT kind AS k, COUNT(*) AS n FROM findings GROUP BY kind`),
    alerts: grouped(db, `SELECT status AS k, COUNT(*) AS n FROM alert_deliveries GROUP BY status`),
    lastWebhookAt: iso(lastWebhook),
    lastHeartbeatAt: iso(lastHeartbeat),
    webhook: { healthy: reasons.length === 0, reasons },
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
const list = (r: Record<string, number>) => (Object.keys(r).length === 0 ? 'none' : Object.entries(r).map(([k, n]) => `${k} ${n}`).join(', '));

/** The report as a few readable lines. */
export function formatStatus(r: StatusReport): string {
  return [
    line('database', `${r.database} (migrations ${r.migrations.applied}/${r.migrations.expected})`),
    ...(r.daemon ? [line('daemon', `${r.daemon.ready ? 'ready' : 'NOT READY'} — ${r.daemon.url} ${r.daemon.ready ? '' : r.daemon.detail}`.trimEnd())] : []),
    line('webhook', r.webhook.healthy ? 'healthy' : `ATTENTION: ${r.webhook.reasons.join('; ')}`),
    line('last webhook', r.lastWebhookAt ?? 'never'),
    line('last heartbeat', r.lastHeartbeatAt ?? 'never'),
    line('devices', list(r.devices)),
    line('actions', list(r.actions)),
    line('deliveries', list(r.deliveries)),
    line('findings', list(r.findings)),
    line('alerts', list(r.alerts)),
  ].join('\n');
}
