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

const leaf = (path: string, from: unknown, to: unknown): Change => ({ path, from: from === undefined ? null : from, to: to === undefined ? null : to });

/** Both sides are objects. A key's path is built only where something differs (most leaves of a snapshot do not). */
function walk(from: JsonObject, to: JsonObject, path: string, out: Change[]): void {
  for (const k of unionOfKeys(from, to)) {
    const f = Object.hasOwn(from, k) ? from[k] : null;
    const t = Object.hasOwn(to, k) ? to[k] : null;
    if (f === t) continue;
    if (isObject(f) && isObject(t)) walk(f, t, join(path, k), out);
    else if (!jsonEqual(f, t)) out.push(leaf(join(path, k), f, t));
  }
}

/**
 * The leaves that differ between `from` and `to`, sorted by key at each level (deterministic
 * whatever the key order of either side). Two equal values give an empty list. Values whose top
 * level is not an object give one change with the path `""`.
 */
export function diffJson(from: unknown, to: unknown): Change[] {
  const out: Change[] = [];
  if (isObject(from) && isObject(to)) walk(from, to, '', out);
  else if (!jsonEqual(from, to)) out.push(leaf('', from, to));
  return out;
}
