import { and, asc, desc, eq, getTableColumns, gt, lt, or, sql, type SQL } from 'drizzle-orm';
import { decodeStored } from '../api/safe-json.js';
import type { Db } from './open.js';
import { actions, deliveries, deliveryBodies, devices, systemEvents, type ActionRow, type DeliveryRow, type DeviceRow } from './schema.js';

/*
 * JSON columns of devices and actions are read as text and decoded here, not by drizzle's json
 * mode: one row whose text does not parse (hand-edited, or damaged) would otherwise fail every
 * page that holds it. decodeStored turns it into a marker that the presenters show as unreadable.
 */
const actionColumns = {
  ...getTableColumns(actions),
  target: sql<string | null>`${actions.target}`,
  failureReason: sql<string | null>`${actions.failureReason}`,
  raw: sql<string>`${actions.raw}`,
};
const deviceColumns = {
  ...getTableColumns(devices),
  snapshot: sql<string>`${devices.snapshot}`,
  controlled: sql<string>`${devices.controlled}`,
};

type StoredAction = Omit<ActionRow, 'target' | 'failureReason' | 'raw'> & { target: string | null; failureReason: string | null; raw: string };
type StoredDevice = Omit<DeviceRow, 'snapshot' | 'controlled'> & { snapshot: string; controlled: string };

function toActionRow(r: StoredAction): ActionRow {
  return {
    ...r,
    target: decodeStored(r.target) as ActionRow['target'],
    failureReason: decodeStored(r.failureReason) as ActionRow['failureReason'],
    raw: decodeStored(r.raw) as ActionRow['raw'],
  };
}

function toDeviceRow(r: StoredDevice): DeviceRow {
  return { ...r, snapshot: decodeStored(r.snapshot) as DeviceRow['snapshot'], controlled: decodeStored(r.controlled) as DeviceRow['controlled'] };
}

/** Read side of the projections for the admin API: keyset pagination, portable SQL via drizzle. */
export function createReadRepo(db: Db) {
  return {
    getAction(id: string): ActionRow | undefined {
      const row = db.select(actionColumns).from(actions).where(eq(actions.id, id)).get();
      return row && toActionRow(row);
    },

    listActions(f: { state?: string | undefined; targetId?: string | undefined; after?: [number, string] | undefined; limit: number }): ActionRow[] {
      const where: SQL[] = [];
      if (f.state) where.push(eq(actions.state, f.state));
      if (f.targetId) where.push(eq(actions.targetId, f.targetId));
      if (f.after) {
        const [ms, id] = f.after;
        where.push(or(lt(actions.updatedAtMs, ms), and(eq(actions.updatedAtMs, ms), lt(actions.id, id))) as SQL);
      }
      return db
        .select(actionColumns)
        .from(actions)
        .where(and(...where))
        .orderBy(desc(actions.updatedAtMs), desc(actions.id))
        .limit(f.limit + 1)
        .all()
        .map(toActionRow);
    },

    /** Every PENDING action with what the poller needs; bounded by the fleet, as each device has at most one. */
    pendingActions() {
      return db
        .select({
          id: actions.id,
          targetId: actions.targetId,
          targetType: actions.targetType,
          createdAt: actions.createdAt,
          lastNewsAt: actions.lastNewsAt,
          lastPolledAt: actions.lastPolledAt,
          pollAttempts: actions.pollAttempts,
          upstream: actions.upstream,
        })
        .from(actions)
        .where(eq(actions.state, 'PENDING'))
        .all();
    },

    /** The newest heartbeat received: when, and Enode's count of events queued for us. */
    lastHeartbeat(): { receivedAt: number; pendingEvents: number | null } | undefined {
      return db
        .select({ receivedAt: systemEvents.receivedAt, pendingEvents: systemEvents.pendingEvents })
        .from(systemEvents)
        .where(eq(systemEvents.event, 'system:heartbeat'))
        .orderBy(desc(systemEvents.receivedAt))
        .limit(1)
        .get();
    },

    getDevice(id: string): DeviceRow | undefined {
      const row = db.select(deviceColumns).from(devices).where(eq(devices.id, id)).get();
      return row && toDeviceRow(row);
    },

    listDevices(f: { type?: string | undefined; userId?: string | undefined; after?: string | undefined; limit: number }): DeviceRow[] {
      const where: SQL[] = [];
      if (f.type) where.push(eq(devices.type, f.type));
      if (f.userId) where.push(eq(devices.userId, f.userId));
      if (f.after !== undefined) where.push(gt(devices.id, f.after));
      return db
        .select(deviceColumns)
        .from(devices)
        .where(and(...where))
        .orderBy(asc(devices.id))
        .limit(f.limit + 1)
        .all()
        .map(toDeviceRow);
    },

    /** One delivery with its body (from `delivery_bodies`, or the row itself for deliveries stored before migration 0005). */
    getDelivery(id: string): DeliveryRow | undefined {
      const row = db
        .select({ delivery: deliveries, body: deliveryBodies.body })
        .from(deliveries)
        .leftJoin(deliveryBodies, eq(deliveryBodies.id, deliveries.bodyId))
        .where(eq(deliveries.id, id))
        .get();
      return row && { ...row.delivery, body: row.body ?? row.delivery.body };
    },

    listDeliveries(f: { status?: string | undefined; after?: [number, string] | undefined; limit: number }) {
      const where: SQL[] = [];
      if (f.status) where.push(eq(deliveries.status, f.status as 'applied'));
      if (f.after) {
        const [ms, id] = f.after;
        where.push(or(lt(deliveries.receivedAt, ms), and(eq(deliveries.receivedAt, ms), lt(deliveries.id, id))) as SQL);
      }
      return db
        .select({
          id: deliveries.id,
          receivedAt: deliveries.receivedAt,
          status: deliveries.status,
          error: deliveries.error,
          eventCount: deliveries.eventCount,
          appliedAt: deliveries.appliedAt,
          attempts: deliveries.attempts,
          bodySha256: deliveries.bodySha256,
        })
        .from(deliveries)
        .where(and(...where))
        .orderBy(desc(deliveries.receivedAt), desc(deliveries.id))
        .limit(f.limit + 1)
        .all();
    },
  };
}

export type ReadRepo = ReturnType<typeof createReadRepo>;
