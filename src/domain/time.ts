/**
 * ISO 8601 date-time as Enode writes it: `YYYY-MM-DDTHH:mm[:ss[.fraction]]` and a zone (`Z` or
 * `±hh:mm`). `Date.parse` reads far more ("1", "Dec 1 2099", local times without a zone), which
 * would let any string become a payload time.
 */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-](\d{2}):(\d{2}))$/;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/**
 * Parses a strict ISO 8601 date-time (with seconds and fraction optional, zone required) to epoch
 * ms; undefined for anything else, including impossible dates (`2026-02-30`) and out-of-range
 * fields. Fractions beyond milliseconds are truncated.
 */
export function parseTimeMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = ISO_DATE_TIME.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number];
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  if (month < 1 || month > 12 || day < 1) return undefined;
  if (day > DAYS_IN_MONTH[month - 1]! || (month === 2 && day === 29 && !isLeapYear(year))) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[8]!.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  const utc = new Date(0);
  // setUTCFullYear: Date.UTC maps years 0–99 to 1900–1999.
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, ms);
  return utc.getTime() - offsetMinutes * 60_000;
}

/** CLOCK_SKEW_TOLERANCE_SECONDS' default (config.ts), in ms: used where no setting is handed in. */
export const DEFAULT_CLOCK_SKEW_TOLERANCE_MS = 600_000;

/**
 * Whether a payload time lies further ahead of the time we received it than the tolerated clock
 * skew. Such a time is recorded as sent but never wins a merge: trusting it would pin state (a
 * snapshot dated 2099 outranks every real one) or block a device (a deletion dated 2099).
 */
export function isAheadOfReceipt(timeMs: number, receivedAtMs: number, toleranceMs: number): boolean {
  return timeMs > receivedAtMs + toleranceMs;
}
