/**
 * Episode builders for the interference tests: a vehicle's charging state and own charging
 * actions, timed in minutes after one base time, shaped as Enode's 2024-10-01 webhook events.
 */
import { expect } from 'vitest';
import { api, vehicleSnapshot, type EngineApp } from './fixtures.js';

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

/** Reconciles every due device, one time-boxed call after another, as the reconcile job does. */
export async function reconcileDue(t: EngineApp): Promise<void> {
  for (let calls = 0; calls < 1_000; calls++) if (!(await t.deps.store.reconcile({})).more) return;
  throw new Error('reconcile never ran out of due devices');
}

/** Lets every grace end (wall clock), then reconciles. */
export async function afterGrace(t: EngineApp, seconds = 61): Promise<void> {
  t.clock.advance(seconds * 1000);
  await reconcileDue(t);
}

/** The findings as `GET /api/v1/interference` lists them. */
export async function listFindings(t: EngineApp): Promise<Array<Record<string, any>>> {
  const res = await api(t, '/interference');
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Array<Record<string, any>> }).data;
}
