import { z } from 'zod';
import { ALERT_TYPES, parseTypeFilter, type AlertType } from './alerts/types.js';

const ENODE_URLS = {
  sandbox: {
    apiUrl: 'https://enode-api.sandbox.enode.io',
    oauthUrl: 'https://oauth.sandbox.enode.io/oauth2/token',
  },
  production: {
    apiUrl: 'https://enode-api.production.enode.io',
    oauthUrl: 'https://oauth.production.enode.io/oauth2/token',
  },
} as const;

const MIB = 1024 * 1024;

/** Empty strings in the environment mean "not set", as in most .env files. */
const optionalString = z.preprocess((v) => (v === '' ? undefined : v), z.string().optional());

const list = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0)
      : v,
  z.array(z.string()),
);

/** A whole number in [min, max]; one plain sentence for any bad value (never zod's "received NaN"). */
const intFrom = (def: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
  const message = max === Number.MAX_SAFE_INTEGER ? `must be a whole number of at least ${min}` : `must be a whole number from ${min} to ${max}`;
  return z.preprocess(
    (v) => (v === '' || v === undefined ? def : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    z.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message }),
  );
};

/** One of `values`, named in the message when the value is not. */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.join(', ')}` });

const bool = (def: boolean) =>
  z.preprocess(
    (v) => (v === '' || v === undefined ? String(def) : typeof v === 'string' ? v.trim().toLowerCase() : v),
    z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' }).transform((v) => v === 'true' || v === '1' || v === 'yes'),
  );

const HTTP_URL_MESSAGE = 'must be an http:// or https:// URL';
const url = z.preprocess((v) => (v === '' ? undefined : v), z.url({ protocol: /^https?$/, error: HTTP_URL_MESSAGE }).optional());

const envSchema = z.object({
  PORT: intFrom(8080, 0, 65535),
  HOST: z.string().min(1, 'must not be empty').default('0.0.0.0'),
  DATABASE_PATH: z.string().min(1, 'must not be empty').default('./data/enode-sync.db'),
  DATABASE_URL: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().regex(/^postgres(ql)?:\/\/./, 'must be a postgres:// or postgresql:// URL (a SQLite file is DATABASE_PATH)').optional(),
  ),
  ENODE_WEBHOOK_SECRET: z.preprocess(
    (v) => (v === '' ? undefined : v),
    list.pipe(z.array(z.string().min(6, 'each secret needs at least 6 characters')).min(1, 'must hold at least one secret')).optional(),
  ),
  ADMIN_TOKEN: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().min(16, 'must be at least 16 characters').optional(),
  ),
  METRICS_TOKEN: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().min(16, 'must be at least 16 characters').optional(),
  ),
  ENODE_ENV: oneOf(['sandbox', 'production']).default('sandbox'),
  ENODE_API_URL: url,
  ENODE_OAUTH_URL: url,
  ENODE_CLIENT_ID: optionalString,
  ENODE_CLIENT_SECRET: optionalString,
  ENODE_WEBHOOK_ID: optionalString,
  POLL_INTERVAL_SECONDS: intFrom(30, 1, 86_400),
  RESYNC_INTERVAL_MINUTES: intFrom(360, 1, 10_080),
  WEBHOOK_HEALTH_INTERVAL_SECONDS: intFrom(300, 10, 86_400),
  ENODE_REQUESTS_PER_MINUTE: intFrom(600, 1, 100_000),
  ALERT_WEBHOOK_URLS: z.preprocess((v) => (v === undefined ? '' : v), list.pipe(z.array(z.url({ protocol: /^https?$/, error: `each ${HTTP_URL_MESSAGE}` })))),
  ALERT_WEBHOOK_SECRET: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must start with whsec_ followed by the base64 key').optional(),
  ),
  ALERT_SLACK_WEBHOOK_URL: url,
  ALERT_WEBHOOK_TYPES: z.preprocess((v) => (v === undefined ? '' : v), list),
  ALERT_SLACK_TYPES: z.preprocess((v) => (v === undefined ? '' : v), list),
  ALERT_DISPATCH_INTERVAL_SECONDS: intFrom(5, 1, 3_600),
  ALERT_TIMEOUT_SECONDS: intFrom(10, 1, 120),
  SUBSCRIPTION_ALLOW_PRIVATE_URLS: bool(true),
  PUBLIC_URL: url,
  DAILY_COMMAND_LIMIT: intFrom(6, 1, 1000),
  INTERFERENCE_GRACE_SECONDS: intFrom(60, 0, 86_400),
  ACTION_MATCH_WINDOW_SECONDS: intFrom(900, 0, 86_400),
  INTENT_TTL_SECONDS: intFrom(86_400, 60, 30 * 86_400),
  PLUG_IN_AUTO_START_NATURAL: bool(true),
  RECONCILE_INTERVAL_SECONDS: intFrom(2, 1, 3_600),
  RETENTION_DAYS: intFrom(30, 0, 3_650),
  RETENTION_INTERVAL_MINUTES: intFrom(60, 1, 10_080),
  EVENTS_STREAM_KEEPALIVE_SECONDS: intFrom(15, 1, 3_600),
  EVENTS_STREAM_POLL_MS: intFrom(250, 50, 60_000),
  EVENTS_STREAM_BUFFER_EVENTS: intFrom(1_000, 10, 100_000),
  EVENTS_STREAM_SLOW_SECONDS: intFrom(30, 1, 3_600),
  WEBHOOK_BODY_LIMIT_BYTES: intFrom(5 * MIB, 1024, 100 * MIB),
  WEBHOOK_BODY_TIMEOUT_SECONDS: intFrom(10, 1, 300),
  WEBHOOK_UNVERIFIED_BYTES_LIMIT: intFrom(32 * MIB, 64 * 1024, 1024 * MIB),
  API_BODY_LIMIT_BYTES: intFrom(MIB, 1024, 100 * MIB),
  HTTP_MAX_CONNECTIONS: intFrom(1000, 10, 1_000_000),
  HTTP_HEADERS_TIMEOUT_SECONDS: intFrom(10, 1, 300),
  HTTP_REQUEST_TIMEOUT_SECONDS: intFrom(30, 1, 3_600),
  HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: intFrom(5, 1, 300),
  AUTH_FAILURES_PER_MINUTE: intFrom(10, 1, 10_000),
  TRUST_PROXY: bool(false),
  CLOCK_SKEW_TOLERANCE_SECONDS: intFrom(600, 0, 86_400),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Env = Record<string, string | undefined>;

/** Every variable the configuration reads; the library's options are their camelCase forms (src/embed/options.ts). */
export type EnvName = keyof typeof envSchema.shape;
export const ENV_NAMES = Object.keys(envSchema.shape) as EnvName[];
/** Each variable's value once parsed (a number, a flag, a list, …): what a library option may also be given as. */
export type EnvValues = z.output<typeof envSchema>;

/** Typed configuration of the daemon, parsed once from the environment. */
export interface Config {
  port: number;
  host: string;
  databasePath: string;
  /** DATABASE_PATH was set in the environment (not the default): storageChoice says it is not used when DATABASE_URL wins. */
  databasePathGiven: boolean;
  /** DATABASE_URL: Postgres instead of SQLite. A secret (it may hold the password): never log it, see redactUrl. */
  databaseUrl: string | undefined;
  /** Accepted webhook secrets; any one matching verifies a delivery (rotation). Empty: not set. */
  webhookSecrets: string[];
  adminToken: string | undefined;
  /** METRICS_TOKEN: when set, `GET /metrics` needs `Authorization: Bearer <it>`; unset, /metrics is open (the contract's default). */
  metricsToken: string | undefined;
  enode: {
    env: 'sandbox' | 'production';
    apiUrl: string;
    oauthUrl: string;
    clientId: string | undefined;
    clientSecret: string | undefined;
    webhookId: string | undefined;
  };
  pollIntervalSeconds: number;
  resyncIntervalMinutes: number;
  webhookHealthIntervalSeconds: number;
  /** Request budget shared by every job (token bucket: this many per minute, bursts up to a tenth). */
  enodeRequestsPerMinute: number;
  alerts: {
    webhookUrls: string[];
    webhookSecret: string | undefined;
    slackWebhookUrl: string | undefined;
    /** ALERT_WEBHOOK_TYPES: alert types the signed webhooks receive (default: all but action.cancelled; `*`: all). */
    webhookTypes: AlertType[];
    /** ALERT_SLACK_TYPES: alert types Slack receives (same default). */
    slackTypes: AlertType[];
    /** ALERT_DISPATCH_INTERVAL_SECONDS: how often each sink's due deliveries are sent. */
    dispatchIntervalSeconds: number;
    /** ALERT_TIMEOUT_SECONDS: one delivery attempt's time limit. */
    timeoutSeconds: number;
    /** PUBLIC_URL: base URL of this daemon; makes the links in alerts absolute. */
    publicUrl: string | undefined;
  };
  subscriptions: {
    /** SUBSCRIPTION_ALLOW_PRIVATE_URLS: subscription URLs may point at private, loopback and link-local addresses (README "Subscriptions"). */
    allowPrivateUrls: boolean;
  };
  dailyCommandLimit: number;
  interferenceGraceSeconds: number;
  interference: {
    /** ACTION_MATCH_WINDOW_SECONDS: a CONFIRMED own action explains a matching change this close to its confirmation. */
    matchWindowSeconds: number;
    /** INTENT_TTL_SECONDS: how long a confirmed own action's value stays our intent. */
    intentTtlSeconds: number;
    /** PLUG_IN_AUTO_START_NATURAL: charging that starts at plug-in is natural (default) or a finding. */
    plugInAutoStartIsNatural: boolean;
    /** RECONCILE_INTERVAL_SECONDS: how often changed devices are reconciled. */
    reconcileIntervalSeconds: number;
  };
  webhookBodyLimitBytes: number;
  /** Limits and timeouts of the HTTP edge (README "Security"). */
  http: {
    /** WEBHOOK_BODY_TIMEOUT_SECONDS: a webhook body must arrive whole within this after its headers. */
    webhookBodyTimeoutSeconds: number;
    /** WEBHOOK_UNVERIFIED_BYTES_LIMIT: bytes of not yet verified webhook bodies held at once; past it, 503. */
    webhookUnverifiedBytesLimit: number;
    /** API_BODY_LIMIT_BYTES: largest request body of the admin API (read only once the token is right). */
    apiBodyLimitBytes: number;
    /** HTTP_MAX_CONNECTIONS: open connections at once; past it the oldest idle, half-sent or body-less one is closed. */
    maxConnections: number;
    /** HTTP_HEADERS_TIMEOUT_SECONDS: time to receive a request's headers. */
    headersTimeoutSeconds: number;
    /** HTTP_REQUEST_TIMEOUT_SECONDS: time to receive a whole request. */
    requestTimeoutSeconds: number;
    /** HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: how long an idle keep-alive connection stays open. */
    keepAliveTimeoutSeconds: number;
    /** AUTH_FAILURES_PER_MINUTE: failed logins or bearer tokens per client address before 429. */
    authFailuresPerMinute: number;
    /** TRUST_PROXY: believe X-Forwarded-For / X-Forwarded-Proto (only behind a proxy that sets them). */
    trustProxy: boolean;
  };
  /** CLOCK_SKEW_TOLERANCE_SECONDS: a payload time further ahead of its receive time is recorded but never wins a merge. */
  clockSkewToleranceSeconds: number;
  /** RETENTION_DAYS (0: keep everything) and how often the retention job runs. */
  retention: { days: number; intervalMinutes: number };
  /**
   * `GET /api/v1/events/stream`: a comment every EVENTS_STREAM_KEEPALIVE_SECONDS without events,
   * the log read every EVENTS_STREAM_POLL_MS while clients are connected, at most
   * EVENTS_STREAM_BUFFER_EVENTS events waiting per client (more: it catches up from the log at
   * its pace), and a client that takes nothing from a full buffer for EVENTS_STREAM_SLOW_SECONDS is
   * disconnected as slow.
   */
  eventsStream: { keepAliveSeconds: number; pollMs: number; bufferEvents: number; slowSeconds: number };
  logLevel: string;
}

/** Thrown when the environment is invalid; the message names every bad variable at once. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  /** Variables that must be present (e.g. `serve` needs the webhook secret and admin token). */
  require?: Array<'ENODE_WEBHOOK_SECRET' | 'ADMIN_TOKEN'>;
}

/** Parses and validates the environment into a typed Config; every problem is reported together. */
export function loadConfig(env: Env, options: LoadConfigOptions = {}): Config {
  // Each variable on its own, so that one bad value never hides another, nor the checks across them.
  const problems: string[] = [];
  const values: Partial<Record<EnvName, unknown>> = {};
  for (const name of ENV_NAMES) {
    const parsed = envSchema.shape[name].safeParse(env[name]);
    if (parsed.success) {
      values[name] = parsed.data;
      continue;
    }
    const value = env[name];
    // Never echo secrets back, even in an error (webhook URLs of Slack and others are secrets too).
    const shown = /SECRET|TOKEN|URL/.test(name) || value === undefined ? '' : `, got "${value}"`;
    for (const message of new Set(parsed.error.issues.map((i) => i.message))) problems.push(`${name}: ${message}${shown}`);
  }
  for (const name of options.require ?? []) {
    if (!env[name] || env[name]?.trim() === '') {
      if (!problems.some((p) => p.startsWith(`${name}:`))) problems.push(`${name}: is required`);
    }
  }
  const v = values as Partial<EnvValues>;
  if ('ENODE_CLIENT_ID' in v && 'ENODE_CLIENT_SECRET' in v && (v.ENODE_CLIENT_ID === undefined) !== (v.ENODE_CLIENT_SECRET === undefined)) {
    problems.push('ENODE_CLIENT_ID and ENODE_CLIENT_SECRET: set both or neither');
  }
  if (v.WEBHOOK_UNVERIFIED_BYTES_LIMIT !== undefined && v.WEBHOOK_BODY_LIMIT_BYTES !== undefined && v.WEBHOOK_UNVERIFIED_BYTES_LIMIT < v.WEBHOOK_BODY_LIMIT_BYTES) {
    // A genuine body over the budget would be answered 503 at every retry, forever.
    problems.push(`WEBHOOK_UNVERIFIED_BYTES_LIMIT: must be at least WEBHOOK_BODY_LIMIT_BYTES (${v.WEBHOOK_BODY_LIMIT_BYTES}), or one whole webhook body could never be received`);
  }
  if (v.ALERT_WEBHOOK_URLS !== undefined && v.ALERT_WEBHOOK_URLS.length > 0 && 'ALERT_WEBHOOK_SECRET' in v && v.ALERT_WEBHOOK_SECRET === undefined) {
    problems.push('ALERT_WEBHOOK_SECRET: is required when ALERT_WEBHOOK_URLS is set (alert webhooks are signed)');
  }
  const webhookTypes = parseTypeFilter(v.ALERT_WEBHOOK_TYPES ?? []);
  const slackTypes = parseTypeFilter(v.ALERT_SLACK_TYPES ?? []);
  for (const [name, filter] of [['ALERT_WEBHOOK_TYPES', webhookTypes], ['ALERT_SLACK_TYPES', slackTypes]] as const) {
    if (filter.unknown.length > 0) problems.push(`${name}: unknown alert type ${filter.unknown.map((u) => `"${u}"`).join(', ')} (known: ${ALERT_TYPES.join(', ')}, or *)`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const e = v as EnvValues;

  const urls = ENODE_URLS[e.ENODE_ENV];
  return {
    port: e.PORT,
    host: e.HOST,
    databasePath: e.DATABASE_PATH,
    databasePathGiven: env.DATABASE_PATH !== undefined && env.DATABASE_PATH !== '',
    databaseUrl: e.DATABASE_URL,
    webhookSecrets: e.ENODE_WEBHOOK_SECRET ?? [],
    adminToken: e.ADMIN_TOKEN,
    metricsToken: e.METRICS_TOKEN,
    enode: {
      env: e.ENODE_ENV,
      apiUrl: (e.ENODE_API_URL ?? urls.apiUrl).replace(/\/+$/, ''),
      oauthUrl: e.ENODE_OAUTH_URL ?? urls.oauthUrl,
      clientId: e.ENODE_CLIENT_ID,
      clientSecret: e.ENODE_CLIENT_SECRET,
      webhookId: e.ENODE_WEBHOOK_ID,
    },
    pollIntervalSeconds: e.POLL_INTERVAL_SECONDS,
    resyncIntervalMinutes: e.RESYNC_INTERVAL_MINUTES,
    webhookHealthIntervalSeconds: e.WEBHOOK_HEALTH_INTERVAL_SECONDS,
    enodeRequestsPerMinute: e.ENODE_REQUESTS_PER_MINUTE,
    alerts: {
      webhookUrls: e.ALERT_WEBHOOK_URLS,
      webhookSecret: e.ALERT_WEBHOOK_SECRET,
      slackWebhookUrl: e.ALERT_SLACK_WEBHOOK_URL,
      webhookTypes: webhookTypes.types,
      slackTypes: slackTypes.types,
      dispatchIntervalSeconds: e.ALERT_DISPATCH_INTERVAL_SECONDS,
      timeoutSeconds: e.ALERT_TIMEOUT_SECONDS,
      publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    },
    subscriptions: { allowPrivateUrls: e.SUBSCRIPTION_ALLOW_PRIVATE_URLS },
    dailyCommandLimit: e.DAILY_COMMAND_LIMIT,
    interferenceGraceSeconds: e.INTERFERENCE_GRACE_SECONDS,
    interference: {
      matchWindowSeconds: e.ACTION_MATCH_WINDOW_SECONDS,
      intentTtlSeconds: e.INTENT_TTL_SECONDS,
      plugInAutoStartIsNatural: e.PLUG_IN_AUTO_START_NATURAL,
      reconcileIntervalSeconds: e.RECONCILE_INTERVAL_SECONDS,
    },
    webhookBodyLimitBytes: e.WEBHOOK_BODY_LIMIT_BYTES,
    http: {
      webhookBodyTimeoutSeconds: e.WEBHOOK_BODY_TIMEOUT_SECONDS,
      webhookUnverifiedBytesLimit: e.WEBHOOK_UNVERIFIED_BYTES_LIMIT,
      apiBodyLimitBytes: e.API_BODY_LIMIT_BYTES,
      maxConnections: e.HTTP_MAX_CONNECTIONS,
      headersTimeoutSeconds: e.HTTP_HEADERS_TIMEOUT_SECONDS,
      requestTimeoutSeconds: e.HTTP_REQUEST_TIMEOUT_SECONDS,
      keepAliveTimeoutSeconds: e.HTTP_KEEP_ALIVE_TIMEOUT_SECONDS,
      authFailuresPerMinute: e.AUTH_FAILURES_PER_MINUTE,
      trustProxy: e.TRUST_PROXY,
    },
    clockSkewToleranceSeconds: e.CLOCK_SKEW_TOLERANCE_SECONDS,
    retention: { days: e.RETENTION_DAYS, intervalMinutes: e.RETENTION_INTERVAL_MINUTES },
    eventsStream: { keepAliveSeconds: e.EVENTS_STREAM_KEEPALIVE_SECONDS, pollMs: e.EVENTS_STREAM_POLL_MS, bufferEvents: e.EVENTS_STREAM_BUFFER_EVENTS, slowSeconds: e.EVENTS_STREAM_SLOW_SECONDS },
    logLevel: e.LOG_LEVEL,
  };
}

/** Which database the daemon uses: Postgres when DATABASE_URL is set, otherwise the SQLite file. */
export type StorageChoice = { engine: 'postgres'; url: string; ignoredPath?: string } | { engine: 'sqlite'; path: string };

/**
 * DATABASE_URL wins over DATABASE_PATH, and the SQLite path is then never touched; `ignoredPath`
 * is the path that was given explicitly and is not used, for the start-up log. Pure.
 */
export function storageChoice(config: Pick<Config, 'databaseUrl' | 'databasePath' | 'databasePathGiven'>): StorageChoice {
  if (config.databaseUrl === undefined) return { engine: 'sqlite', path: config.databasePath };
  return config.databasePathGiven ? { engine: 'postgres', url: config.databaseUrl, ignoredPath: config.databasePath } : { engine: 'postgres', url: config.databaseUrl };
}

/** Shortest webhook secret and admin token that start without a warning (characters). */
export const MIN_WEBHOOK_SECRET_CHARS = 24;
export const MIN_ADMIN_TOKEN_CHARS = 32;

/**
 * Why a secret looks guessable, or undefined: too few distinct characters, little Shannon entropy
 * over its length (random hex of 32 characters has about 120 bits; under 96 is a word or a
 * pattern), a repeated unit (`abcabcabc`) or a run of 8 (`aaaaaaaa`, `12345678`, `abcdefgh`).
 */
export function weakSecretReason(secret: string): string | undefined {
  const chars = [...secret];
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  if (counts.size < 10) return 'has fewer than 10 distinct characters';
  let bitsPerChar = 0;
  for (const n of counts.values()) bitsPerChar -= (n / chars.length) * Math.log2(n / chars.length);
  if (bitsPerChar * chars.length < 96) return 'has little entropy for its length';
  if (/^(.+?)\1+$/su.test(secret)) return 'repeats one short part';
  // A run: each character equal to the one before, or one code point after (or before) it, in the same direction.
  const points = chars.map((c) => c.codePointAt(0) ?? 0);
  let run = 1;
  let lastStep = NaN;
  for (let i = 1; i < points.length; i++) {
    const step = (points[i] ?? 0) - (points[i - 1] ?? 0);
    run = Math.abs(step) > 1 ? 1 : step === lastStep ? run + 1 : 2;
    lastStep = step;
    if (run >= 8) return 'contains a run such as "aaaaaaaa" or "12345678"';
  }
  return undefined;
}

/**
 * What is accepted but unwise in a configuration, one sentence each, to log at start. Pure; no
 * sentence ever contains a secret's value or length.
 */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  const advice = 'use a random value, e.g. `openssl rand -hex 32`';
  config.webhookSecrets.forEach((secret, i) => {
    const which = config.webhookSecrets.length > 1 ? `ENODE_WEBHOOK_SECRET (secret ${i + 1} of ${config.webhookSecrets.length})` : 'ENODE_WEBHOOK_SECRET';
    const why = secret.length < MIN_WEBHOOK_SECRET_CHARS ? `is shorter than ${MIN_WEBHOOK_SECRET_CHARS} characters` : weakSecretReason(secret);
    if (why) warnings.push(`${which} ${why}: anyone who guesses it can sign webhooks; ${advice} and set the same secret on the Enode webhook`);
  });
  const token = config.adminToken;
  if (token !== undefined) {
    const why = token.length < MIN_ADMIN_TOKEN_CHARS ? `is shorter than ${MIN_ADMIN_TOKEN_CHARS} characters` : weakSecretReason(token);
    if (why) warnings.push(`ADMIN_TOKEN ${why}: it opens the admin API, the dashboard and the command gateway; ${advice}`);
  }
  const metricsToken = config.metricsToken;
  if (metricsToken !== undefined) {
    const why = metricsToken.length < MIN_ADMIN_TOKEN_CHARS ? `is shorter than ${MIN_ADMIN_TOKEN_CHARS} characters` : weakSecretReason(metricsToken);
    if (why) warnings.push(`METRICS_TOKEN ${why}: it opens /metrics; ${advice}`);
  }
  // TRUST_PROXY with HOST 0.0.0.0 is not flagged: in a container that is the normal setup, with
  // the port published on the host's loopback for the proxy (docker-compose.yml).
  const publicUrl = config.alerts.publicUrl;
  if (publicUrl?.startsWith('http://') && !/^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(\/|$)/.test(publicUrl)) {
    warnings.push('PUBLIC_URL uses plain http: the dashboard session cookie and bearer tokens would cross the network unencrypted; serve it through TLS (https)');
  }
  return warnings;
}
