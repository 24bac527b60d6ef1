/** Parses an ISO-8601 timestamp to epoch ms; undefined for missing or unparseable values. */
export function parseTimeMs(value: unknown): number | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}
