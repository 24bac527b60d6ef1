/**
 * Presenting stored JSON that may be unusable: rows written before ingest enforced its nesting
 * limit (or edited by hand) must not turn a whole page into a 500. Pure, shared by the admin API,
 * the dashboard, the timeline's actions and the alert dispatcher (the timeline's observations keep
 * what can be shown of a deep value: reconcile/timeline.ts boundDepth).
 */
import { MAX_JSON_DEPTH, valueNestingExceeds } from '../domain/json-depth.js';

/** What `decodeStored` gives for stored text that is not JSON; presentable() shows it as unreadable. */
export const UNREADABLE_JSON: Readonly<Record<string, unknown>> = Object.freeze({ unreadable: 'stored JSON does not parse' });

/**
 * Stored JSON text as a value: null stays null, text that does not parse becomes UNREADABLE_JSON
 * (one bad row must not fail a whole page). V8's JSON.parse does not recurse, so depth is left to
 * presentable().
 */
export function decodeStored(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return UNREADABLE_JSON;
  }
}

/** A stored value as it can be shown: the value, or null and why it is not shown. */
export type Presentable<T> = { value: T; note: null } | { value: null; note: string };

/**
 * `value` when it can be serialised again (nesting within MAX_JSON_DEPTH), otherwise null and a
 * note naming `what` for the response. Never throws.
 */
export function presentable<T>(value: T, what: string): Presentable<T> {
  if (value === UNREADABLE_JSON) return { value: null, note: `${what} is not valid JSON in storage and is not shown` };
  try {
    if (!valueNestingExceeds(value, MAX_JSON_DEPTH)) return { value, note: null };
  } catch {
    // A value that cannot even be walked is no more presentable than a too deep one.
  }
  return { value: null, note: `${what} nests deeper than ${MAX_JSON_DEPTH} levels and is not shown; the raw body of its delivery is kept` };
}

/** Joins the notes of several fields into one (null when every field was shown). */
export function joinNotes(...notes: Array<string | null>): string | null {
  const kept = notes.filter((n): n is string => n !== null);
  return kept.length > 0 ? kept.join('; ') : null;
}
