import type { SimLogger } from './types.js';

export type NumberRange = readonly [min: number, max: number];

export interface FleetSize {
  vehicles: number;
  chargers: number;
  hvacs: number;
  batteries: number;
}

/** Every knob of the simulator. All optional for `createSimulator`; see DEFAULTS. */
export interface SimulatorOptions {
  /** PRNG seed: same seed and same inputs ⇒ same run. */
  seed: number;
  /** Total fleet size, split across types (40 % vehicles, 25 % chargers, 20 % HVACs, rest batteries). */
  devices: number;
  /** Exact counts per type; overrides `devices` where given. */
  fleet?: Partial<FleetSize>;
  /** Sim start time (ISO). */
  startTime: string;
  /** Sim seconds per wall second in real-time mode (`start()`). */
  timeScale: number;
  /** World physics step, sim seconds. */
  tickSeconds: number;
  /** Wall milliseconds between real-time ticks. */
  realtimeIntervalMs: number;
  /** Multiplier of random user behaviour (plug in/out, driving); 0 disables it. */
  userActivityRate: number;
  /** Probability that a device reports a control capability as not capable. */
  incapableRate: number;

  // OAuth
  clientId: string;
  clientSecret: string;
  tokenTtlSeconds: number;
  /** Whether token lifetimes count sim time or wall time. */
  tokenClock: 'sim' | 'wall';
  /** Bearer token for /_sim/* endpoints; when unset they are open. */
  adminToken?: string;

  // Actions
  /** Sim seconds until a responsive device applies an action (uniform in range). */
  actionDelaySeconds: NumberRange;
  /** Probability that a device ignores an action (it then FAILS with NO_RESPONSE). */
  noResponseRate: number;
  /** Sim seconds a PENDING action waits before failing with NO_RESPONSE. */
  actionTimeoutSeconds: number;

  /** Third-party changes per device per sim hour. */
  interferenceRate: number;

  // Enode automations (the other two levels of control)
  /** Share of vehicles, chargers and HVACs given an enabled Enode Schedule at start (by seed). */
  schedulesShare: number;
  /** Share of vehicles (without a schedule) with the smart charging policy enabled at start, deadline 07:00. */
  smartChargingShare: number;

  // API faults
  /** Probability of a 5xx problem on an API request. */
  errorRate: number;
  /** Probability of a 429 problem (with Retry-After) on an API request. */
  rateLimitRate: number;

  // Webhooks
  webhookUrl?: string;
  webhookSecret?: string;
  dropRate: number;
  duplicateRate: number;
  reorderRate: number;
  /** Sim milliseconds a batch waits before it is sent (uniform in range). */
  delayMs: NumberRange;
  maxBatchSize: number;
  /** Attempts per batch before the webhook is deactivated and its queue dropped. */
  retryMaxAttempts: number;
  /** First retry interval, sim seconds; each next one is `retryFactor` times longer. */
  retryBaseSeconds: number;
  retryFactor: number;
  /** Per-attempt HTTP timeout, wall milliseconds. */
  deliveryTimeoutMs: number;
  /** Sim seconds between system:heartbeat events; 0 disables. */
  heartbeatSeconds: number;

  // Server (CLI)
  port: number;
  host: string;

  logger?: SimLogger;
  /** Injected fetch for webhook delivery (tests); defaults to global fetch. */
  fetch?: typeof fetch;
}

export const DEFAULTS: SimulatorOptions = {
  seed: 1,
  devices: 20,
  startTime: '2025-01-06T06:00:00.000Z',
  timeScale: 1,
  tickSeconds: 60,
  realtimeIntervalMs: 250,
  userActivityRate: 1,
  incapableRate: 0.1,
  clientId: 'enode-sim-client',
  clientSecret: 'enode-sim-secret',
  tokenTtlSeconds: 3599,
  tokenClock: 'wall',
  actionDelaySeconds: [10, 60],
  noResponseRate: 0.05,
  actionTimeoutSeconds: 30 * 60,
  interferenceRate: 0.05,
  schedulesShare: 0,
  smartChargingShare: 0,
  errorRate: 0,
  rateLimitRate: 0,
  dropRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  delayMs: [0, 0],
  maxBatchSize: 100,
  retryMaxAttempts: 8,
  retryBaseSeconds: 30,
  retryFactor: 3,
  deliveryTimeoutMs: 5000,
  heartbeatSeconds: 600,
  port: 7070,
  host: '127.0.0.1',
};

