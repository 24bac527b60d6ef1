import { and, asc, desc, eq, lt, or, type SQL } from 'drizzle-orm';
import { presentable } from '../api/safe-json.js';
import type { Db } from '../db/open.js';
import { alertDeliveries, alerts, type AlertDeliveryRow, type AlertRow } from '../db/schema.js';

export type DeliveryStatus = AlertDeliveryRow['status'];
export type DeliveryWithAlert = AlertDeliveryRow & { alert: AlertRow };

/** Reads of the outbox for the admin API and the CLI (portable SQL via drizzle). */
export function createAlertReadRepo(db: Db) {
  return {
    /** Per-sink deliveries with their alert, most recently updated first; keyset `[updatedAtMs, alertId, sink]`. */
    listDeliveries(f: { status?: DeliveryStatus | undefined; type?: string | undefined; after?: [number, string, string] | undefined; limit: number }): DeliveryWithAlert[] {
      const where: SQL[] = [];
      if (f.status) where.push(eq(alertDeliveries.status, f.status));
      if (f.type) where.push(eq(alerts.type, f.type));
      if (f.after) {
        const [ms, id, sink] = f.after;
        const d = alertDeliveries;
        where.push(or(lt(d.updatedAtMs, ms), and(eq(d.updatedAtMs, ms), or(lt(d.alertId, id), and(eq(d.alertId, id), lt(d.sink, sink))))) as SQL);
      }
      return db
        .select({ delivery: alertDeliveries, alert: alerts })
        .from(alertDeliveries)
        .innerJoin(alerts, eq(alerts.id, alertDeliveries.alertId))
        .where(and(...where))
        .orderBy(desc(alertDeliveries.updatedAtMs), desc(alertDeliveries.alertId), desc(alertDeliveries.sink))
        .limit(f.limit + 1)
        .all()
        .map((r) => ({ ...r.delivery, alert: r.alert }));
    },

    /** One alert and its deliveries (by sink); undefined when unknown. */
    getAlert(id: string): { alert: AlertRow; deliveries: AlertDeliveryRow[] } | undefined {
      const alert = db.select().from(alerts).where(eq(alerts.id, id)).get();
      if (!alert) return undefined;
      const deliveries = db.select().from(alertDeliveries).where(eq(alertDeliveries.alertId, id)).orderBy(asc(alertDeliveries.sink)).all();
      return { alert, deliveries };
    },
  };
}

export type AlertReadRepo = ReturnType<typeof createAlertReadRepo>;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * An alert as the API shows it. Data that is not JSON is shown as its text; data too deep to
 * serialise (raised before ingest limited nesting) as null with a `note`, so that the alert and
 * the pages listing it still answer.
 */
export function presentAlert(a: AlertRow) {
  return { id: a.id, type: a.type, deviceId: a.deviceId, userId: a.userId, createdAt: iso(a.createdAtMs), ...presentData(a.data) };
}

function presentData(text: string): { data: unknown; note?: string } {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return { data: text };
  }
  const shown = presentable(value, 'data');
  return shown.note === null ? { data: shown.value } : { data: null, note: shown.note };
}

/** One alert's delivery to one sink. `nextAttemptAt` only while pending. */
export function presentDeliveryState(d: AlertDeliveryRow) {
  return {
    sink: d.sink,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' ? iso(d.nextAttemptAtMs) : null,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    updatedAt: iso(d.updatedAtMs),
    deliveredAt: iso(d.deliveredAtMs),
  };
}

/** A list entry of `GET /api/v1/alerts`: one delivery, with its alert. */
export function presentDelivery(d: DeliveryWithAlert) {
  return { alertId: d.alertId, ...presentDeliveryState(d), alert: presentAlert(d.alert) };
}

/** `GET /api/v1/alerts/{id}`: the alert with `fannedOutAt` and every delivery. */
export function presentAlertDetail(r: { alert: AlertRow; deliveries: AlertDeliveryRow[] }) {
  return { ...presentAlert(r.alert), fannedOutAt: iso(r.alert.fannedOutAtMs), deliveries: r.deliveries.map(presentDeliveryState) };
}
