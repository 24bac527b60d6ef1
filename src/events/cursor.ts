/**
 * The event log's cursor: an opaque string that sorts, as a string, in log order. It is the
 * event's position in base 36, zero-padded to a fixed width, behind a version prefix (so that
 * another encoding can come later without breaking stored cursors): `ev1_00000000001`.
 * Eleven base-36 digits hold every safe integer (36^11 > 2^53).
 */

const PREFIX = 'ev1_';
const WIDTH = 11;
const SHAPE = /^ev1_[0-9a-z]{11}$/;

/** The cursor of a log position (a positive safe integer, or 0 for "before the first event"). */
export function encodeEventCursor(position: number): string {
  if (!Number.isSafeInteger(position) || position < 0) throw new RangeError(`not an event position: ${position}`);
  return `${PREFIX}${position.toString(36).padStart(WIDTH, '0')}`;
}

/** The position a cursor names, or undefined when the text is not a cursor of this log. */
export function decodeEventCursor(cursor: string): number | undefined {
  if (!SHAPE.test(cursor)) return undefined;
  const position = parseInt(cursor.slice(PREFIX.length), 36);
  return Number.isSafeInteger(position) ? position : undefined;
}