/** Fills defaults and checks values; throws one error naming every bad option. */
export function resolveOptions(input: Partial<SimulatorOptions> = {}): SimulatorOptions {
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const o = { ...DEFAULTS, ...defined } as SimulatorOptions;
  const errors: string[] = [];
  const rate = (name: keyof SimulatorOptions) => {
    const v = o[name];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) errors.push(`${name} must be a number in [0, 1]`);
  };
  const positive = (name: keyof SimulatorOptions, allowZero = false) => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
      errors.push(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number`);
    }
  };
  const range = (name: 'actionDelaySeconds' | 'delayMs') => {
    const [a, b] = o[name];
    if (!(a >= 0 && b >= a)) errors.push(`${name} must be a range [min, max] with 0 ≤ min ≤ max`);
  };
  for (const r of ['incapableRate', 'noResponseRate', 'errorRate', 'rateLimitRate', 'dropRate', 'duplicateRate', 'reorderRate', 'schedulesShare', 'smartChargingShare'] as const) rate(r);
  for (const p of ['timeScale', 'tickSeconds', 'realtimeIntervalMs', 'tokenTtlSeconds', 'actionTimeoutSeconds', 'retryBaseSeconds', 'deliveryTimeoutMs'] as const) positive(p);
  for (const p of ['userActivityRate', 'interferenceRate', 'heartbeatSeconds', 'port'] as const) positive(p, true);
  range('actionDelaySeconds');
  range('delayMs');
  if (!Number.isInteger(o.seed)) errors.push('seed must be an integer');
  if (!Number.isInteger(o.devices) || o.devices < 0) errors.push('devices must be a non-negative integer');
  if (!Number.isInteger(o.maxBatchSize) || o.maxBatchSize < 1 || o.maxBatchSize > 100) errors.push('maxBatchSize must be an integer in [1, 100]');
  if (!Number.isInteger(o.retryMaxAttempts) || o.retryMaxAttempts < 1) errors.push('retryMaxAttempts must be an integer ≥ 1');
  if (!(o.retryFactor >= 1)) errors.push('retryFactor must be ≥ 1');
  if (o.tokenClock !== 'sim' && o.tokenClock !== 'wall') errors.push("tokenClock must be 'sim' or 'wall'");
  if (Number.isNaN(new Date(o.startTime).getTime())) errors.push('startTime must be an ISO date-time');
  if (o.webhookUrl !== undefined && !o.webhookSecret) errors.push('webhookSecret is required when webhookUrl is set');
  if (o.webhookSecret !== undefined && (o.webhookSecret.length < 6 || o.webhookSecret.length > 256)) errors.push('webhookSecret must be 6–256 characters');
  if (o.fleet) {
    for (const [k, v] of Object.entries(o.fleet)) {
      if (v !== undefined && (!Number.isInteger(v) || v < 0)) errors.push(`fleet.${k} must be a non-negative integer`);
    }
  }
  if (errors.length > 0) throw new Error(`Invalid simulator options:\n  - ${errors.join('\n  - ')}`);
  return o;
}

/** Counts per device type for these options. */
export function fleetSize(o: Pick<SimulatorOptions, 'devices' | 'fleet'>): FleetSize {
  const n = o.devices;
  const vehicles = Math.round(n * 0.4);
  const chargers = Math.round(n * 0.25);
  const hvacs = Math.round(n * 0.2);
  const base: FleetSize = { vehicles, chargers, hvacs, batteries: Math.max(0, n - vehicles - chargers - hvacs) };
  return { ...base, ...Object.fromEntries(Object.entries(o.fleet ?? {}).filter(([, v]) => v !== undefined)) };
}
