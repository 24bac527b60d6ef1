import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { EnodeApiError, EnodeRedirectError, EnodeValidationError, errorFromResponse, MAX_UPSTREAM_TEXT, upstreamText } from '../../src/enode/errors.js';
import { EnodeClient } from '../../src/enode/index.js';
import { mapEnodeError } from '../../src/gateway/errors.js';
import { silentLogger } from '../../src/logger.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
  servers = [];
});

/** A server on a free port of 127.0.0.1 recording every request it receives. */
async function listen(handle: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      handle(req, res, s);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { seen, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

const tokenAnswer = (res: ServerResponse) => json(res, 200, { access_token: 'secret-bearer-token', expires_in: 3600, token_type: 'bearer' });

function clientFor(apiUrl: string, oauthUrl: string) {
  return new EnodeClient({
    apiUrl,
    oauthUrl,
    clientId: 'client-id',
    clientSecret: 'client-secret',
    clock: systemClock,
    logger: silentLogger(),
    baseDelayMs: 1,
    maxDelayMs: 5,
    timeoutMs: 5_000,
    sleep: async () => {},
  });
}

describe('Enode client and redirects', () => {
  it('does not follow a 307 to another origin: neither the bearer token nor the command body reaches it', async () => {
    const elsewhere = await listen((_req, res) => json(res, 200, { id: 'a1', state: 'PENDING' }));
    const enode = await listen((req, res) => {
      if (req.url === '/oauth2/token') return tokenAnswer(res);
      res.writeHead(307, { location: `${elsewhere.url}${req.url ?? '/'}` });
      res.end();
    });
    const client = clientFor(enode.url, `${enode.url}/oauth2/token`);

    const err = await client.createChargeAction('vehicle', 'v1', 'STOP').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnodeRedirectError);
    expect((err as Error).message).toMatch(/answered 307, a redirect to another origin; redirects are not followed/);
    expect((err as Error).message).not.toContain(elsewhere.url);
    expect(elsewhere.seen).toEqual([]);
    // Sent once to the configured origin, with its token; a redirect is not retried.
    expect(enode.seen.filter((s) => s.url !== '/oauth2/token')).toEqual([expect.objectContaining({ method: 'POST', authorization: 'Bearer secret-bearer-token' })]);
  });

  it('does not follow a redirect of the token request: the client secret stays with the configured origin', async () => {
    const elsewhere = await listen((_req, res) => tokenAnswer(res));
    const oauth = await listen((_req, res) => {
      res.writeHead(308, { location: `${elsewhere.url}/oauth2/token` });
      res.end();
    });
    const client = clientFor(oauth.url, `${oauth.url}/oauth2/token`);
    await expect(client.getDevice('vehicle', 'v1')).rejects.toThrow(/answered 308, a redirect to another origin/);
    expect(elsewhere.seen).toEqual([]);
    expect(oauth.seen).toHaveLength(1);
  });

  it('does not follow a redirect within the same origin either, and says so', async () => {
    const enode = await listen((req, res) => {
      if (req.url === '/oauth2/token') return tokenAnswer(res);
      if (req.url === '/moved') return json(res, 200, { id: 'v1' });
      res.writeHead(302, { location: '/moved' });
      res.end();
    });
    const client = clientFor(enode.url, `${enode.url}/oauth2/token`);
    await expect(client.getDevice('vehicle', 'v1')).rejects.toThrow(/a redirect to another path on the same origin/);
    expect(enode.seen.map((s) => s.url)).not.toContain('/moved');
  });

  it('maps a redirect to an upstream error for the gateway, quoting nothing of the Location', () => {
    const err = mapEnodeError(new EnodeRedirectError({ status: 302, method: 'POST', path: '/vehicles/v1/charging' }, 'x'));
    expect(err).toMatchObject({ code: 'UPSTREAM_ERROR', details: { enode: { status: 302 } } });
  });
});

describe("Enode's error text", () => {
  const HOSTILE = '<html><body><script>alert(1)</script>\u0007Bad\r\nInjected: yes\u202e</body></html>';

  it('is cut to a bounded length and stripped of markup and control characters before it reaches a message or an answer', () => {
    const err = errorFromResponse({ status: 400, method: 'POST', path: '/vehicles/v1/charging', body: { title: HOSTILE, detail: `${'x'.repeat(100_000)}`, type: 'https://errors/\nbad' } });
    expect(err).toBeInstanceOf(EnodeValidationError);
    for (const text of [err.message, err.problem.title ?? '', err.problem.detail ?? '', err.problem.type ?? '']) {
      expect(text).not.toMatch(/[<>\u0000-\u001f\u007f-\u009f\u202e]/);
    }
    expect(err.problem.title).toBe('alert(1) Bad Injected: yes');
    expect(err.problem.detail?.length).toBe(MAX_UPSTREAM_TEXT);
    expect(err.message.length).toBeLessThan(1_000);

    const answer = mapEnodeError(err);
    const shown = JSON.stringify({ message: answer?.message, details: answer?.details });
    expect(shown).not.toContain('<script');
    expect(shown).not.toContain('\\r\\n');
    expect(shown.length).toBeLessThan(2_000);
    expect(answer?.details).toMatchObject({ enode: { status: 400, title: 'alert(1) Bad Injected: yes' } });
    expect(err.problem.type).toBe('https://errors/ bad');
  });

  it('keeps a bounded number of issues, each with a few primitive fields', () => {
    const issues = Array.from({ length: 1_000 }, (_, i) => ({ path: ['body', `f${i}`], message: `<b>bad</b> ${'y'.repeat(1_000)}`, nested: { deep: true } }));
    const err = errorFromResponse({ status: 422, method: 'POST', path: '/p', body: { title: 'Unprocessable', issues } });
    expect(err.problem.issues).toHaveLength(10);
    expect(err.problem.issues?.[0]).toEqual({ path: ['body', 'f0'], message: expect.stringMatching(/^bad y+…$/) });
    expect(String(err.problem.issues?.[0]?.['message']).length).toBeLessThanOrEqual(200);
  });

  it('sanitises a problem given straight to an error, not only one parsed from a body', () => {
    const err = new EnodeApiError({ status: 418, method: 'GET', path: '/x', problem: { detail: 'a\u0000b<i>c</i>' } });
    expect(err.problem).toEqual({ detail: 'a b c' });
    expect(err.message).toBe('Enode GET /x failed with 418: a b c');
  });

  it('never ends a cut text on half a surrogate pair', () => {
    const cut = upstreamText('😀'.repeat(400), 11);
    expect(cut).toBe(`${'😀'.repeat(5)}…`);
  });
});
