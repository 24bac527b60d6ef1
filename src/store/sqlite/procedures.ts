/**
 * The writer thread's command table: each write the Store port offers, as a function of the
 * writer's context, so that SQLite never sees two writers. Arguments and results cross a thread
 * boundary: plain data only. Names never leave store/sqlite; features call the typed Store.
 */
import { appliedEventCounts } from '../../ingest/apply.js';
import { alertClaimProcedure, alertRaiseProcedure, alertRecordProcedure, alertRetireSinksProcedure, alertRetryProcedure } from './alerts.js';
import { recordCommandProcedure } from './commands.js';
import { findingStateProcedure } from './findings.js';
import type { ProcedureContext } from './context.js';
import { leaseAcquireProcedure, leaseReleaseProcedure } from './leases.js';
import { pruneProcedure } from './prune.js';
import { reconcileProcedure } from './reconcile.js';
import { revokeUiSessionProcedure } from './sessions.js';
import {
  subscriptionClaimProcedure,
  subscriptionCreateProcedure,
  subscriptionFanOutProcedure,
  subscriptionRecordProcedure,
  subscriptionRemoveProcedure,
  subscriptionReplayProcedure,
  subscriptionRetryProcedure,
  subscriptionRotateProcedure,
  subscriptionTargetsProcedure,
  subscriptionUpdateProcedure,
} from './subscriptions.js';

export type { ProcedureContext } from './context.js';

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
  findingState: findingStateProcedure,
  leaseAcquire: leaseAcquireProcedure,
  leaseRelease: leaseReleaseProcedure,
  subscriptionCreate: subscriptionCreateProcedure,
  subscriptionUpdate: subscriptionUpdateProcedure,
  subscriptionRemove: subscriptionRemoveProcedure,
  subscriptionRotate: subscriptionRotateProcedure,
  subscriptionTargets: subscriptionTargetsProcedure,
  subscriptionFanOut: subscriptionFanOutProcedure,
  subscriptionClaim: subscriptionClaimProcedure,
  subscriptionRecord: subscriptionRecordProcedure,
  subscriptionRetry: subscriptionRetryProcedure,
  subscriptionReplay: subscriptionReplayProcedure,
} satisfies Record<string, (ctx: ProcedureContext, args: never) => unknown>;

export type ProcedureName = keyof typeof procedures;
export type ProcedureArgs<K extends ProcedureName> = Parameters<(typeof procedures)[K]>[1];
export type ProcedureResult<K extends ProcedureName> = Awaited<ReturnType<(typeof procedures)[K]>>;
