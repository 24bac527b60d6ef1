import { HEARTBEAT_BACKLOG_EVENTS, HEARTBEAT_SILENCE_MS } from '../domain/polling.js';

export type HealthVerdict = 'ok' | 'warning' | 'problem' | 'unknown';

export interface WebhookHealthInput {
  /** Newest delivery received (epoch ms), any status. */
  lastWebhookMs: number | null;
  /** Newest `system:heartbeat` received (epoch ms). */
  lastHeartbeatMs: number | null;
  /** Enode's estimate of events queued for us, from that heartbeat. */
  pendingEvents: number | null;
}

export interface WebhookHealth {
  verdict: HealthVerdict;
  reason: string;
}

/**
 * A simple verdict on the Enode webhook for the dashboard, with the poller's thresholds
 * (domain/polling.ts): heartbeats silent for 30 min or a backlog of 500 events is a problem.
 */
export function webhookHealth(h: WebhookHealthInput, nowMs: number): WebhookHealth {
  if (h.lastWebhookMs === null && h.lastHeartbeatMs === null) {
    return { verdict: 'unknown', reason: 'nothing received yet: check the webhook URL and secret on Enode' };
  }
  if (h.pendingEvents !== null && h.pendingEvents >= HEARTBEAT_BACKLOG_EVENTS) {
    return { verdict: 'problem', reason: `Enode reports ${h.pendingEvents} events queued for this daemon` };
  }
  if (h.lastHeartbeatMs === null) {
    return { verdict: 'warning', reason: 'webhooks arrive but no heartbeat has been received yet' };
  }
  const silentMs = nowMs - h.lastHeartbeatMs;
  if (silentMs >= HEARTBEAT_SILENCE_MS) {
    return { verdict: 'problem', reason: `no heartbeat for ${Math.round(silentMs / 60_000)} minutes: Enode may be failing to deliver` };
  }
  return { verdict: 'ok', reason: 'heartbeats arrive on time' };
}
