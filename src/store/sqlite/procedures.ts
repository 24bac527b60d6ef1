/**
 * Named write procedures run by the single writer (Writer.run): the reconciler, the gateway's
 * command log and the alert outbox change state on the writer's connection, on its thread, so
 * SQLite never sees two writers. Arguments and results cross a thread boundary: plain data only.
 *
 * To add one: write `(ctx, args) => result` in its feature module and list it here.
 */
import { alertClaimProcedure, alertRaiseProcedure, alertRecordProcedure, alertRetireSinksProcedure, alertRetryProcedure } from '../alerts/store.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { IngestRepo } from '../db/ingest-repo.js';
import { recordCommandProcedure } from '../gateway/record.js';
import type { Logger } from '../logger.js';
import { reconcileProcedure } from '../reconcile/reconciler.js';
import { pruneProcedure } from '../retention/prune.js';
import { revokeUiSessionProcedure } from '../ui/session-store.js';
import { appliedEventCounts } from './apply.js';

export interface ProcedureContext {
  repo: IngestRepo;
  clock: Clock;
  logger: Logger;
  config: Config;
  /** Stored deliveries not applied yet (the writer's backlog), and how long the oldest has waited. */
  applyBacklog: () => { deliveries: number; oldestWaitMs: number };
}

export const procedures = {
  reconcile: reconcileProcedure,
  prune: pruneProcedure,
  /** The writer thread's applied-event counters, for /metrics. */
  appliedEventCounts: (_ctx: ProcedureContext, _args: Record<string, never>) => appliedEventCounts(),
  alertClaim: alertClaimProcedure,
  alertRecord: alertRecordProcedure,
  alertRetry: alertRetryProcedure,
  alertRaise: alertRaiseProcedure,
  alertRetireSinks: alertRetireSinksProcedure,
  recordCommand: recordCommandProcedure,
  revokeUiSession: revokeUiSessionProcedure,
} satisfies Record<string, (ctx: ProcedureContext, args: never) => unknown>;

export type ProcedureName = keyof typeof procedures;
export type ProcedureArgs<K extends ProcedureName> = Parameters<(typeof procedures)[K]>[1];
export type ProcedureResult<K extends ProcedureName> = Awaited<ReturnType<(typeof procedures)[K]>>;
