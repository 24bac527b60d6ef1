import { Writable } from 'node:stream';
import pino from 'pino';
import { ManualClock } from '../../../src/clock.js';
import { EnodeClient, type EnodeClientOptions } from '../../../src/enode/index.js';

export const NOW = new Date('2025-03-01T12:00:00.000Z');
export const API = 'https://enode-api.test';
export const OAUTH = 'https://oauth.test/oauth2/token';
export const CLIENT_ID = 'client-id-1';
export const CLIENT_SECRET = 'super-secret-value';

export interface Call {
  method: string;
  url: URL;
  headers: Headers;
  body: string | undefined;
  signal: AbortSignal | undefined;
}

export type Handler = (call: Call) => Response | Promise<Response>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

export function problem(status: number, detail: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): Response {
  return new Response(JSON.stringify({ type: `https://developers.enode.com/api/problems/x`, title: `Title ${status}`, detail, ...extra }), {
    status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  });
}

/**
 * A scripted fake of Enode's HTTP surface: the token endpoint issues `token-1`, `token-2`, … (each
 * living `expiresIn` seconds) unless `tokenHandler` overrides it; API calls go to `handler`.
 */
export function fakeEnode(handler: Handler, opts: { expiresIn?: number; tokenHandler?: Handler } = {}) {
  const calls: Call[] = [];
  const tokenCalls: Call[] = [];
  let issued = 0;
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const call: Call = {
      method: init?.method ?? 'GET',
      url: new URL(String(input)),
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : undefined,
      signal: init?.signal ?? undefined,
    };
    if (call.url.href === OAUTH) {
      tokenCalls.push(call);
      if (opts.tokenHandler) return opts.tokenHandler(call);
      issued += 1;
      return json(200, { access_token: `token-${issued}`, expires_in: opts.expiresIn ?? 3600, scope: '', token_type: 'bearer' });
    }
    calls.push(call);
    return handler(call);
  }) as typeof fetch;
  return { fetch: fetchImpl, calls, tokenCalls };
}

/** A pino logger whose JSON lines land in `lines`. */
export function captureLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: pino({ level: 'debug' }, stream) };
}

/**
 * A client on a fixed clock whose sleep records the delay and moves the clock by it (no real
 * waiting), with jitter pinned to the top of its range.
 */
export function testClient(fetchImpl: typeof fetch, overrides: Partial<EnodeClientOptions> = {}, clock: ManualClock = new ManualClock(NOW)) {
  const sleeps: number[] = [];
  const { lines, logger } = captureLogger();
  const client = new EnodeClient({
    apiUrl: API,
    oauthUrl: OAUTH,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    clock,
    logger,
    fetch: fetchImpl,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
    random: () => 0.5,
    baseDelayMs: 100,
    maxDelayMs: 1_000,
    ...overrides,
  });
  return { client, clock, sleeps, lines };
}
