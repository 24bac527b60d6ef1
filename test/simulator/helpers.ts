import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';

/** A quiet, predictable simulator: no random owner activity, no interference, no ignored actions. */
export function quietSim(overrides: Partial<SimulatorOptions> = {}): Simulator {
  return createSimulator({
    seed: 42,
    devices: 20,
    userActivityRate: 0,
    interferenceRate: 0,
    noResponseRate: 0,
    incapableRate: 0,
    actionDelaySeconds: [30, 30],
    heartbeatSeconds: 0,
    ...overrides,
  });
}

export interface Api {
  token: string;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
}

/** Calls the simulator app in-process with a valid bearer token. */
/** Simulator options that send its webhooks into `events` instead of over HTTP (no receiver runs). */
export function capturedWebhooks(events: Array<Record<string, any>>): Partial<SimulatorOptions> {
  return {
    webhookUrl: 'http://receiver.test/webhooks/enode',
    webhookSecret: 'secret-secret',
    fetch: (async (_url: string, init?: RequestInit) => {
      events.push(...(JSON.parse(String(init?.body)) as Array<Record<string, any>>));
      return new Response('ok');
    }) as typeof fetch,
  };
}

/** A quiet simulator whose webhook events land in `events` (no receiver runs), with its API. */
export function capturingSim(overrides: Partial<SimulatorOptions> = {}): { s: Simulator; events: Array<Record<string, any>>; a: Api } {
  const events: Array<Record<string, any>> = [];
  const s = quietSim({ ...capturedWebhooks(events), ...overrides });
  return { s, events, a: api(s) };
}

export function api(sim: Simulator): Api {
  const token = sim.issueToken();
  return {
    token,
    async call(method, path, body, headers = {}) {
      const res = await sim.app.request(`http://sim.test${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await res.text();
      let parsed: unknown = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = text;
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
  };
}

export interface Received {
  body: Buffer;
  headers: IncomingHttpHeaders;
  events: Array<Record<string, any>>;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Status the receiver answers with (changeable during a test). */
  status: number;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 that records every webhook POST. */
export async function startReceiver(status = 200): Promise<Receiver> {
  const received: Received[] = [];
  const r: Receiver = { url: '', received, status, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let events: Array<Record<string, any>> = [];
      try {
        events = JSON.parse(body.toString('utf8'));
      } catch {
        events = [];
      }
      received.push({ body, headers: req.headers, events });
      res.statusCode = r.status;
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/enode`;
  r.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return r;
}

/** First device of a type matching a predicate (oldest first). */
export function find<T = any>(sim: Simulator, type: 'vehicle' | 'charger' | 'hvac' | 'battery', pred: (rec: any) => boolean = () => true): T {
  const rec = sim.world.all().find((r) => r.type === type && pred(r));
  if (!rec) throw new Error(`no ${type} matches`);
  return rec as T;
}
