/**
 * One nesting limit for JSON, checked without recursion. Enode's payloads are shallow (no schema
 * in its 2024-10-01 OpenAPI document nests deeper than 6 levels, its paginated lists included; a
 * webhook body adds 1 for its array), while `JSON.stringify`, zod and every presenter recurse: a
 * body nested thousands of levels deep parses (V8's parser is iterative) but then fails wherever
 * it is serialised again. Ingest refuses such bodies; presenters use the same limit on what
 * storage already holds.
 */

/** Deepest nesting of arrays and objects accepted, counting the outer event array as level 1. */
export const MAX_JSON_DEPTH = 64;

const OPEN_BRACKET = 0x5b; // [
const OPEN_BRACE = 0x7b; // {
const CLOSE_BRACKET = 0x5d; // ]
const CLOSE_BRACE = 0x7d; // }
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * The byte offset at which `bytes` (UTF-8 JSON text) opens its `maxDepth + 1`-th nested array or
 * object, or undefined when it stays within `maxDepth`. One pass, no allocation, no recursion:
 * brackets inside strings do not count (every byte of a multi-byte UTF-8 character is ≥ 0x80, so
 * none is taken for a quote, backslash or bracket). Malformed JSON is left to the parser.
 */
export function jsonNestingExceeds(bytes: Uint8Array, maxDepth: number = MAX_JSON_DEPTH): number | undefined {
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === QUOTE) {
      // Jump over the string (natively: most of a body's bytes are strings); a quote preceded by
      // an odd run of backslashes is escaped and does not end it.
      let end = i;
      for (;;) {
        end = bytes.indexOf(QUOTE, end + 1);
        if (end < 0) return undefined; // unterminated: the parser reports it
        let backslashes = 0;
        while (bytes[end - 1 - backslashes] === BACKSLASH) backslashes++;
        if (backslashes % 2 === 0) break;
      }
      i = end;
    } else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
      if (++depth > maxDepth) return i;
    } else if (b === CLOSE_BRACKET || b === CLOSE_BRACE) {
      depth--;
    }
  }
  return undefined;
}

/**
 * Whether a parsed value nests arrays or objects deeper than `maxDepth` (a scalar is depth 0,
 * `{}` depth 1). Iterative, and it stops at the first level past the limit, so it costs at most
 * the nodes within the limit.
 */
export function valueNestingExceeds(value: unknown, maxDepth: number = MAX_JSON_DEPTH): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: Array<{ node: object; depth: number }> = [{ node: value, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (depth > maxDepth) return true;
    const children: unknown[] = Array.isArray(node) ? node : Object.values(node);
    for (const child of children) {
      if (child !== null && typeof child === 'object') stack.push({ node: child, depth: depth + 1 });
    }
  }
  return false;
}
