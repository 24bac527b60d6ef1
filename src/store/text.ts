/**
 * One rule for text on every engine: a NUL character (U+0000) never reaches a text column.
 * Postgres `text` cannot hold one at all; SQLite could, so the SQLite adapter refuses it too, and a
 * delivery carrying one (a vendor name, an id) fails alone with the same message on either engine,
 * its raw body kept for a replay. Error texts quoted from payloads are escaped instead (cleanText).
 */

/** A value no text column stores: the event that carries it fails alone, with this message. */
export class NulCharacterError extends Error {
  override name = 'NulCharacterError';
}

export function hasNul(value: string | null | undefined): boolean {
  return typeof value === 'string' && value.includes('\u0000');
}

/** Throws NulCharacterError when any of `values` holds a NUL character. */
export function refuseNul(what: string, ...values: Array<string | null | undefined>): void {
  if (values.some(hasNul)) throw new NulCharacterError(`${what} contains a NUL character (U+0000), which enode-sync does not store in text`);
}

/**
 * Error texts are ours to store: a NUL in one (quoted from a payload) is escaped as the six
 * characters `\u0000`, not refused.
 */
export function cleanText(value: string): string;
export function cleanText(value: string | null): string | null;
export function cleanText(value: string | null): string | null {
  return value === null || !value.includes('\u0000') ? value : value.replaceAll('\u0000', '\\u0000');
}
