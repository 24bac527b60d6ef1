/**
 * The dashboard lists' common filters from the URL: device, user, a type (each list says which
 * values), and a time window. Times are ISO 8601 (`2026-03-01T10:00:00Z`) or what a
 * `datetime-local` field sends (`2026-03-01T10:00`), read as UTC like every time the dashboard shows.
 */
import { parseTimeMs } from '../domain/time.js';
import { AppError } from '../errors.js';

export interface ListFilter {
  deviceId: string | undefined;
  userId: string | undefined;
  sinceMs: number | undefined;
  untilMs: number | undefined;
  /** The values as given, for the form and the paging links. */
  raw: { deviceId?: string | undefined; userId?: string | undefined; since?: string | undefined; until?: string | undefined };
}

const ID_MAX = 200;
const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/;

/** A device or user id filter, trimmed; undefined when absent, a 400 naming the parameter when over 200 characters. */
export function idFilter(name: string, raw: string | undefined): string | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  if (value.length > ID_MAX) throw new AppError('BAD_REQUEST', `Invalid "${name}": at most ${ID_MAX} characters`);
  return value;
}

/** Epoch ms of a filter time, or undefined when absent; anything else is a 400 naming the parameter. */
export function filterTime(name: string, raw: string | undefined): number | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  const ms = value.length <= 40 ? parseTimeMs(LOCAL_TIME.test(value) ? `${value}Z` : value) : undefined;
  if (ms === undefined) throw new AppError('BAD_REQUEST', `Invalid "${name}": a time such as 2026-03-01T10:00 (UTC) or 2026-03-01T10:00:00Z`);
  return ms;
}

/** The device, user and time filters of a list (`deviceId`, `userId`, `since`, `until`). */
export function listFilter(param: (name: string) => string | undefined): ListFilter {
  const deviceId = idFilter('deviceId', param('deviceId'));
  const userId = idFilter('userId', param('userId'));
  const sinceMs = filterTime('since', param('since'));
  const untilMs = filterTime('until', param('until'));
  if (sinceMs !== undefined && untilMs !== undefined && untilMs < sinceMs) throw new AppError('BAD_REQUEST', '"until" is before "since"');
  return {
    deviceId,
    userId,
    sinceMs,
    untilMs,
    raw: { deviceId, userId, since: sinceMs === undefined ? undefined : localTimeValue(sinceMs), until: untilMs === undefined ? undefined : localTimeValue(untilMs) },
  };
}

/** `2026-03-01T10:00:00` for a datetime-local field (UTC). */
export function localTimeValue(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}
