/**
 * Text that came from another service (Enode's problem fields, an alert receiver's error page),
 * made fit to quote in our answers, stored errors and log lines. Pure.
 */

/** Longest upstream text kept from one problem field (characters). */
export const MAX_UPSTREAM_TEXT = 300;
// C0 and C1 controls, zero-width and bidirectional formatting characters, line/paragraph separators, BOM.
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g;

/**
 * Upstream text made fit to quote: tags and angle brackets dropped, control and invisible formatting characters
 * replaced by spaces, whitespace collapsed, at most `max` characters (an ellipsis marks a cut).
 */
export function upstreamText(value: string, max = MAX_UPSTREAM_TEXT): string {
  // Bound the work first: the body may be megabytes.
  const text = value
    .slice(0, max * 4)
    .replace(/<[^<>]*>/g, ' ')
    // A tag cut open by the bound above, or a stray bracket: no markup survives.
    .replace(/[<>]/g, ' ')
    .replace(UNSAFE_CHARS, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (text.length <= max) return text;
  // Never end on half a surrogate pair.
  return `${text.slice(0, max - 1).replace(/[\ud800-\udbff]$/, '')}…`;
}
