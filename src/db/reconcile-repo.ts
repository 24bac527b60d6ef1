import type Database from 'better-sqlite3';
import {
  type FindingWrite,
  type QueuedDevice,
  type ReconcileRepo,
  type StoredAction,
  type StoredControlStatus,
  type StoredFinding,
  type StoredObservation,
  type TransitionWrite,
} from '../store/reconcile.js';

export type { FindingWrite, QueuedDevice, StoredAction, StoredFinding, StoredObservation, TransitionWrite } from '../store/reconcile.js';

/** How many snapshots before a window are read to know each field's value at its start. */
const BASELINE_ROWS = 5;

/**
 * The reconciler's reads and writes on the writer's connection (portable SQL, prepared once).
 * Reads are bounded by device and time through the primary indexes, so a reconcile costs what
 * the changed device's recent history costs, whatever the fleet's size.
 */
export function createReconcileRepo(sqlite: Database.Database): SqliteReconcileRepo {
  const s = {
    due: sqlite.prepare(
      `SELECT device_id AS deviceId, due_at_ms AS dueAtMs, from_ms AS fromMs FROM reconcile_queue WHERE due_at_ms <= ? ORDER BY due_at_ms, device_id LIMIT ?`,
    ),
    dequeue: sqlite.prepare(`DELETE FROM reconcile_queue WHERE device_id = ?`),
    queued: sqlite.prepare(`SELECT COUNT(*) FROM reconcile_queue WHERE due_at_ms <= ?`).pluck(),
    device: sqlite.prepare(`SELECT type, user_id AS userId FROM devices WHERE id = ?`),
    observationsFrom: sqlite.prepare(
      `SELECT observed_at_ms AS atMs, received_at AS receivedAtMs, controlled, context FROM observations
       WHERE device_id = ? AND observed_at_ms >= ? ORDER BY observed_at_ms`,
    ),
    observationsBefore: sqlite.prepare(
      `SELECT observed_at_ms AS atMs, received_at AS receivedAtMs, controlled, context FROM observations
       WHERE device_id = ? AND observed_at_ms < ? ORDER BY observed_at_ms DESC LIMIT ${BASELINE_ROWS}`,
    ),
    controlsFrom: sqlite.prepare(`SELECT at_ms AS atMs, status FROM control_statuses WHERE device_id = ? AND at_ms >= ? ORDER BY at_ms, hash`),
    // The newest status of each schedule and of smart charging before the window: those in force at its start.
    controlsBefore: sqlite.prepare(
      `SELECT c.at_ms AS atMs, c.status FROM control_statuses c
         JOIN (SELECT source, subject_id, max(at_ms) AS m FROM control_statuses WHERE device_id = @deviceId AND at_ms < @fromMs GROUP BY source, subject_id) l
           ON c.source = l.source AND c.subject_id = l.subject_id AND c.at_ms = l.m
        WHERE c.device_id = @deviceId ORDER BY c.at_ms, c.hash`,
    ),
    actionsFor: sqlite.prepare(
      `SELECT id, target_id AS targetId, target_type AS targetType, user_id AS userId, kind, target, state,
         failure_reason AS failureReason, created_at AS createdAt, updated_at_ms AS updatedAtMs, completed_at AS completedAt, origin
       FROM actions WHERE target_id = ? AND updated_at_ms >= ? ORDER BY updated_at_ms`,
    ),
    deleteTransitions: sqlite.prepare(`DELETE FROM transitions WHERE device_id = ? AND at_ms >= ?`),
    insertTransition: sqlite.prepare(
      `INSERT INTO transitions (device_id, at_ms, field, from_value, to_value, received_at_ms, explanation, status, finding_id)
       VALUES (@deviceId, @atMs, @field, @fromValue, @toValue, @receivedAtMs, @explanation, @status, @findingId)`,
    ),
    findingById: sqlite.prepare(`SELECT 1 FROM findings WHERE id = ?`).pluck(),
    findingByKey: sqlite.prepare(`SELECT id, key, observed_at_ms AS observedAtMs FROM findings WHERE key = ?`),
    findingInRun: sqlite.prepare(
      `SELECT id, key, observed_at_ms AS observedAtMs FROM findings
       WHERE device_id = ? AND field = ? AND to_value = ? AND observed_at_ms >= ? AND observed_at_ms < ?
       ORDER BY observed_at_ms LIMIT 1`,
    ),
    insertFinding: sqlite.prepare(
      `INSERT INTO findings (id, key, device_id, device_type, user_id, kind, field, from_value, to_value, observed_at_ms,
         detected_at_ms, action_id, evidence)
       VALUES (@id, @key, @deviceId, @deviceType, @userId, @kind, @field, @fromValue, @toValue, @observedAtMs,
         @detectedAtMs, @actionId, @evidence)`,
    ),
    moveFinding: sqlite.prepare(`UPDATE findings SET key = ?, observed_at_ms = ?, from_value = ?, evidence = ? WHERE id = ?`),
  };

  return {
    /** Devices due by `nowMs`, most overdue first. */
    due(nowMs: number, limit: number): QueuedDevice[] {
      return s.due.all(nowMs, limit) as QueuedDevice[];
    },
    dueCount(nowMs: number): number {
      return s.queued.get(nowMs) as number;
    },
    dequeue(deviceId: string): void {
      s.dequeue.run(deviceId);
    },
    device(id: string): { type: string; userId: string } | undefined {
      return s.device.get(id) as { type: string; userId: string } | undefined;
    },
    /** Observations from device time `fromMs` on, plus a few before it (each field's starting value). */
    observations(deviceId: string, fromMs: number): StoredObservation[] {
      const before = (s.observationsBefore.all(deviceId, fromMs) as StoredObservation[]).reverse();
      return [...before, ...(s.observationsFrom.all(deviceId, fromMs) as StoredObservation[])];
    },
    /** Schedule and smart charging statuses from `fromMs` on, plus those before it that may still be in force. */
    controls(deviceId: string, fromMs: number): StoredControlStatus[] {
      const before = s.controlsBefore.all({ deviceId, fromMs }) as StoredControlStatus[];
      return [...before, ...(s.controlsFrom.all(deviceId, fromMs) as StoredControlStatus[])];
    },
    /** Actions on the target last updated at or after `sinceMs` (an action's life ends at its last update). */
    actions(targetId: string, sinceMs: number): StoredAction[] {
      return s.actionsFor.all(targetId, sinceMs) as StoredAction[];
    },
    /** Replaces the device's transitions from device time `fromMs` on. */
    replaceTransitions(deviceId: string, fromMs: number, rows: TransitionWrite[]): void {
      s.deleteTransitions.run(deviceId, fromMs);
      for (const r of rows) s.insertTransition.run(r);
    },
    findingById(id: string): boolean {
      return s.findingById.get(id) !== undefined;
    },
    findingByKey(key: string): StoredFinding | undefined {
      return s.findingByKey.get(key) as StoredFinding | undefined;
    },
    /** A finding of the same field and new value observed within [fromMs, untilMs): the same episode seen earlier. */
    findingInRun(deviceId: string, field: string, toValue: string, fromMs: number, untilMs: number): StoredFinding | undefined {
      return s.findingInRun.get(deviceId, field, toValue, fromMs, untilMs) as StoredFinding | undefined;
    },
    insertFinding(f: FindingWrite): void {
      s.insertFinding.run(f);
    },
    /** A late snapshot showed the episode began earlier: the finding keeps its id, its key and time move. */
    moveFinding(id: string, key: string, observedAtMs: number, fromValue: string, evidence: string): void {
      s.moveFinding.run(key, observedAtMs, fromValue, evidence, id);
    },
  };
}

/** The port's reads and writes plus the queue, which the SQLite reconcile loop works through itself. */
export interface SqliteReconcileRepo extends ReconcileRepo {
  /** Devices due by `nowMs`, most overdue first. */
  due(nowMs: number, limit: number): QueuedDevice[];
  dueCount(nowMs: number): number;
  dequeue(deviceId: string): void;
}
