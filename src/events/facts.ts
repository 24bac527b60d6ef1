/**
 * Builders of the log's events from the facts the funnel, the reconciler and the gateway write.
 * Each is pure and names its fact in `factKey`, so that writing the same fact again (redelivery,
 * poll, replay, rerun) adds nothing to the log.
 */
import type { NewAlert } from '../alerts/types.js';
import { presentAction, presentDevice } from '../api/present.js';
import { decodeStored } from '../api/safe-json.js';
import type { ActionRecord } from '../domain/actions.js';
import { diffJson } from '../domain/diff.js';
import type { StoredDevice } from '../store/funnel.js';
import type { z } from '@hono/zod-openapi';
import type { ActionUpdatedDataSchema, CommandEventDataSchema, DeviceEventDataSchema } from './schemas.js';
import type { NewEvent } from './types.js';

/**
 * The device as `GET /api/v1/devices/{id}` shows it, from its stored row. `snapshot` is given
 * parsed when the caller has it: the funnel, which measured its nesting before applying it
 * (ingest/apply.ts), so it is shown as it is without walking it again (a stored row is walked:
 * rows written before ingest limited nesting may be too deep to show).
 */
export function presentStoredDevice(d: StoredDevice, snapshot?: Record<string, unknown>) {
  // Field by field, not by spreading the row: this runs twice for every device event the writer logs.
  const shown = presentDevice({
    id: d.id,
    type: d.type,
    userId: d.userId,
    vendor: d.vendor,
    lastSeen: d.lastSeen,
    isReachable: d.isReachable,
    deletedAtMs: d.deletedAtMs,
    controlled: decodeStored(d.controlled) as Record<string, unknown>,
    snapshot: snapshot === undefined ? (decodeStored(d.snapshot) as Record<string, unknown>) : {},
    snapshotAtMs: d.key.atMs,
    snapshotRank: d.key.rank,
    snapshotEventAtMs: d.key.eventAtMs,
  });
  if (snapshot !== undefined) shown.snapshot = snapshot;
  return shown;
}

/**
 * The event of a device whose stored row went from `before` (none: first seen) to `after`, or
 * undefined when what the API shows did not change. `device.deleted` when the device now reads
 * as deleted and did not before; `device.discovered` when it was unknown or read as deleted and
 * now does not (a snapshot newer than its deletion brings it back); `device.updated` otherwise.
 * The fact is the stored state reached: a row's snapshot key and deletion time only ever grow,
 * so no state is reached twice.
 */
export function deviceEvent(before: StoredDevice | undefined, after: StoredDevice, recordedAtMs: number, afterSnapshot?: Record<string, unknown>): NewEvent | undefined {
  const from = before && presentStoredDevice(before);
  const to = presentStoredDevice(after, afterSnapshot);
  const changes = diffJson(from ?? {}, to);
  if (changes.length === 0) return undefined;
  const deletedNow = to.deletedAt !== null;
  const type = deletedNow && (!from || from.deletedAt === null) ? 'device.deleted' : !from || (from.deletedAt !== null && !deletedNow) ? 'device.discovered' : 'device.updated';
  const k = after.key;
  return {
    type,
    // Device time first: while device times move forward, keys arrive near the end of the unique
    // index instead of at a random page per device id (BENCHMARKS.md, "a smaller event log"). A
    // device that reports an old time (offline, a backlog) lands further in; the key is the same fact either way.
    factKey: `device:${k.atMs}:${after.id}:${k.rank}:${k.eventAtMs}:${k.hash}:${after.deletedAtMs ?? ''}`,
    occurredAtMs: type === 'device.deleted' && after.deletedAtMs !== null ? after.deletedAtMs : k.atMs,
    recordedAtMs,
    deviceId: after.id,
    userId: after.userId,
    data: { device: to, changes } satisfies z.infer<typeof DeviceEventDataSchema>,
  };
}

/**
 * `action.updated` for an action whose stored state became `action.state` (from `previousState`,
 * null when first seen); undefined when the state did not change (a newer version of the same
 * state). The merge rules never let a terminal state go back to PENDING, so one event per state.
 */
export function actionUpdatedEvent(action: Omit<ActionRecord, 'raw' | 'rawHash'>, previousState: string | null, recordedAtMs: number): NewEvent | undefined {
  if (previousState === action.state) return undefined;
  return {
    type: 'action.updated',
    factKey: `action:${action.id}:${action.state}`,
    occurredAtMs: action.updatedAtMs,
    recordedAtMs,
    deviceId: action.targetId,
    userId: action.userId,
    data: { action: presentAction(action), previousState } satisfies z.infer<typeof ActionUpdatedDataSchema>,
  };
}

/** The event of an alert just written to the outbox: its type, its fact, its payload. */
export function alertEvent(alert: NewAlert): NewEvent {
  return {
    type: alert.type,
    factKey: `alert:${alert.dedupeKey}`,
    occurredAtMs: alert.createdAtMs,
    recordedAtMs: alert.createdAtMs,
    deviceId: alert.deviceId,
    userId: alert.userId,
    data: alert.data,
  };
}

/** What the event needs of a record of the gateway's command log (store/port.ts CommandRecord). */
export interface CommandFact {
  id: string;
  deviceId: string;
  deviceType: string;
  command: string;
  body: string;
  requestedAtMs: number;
  outcome: string;
  actionId: string | null;
  override: boolean;
  notes: unknown[];
  error: string | null;
}

const COMMAND_EVENTS = new Map<string, NewEvent['type']>([
  ['sent', 'command.sent'],
  ['refused', 'command.refused'],
]);

/**
 * `command.sent` (Enode took it) or `command.refused` (the gateway's guards refused it) for a
 * record of the command log; undefined for the other outcomes (sending, unknown, collapsed,
 * failed), which are steps or errors rather than facts about the device.
 */
export function commandEvent(c: CommandFact, recordedAtMs: number): NewEvent | undefined {
  const type = COMMAND_EVENTS.get(c.outcome);
  if (!type) return undefined;
  return {
    type,
    factKey: `${type}:${c.id}`,
    occurredAtMs: c.requestedAtMs,
    recordedAtMs,
    deviceId: c.deviceId,
    userId: null,
    data: {
      command: {
        id: c.id,
        deviceId: c.deviceId,
        deviceType: c.deviceType,
        command: c.command,
        body: decodeStored(c.body),
        requestedAt: new Date(c.requestedAtMs).toISOString(),
        outcome: c.outcome === 'sent' ? 'sent' : 'refused',
        actionId: c.actionId,
        override: c.override,
        notes: c.notes,
        error: c.error,
      },
    } satisfies z.infer<typeof CommandEventDataSchema>,
  };
}
