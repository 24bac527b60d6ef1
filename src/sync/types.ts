import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { EnodeApi } from '../enode/index.js';
import type { Leases } from '../store/leases.js';
import type { Store } from '../store/port.js';
import type { ReadStore } from '../store/read.js';
import type { Logger } from '../logger.js';

export type ControllableType = 'vehicle' | 'charger' | 'hvac' | 'battery';

/** What the sync jobs need of the Enode client; tests may hand in a fake. */
export type SyncEnodeApi = Pick<EnodeApi, 'getAction' | 'getDevice' | 'listDevices' | 'getWebhook' | 'testWebhook'>;

/** Memory the jobs keep between runs (not persisted: a restart starts with a resync anyway). */
export interface SyncState {
  startedAt: number;
  lastFullResyncAt: number | null;
}

export interface SyncDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
  enode: SyncEnodeApi;
  store: Store;
  read: Pick<ReadStore, 'pendingActions' | 'lastHeartbeat'> & Partial<Pick<ReadStore, 'knownControls'>>;
  state: SyncState;
  /** Replicas sharing the database: a resync for lost events is taken under a fleet-wide lease. */
  fleet?: { leases: Leases; holder: string } | undefined;
}

/** HTTP status of an Enode client error, if it has one. */
export function errorStatus(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}
