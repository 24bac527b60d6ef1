/**
 * Presenting stored JSON that may be unusable: rows written before ingest enforced its nesting
 * limit (or edited by hand) must not turn a whole page into a 500. Pure, shared by the admin API,
 * the dashboard, the timeline and the alert dispatcher.
 */
import { MAX_JSON_DEPTH, valueNestingExceeds } from '../domain/json-depth.js';

/** A stored value as it can be shown: the value, or null and why it is not shown. */
export type Presentable<T> = { value: T; note: null } | { value: null; note: string };

/**
 * `value` when it can be serialised again (nesting within MAX_JSON_DEPTH), otherwise null and a
 * note naming `what` for the response. Never throws.
 */
export function presentable<T>(value: T, what: string): Presentable<T> {
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
