/**
 * Episode builders for the interference tests: a vehicle's charging state and own charging
 * actions, timed in minutes after one base time, shaped as Enode's 2024-10-01 webhook events.
 */
import { vehicleSnapshot } from './fixtures.js';

export const BASE_MS = Date.parse('2026-03-01T10:00:00.000Z');
export const iso = (minute: number) => new Date(BASE_MS + minute * 60_000).toISOString();

/** A `user:vehicle:updated` event at `minute` after the base time. */
export function vehicle(id: string, minute: number, state: { charging?: boolean; pluggedIn?: boolean; batteryLevel?: number }) {
  const snapshot = vehicleSnapshot(id, minute, state);
  return { event: 'user:vehicle:updated', createdAt: iso(minute), version: '2024-10-01', user: { id: snapshot.userId }, vehicle: snapshot, updatedFields: ['chargeState.isCharging'] };
}

/** An own charging action on a vehicle, created at `createdMin`, in `state` as of `updatedMin`. */
export function action(id: string, targetId: string, kind: 'START' | 'STOP', state: string, createdMin: number, updatedMin: number, failure: string | null = null) {
  return {
    event: 'user:vendor-action:updated',
    createdAt: iso(updatedMin),
    version: '2024-10-01',
    user: { id: `user-of-${targetId}` },
    vendorAction: {
      id,
      userId: `user-of-${targetId}`,
      createdAt: iso(createdMin),
      updatedAt: iso(updatedMin),
      completedAt: state === 'PENDING' ? null : iso(updatedMin),
      state,
      targetId,
      targetType: 'vehicle',
      kind,
      failureReason: failure ? { type: failure, detail: 'test' } : null,
    },
  };
}
