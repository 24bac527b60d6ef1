/**
 * Lone UTF-16 surrogates in JSON input. JSON may escape one (`"\ud800"`) and JSON.parse then gives
 * a JavaScript string that no UTF-8 text can hold. The engines part ways on it: Postgres's driver
 * writes U+FFFD in its place, while SQLite keeps the three bytes of its WTF-8 form and reads them
 * back as three U+FFFD, so an id stored that way can never be named again (a device queued for the
 * reconciler under such an id was taken from the queue forever and never removed). Input is made
 * well formed where it enters, the way Postgres stores it, so that both engines hold the same text.
 */

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/**
 * An escaped surrogate in JSON text. Text decoded from UTF-8 never holds a raw surrogate (invalid
 * bytes decode to U+FFFD), so JSON text without this escape parses to well-formed strings only.
 */
const ESCAPED_SURROGATE = /\\u[dD][89a-fA-F]/;

/** `s` with every lone surrogate replaced by U+FFFD (the replacement character). */
export function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\ufffd');
}

/**
 * JSON.parse, with every string and key of the result well formed. The text is scanned for an
 * escaped surrogate; only then is the value walked (iteratively: its depth is not checked here).
 */
export function parseWellFormedJson(text: string): unknown {
  const value = JSON.parse(text) as unknown;
  return mayEscapeSurrogate(text) ? makeWellFormed(value) : value;
}

/** Whether JSON text may hold an escaped surrogate (when false, it parses to well-formed strings only). */
export function mayEscapeSurrogate(text: string): boolean {
  // `includes` first: 0.2 µs on a 12 KB body without any escape, against 4 µs for the regex.
  return text.includes('\\u') && ESCAPED_SURROGATE.test(text);
}

/** Replaces lone surrogates in every string and key of a parsed JSON value, in place; returns the value. */
export function makeWellFormed(value: unknown): unknown {
  if (typeof value === 'string') return wellFormed(value);
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v: unknown = node[i];
        if (typeof v === 'string') node[i] = wellFormed(v);
        else if (v !== null && typeof v === 'object') stack.push(v);
      }
      continue;
    }
    const obj = node as Record<string, unknown>;
    const keys = Object.keys(obj);
    // A fixed key may meet one already spelled with U+FFFD: the object is rebuilt in key order, the
    // later value winning, as JSON.parse of the text with U+FFFD written out would have it.
    const rebuild = keys.some((k) => wellFormed(k) !== k);
    const entries: Array<[string, unknown]> = [];
    for (const key of keys) {
      const v = obj[key];
      if (v !== null && typeof v === 'object') stack.push(v);
      entries.push([rebuild ? wellFormed(key) : key, typeof v === 'string' ? wellFormed(v) : v]);
    }
    if (rebuild) for (const key of keys) delete obj[key];
    for (const [key, v] of entries) {
      if (!rebuild && v === obj[key]) continue;
      // Defined as JSON.parse defines keys: a `__proto__` key is an own property, never the prototype.
      Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
  return value;
}
