import { createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 'sha1=';
const SHA1_HEX_LENGTH = 40;

/** Computes Enode's webhook signature header value: `sha1=` + lowercase hex HMAC-SHA1 of the raw body. */
export function signEnodeBody(body: Uint8Array | string, secret: string): string {
  return PREFIX + createHmac('sha1', secret).update(body).digest('hex');
}

/**
 * Verifies an `x-enode-signature` header against every accepted secret (rotation), in constant
 * time per secret. The body must be the raw bytes as received: re-serialised JSON does not match.
 */
export function verifyEnodeSignature(
  body: Uint8Array,
  header: string | undefined | null,
  secrets: readonly string[],
): boolean {
  if (!header) return false;
  const value = header.trim().toLowerCase();
  if (!value.startsWith(PREFIX) || value.length !== PREFIX.length + SHA1_HEX_LENGTH) return false;
  const given = Buffer.from(value.slice(PREFIX.length), 'hex');
  if (given.length !== SHA1_HEX_LENGTH / 2) return false;
  let ok = false;
  for (const secret of secrets) {
    const expected = createHmac('sha1', secret).update(body).digest();
    // Check every secret so the time taken does not reveal which one matched.
    if (timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}
