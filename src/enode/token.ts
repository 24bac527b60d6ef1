import { z } from 'zod';
import type { Clock } from '../clock.js';
import { EnodeApiError, EnodeAuthError, parseProblem } from './errors.js';
import type { Send } from './transport.js';

/** A token as the token endpoint issued it. */
export interface IssuedToken {
  accessToken: string;
  expiresInSeconds: number;
}

/** Fetches a fresh token (one HTTP call to the OAuth endpoint). */
export type FetchToken = () => Promise<IssuedToken>;

const MAX_REFRESH_MARGIN_MS = 60_000;

/**
 * How long before expiry a token counts as stale: 10 % of its lifetime, at most 60 s. Refreshing
 * early keeps a request that starts just before expiry from reaching Enode with a dead token.
 */
export function refreshMarginMs(lifetimeMs: number): number {
  return Math.max(0, Math.min(MAX_REFRESH_MARGIN_MS, lifetimeMs * 0.1));
}

/**
 * Caches the client-credentials token and refreshes it before expiry. Single-flight: concurrent
 * callers during a refresh share that one request, so a burst of jobs costs one token call.
 */
export class TokenCache {
  private current: { value: string; refreshAtMs: number } | null = null;
  private inflight: Promise<string> | null = null;

  constructor(
    private readonly fetchToken: FetchToken,
    private readonly clock: Clock,
  ) {}

  /** A token valid for a while yet; fetches one when there is none or it is about to expire. */
  getToken(): Promise<string> {
    const cur = this.current;
    if (cur && this.clock.now().getTime() < cur.refreshAtMs) return Promise.resolve(cur.value);
    this.inflight ??= this.refresh().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /**
   * Forgets the cached token after Enode rejected it (401: revoked, or expired early). Passing the
   * rejected token makes this a no-op when another caller already replaced it, so a burst of 401s
   * triggers one refresh, not one each.
   */
  invalidate(rejected?: string): void {
    if (rejected === undefined || this.current?.value === rejected) this.current = null;
  }

  private async refresh(): Promise<string> {
    // Count the lifetime from before the request: the server's clock started while it was in flight.
    const requestedAtMs = this.clock.now().getTime();
    const issued = await this.fetchToken();
    const lifetimeMs = issued.expiresInSeconds * 1000;
    this.current = { value: issued.accessToken, refreshAtMs: requestedAtMs + lifetimeMs - refreshMarginMs(lifetimeMs) };
    return issued.accessToken;
  }
}

const tokenResponse = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
  token_type: z.string().optional(),
});

export interface ClientCredentials {
  /** Full token endpoint URL, e.g. `https://oauth.sandbox.enode.io/oauth2/token`. */
  oauthUrl: string;
  clientId: string;
  clientSecret: string;
}

/**
 * The OAuth2 client-credentials call (REFERENCE §4.2): POST with HTTP Basic `clientId:clientSecret`
 * and the form `grant_type=client_credentials`. Any 4xx becomes an `EnodeAuthError` telling the
 * operator to check the credentials; the secret itself never reaches an error or a log.
 */
export function clientCredentialsFetcher(send: Send, credentials: ClientCredentials): FetchToken {
  const path = new URL(credentials.oauthUrl).pathname;
  // RFC 6749 §2.3.1: form-encode both parts before Base64.
  const basic = Buffer.from(`${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret)}`).toString('base64');
  return async () => {
    const res = await send({
      method: 'POST',
      url: credentials.oauthUrl,
      path,
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
      // The budget guards Enode's API; token calls are rare and go to another host.
      useBudget: false,
    });
    const base = { status: res.status, method: 'POST', path, attempts: res.attempts };
    if (res.status >= 400) {
      const problem = parseProblem(res.json);
      const said = [problem.title, problem.detail].filter(Boolean).join(': ');
      throw new EnodeAuthError(
        { ...base, problem },
        `Enode token request POST ${path} was rejected with ${res.status}${said ? ` (${said})` : ''}; check the client id and secret for this Enode environment`,
      );
    }
    const parsed = tokenResponse.safeParse(res.json);
    if (!parsed.success) {
      throw new EnodeApiError(base, `Enode token request POST ${path} returned ${res.status} without a usable access_token/expires_in`);
    }
    return { accessToken: parsed.data.access_token, expiresInSeconds: parsed.data.expires_in };
  };
}
