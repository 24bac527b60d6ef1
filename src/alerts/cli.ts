import type { Store } from '../store/port.js';
import type { AlertDeliveryStatus as DeliveryStatus, ReadStore } from '../store/read.js';
import { presentAlert, presentDelivery } from './present.js';

/** What to set so that held alerts go out (also `enode-sync status`). */
export const SINK_HINT = 'configure a sink to send them: ALERT_WEBHOOK_URLS with ALERT_WEBHOOK_SECRET, or ALERT_SLACK_WEBHOOK_URL (README "Alerts")';

export const ALERTS_HELP = `Usage: enode-sync alerts <command>

  alerts list [--status pending|delivered|dead|held] [--limit N]
                        per-sink alert deliveries, most recently updated first (one JSON object a
                        line), then alerts no sink has taken yet (status "held"; with no sink
                        configured they wait, and a line on stderr says how to configure one)
  alerts retry <alertId>
                        makes the alert's dead deliveries pending again, due now, with the full
                        retry schedule; the daemon sends them at its next dispatch run

Works on $DATABASE_PATH directly. While the daemon runs, POST /api/v1/alerts/{id}/retry does the
same through it. Exit code 1 for an unknown alert or one with nothing to retry.`;

export interface AlertsCliIo {
  out(line: string): void;
  err(line: string): void;
}

const STATUSES: readonly string[] = ['pending', 'delivered', 'dead', 'held'];

/** The value after `name`; null when the flag is given without one. */
function flag(args: string[], name: string): string | undefined | null {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  return value === undefined || value.startsWith('--') ? null : value;
}

/**
 * `enode-sync alerts list|retry` on an open, migrated database (`list` reads through `read`);
 * resolves to the exit code. `sinksConfigured`: whether this environment configures an alert sink
 * (without one, held alerts come with a hint on stderr).
 */
export async function runAlertsCli(
  args: string[],
  nowMs: number,
  io: AlertsCliIo,
  ports: { read: Pick<ReadStore, 'listAlertDeliveries' | 'listHeldAlerts' | 'heldAlertCount'>; store: Pick<Store, 'alerts'>; sinksConfigured?: boolean },
): Promise<number> {
  const [command, ...rest] = args;
  if (command === 'retry') {
    const id = rest[0];
    if (!id || id.startsWith('-')) {
      io.err(ALERTS_HELP);
      return 2;
    }
    const outcome = await ports.store.alerts.retry({ alertId: id, nowMs });
    if (!outcome.found) {
      io.err(`No alert with id "${id}"`);
      return 1;
    }
    if (outcome.sinks.length === 0) {
      io.err(`Alert ${id} has no dead delivery to retry`);
      return 1;
    }
    io.out(JSON.stringify({ alertId: id, retried: outcome.sinks, nextAttemptAt: new Date(nowMs).toISOString() }));
    return 0;
  }
  if (command === 'list') {
    const status = flag(rest, '--status');
    const limitFlag = flag(rest, '--limit');
    const limitText = limitFlag === undefined ? '50' : limitFlag;
    if (status === null || (status !== undefined && !STATUSES.includes(status as DeliveryStatus)) || limitText === null || !/^\d{1,4}$/.test(limitText) || Number(limitText) < 1) {
      io.err(ALERTS_HELP);
      return 2;
    }
    const limit = Number(limitText);
    let shown = 0;
    if (status !== 'held') {
      const rows = await ports.read.listAlertDeliveries({ status: status as DeliveryStatus | undefined, limit });
      for (const row of rows.slice(0, limit)) io.out(JSON.stringify(presentDelivery(row)));
      shown = Math.min(rows.length, limit);
    }
    if (status === undefined || status === 'held') {
      // Held alerts have no per-sink delivery yet: one line each, with the alert.
      const held = shown < limit ? await ports.read.listHeldAlerts({ limit: limit - shown }) : [];
      for (const a of held.slice(0, limit - shown)) io.out(JSON.stringify({ alertId: a.id, sink: null, status: 'held', alert: presentAlert(a) }));
      const count = await ports.read.heldAlertCount();
      if (count > 0 && ports.sinksConfigured === false) io.err(`${count} alert(s) held: no alert sink is configured; ${SINK_HINT}`);
    }
    return 0;
  }
  io.err(ALERTS_HELP);
  return 2;
}
