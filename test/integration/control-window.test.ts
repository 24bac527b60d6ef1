import { describe, expect, it } from 'vitest';
import { createReconcileRepo } from '../../src/db/reconcile-repo.js';
import type { ControlStatus } from '../../src/domain/control.js';
import { makeTestApp } from '../support/fixtures.js';

/**
 * What the reconciler reads of a device's schedules and smart charging before its window: the
 * newest status of each (those in force at the window's start), however many statuses another
 * control wrote since. A busy plan must not push a schedule's status out of the window.
 */
const iso = (minute: number) => new Date(Date.parse('2026-03-01T10:00:00Z') + minute * 60_000).toISOString();

describe('the reconciler’s window of control statuses (SQLite)', () => {
  it('holds the newest status of each control before the window, with every status inside it', async () => {
    const t = makeTestApp();
    const schedule = (minute: number, expected: boolean) => ({
      event: 'user:schedule:execution-updated',
      createdAt: iso(minute),
      user: { id: 'u1' },
      status: { scheduleId: 'sch-1', scheduleType: 'CHARGE', changedAt: iso(minute), state: 'ALIGNED', isChargingExpected: expected, upcomingTransitions: [], smartOverride: null },
      schedule: { id: 'sch-1', targetId: 'car-1', isEnabled: true },
    });
    const plan = (minute: number, state: string) => ({
      event: 'user:vehicle:smart-charging-status-updated',
      createdAt: iso(minute),
      user: { id: 'u1' },
      smartChargingStatus: { updatedAt: iso(minute), vehicleId: 'car-1', userId: 'u1', state, stateChangedAt: iso(minute), plan: null, smartOverride: null },
    });
    const states = ['PLAN:EXECUTING:STOPPING', 'PLAN:EXECUTING:STOPPED', 'PLAN:EXECUTING:STARTING', 'PLAN:EXECUTING:STARTED'];
    const events = [schedule(0, false), schedule(1, true), ...Array.from({ length: 20 }, (_, i) => plan(2 + i, states[i % 4]!)), schedule(200, false)];
    const results = await t.deps.store.applyEvents(events, 'poll');
    expect(results.every((r) => !('error' in r))).toBe(true);

    const rows = createReconcileRepo(t.db.$client).controls('car-1', Date.parse(iso(100)));
    const read = rows.map((r) => JSON.parse(r.status) as ControlStatus).map((c) => [c.source, c.state, c.expected, new Date(c.atMs).toISOString()]);
    expect(read).toEqual([
      ['schedule', 'ALIGNED', { charging: true }, iso(1)],
      ['smart_charging', 'PLAN:EXECUTING:STARTED', { charging: true }, iso(21)],
      ['schedule', 'ALIGNED', { charging: false }, iso(200)],
    ]);

    // Retention past all of them keeps the one in force of each control, and nothing else.
    const later = t.clock.now().getTime() + 400 * 24 * 3_600_000;
    for (let i = 0; i < 10; i++) if (Object.values((await t.deps.store.prune({ cutoffMs: later, nowMs: later })).deleted).every((n) => n === 0)) break;
    const kept = t.db.$client.prepare(`SELECT source, state, at_ms AS atMs FROM control_statuses ORDER BY at_ms`).all();
    expect(kept).toEqual([
      { source: 'smart_charging', state: 'PLAN:EXECUTING:STARTED', atMs: Date.parse(iso(21)) },
      { source: 'schedule', state: 'ALIGNED', atMs: Date.parse(iso(200)) },
    ]);
  });
});
