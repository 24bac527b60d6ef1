/**
 * Alert types, the shape of a new alert, and per-sink type filters. Kept free of I/O so that the
 * configuration can validate `ALERT_*_TYPES` against the same list the outbox writes.
 */
import { createHash } from 'node:crypto';

/** Every alert type the daemon raises. */
export const ALERT_TYPES = [
  'interference.detected',
  'action.failed',
  'action.cancelled',
  'credentials.invalidated',
  'webhook.inactive',
  'webhook.reactivated',
  'delivery.failed',
  'device.fault',
  // Applying stored deliveries has failed with storage errors for too long (store/sqlite/ingestor.ts).
  'apply.stalled',
  // Enode sent events (or the watched webhook is pinned to) an API version this build does not understand.
  'webhook.version_mismatch',
] as const;

export type AlertType = (typeof ALERT_TYPES)[number];

/** Types a sink receives when its filter is not set: everything but the routine `action.cancelled`. */
export const DEFAULT_ALERT_TYPES: readonly AlertType[] = ALERT_TYPES.filter((t) => t !== 'action.cancelled');

/** True when `value` names an alert type. */
export function isAlertType(value: string): value is AlertType {
  return (ALERT_TYPES as readonly string[]).includes(value);
}

/**
 * Reads a sink's type filter from its comma-list entries: none → the defaults, `*` → every type,
 * otherwise exactly the listed types. Unknown names are returned in `unknown` so that the caller
 * can report them (a typo must not silently mute an alert).
 */
export function parseTypeFilter(entries: readonly string[]): { types: AlertType[]; unknown: string[] } {
  if (entries.length === 0) return { types: [...DEFAULT_ALERT_TYPES], unknown: [] };
  if (entries.includes('*')) return { types: [...ALERT_TYPES], unknown: entries.filter((e) => e !== '*' && !isAlertType(e)) };
  const types = ALERT_TYPES.filter((t) => entries.includes(t));
  return { types, unknown: entries.filter((e) => !isAlertType(e)) };
}

/** True when a sink with this filter takes alerts of this type. */
export function acceptsType(filter: readonly string[], type: string): boolean {
  return filter.includes(type);
}

/** An alert as raised by a fact, before the outbox stores it. */
export interface NewAlert {
  type: AlertType;
  /** Names the fact, e.g. `finding:<findingId>` or `action.failed:<actionId>`. */
  dedupeKey: string;
  deviceId: string | null;
  userId: string | null;
  /** The payload's `data` (device, user, finding/action, link to the timeline). */
  data: Record<string, unknown>;
  createdAtMs: number;
}

/** Deterministic alert id: one per fact, stable across restarts and retries. */
export function alertId(dedupeKey: string): string {
  return `alr_${createHash('sha256').update(dedupeKey).digest('hex').slice(0, 24)}`;
}

/** Why an attempt to a sink that is no longer configured is dead. */
export const SINK_GONE = 'sink no longer configured (ALERT_WEBHOOK_URLS / ALERT_SLACK_WEBHOOK_URL changed): retry it once the sink is configured again';
