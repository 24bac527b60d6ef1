/**
 * The alerts raised by facts outside the reconciler: an action that failed or was cancelled,
 * invalidated credentials, a delivery that could not be applied, the Enode webhook going
 * inactive. Each builder is pure; the caller writes the alert into the fact's own transaction
 * (FunnelRepo.enqueueAlert), and each names its fact in the dedupe key, so that redeliveries and
 * replays never raise a second alert.
 */
import { presentAction } from '../api/present.js';
import type { ActionRecord } from '../domain/actions.js';
import { UNDERSTOOD_VERSION } from '../domain/payload-version.js';
import type { NewAlert } from './types.js';

/** Relative admin API links; the dispatcher makes them absolute when PUBLIC_URL is set. */
export const links = {
  timeline: (deviceId: string) => `/api/v1/devices/${encodeURIComponent(deviceId)}/timeline`,
  action: (actionId: string) => `/api/v1/actions/${encodeURIComponent(actionId)}`,
  delivery: (deliveryId: string) => `/api/v1/deliveries/${encodeURIComponent(deliveryId)}`,
};

const ACTION_ALERTS = new Map<string, NewAlert['type']>([
  ['FAILED', 'action.failed'],
  ['CANCELLED', 'action.cancelled'],
]);

/** The alert for an action version just stored, when its state is FAILED or CANCELLED. */
export function actionAlert(a: Omit<ActionRecord, 'raw' | 'rawHash' | 'updatedAtMs'>, atMs: number): NewAlert | undefined {
  const type = ACTION_ALERTS.get(a.state);
  if (!type) return undefined;
  return {
    type,
    // One alert per action and final state, whatever the redeliveries, polls and replays.
    dedupeKey: `${type}:${a.id}`,
    deviceId: a.targetId,
    userId: a.userId,
    data: {
      action: presentAction(a),
      device: { id: a.targetId, type: a.targetType, userId: a.userId },
      user: { id: a.userId },
      links: { timeline: links.timeline(a.targetId), action: links.action(a.id) },
    },
    createdAtMs: atMs,
  };
}

/** `credentials.invalidated` for a recorded system event (identified by its content hash). */
export function credentialsInvalidatedAlert(e: { hash: string; userId: string | null; vendor: string | null; createdAt: string | null; receivedAt: number }): NewAlert {
  return {
    type: 'credentials.invalidated',
    dedupeKey: `credentials.invalidated:${e.hash}`,
    deviceId: null,
    userId: e.userId,
    data: { user: e.userId === null ? null : { id: e.userId }, vendor: e.vendor, invalidatedAt: e.createdAt, links: {} },
    createdAtMs: e.receivedAt,
  };
}

/**
 * `delivery.failed` for a stored delivery whose events could not be applied. Keyed by the
 * delivery id: a replay that fails again does not alert again.
 */
export function deliveryFailedAlert(d: { id: string; error: string | null; eventCount: number }, atMs: number): NewAlert {
  return {
    type: 'delivery.failed',
    dedupeKey: `delivery.failed:${d.id}`,
    deviceId: null,
    userId: null,
    data: {
      delivery: { id: d.id, status: 'failed', error: d.error, eventCount: d.eventCount },
      links: { delivery: links.delivery(d.id), replay: `${links.delivery(d.id)}/replay` },
    },
    createdAtMs: atMs,
  };
}

/** A failure episode of the writer's apply loop (store/sqlite/ingestor.ts, APPLY_STALLED_AFTER_MS). */
export interface ApplyStalledFact {
  /** Clock ms of the episode's first storage error: names the episode. */
  sinceMs: number;
  error: string | null;
  /** Deliveries acknowledged to Enode and waiting to be applied. */
  backlog: number;
}

/**
 * `apply.stalled`: deliveries are acknowledged and stored but applying them keeps failing on the
 * storage (corrupt pages, a read-only file, a full disk). One alert per episode, keyed by its
 * start, so that the retries of one outage never raise a second one.
 */
export function applyStalledAlert(f: ApplyStalledFact, atMs: number): NewAlert {
  return {
    type: 'apply.stalled',
    dedupeKey: `apply.stalled:${f.sinceMs}`,
    deviceId: null,
    userId: null,
    data: {
      apply: { failingSince: new Date(f.sinceMs).toISOString(), error: f.error, backlog: f.backlog },
      note: 'Webhook deliveries are stored but cannot be applied: check the disk and the database file; /readyz answers 503 until it recovers.',
      links: {},
    },
    createdAtMs: atMs,
  };
}

/** What the webhook-health job knows of the Enode webhook when it alerts. */
export interface WebhookFact {
  webhookId: string;
  lastSuccess: string | null;
  atMs: number;
}

/**
 * `webhook.inactive` / `webhook.reactivated` for the Enode webhook. An episode is named by the
 * webhook's `lastSuccess` (the last delivery before Enode gave up): checks repeated during one
 * outage raise one alert each, the next outage raises new ones.
 */
export function webhookAlert(type: 'webhook.inactive' | 'webhook.reactivated', f: WebhookFact): NewAlert {
  return {
    type,
    dedupeKey: `${type}:${f.webhookId}:${f.lastSuccess ?? 'never'}`,
    deviceId: null,
    userId: null,
    data: {
      webhook: { id: f.webhookId, lastSuccess: f.lastSuccess, isActive: type === 'webhook.reactivated' },
      note:
        type === 'webhook.inactive'
          ? 'Enode disabled the webhook after failed deliveries and dropped the events it had queued; enode-sync is reactivating it and will resync devices.'
          : 'The webhook is active again; devices are being resynced to recover dropped events.',
      links: {},
    },
    createdAtMs: f.atMs,
  };
}

/** Where a foreign payload version was seen: an event of a delivery, or the watched webhook's `apiVersion`. */
export interface VersionMismatchFact {
  /** ENODE_WEBHOOK_ID, or null when none is configured (the alert is then keyed on the version alone). */
  webhookId: string | null;
  /** The foreign version as safe text (domain/payload-version.ts foreignVersion). */
  version: string;
  seenIn: 'event' | 'webhook';
  /** The event's name and its delivery (seenIn `event`). */
  event: string | null;
  deliveryId: string | null;
  atMs: number;
}

/**
 * `webhook.version_mismatch`: once per webhook and version, whatever is redelivered or checked
 * again. Events of that version are applied only where their shape is complete; the rest are
 * kept as system events (README "Payload versions").
 */
export function versionMismatchAlert(f: VersionMismatchFact): NewAlert {
  return {
    type: 'webhook.version_mismatch',
    dedupeKey: `webhook.version_mismatch:${f.webhookId ?? '-'}:${f.version}`,
    deviceId: null,
    userId: null,
    data: {
      webhook: { id: f.webhookId },
      version: f.version,
      understoodVersion: UNDERSTOOD_VERSION,
      seenIn: f.seenIn,
      event: f.event,
      deliveryId: f.deliveryId,
      note:
        `Enode sends payloads of API version ${f.version}; this build understands ${UNDERSTOOD_VERSION}. ` +
        'Events of that version are applied only where their shape is complete (a partial device snapshot is kept as a system event, never as the current snapshot). ' +
        `Pin the webhook's apiVersion to ${UNDERSTOOD_VERSION} or upgrade enode-sync.`,
      links: f.deliveryId === null ? {} : { delivery: links.delivery(f.deliveryId) },
    },
    createdAtMs: f.atMs,
  };
}
