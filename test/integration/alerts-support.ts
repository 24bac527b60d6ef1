/** Alert test support: a real HTTP receiver on 127.0.0.1 (port 0), and an app with the dispatcher. */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { vi } from 'vitest';
import { createAlertDispatcher } from '../../src/alerts/dispatcher.js';
import { alertId } from '../../src/alerts/types.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { actionEvent, makeApp, makeTestApp, postWebhook, type TestApp } from '../support/fixtures.js';

export interface ReceivedRequest {
  n: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** performance.now() when the body was complete. */
  at: number;
}

/** What to answer: a status (and headers, body), or `hang` to never answer. */
export type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /** Changes the answer for the next requests. */
  answer(fn: (r: ReceivedRequest) => Answer): void;
  /** Resolves once `count` requests have arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

/** Starts a receiver; by default every request gets 200. */
export async function startReceiver(answer: (r: ReceivedRequest) => Answer = () => ({ status: 200 })): Promise<Receiver> {
  let respond = answer;
  const requests: ReceivedRequest[] = [];
  const waiters: Array<() => void> = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: ReceivedRequest = { n: requests.length + 1, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: performance.now() };
      requests.push(r);
      for (const w of waiters.splice(0)) w();
      const a = respond(r);
      if (a === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(a.status, { 'content-type': 'text/plain', ...(a.headers ?? {}) });
      res.end(a.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/alerts`,
    requests,
    answer: (fn) => {
      respond = fn;
    },
    waitFor: (count, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver got ${requests.length} of ${count} requests in ${timeoutMs} ms`)), timeoutMs);
        const check = () => {
          if (requests.length >= count) {
            clearTimeout(timer);
            resolve(requests);
          } else waiters.push(check);
        };
        check();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ── Harness: a test app with the dispatcher over its writer ──


/** A `whsec_` secret for the tests (32 bytes, base64). */
export const ALERT_SECRET = `whsec_${Buffer.from('enode-sync test signing key 32 B').toString('base64')}`;

/** An app (fresh :memory: database, manual clock) and a dispatcher with no jitter (random = 0.5). */
export function alertsApp(env: Record<string, string>, o: { logger?: Logger } = {}) {
  const t = makeTestApp({ ALERT_WEBHOOK_SECRET: ALERT_SECRET, ...env });
  const dispatcher = createAlertDispatcher({ store: t.deps.store, config: t.config.alerts, clock: t.clock, logger: o.logger ?? silentLogger(), random: () => 0.5 });
  return { t, dispatcher };
}

/** The same on the engine of this run (fixtures.ts `makeApp`). */
export async function alertsEngineApp(env: Record<string, string>, o: { logger?: Logger } = {}) {
  const t = await makeApp({ ALERT_WEBHOOK_SECRET: ALERT_SECRET, ...env });
  const dispatcher = createAlertDispatcher({ store: t.deps.store, config: t.config.alerts, clock: t.clock, logger: o.logger ?? silentLogger(), random: () => 0.5 });
  return { t, dispatcher };
}

/** Posts a FAILED action webhook; returns the id of the alert it raises. */
export async function failAction(t: Pick<TestApp, 'app' | 'deps'>, actionId: string, deliveryId?: string): Promise<string> {
  await postWebhook(t, [actionEvent(actionId, 'FAILED', 5, { failureReason: { type: 'NO_RESPONSE', detail: 'vendor did not answer' } })], { deliveryId: deliveryId ?? `d-${actionId}` });
  return alertId(`action.failed:${actionId}`);
}

/** Header values as the verifier wants them. */
export function headersOf(r: ReceivedRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * Verifies a received alert with the `standardwebhooks` verifier as a receiver would, with the
 * receiver's clock at `at` (the verifier rejects timestamps more than 5 minutes off).
 */
export function verifyAt(at: Date, r: ReceivedRequest, secret = ALERT_SECRET): unknown {
  vi.setSystemTime(at);
  try {
    return new Webhook(secret).verify(r.body, headersOf(r));
  } finally {
    vi.useRealTimers();
  }
}
