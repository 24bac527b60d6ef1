import { DEFAULTS, resolveOptions, type FleetSize, type SimulatorOptions } from './options.js';
import { createSimulator, type ListeningSimulator, type Simulator } from './simulator.js';
import { silentSimLogger, type SimLogger } from './types.js';

type Kind = 'int' | 'number' | 'rate' | 'range' | 'string' | 'tokenClock' | 'url' | 'iso';

interface FlagSpec {
  key: keyof SimulatorOptions | `fleet.${keyof FleetSize}`;
  kind: Kind;
  help: string;
}

/** CLI flags; each also reads `SIM_<FLAG_IN_UPPER_SNAKE>` from the environment (flags win). */
const FLAGS: Record<string, FlagSpec> = {
  port: { key: 'port', kind: 'int', help: `listen port (0 = any free port; default ${DEFAULTS.port})` },
  host: { key: 'host', kind: 'string', help: `listen host (default ${DEFAULTS.host})` },
  seed: { key: 'seed', kind: 'int', help: `PRNG seed (default ${DEFAULTS.seed})` },
  devices: { key: 'devices', kind: 'int', help: `fleet size, split across types (default ${DEFAULTS.devices})` },
  vehicles: { key: 'fleet.vehicles', kind: 'int', help: 'number of vehicles (overrides the split)' },
  chargers: { key: 'fleet.chargers', kind: 'int', help: 'number of chargers' },
  hvacs: { key: 'fleet.hvacs', kind: 'int', help: 'number of HVAC units' },
  batteries: { key: 'fleet.batteries', kind: 'int', help: 'number of batteries' },
  'start-time': { key: 'startTime', kind: 'iso', help: 'sim start time, ISO (default: now)' },
  'time-scale': { key: 'timeScale', kind: 'number', help: `sim seconds per wall second (default ${DEFAULTS.timeScale})` },
  'tick-seconds': { key: 'tickSeconds', kind: 'number', help: `physics step in sim seconds (default ${DEFAULTS.tickSeconds})` },
  'activity-rate': { key: 'userActivityRate', kind: 'number', help: 'multiplier of random plug-in/out and driving (0 = none; default 1)' },
  'incapable-rate': { key: 'incapableRate', kind: 'rate', help: `share of devices lacking a control capability (default ${DEFAULTS.incapableRate})` },
  'client-id': { key: 'clientId', kind: 'string', help: `OAuth client id (default ${DEFAULTS.clientId})` },
  'client-secret': { key: 'clientSecret', kind: 'string', help: `OAuth client secret (default ${DEFAULTS.clientSecret})` },
  'token-ttl-seconds': { key: 'tokenTtlSeconds', kind: 'int', help: `access token lifetime (default ${DEFAULTS.tokenTtlSeconds})` },
  'token-clock': { key: 'tokenClock', kind: 'tokenClock', help: "whether token lifetimes count 'sim' or 'wall' time (default wall)" },
  'admin-token': { key: 'adminToken', kind: 'string', help: 'bearer token required by /_sim/* (default: open)' },
  'action-delay-seconds': { key: 'actionDelaySeconds', kind: 'range', help: 'sim seconds until a device applies an action, N or MIN-MAX (default 10-60)' },
  'no-response-rate': { key: 'noResponseRate', kind: 'rate', help: `probability a device ignores an action (default ${DEFAULTS.noResponseRate})` },
  'action-timeout-seconds': { key: 'actionTimeoutSeconds', kind: 'number', help: 'sim seconds before an ignored action FAILS (default 1800)' },
  'interference-rate': { key: 'interferenceRate', kind: 'number', help: `third-party changes per device per sim hour (default ${DEFAULTS.interferenceRate})` },
  'schedules-share': { key: 'schedulesShare', kind: 'rate', help: 'share of vehicles, chargers and HVACs with an enabled Enode Schedule at start (default 0)' },
  'smart-charging-share': { key: 'smartChargingShare', kind: 'rate', help: 'share of vehicles with smart charging enabled at start, deadline 07:00 (default 0)' },
  'error-rate': { key: 'errorRate', kind: 'rate', help: 'probability of a simulated 5xx per API request (default 0)' },
  'rate-limit-rate': { key: 'rateLimitRate', kind: 'rate', help: 'probability of a simulated 429 per API request (default 0)' },
  'webhook-url': { key: 'webhookUrl', kind: 'url', help: 'create a webhook to this URL at start' },
  'webhook-secret': { key: 'webhookSecret', kind: 'string', help: 'secret of that webhook (required with --webhook-url)' },
  'drop-rate': { key: 'dropRate', kind: 'rate', help: 'probability an event is never delivered (default 0)' },
  'duplicate-rate': { key: 'duplicateRate', kind: 'rate', help: 'probability a delivered event is delivered again (default 0)' },
  'reorder-rate': { key: 'reorderRate', kind: 'rate', help: 'probability a batch is shuffled / an event is held back (default 0)' },
  'delay-ms': { key: 'delayMs', kind: 'range', help: 'sim ms a batch waits before sending, N or MIN-MAX (default 0)' },
  'batch-size': { key: 'maxBatchSize', kind: 'int', help: 'max events per delivery, 1-100 (default 100)' },
  'retry-max-attempts': { key: 'retryMaxAttempts', kind: 'int', help: `attempts before a webhook is deactivated (default ${DEFAULTS.retryMaxAttempts})` },
  'retry-base-seconds': { key: 'retryBaseSeconds', kind: 'number', help: `first retry interval, sim seconds (default ${DEFAULTS.retryBaseSeconds})` },
  'retry-factor': { key: 'retryFactor', kind: 'number', help: `growth of retry intervals (default ${DEFAULTS.retryFactor})` },
  'delivery-timeout-ms': { key: 'deliveryTimeoutMs', kind: 'int', help: 'per-attempt HTTP timeout, wall ms (default 5000)' },
  'heartbeat-seconds': { key: 'heartbeatSeconds', kind: 'number', help: `sim seconds between system:heartbeat events, 0 = off (default ${DEFAULTS.heartbeatSeconds})` },
};

