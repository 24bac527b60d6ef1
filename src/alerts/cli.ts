import type { Store } from '../store/port.js';
import type { AlertDeliveryStatus as DeliveryStatus, ReadStore } from '../store/read.js';
import { presentDelivery } from './present.js';

export const ALERTS_HELP = `Usage: enode-sync alerts <command>

  alerts list [--status pending|delivered|dead] [--limit N]
                        per-sink alert deliveries, most recently updated first (one JSON object a line)
  alerts retry <alertId>
                        makes the alert's dead deliveries pending again, due now, with the full
                        retry schedule; the daemon sends them at its next dispatch run

Works on $DATABASE_PATH directly. While the daemon runs, POST /api/v1/alerts/{id}/retry does the
same through it. Exit code 1 for an unknown alert or one with nothing to retry.`;

export interface AlertsCliIo {
  out(line: string): void;
  err(line: string): void;
}

const STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'dead'];

/** The value after `name`; null when the flag is given without one. */
function flag(args: string[], name: string): string | undefined | null {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const value = args[i + 1];
  return value === undefined || value.startsWith('--') ? null : value;
}

/** `enode-sync alerts list|retry` on an open, migrated database (`list` reads through `read`); resolves to the exit code. */
export async function runAlertsCli(args: string[], nowMs: number, io: AlertsCliIo, ports: { read: Pick<ReadStore, 'listAlertDeliveries'>; store: Pick<Store, 'alerts'> }): Promise<number> {
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
    const rows = await ports.read.listAlertDeliveries({ status: status as DeliveryStatus | undefined, limit: Number(limitText) });
    for (const row of rows.slice(0, Number(limitText))) io.out(JSON.stringify(presentDelivery(row)));
    return 0;
  }
  io.err(ALERTS_HELP);
  return 2;
}
