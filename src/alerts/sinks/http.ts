import type { Clock } from '../../clock.js';
import { upstreamText } from '../../domain/upstream-text.js';
import { parseRetryAfter } from '../backoff.js';
import type { FetchFn, SendResult } from './types.js';

/** Bytes of a failed response's body kept as the delivery's `last_error`. */
const ERROR_BODY_BYTES = 300;

async function snippet(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < ERROR_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // the body is only a hint; a broken one is not a second error
  } finally {
    void reader.cancel().catch(() => {});
  }
  // The receiver's words reach the API and the dashboard: no markup, no control characters.
  return upstreamText(Buffer.concat(chunks).toString('utf8', 0, ERROR_BODY_BYTES), ERROR_BODY_BYTES);
}

function describeError(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) {
    const reason = signal.reason as { name?: string } | undefined;
    return reason?.name === 'TimeoutError' ? 'timed out' : 'aborted';
  }
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return upstreamText(cause ? `${e.message ?? 'request failed'}: ${cause}` : (e.message ?? String(err)));
}

/**
 * POSTs a JSON body and classifies the answer: 2xx delivered; 410 gone; anything else (redirects
 * included: they are not followed, a moved receiver must be reconfigured) a failure, with the
 * receiver's `Retry-After` when it gave one. Never throws.
 */
export async function postJson(o: { url: string; body: string; headers: Record<string, string>; signal: AbortSignal; fetch: FetchFn; clock: Clock }): Promise<SendResult> {
  let res: Response;
  try {
    res = await o.fetch(o.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'enode-sync-alerts', ...o.headers },
      body: o.body,
      redirect: 'manual',
      signal: o.signal,
    });
  } catch (err) {
    return { kind: 'failed', status: null, error: describeError(err, o.signal) };
  }
  if (res.status >= 200 && res.status < 300) {
    void res.body?.cancel().catch(() => {});
    return { kind: 'delivered', status: res.status };
  }
  const text = await snippet(res);
  const error = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
  if (res.status === 410) return { kind: 'gone', status: 410, error };
  return { kind: 'failed', status: res.status, error, retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), o.clock.now()) };
}
