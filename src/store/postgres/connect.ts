/**
 * The Postgres connection pool (DATABASE_URL) and the words an operator needs when it fails.
 * The password never appears in an error or a log line: name a server with `redactUrl`.
 */
import pg from 'pg';

/**
 * int8 (`bigint`, also `count(*)`) is read as a number: every bigint here is epoch milliseconds, a
 * row id or a count, far below 2^53. A value past Number.MAX_SAFE_INTEGER fails its query rather
 * than being rounded. Set on pg's global registry, not per pool: drizzle passes its own per-query
 * type parsers, which fall back to the global registry, so a per-pool parser would miss drizzle's
 * queries.
 */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${text} is beyond Number.MAX_SAFE_INTEGER`);
  return n;
}
pg.types.setTypeParser(pg.types.builtins.INT8, parseInt8);

/** Time limits of a pooled connection; the reasons are on openPostgres. */
export const POSTGRES_DEFAULTS = {
  max: 10,
  applicationName: 'enode-sync',
  connectionTimeoutMs: 10_000,
  statementTimeoutMs: 30_000,
  idleInTransactionTimeoutMs: 60_000,
  idleTimeoutMs: 30_000,
  keepAliveInitialDelayMs: 10_000,
} as const;

export interface PostgresOptions {
  /** Connections in the pool (default 10). */
  max?: number;
  /** `application_name`, shown in pg_stat_activity (default `enode-sync`). */
  applicationName?: string;
  /** Server-side limit of one statement (default 30 s; 0: the server's or role's setting). */
  statementTimeoutMs?: number;
  /** Time to open a connection or wait for a free one (default 10 s). */
  connectionTimeoutMs?: number;
  /** A schema name for `search_path` (sent as `-c search_path=…` in the startup `options`). Tests use it. */
  searchPath?: string;
  /** Errors of idle connections (the server restarted, the network broke). Default: ignored; the next query reports its own. */
  onIdleError?: (err: Error) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A pool on `url` for a long-running daemon:
 * - `connectionTimeoutMillis` bounds both opening a connection and waiting for a free one, so a
 *   request fails (503) instead of hanging while Postgres is away;
 * - `statement_timeout` (30 s) ends a statement stuck behind a lock or a runaway plan;
 * - `idle_in_transaction_session_timeout` (60 s) ends the session of a replica that left a
 *   transaction open (a bug, a paused process), releasing its row locks;
 * - TCP keepalive finds connections whose peer vanished without closing them.
 * The timeouts are startup parameters: a PgBouncer in front must accept them
 * (`ignore_startup_parameters` drops them silently; then set them on the role instead).
 * An idle connection's error is passed to `onIdleError` instead of crashing the process (pg emits
 * it on the pool, and an unhandled 'error' event would throw).
 */
export function openPostgres(url: string, options: PostgresOptions = {}): pg.Pool {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new Error(`not a postgres:// or postgresql:// URL: ${redactUrl(url)}`);
  if (options.searchPath !== undefined && !SCHEMA_NAME.test(options.searchPath)) {
    throw new Error(`search path must be a plain lower-case schema name, got "${options.searchPath}"`);
  }
  const statementTimeout = options.statementTimeoutMs ?? POSTGRES_DEFAULTS.statementTimeoutMs;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? POSTGRES_DEFAULTS.max,
    application_name: options.applicationName ?? POSTGRES_DEFAULTS.applicationName,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? POSTGRES_DEFAULTS.connectionTimeoutMs,
    idleTimeoutMillis: POSTGRES_DEFAULTS.idleTimeoutMs,
    // 0: not sent, so the server's or the role's setting applies.
    statement_timeout: statementTimeout > 0 ? statementTimeout : undefined,
    idle_in_transaction_session_timeout: POSTGRES_DEFAULTS.idleInTransactionTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: POSTGRES_DEFAULTS.keepAliveInitialDelayMs,
    ...(options.searchPath !== undefined ? { options: `-c search_path=${options.searchPath}` } : {}),
  });
  const onIdleError = options.onIdleError ?? (() => {});
  pool.on('error', (err) => onIdleError(err));
  return pool;
}

