import type { AlertMessage } from '../payload.js';

/** The outcome of one attempt to one sink. `gone`: the receiver answered 410 and wants no more. */
export type SendResult =
  | { kind: 'delivered'; status: number }
  | { kind: 'failed'; status: number | null; error: string; retryAfterMs?: number | undefined }
  | { kind: 'gone'; status: 410; error: string };

/** A place alerts go to: a signed webhook URL, Slack. */
export interface Sink {
  /** Stable across restarts (it keys `alert_deliveries.sink`) and free of secrets (it is logged and listed). */
  name: string;
  /** Alert types this sink takes. */
  types: string[];
  /** Sends one alert; never throws (every failure is a `failed` result). */
  send(alert: AlertMessage, signal: AbortSignal): Promise<SendResult>;
}

export type FetchFn = (url: string, init: RequestInit) => Promise<Response>;