export function envName(flag: string): string {
  return `SIM_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Usage text listing every flag and its environment variable. */
export const SIMULATOR_USAGE = [
  'Usage: enode-sync simulate [flags]   (each flag can also be set as SIM_<FLAG>, e.g. SIM_DROP_RATE)',
  ...Object.entries(FLAGS).map(([flag, spec]) => `  --${flag.padEnd(24)} ${spec.help}  [${envName(flag)}]`),
].join('\n');

export class SimulatorUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatorUsageError';
  }
}

function parseValue(kind: Kind, raw: string): { ok: true; value: unknown } | { ok: false; why: string } {
  const num = (s: string) => (s.trim() === '' ? NaN : Number(s));
  switch (kind) {
    case 'int': {
      const n = num(raw);
      return Number.isInteger(n) && n >= 0 ? { ok: true, value: n } : { ok: false, why: 'must be a non-negative integer' };
    }
    case 'number': {
      const n = num(raw);
      return Number.isFinite(n) && n >= 0 ? { ok: true, value: n } : { ok: false, why: 'must be a non-negative number' };
    }
    case 'rate': {
      const n = num(raw);
      return n >= 0 && n <= 1 ? { ok: true, value: n } : { ok: false, why: 'must be a number between 0 and 1' };
    }
    case 'range': {
      const m = /^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?))?\s*$/.exec(raw);
      if (!m) return { ok: false, why: 'must be N or MIN-MAX (non-negative numbers)' };
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : Number(m[2]);
      return max >= min ? { ok: true, value: [min, max] } : { ok: false, why: 'MIN must not exceed MAX' };
    }
    case 'string':
      return raw.length > 0 ? { ok: true, value: raw } : { ok: false, why: 'must not be empty' };
    case 'tokenClock':
      return raw === 'sim' || raw === 'wall' ? { ok: true, value: raw } : { ok: false, why: "must be 'sim' or 'wall'" };
    case 'url':
      try {
        const u = new URL(raw);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
        return { ok: true, value: raw };
      } catch {
        return { ok: false, why: 'must be an http(s) URL' };
      }
    case 'iso':
      return Number.isNaN(Date.parse(raw)) ? { ok: false, why: 'must be an ISO date-time' } : { ok: true, value: new Date(raw).toISOString() };
  }
}

/**
 * Reads simulator options from CLI flags (`--flag value` or `--flag=value`) and `SIM_*`
 * environment variables (flags win). Throws one error listing every bad flag or variable;
 * `--help` throws a SimulatorUsageError carrying the usage text. The start time defaults to now.
 */
export function parseSimulatorOptions(argv: readonly string[], env: Record<string, string | undefined>): SimulatorOptions {
  const errors: string[] = [];
  const raw = new Map<string, { value: string; source: string }>();

  for (const flag of Object.keys(FLAGS)) {
    const v = env[envName(flag)];
    if (v !== undefined && v !== '') raw.set(flag, { value: v, source: envName(flag) });
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') throw new SimulatorUsageError(SIMULATOR_USAGE);
    if (!arg.startsWith('--')) {
      errors.push(`unexpected argument "${arg}"`);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    if (!(name in FLAGS)) {
      errors.push(`--${name}: unknown flag`);
      if (eq < 0 && argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith('--')) i++;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith('--')) value = argv[++i];
    if (value === undefined) {
      errors.push(`--${name}: missing value`);
      continue;
    }
    raw.set(name, { value, source: `--${name}` });
  }

  const out: Record<string, unknown> = {};
  const fleet: Partial<FleetSize> = {};
  for (const [flag, { value, source }] of raw) {
    const spec = FLAGS[flag] as FlagSpec;
    const parsed = parseValue(spec.kind, value);
    if (!parsed.ok) {
      errors.push(`${source}: ${parsed.why} (got "${value}")`);
      continue;
    }
    if (spec.key.startsWith('fleet.')) fleet[spec.key.slice(6) as keyof FleetSize] = parsed.value as number;
    else out[spec.key] = parsed.value;
  }
  if (Object.keys(fleet).length > 0) out['fleet'] = fleet;
  if (out['startTime'] === undefined) out['startTime'] = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();

  if (errors.length === 0) {
    try {
      return resolveOptions(out as Partial<SimulatorOptions>);
    } catch (err) {
      errors.push((err as Error).message.replace(/^Invalid simulator options:\n\s*- /, '').replace(/\n\s*- /g, '\n'));
    }
  }
  throw new Error(`Invalid simulator options:\n  ${errors.join('\n  ')}\nRun with --help for the list of flags.`);
}

export interface RunningSimulator extends ListeningSimulator {
  simulator: Simulator;
  clientId: string;
  clientSecret: string;
  /** Token endpoint: `${url}/oauth2/token`. */
  oauthUrl: string;
  webhookId: string | null;
}

/**
 * `enode-sync simulate`: parses flags/env, starts the simulator in real-time mode, serves it and
 * logs where to point a client. Signal handling and exit belong to the caller.
 */
export async function runSimulatorCli(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  logger: SimLogger = silentSimLogger,
): Promise<RunningSimulator> {
  const options = parseSimulatorOptions(argv, env);
  const simulator = createSimulator({ ...options, logger });
  const listening = await simulator.listen(options.port, options.host);
  simulator.start();
  const oauthUrl = `${listening.url}/oauth2/token`;
  const state = simulator.state();
  logger.info(
    {
      url: listening.url,
      oauthUrl,
      clientId: options.clientId,
      seed: options.seed,
      timeScale: options.timeScale,
      devices: state.devices,
      webhook: options.webhookUrl ? { id: simulator.defaultWebhookId, url: options.webhookUrl } : null,
    },
    `Enode simulator at ${listening.url} — ENODE_API_URL=${listening.url} ENODE_OAUTH_URL=${oauthUrl} ` +
      `ENODE_CLIENT_ID=${options.clientId} ENODE_CLIENT_SECRET=${options.clientSecret}` +
      (options.webhookUrl ? ` ENODE_WEBHOOK_ID=${simulator.defaultWebhookId ?? ''}; delivering webhooks to ${options.webhookUrl}` : '; no webhook configured'),
  );
  return {
    ...listening,
    simulator,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    oauthUrl,
    webhookId: simulator.defaultWebhookId,
    close: async () => {
      await simulator.close();
    },
  };
}
