/**
 * Where dashboard logouts are kept. Sessions are stateless (a MAC'd cookie), so a logout is the one
 * thing to remember: the session id is revoked until the cookie would have expired anyway. In the
 * database (table ui_session_revocations) a restart forgets none, and every replica sees it: the
 * row is written through the store and read through the read port.
 */
import type { Store } from '../store/port.js';
import type { ReadStore } from '../store/read.js';

/** Revoked session ids, each until its expiry. */
export interface RevocationStore {
  /** True when `id` was logged out and its session has not expired by `nowMs`. */
  isRevoked(id: string, nowMs: number): Promise<boolean>;
  /** Remembers `id` as logged out until `expiresAtMs`; resolves once that is durable. */
  revoke(id: string, expiresAtMs: number, nowMs: number): Promise<void>;
}

/** Revocations in the database: written through the store, read through the read port. */
export function databaseRevocations(read: Pick<ReadStore, 'isUiSessionRevoked'>, store: Pick<Store, 'revokeUiSession'>): RevocationStore {
  return {
    isRevoked: (id, nowMs) => read.isUiSessionRevoked(id, nowMs),
    async revoke(id, expiresAtMs, nowMs) {
      await store.revokeUiSession({ id, expiresAtMs, nowMs });
    },
  };
}

/** Revocations in memory (unit tests, and a keeper built without a database): lost on restart. */
export function memoryRevocations(): RevocationStore {
  const revoked = new Map<string, number>();
  return {
    isRevoked: (id, nowMs) => Promise.resolve((revoked.get(id) ?? 0) > nowMs),
    revoke(id, expiresAtMs, nowMs) {
      for (const [k, exp] of revoked) if (exp <= nowMs) revoked.delete(k);
      revoked.set(id, expiresAtMs);
      return Promise.resolve();
    },
  };
}
