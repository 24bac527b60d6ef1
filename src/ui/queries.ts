import type { Db } from '../db/open.js';
import type { ReadRepo } from '../db/read-repo.js';

/** Alert deliveries per status (`pending`, `delivered`, `dead`), for the overview's counts. */
export function alertDeliveryCounts(db: Db): Record<string, number> {
  const rows = db.$client.prepare(`SELECT status, COUNT(*) AS n FROM alert_deliveries GROUP BY status`).all() as Array<{ status: string; n: number }>;
  const out: Record<string, number> = {};
  for (const r of rows) out[r.status] = r.n;
  return out;
}

/** When the newest webhook delivery arrived (epoch ms), any status; null before the first. */
export function lastWebhookMs(read: ReadRepo): number | null {
  return read.listDeliveries({ limit: 1 })[0]?.receivedAt ?? null;
}
