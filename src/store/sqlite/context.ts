import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { IngestRepo } from '../../db/ingest-repo.js';
import type { Logger } from '../../logger.js';

/** What the writer's procedures (procedures.ts) get: its connection's repository, clock, logger and settings. */
export interface ProcedureContext {
  repo: IngestRepo;
  clock: Clock;
  logger: Logger;
  config: Config;
  /** Stored deliveries not applied yet (the writer's backlog), and how long the oldest has waited. */
  applyBacklog: () => { deliveries: number; oldestWaitMs: number };
}
