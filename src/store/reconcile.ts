/**
 * The reconciler's storage port: what judging one changed device (reconcile/reconciler.ts
 * `reconcileQueued`) reads and writes, synchronously, inside the caller's transaction.
 *
 * - SQLite (db/reconcile-repo.ts): prepared statements, bounded by device and time through the
 *   primary indexes.
 * - Postgres (store/postgres/): the device's rows are loaded first and the same code runs on them
 *   in memory; a read outside what was loaded asks for more and the device is judged again.
 *
 * JSON columns travel as the text stored.
 */
import type { ActionOrigin } from '../domain/actions.js';
import type { FindingColumns } from '../domain/findings.js';
import type { FunnelRepo } from './funnel.js';

/** A device waiting for the reconciler. */
export interface QueuedDevice {
  deviceId: string;
  dueAtMs: number;
  fromMs: number;
}

export interface StoredObservation {
  atMs: number;
  receivedAtMs: number;
  controlled: string;
  context: string;
}

/** A schedule or smart charging status (ControlStatus JSON text) by its time of effect. */
export interface StoredControlStatus {
  atMs: number;
  status: string;
}

export interface StoredAction {
  id: string;
  targetId: string;
  targetType: string;
  userId: string;
  kind: string | null;
  target: string | null;
  state: string;
  failureReason: string | null;
  createdAt: string;
  updatedAtMs: number;
  completedAt: string | null;
  origin: ActionOrigin;
}

export interface StoredFinding {
  id: string;
  key: string;
  observedAtMs: number;
}

export interface TransitionWrite {
  deviceId: string;
  atMs: number;
  field: string;
  fromValue: string;
  toValue: string;
  receivedAtMs: number;
  explanation: string;
  status: string;
  findingId: string | null;
}

/** A finding row: its public columns plus the episode key and the evidence (JSON). */
export type FindingWrite = FindingColumns & { key: string; evidence: string };

/** Reads and writes of one device's history, transitions and findings. */
export interface ReconcileRepo {
  device(id: string): { type: string; userId: string } | undefined;
  /** Observations from device time `fromMs` on, plus a few before it (each field's starting value), oldest first. */
  observations(deviceId: string, fromMs: number): StoredObservation[];
  /**
   * The device's schedule and smart charging statuses that took effect from `fromMs` on, plus the
   * newest of each schedule and of smart charging before it (those in force at `fromMs`; a reader
   * may return more of the older ones: the newest decides), oldest first.
   */
  controls(deviceId: string, fromMs: number): StoredControlStatus[];
  /** Actions on the target last updated at or after `sinceMs`, by last update. */
  actions(targetId: string, sinceMs: number): StoredAction[];
  /** Replaces the device's transitions from device time `fromMs` on. */
  replaceTransitions(deviceId: string, fromMs: number, rows: TransitionWrite[]): void;
  findingById(id: string): boolean;
  findingByKey(key: string): StoredFinding | undefined;
  /** A finding of the same field and new value observed within [fromMs, untilMs): the same episode seen earlier. */
  findingInRun(deviceId: string, field: string, toValue: string, fromMs: number, untilMs: number): StoredFinding | undefined;
  insertFinding(f: FindingWrite): void;
  /** A late snapshot showed the episode began earlier: the finding keeps its id, its key and time move. */
  moveFinding(id: string, key: string, observedAtMs: number, fromValue: string, evidence: string): void;
}

/** Everything `reconcileQueued` touches: the device's rows, the queue, the alert outbox, the skew setting. */
export type ReconcileIO = ReconcileRepo & Pick<FunnelRepo, 'markForReconcile' | 'enqueueAlert' | 'settings'>;
