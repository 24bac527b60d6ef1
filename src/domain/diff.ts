/**
 * What changed between two JSON values, as `{ path, from, to }` leaves: objects are compared key
 * by key (recursively), anything else (numbers, strings, arrays) as a whole. A key present on one
 * side only reads as `null` on the other. Paths join keys with dots (`snapshot.chargeState.batteryLevel`);
 * a key that itself holds a dot or a bracket is quoted as `["a.b"]` so paths stay unambiguous.
 * Pure: the event log's `changes` (events/facts.ts) and its tests use it.
 */

export interface Change {
  path: string;
  from: unknown;
  to: unknown;
}

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Structural equality of JSON values (key order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (!isObject(a) || !isObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/** Each key's path part, remembered: the same few dozen keys recur in every snapshot of a fleet. */
const parts = new Map<string, string>();
const MAX_REMEMBERED_PARTS = 10_000;

function partOf(key: string): string {
  let part = parts.get(key);
  if (part === undefined) {
    part = /^[A-Za-z0-9_$-]+$/.test(key) ? key : `[${JSON.stringify(key)}]`;
    if (parts.size >= MAX_REMEMBERED_PARTS) parts.clear();
    parts.set(key, part);
  }
  return part;
}

function join(prefix: string, key: string): string {
  const part = partOf(key);
  if (prefix === '' || part.startsWith('[')) return `${prefix}${part}`;
  return `${prefix}.${part}`;
}

/** Both objects' keys, each once, sorted. Snapshots of one device mostly share their keys in the same order: then no set is built. */
function unionOfKeys(from: JsonObject, to: JsonObject): string[] {
  const keys = Object.keys(from);
  const other = Object.keys(to);
  let same = keys.length === other.length;
  for (let i = 0; same && i < keys.length; i++) same = keys[i] === other[i];
  if (!same) {
    const seen = new Set(keys);
    for (const k of other) if (!seen.has(k)) keys.push(k);
  }
  return keys.sort();
}

function walk(from: unknown, to: unknown, path: string, out: Change[]): void {
  if (isObject(from) && isObject(to)) {
    for (const k of unionOfKeys(from, to)) walk(Object.hasOwn(from, k) ? from[k] : null, Object.hasOwn(to, k) ? to[k] : null, join(path, k), out);
    return;
  }
  if (!jsonEqual(from, to)) out.push({ path, from: from === undefined ? null : from, to: to === undefined ? null : to });
}

/**
 * The leaves that differ between `from` and `to`, sorted by key at each level (deterministic
 * whatever the key order of either side). Two equal values give an empty list. Values whose top
 * level is not an object give one change with the path `""`.
 */
export function diffJson(from: unknown, to: unknown): Change[] {
  const out: Change[] = [];
  walk(from, to, '', out);
  return out;
}
