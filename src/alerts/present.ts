/** Alerts and their per-sink deliveries as the admin API, the dashboard and `alerts list` show them. */
import { presentable } from '../api/safe-json.js';
import type { AlertDeliveryRecord, AlertDeliveryWithAlert, AlertRecord } from '../store/read.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * An alert as the API shows it. Data that is not JSON is shown as its text; data too deep to
 * serialise (raised before ingest limited nesting) as null with a `note`, so that the alert and
 * the pages listing it still answer.
 */
export function presentAlert(a: AlertRecord) {
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
export function presentDeliveryState(d: AlertDeliveryRecord) {
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
export function presentDelivery(d: AlertDeliveryWithAlert) {
  return { alertId: d.alertId, ...presentDeliveryState(d), alert: presentAlert(d.alert) };
}

/** `GET /api/v1/alerts/{id}`: the alert with `fannedOutAt` and every delivery. */
export function presentAlertDetail(r: { alert: AlertRecord; deliveries: AlertDeliveryRecord[] }) {
  return { ...presentAlert(r.alert), fannedOutAt: iso(r.alert.fannedOutAtMs), deliveries: r.deliveries.map(presentDeliveryState) };
}
