import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { SimClock } from './clock.js';

export interface TokenStoreOptions {
  clientId: string;
  clientSecret: string;
  tokenTtlSeconds: number;
  tokenClock: 'sim' | 'wall';
}

export interface IssuedToken {
  access_token: string;
  expires_in: number;
  scope: string;
  token_type: 'bearer';
}

/** OAuth2 client-credentials tokens; lifetimes count sim or wall time. */
export class TokenStore {
  private readonly tokens = new Map<string, number>();

  constructor(
    private readonly options: TokenStoreOptions,
    private readonly clock: SimClock,
    private readonly wallNow: () => number = Date.now,
  ) {}

  private now(): number {
    return this.options.tokenClock === 'sim' ? this.clock.nowMs() : this.wallNow();
  }

  /** Checks an `Authorization: Basic …` header against the client credentials. */
  checkBasic(header: string | undefined): boolean {
    if (!header || !/^basic /i.test(header)) return false;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) return false;
    const id = decodeURIComponent(decoded.slice(0, i));
    const secret = decodeURIComponent(decoded.slice(i + 1));
    return safeEqual(id, this.options.clientId) && safeEqual(secret, this.options.clientSecret);
  }

  issue(): IssuedToken {
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, this.now() + this.options.tokenTtlSeconds * 1000);
    this.prune();
    return { access_token: token, expires_in: this.options.tokenTtlSeconds, scope: '', token_type: 'bearer' };
  }

  /** Whether an `Authorization: Bearer …` header carries a live token. */
  checkBearer(header: string | undefined): boolean {
    if (!header || !/^bearer /i.test(header)) return false;
    const expires = this.tokens.get(header.slice(7).trim());
    return expires !== undefined && expires > this.now();
  }

  private prune(): void {
    if (this.tokens.size < 1000) return;
    const now = this.now();
    for (const [t, exp] of this.tokens) if (exp <= now) this.tokens.delete(t);
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
