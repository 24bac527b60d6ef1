/**
 * When to ask Enode about a PENDING action whose webhook has not come. Webhooks resolve most
 * actions within a minute or two, so the first poll waits for them (an action resolved by
 * webhook costs no request); after that the wait doubles, up to half an hour.
 */
export const POLL_STEPS_MS = [2, 4, 8, 15, 30].map((minutes) => minutes * 60_000);

/** Enode gives up on an action after about 30 minutes; PENDING well past that is flagged stale. */
export const STALE_AFTER_MS = 90 * 60_000;

export interface PollState {
  /** Wall-clock ms of the last news about the action (webhook, poll result that changed it, gateway). */
  lastNewsAt: number;
  lastPolledAt: number | null;
  /** Polls since the last news. */
  pollAttempts: number;
}

/** The wait before the next poll, given how many polls found nothing new. */
export function pollStepMs(pollAttempts: number): number {
  const steps = POLL_STEPS_MS;
  return steps[Math.min(pollAttempts, steps.length - 1)] as number;
}

/** True when the action has waited its backoff step since the last news or poll. */
export function isPollDue(s: PollState, nowMs: number): boolean {
  const since = Math.max(s.lastNewsAt, s.lastPolledAt ?? 0);
  return nowMs - since >= pollStepMs(s.pollAttempts);
}

/** True for a PENDING action created so long ago that Enode can no longer be working on it. */
export function isStale(createdAtMs: number, nowMs: number): boolean {
  return nowMs - createdAtMs >= STALE_AFTER_MS;
}

/** When a full device resync is warranted by heartbeats (Enode's own view of its queue). */
export interface HeartbeatView {
  /** Wall-clock ms of the newest heartbeat received, or null when none ever came. */
  lastHeartbeatAt: number | null;
  /** Its `pendingEvents`. */
  pendingEvents: number | null;
}

/** Heartbeats reporting this many queued events mean deliveries are failing or lagging. */
export const HEARTBEAT_BACKLOG_EVENTS = 500;
/** Enode does not document the heartbeat interval; silence this long means the webhook may be dead. */
export const HEARTBEAT_SILENCE_MS = 30 * 60_000;

export function resyncReasonFromHeartbeats(h: HeartbeatView, nowMs: number, startedAtMs: number): string | null {
  if (h.pendingEvents !== null && h.pendingEvents >= HEARTBEAT_BACKLOG_EVENTS) return `heartbeat reports ${h.pendingEvents} pending events`;
  const since = h.lastHeartbeatAt ?? startedAtMs;
  if (nowMs - since >= HEARTBEAT_SILENCE_MS) {
    return h.lastHeartbeatAt === null ? 'no heartbeat since start' : `no heartbeat for ${Math.round((nowMs - since) / 60_000)} minutes`;
  }
  return null;
}
