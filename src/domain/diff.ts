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

interface Found {
  /** The keys from the top down to the change. */
  keys: string[];
  from: unknown;
  to: unknown;
}

/**
 * Both sides are objects. Keys are visited in the objects' own order (no sort per object: most of
 * a snapshot is unchanged), and only the changes found are sorted, by their keys, at the end.
 */
function walk(from: JsonObject, to: JsonObject, keys: string[], out: Found[]): void {
  for (const k in from) {
    if (!Object.hasOwn(from, k)) continue;
    visit(from[k], Object.hasOwn(to, k) ? to[k] : null, k, keys, out);
  }
  for (const k in to) {
    if (!Object.hasOwn(to, k) || Object.hasOwn(from, k)) continue;
    visit(null, to[k], k, keys, out);
  }
}

function visit(f: unknown, t: unknown, k: string, keys: string[], out: Found[]): void {
  if (f === t) return;
  keys.push(k);
  if (isObject(f) && isObject(t)) walk(f, t, keys, out);
  else if (!jsonEqual(f, t)) out.push({ keys: keys.slice(), from: f, to: t });
  keys.pop();
}

/** Key by key, in UTF-16 code unit order (as Array.prototype.sort orders strings); a prefix first. */
function byKeys(a: Found, b: Found): number {
  const n = Math.min(a.keys.length, b.keys.length);
  for (let i = 0; i < n; i++) {
    const x = a.keys[i]!;
    const y = b.keys[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.keys.length - b.keys.length;
}

const leaf = (path: string, from: unknown, to: unknown): Change => ({ path, from: from === undefined ? null : from, to: to === undefined ? null : to });

/**
 * The leaves that differ between `from` and `to`, sorted by key at each level (deterministic
 * whatever the key order of either side). Two equal values give an empty list. Values whose top
 * level is not an object give one change with the path `""`.
 */
export function diffJson(from: unknown, to: unknown): Change[] {
  if (!isObject(from) || !isObject(to)) return jsonEqual(from, to) ? [] : [leaf('', from, to)];
  const found: Found[] = [];
  walk(from, to, [], found);
  if (found.length > 1) found.sort(byKeys);
  return found.map((c) => leaf(c.keys.reduce(join, ''), c.from, c.to));
}
