import { describe, expect, it } from 'vitest';
import { controlledState } from '../../src/domain/devices.js';
import { runDeviceResync } from '../../src/sync/device-resync.js';
import { runWebhookHealth } from '../../src/sync/webhook-health.js';
import { controlledOf, engineSyncHarness as setup, runEngineDropScenario } from './poller-support.js';

const MIN = 60_000;

describe('gap-filling poller against the simulator', () => {
  it('with 20 % of webhooks dropped, every action reaches its true final state at ≤ 1.5 requests per missed webhook', async () => {
    const s = await setup({ dropRate: 0.2 });
    const outcomes = await runEngineDropScenario(s, { hours: 6, settleHours: 2 });
    expect(outcomes.length).toBeGreaterThan(40);
    expect(s.sim.truth().droppedEvents.filter((e) => e.event === 'user:vendor-action:updated').length).toBeGreaterThan(5);
    for (const o of outcomes) expect(o.daemonState, `action ${o.id}`).toBe(o.trueState);

    const missed = outcomes.filter((o) => o.missedResolution);
    expect(missed.length).toBeGreaterThan(3);
    expect(missed.reduce((n, o) => n + o.gets, 0) / missed.length).toBeLessThanOrEqual(1.5);
    // Resolved by webhook before the first poll step: never asked about.
    const quick = outcomes.filter((o) => !o.missedResolution && o.completedAtMs !== null && o.completedAtMs - o.createdAtMs < 2 * MIN);
    expect(quick.length).toBeGreaterThan(10);
    expect(quick.map((o) => o.gets)).toEqual(quick.map(() => 0));
    // Eight simulated hours of ticks, each a few round trips: ~25 s on Postgres on this machine.
  }, 90_000);

  it('detects a webhook Enode disabled, reactivates it, and recovers the dropped events by resync', async () => {
    const s = await setup({ retryMaxAttempts: 3, retryBaseSeconds: 10, retryFactor: 2, interferenceRate: 0.5 }, {});
    s.t.config.enode.webhookId = s.sim.defaultWebhookId ?? undefined;
    await runDeviceResync(s.deps, s.t.clock.now(), 'start');
    expect(await runWebhookHealth(s.deps, s.t.clock.now())).toMatchObject({ checked: true, isActive: true, reactivated: false });

    // The daemon is unreachable long enough for Enode to give up, drop events and disable the webhook.
    s.setDeliveriesDown(true);
    await s.step(3 * 60 * MIN);
    s.setDeliveriesDown(false);
    const lost = s.sim.truth().droppedEvents.filter((e) => e.reason !== 'fault');
    expect(lost.length).toBeGreaterThan(0);
    const stale: string[] = [];
    for (const rec of s.sim.world.all()) {
      const held = await controlledOf(s, rec.data.id);
      if (JSON.stringify(held) !== JSON.stringify(controlledState(rec.type, rec.data as unknown as Record<string, unknown>))) stale.push(rec.data.id);
    }
    expect(stale.length).toBeGreaterThan(0); // the daemon really missed changes

    const report = await runWebhookHealth(s.deps, s.t.clock.now());
    expect(report).toEqual({ checked: true, isActive: false, reactivated: true, resynced: true });
    await s.t.deps.store.idle();
    for (const rec of s.sim.world.all()) {
      expect(await controlledOf(s, rec.data.id), `device ${rec.data.id}`).toEqual(controlledState(rec.type, rec.data as unknown as Record<string, unknown>));
    }
    // Reactivated: new events reach the daemon again.
    expect((await runWebhookHealth(s.deps, s.t.clock.now())).isActive).toBe(true);
  });
});
