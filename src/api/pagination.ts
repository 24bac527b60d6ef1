import { z } from 'zod';
import { AppError } from '../errors.js';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

/** Opaque cursor: base64url JSON of the last row's sort key. */
export function encodeCursor(key: Array<string | number>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

const cursorSchema = z.array(z.union([z.string().max(1000), z.number().finite()])).min(1).max(4);

export function decodeCursor(cursor: string): Array<string | number> {
  try {
    const parsed = cursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through to the error below
  }
  throw new AppError('BAD_REQUEST', 'Invalid "after" cursor: pass back the value of pagination.after unchanged');
}

/** `?limit=&after=` validated: limit 1…500 (default 50). */
export function pageParams(query: { limit?: string | undefined; after?: string | undefined }): {
  limit: number;
  after: Array<string | number> | undefined;
} {
  let limit = DEFAULT_LIMIT;
  if (query.limit !== undefined) {
    if (!/^\d{1,4}$/.test(query.limit) || Number(query.limit) < 1 || Number(query.limit) > MAX_LIMIT) {
      throw new AppError('BAD_REQUEST', `"limit" must be an integer from 1 to ${MAX_LIMIT}`);
    }
    limit = Number(query.limit);
  }
  return { limit, after: query.after ? decodeCursor(query.after) : undefined };
}

/** Builds the list body from limit+1 fetched rows. */
export function page<Row, Out>(
  rows: Row[],
  limit: number,
  toKey: (row: Row) => Array<string | number>,
  toOut: (row: Row) => Out,
): { data: Out[]; pagination: { after: string | null } } {
  const more = rows.length > limit;
  const shown = more ? rows.slice(0, limit) : rows;
  const last = shown[shown.length - 1];
  return {
    data: shown.map(toOut),
    pagination: { after: more && last !== undefined ? encodeCursor(toKey(last)) : null },
  };
}
