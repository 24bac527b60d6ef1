import type { Context } from 'hono';
import { problem } from './problem.js';

export interface PageQuery {
  pageSize: number;
  after: number | null;
  before: number | null;
}

export interface Page<T> {
  data: T[];
  pagination: { after: string | null; before: string | null };
}

const MAX_PAGE_SIZE = 1000;

function encodeCursor(seq: number): string {
  return Buffer.from(JSON.stringify({ s: seq })).toString('base64url');
}

function decodeCursor(cursor: string): number | null {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (v && typeof v === 'object' && 's' in v && Number.isInteger(v.s)) return v.s as number;
  } catch {
    // fall through
  }
  return null;
}

/** Parses `pageSize`, `after`, `before`; a problem Response when they are invalid. */
export function parsePageQuery(c: Context): PageQuery | Response {
  const size = c.req.query('pageSize');
  const after = c.req.query('after');
  const before = c.req.query('before');
  const pageSize = size === undefined ? 50 : Number(size);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    return problem(400, `pageSize must be an integer between 1 and ${MAX_PAGE_SIZE}`);
  }
  if (after !== undefined && before !== undefined) return problem(400, 'Use either after or before, not both');
  const a = after === undefined ? null : decodeCursor(after);
  const b = before === undefined ? null : decodeCursor(before);
  if ((after !== undefined && a === null) || (before !== undefined && b === null)) return problem(400, 'Invalid pagination cursor');
  return { pageSize, after: a, before: b };
}

/** Cursor pagination over items sorted newest first (descending `seq`). */
export function paginate<T>(items: readonly T[], seqOf: (item: T) => number, q: PageQuery): Page<T> {
  let start: number;
  let end: number;
  if (q.after !== null) {
    const after = q.after;
    start = items.findIndex((i) => seqOf(i) < after);
    if (start < 0) start = items.length;
    end = Math.min(items.length, start + q.pageSize);
  } else if (q.before !== null) {
    const before = q.before;
    end = items.findIndex((i) => seqOf(i) <= before);
    if (end < 0) end = items.length;
    start = Math.max(0, end - q.pageSize);
  } else {
    start = 0;
    end = Math.min(items.length, q.pageSize);
  }
  const data = items.slice(start, end);
  const first = data[0];
  const last = data[data.length - 1];
  return {
    data,
    pagination: {
      after: last !== undefined && end < items.length ? encodeCursor(seqOf(last)) : null,
      before: first !== undefined && start > 0 ? encodeCursor(seqOf(first)) : null,
    },
  };
}