/**
 * The URL without its password (user info or a `password=` parameter), for messages and logs.
 * Something that does not parse as a URL is not shown at all.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const key of [...u.searchParams.keys()]) if (/pass|secret|token|key/i.test(key)) u.searchParams.set(key, '***');
    return u.toString();
  } catch {
    // No host (a Unix socket: postgres://user:pw@/db?host=/run/postgresql) does not parse as a URL.
    const scrubbed = url.replace(/^(\w+:\/\/[^:/@?#]*):[^@/?#]*@/, '$1:***@').replace(/([?&][^=&#]*(?:pass|secret|token|key)[^=&#]*=)[^&#]*/gi, '$1***');
    return /^postgres(ql)?:\/\//.test(scrubbed) ? scrubbed : '(a database URL that does not parse)';
  }
}

/** Postgres SQLSTATE and Node error codes in the words an operator needs. */
const REASONS: Array<[RegExp, string]> = [
  [/^ECONNREFUSED$/, 'connection refused: is Postgres running and listening on that host and port?'],
  [/^(ENOTFOUND|EAI_AGAIN|EAI_NONAME)$/, 'the host name does not resolve'],
  [/^(ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN)$/, 'the host cannot be reached'],
  [/^(ECONNRESET|EPIPE)$/, 'the connection was closed by the server or the network'],
  [/^ENOENT$/, 'no Postgres socket at that path'],
  [/^(EACCES|EPERM)$/, 'permission denied opening the connection'],
  [/^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|CERT_HAS_EXPIRED|ERR_TLS_CERT_ALTNAME_INVALID)$/, "the server's TLS certificate is not trusted"],
  [/^28P01$/, 'password authentication failed: wrong user name or password'],
  [/^28000$/, 'the server refuses this role or client address (pg_hba.conf)'],
  [/^3D000$/, 'the database does not exist'],
  [/^3F000$/, 'the schema does not exist'],
  [/^57P03$/, 'the server is starting up, shutting down or in recovery and accepts no connections yet'],
  [/^57P0[12]$/, 'the server was shut down'],
  [/^57014$/, 'a statement ran past its time limit or was cancelled'],
  [/^53300$/, 'too many connections: raise max_connections or use fewer replicas or a smaller pool'],
  [/^53100$/, "the server's disk is full"],
  [/^53200$/, 'the server is out of memory'],
  [/^42501$/, 'permission denied: the role lacks a privilege (e.g. CREATE on the database or schema)'],
  [/^25006$/, 'the server is read-only (a standby, or default_transaction_read_only)'],
  [/^40001$/, 'a serialization failure (the transaction can be retried)'],
  [/^40P01$/, 'a deadlock (the transaction can be retried)'],
  [/^08/, 'the connection failed'],
];

/** pg's own connection failures carry no code: their messages are matched instead. */
const MESSAGES: Array<[RegExp, string]> = [
  [/timeout expired|connection timeout|timeout exceeded when trying to connect/i, 'no connection within the time limit (server down, unreachable, or every pooled connection busy)'],
  [/Connection terminated unexpectedly/i, 'the connection was closed by the server or the network'],
  [/does not support SSL/i, 'the server does not accept TLS: remove sslmode=require or enable TLS on the server'],
];

/**
 * The reason a Postgres operation failed, in plain words with the code in parentheses for
 * searching (as describeOpenError does for SQLite). Looks through drizzle's wrapper to the
 * driver's error. `secret` (a password) is scrubbed from any message passed through.
 */
export function describePostgresError(err: unknown, secret?: string): string {
  const chain: unknown[] = [];
  for (let e: unknown = err; e && chain.length < 5; e = (e as { cause?: unknown }).cause) chain.push(e);
  for (const e of chain) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      for (const [pattern, words] of REASONS) if (pattern.test(code)) return `${words} (${code})`;
    }
  }
  for (const e of chain) {
    const message = e instanceof Error ? e.message : '';
    for (const [pattern, words] of MESSAGES) if (pattern.test(message)) return words;
  }
  const deepest = chain[chain.length - 1] ?? err;
  const code = (deepest as { code?: unknown } | null)?.code;
  let message = deepest instanceof Error ? deepest.message : String(deepest);
  if (secret) message = message.split(secret).join('***');
  return typeof code === 'string' ? `${message} (${code})` : message;
}

/** The password in a database URL (to scrub it from messages), or undefined. */
export function urlPassword(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.password ? decodeURIComponent(u.password) : (u.searchParams.get('password') ?? undefined);
  } catch {
    return undefined;
  }
}
