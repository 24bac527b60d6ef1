/**
 * The Enode simulator: a fake Enode API (OAuth2, devices, actions, webhooks) over a seeded world
 * on simulated time, with fault knobs and a ground-truth log. See createSimulator and
 * runSimulatorCli.
 */
export { createSimulator, type ListeningSimulator, type Simulator } from './simulator.js';
export { parseSimulatorOptions, runSimulatorCli, SIMULATOR_USAGE, SimulatorUsageError, type RunningSimulator } from './cli.js';
export { DEFAULTS as SIMULATOR_DEFAULTS, resolveOptions, fleetSize, type FleetSize, type NumberRange, type SimulatorOptions } from './options.js';
export { SimApiClient, inProcessFetch, pickDevices, canControlCharging, type ApiResult, type FetchLike, type SimApiClientOptions } from './client.js';
export { SimClock } from './clock.js';
export { Rng, deriveRng } from './random.js';
export type { TruthSnapshot } from './truth.js';
export type { SimStateSummary } from './http/context.js';
export type { World, DeviceRecord, ChangeContext, FieldChange } from './world.js';
export type { Automation, ScheduleInput, SmartOverrideView } from './automation.js';
export type { WebhookView, WebhookTestResult } from './webhooks.js';
export * from './types.js';
