/**
 * The Postgres side of the read port: a SqlReader over a pg Pool. Portable SQL uses `?`
 * placeholders; Postgres wants `$1, $2, …`. Each SQL text is converted once and cached. A `?`
 * inside a quoted string, a quoted identifier or a comment is refused rather than numbered: a
 * miscount would bind values to the wrong places without any error.
 */
import type pg from 'pg';
// Side effect: int8 (count(*), epoch ms) is parsed to a number, as the read side expects.
import './connect.js';
import { postgresMigrationStatus } from './migrate.js';
import type { EngineReads } from '../read.js';
import type { SqlParam, SqlReader } from '../sql.js';

/** Converted texts kept per SQL text; the read side builds a bounded set, so this stays small. */
const MAX_CACHED_TEXTS = 256;

/** The opening tag of a dollar-quoted string: `$$` or `$name$` (never `$1`). */
const DOLLAR_TAG = /^\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$/;

/**
 * `sql` with its `?` placeholders numbered `$1…$n` in order. Throws when a `?` sits inside
 * quotes ('…', "…", $tag$…$tag$) or a comment, or when the text leaves a quote or comment open.
 */
export function numberPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let i = 0;
  const refuse = (why: string): never => {
    throw new Error(`portable SQL refused (${why}): ${sql.slice(0, 200)}`);
  };
  /** Copies up to and including `end` from `from`; refuses a `?` before it. */
  const skipTo = (from: number, end: string, what: string): number => {
    const at = sql.indexOf(end, from);
    if (at < 0) refuse(`unterminated ${what}`);
    if (sql.slice(from, at).includes('?')) refuse(`"?" inside ${what}`);
    out += sql.slice(from, at + end.length);
    return at + end.length;
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '?') {
      out += `$${++n}`;
      i++;
    } else if (c === "'") {
      // '' inside a string is an escaped quote: the scan simply resumes in a new string.
      out += c;
      i = skipTo(i + 1, "'", 'a quoted string');
    } else if (c === '"') {
      out += c;
      i = skipTo(i + 1, '"', 'a quoted identifier');
    } else if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? sql.length : end;
      if (sql.slice(i, stop).includes('?')) refuse('"?" inside a comment');
      out += sql.slice(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      out += '/*';
      i = skipTo(i + 2, '*/', 'a comment');
    } else if (c === '$' && DOLLAR_TAG.test(sql.slice(i))) {
      const tag = DOLLAR_TAG.exec(sql.slice(i))![0];
      out += tag;
      i = skipTo(i + tag.length, tag, 'a dollar-quoted string');
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

export function createPostgresReader(pool: pg.Pool): SqlReader {
  const texts = new Map<string, string>();
  const text = (sql: string): string => {
    let converted = texts.get(sql);
    if (converted === undefined) {
      converted = numberPlaceholders(sql);
      if (texts.size >= MAX_CACHED_TEXTS) texts.clear();
      texts.set(sql, converted);
    }
    return converted;
  };
  // Unnamed statements: a named (server-side prepared) statement lives on one connection, which a
  // PgBouncer in transaction mode does not keep for us; the conversion is what is cached.
  const all = async <T>(sql: string, params: readonly SqlParam[] = []): Promise<T[]> => {
    const result = await pool.query(text(sql), params as unknown[]);
    return result.rows as T[];
  };
  return {
    engine: 'postgres',
    all,
    get: async <T>(sql: string, params: readonly SqlParam[] = []) => (await all<T>(sql, params))[0],
  };
}

/** What only Postgres answers: its migrations journal (in the current schema). */
export function postgresEngineReads(pool: pg.Pool): EngineReads {
  return { migrations: () => postgresMigrationStatus(pool) };
}
