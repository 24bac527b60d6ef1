/**
 * The gateway's daily budget shared with the other callers of the same Enode client (issue 17):
 * actions Enode reports that schedules, smart charging or other services created count with the
 * gateway's commands, each command once, and the answer says which in `budget.bySource`.
 */
import { describe, expect, it } from 'vitest';
import { postWebhook, type EngineApp } from '../support/fixtures.js';
import { commandLog, gatewayEngineApp, json, post, seedDevice } from './gateway-support.js';

const HOUR = 3_600_000;

/** A battery action as Enode reports it in `user:vendor-action:updated`. */
function batteryAction(id: string, deviceId: string, createdAtMs: number, state: 'PENDING' | 'CONFIRMED', operationMode = 'TIME_OF_USE') {
  const createdAt = new Date(createdAtMs).toISOString();
  const updatedAt = new Date(createdAtMs + (state === 'PENDING' ? 0 : 60_000)).toISOString();
  return {
    id,
    userId: `user-of-${deviceId}`,
    createdAt,
    updatedAt,
    completedAt: state === 'PENDING' ? null : updatedAt,
    state,
    targetId: deviceId,
    targetType: 'battery',
    targetState: { operationMode },
    failureReason: null,
  };
}

/** Reports an action through the webhook route, as Enode does for every action of the client. */
async function reportAction(t: EngineApp, vendorAction: ReturnType<typeof batteryAction>) {
  const res = await postWebhook(t, [
    {
      event: 'user:vendor-action:updated',
      createdAt: vendorAction.updatedAt,
      version: '2024-10-01',
      user: { id: vendorAction.userId },
      vendorAction,
      updatedFields: ['state'],
    },
  ]);
  expect(res.status).toBe(200);
}

/** Sends one battery command through the gateway and resolves its action, so the next one neither collapses nor supersedes. */
async function sendResolved(t: EngineApp, operationMode: string) {
  const res = await post(t, '/batteries/b1/operation-mode', { operationMode });
  expect(res.status).toBe(200);
  const out = await res.json();
  await t.exec("UPDATE actions SET state = 'CONFIRMED' WHERE id = ?", [out.action.id]);
  return out;
}

describe('gateway: the daily budget counts actions of other callers of the Enode client', () => {
  it('four gateway commands and two schedule actions fill the default limit of 6: the fifth gateway command is refused', async () => {
    const { t, enode } = await gatewayEngineApp();
    expect(t.config.dailyCommandLimit).toBe(6);
    await seedDevice(t, 'battery', 'b1');
    // An action of another caller from before the window does not count.
    await reportAction(t, batteryAction('schedule-old', 'b1', t.clock.now().getTime() - 25 * HOUR, 'CONFIRMED'));
    const modes = ['IMPORT_FOCUS', 'SELF_RELIANCE'];
    const budgets: unknown[] = [];
    for (let i = 0; i < 4; i++) {
      budgets.push((await sendResolved(t, modes[i % 2] as string)).budget);
      t.clock.advance(HOUR);
      if (i === 0 || i === 2) {
        await reportAction(t, batteryAction(`schedule-${i}`, 'b1', t.clock.now().getTime(), 'CONFIRMED'));
        t.clock.advance(HOUR);
      }
    }
    expect(budgets).toEqual([
      { limit: 6, used: 1, remaining: 5, bySource: { gateway: 1, schedule: 0, smartCharging: 0, other: 0 } },
      { limit: 6, used: 3, remaining: 3, bySource: { gateway: 2, schedule: 0, smartCharging: 0, other: 1 } },
      { limit: 6, used: 4, remaining: 2, bySource: { gateway: 3, schedule: 0, smartCharging: 0, other: 1 } },
      { limit: 6, used: 6, remaining: 0, bySource: { gateway: 4, schedule: 0, smartCharging: 0, other: 2 } },
    ]);

    const refused = await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' });
    expect(refused.status).toBe(429);
    const err = (await refused.json()).error;
    expect(err).toMatchObject({ code: 'DAILY_COMMAND_LIMIT', limit: 6, used: 6, bySource: { gateway: 4, schedule: 0, smartCharging: 0, other: 2 } });
    expect(err.message).toContain('4 through the gateway, 2 by Enode schedules');
    expect(enode.commandRequests()).toHaveLength(4);

    // The oldest in the window is the first gateway command: the next fits when it leaves.
    const firstSentMs = (await commandLog(t))[0]?.['requested_at_ms'] as number;
    expect(err.nextAllowedAt).toBe(new Date(Number(firstSentMs) + 24 * HOUR).toISOString());
    t.clock.set(Number(firstSentMs) + 24 * HOUR);
    const next = await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' });
    expect(next.status).toBe(200);
    expect((await next.json()).budget).toEqual({ limit: 6, used: 6, remaining: 0, bySource: { gateway: 4, schedule: 0, smartCharging: 0, other: 2 } });
  });

  it('an action first seen by webhook and then answered to our command counts once, as the gateway’s', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'battery', 'b1');
    // Enode's webhook for the new action arrives before the gateway has stored Enode's answer.
    enode.script.set('POST /batteries/b1/operation-mode', async () => {
      const action = batteryAction('raced-1', 'b1', t.clock.now().getTime(), 'PENDING', 'IMPORT_FOCUS');
      await reportAction(t, action);
      expect(await t.row('SELECT origin FROM actions WHERE id = ?', ['raced-1'])).toEqual({ origin: 'enode' });
      return json(200, action);
    });
    const out = await sendResolved(t, 'IMPORT_FOCUS');
    expect(out.action).toMatchObject({ id: 'raced-1', origin: 'gateway' });
    expect(out.budget).toEqual({ limit: 6, used: 1, remaining: 5, bySource: { gateway: 1, schedule: 0, smartCharging: 0, other: 0 } });

    enode.script.delete('POST /batteries/b1/operation-mode');
    t.clock.advance(HOUR);
    const second = await sendResolved(t, 'SELF_RELIANCE');
    expect(second.budget).toEqual({ limit: 6, used: 2, remaining: 4, bySource: { gateway: 2, schedule: 0, smartCharging: 0, other: 0 } });
  });

  it('an action our command names counts once even while its stored origin is still enode (the answer could not be stored)', async () => {
    const { t, enode } = await gatewayEngineApp();
    await seedDevice(t, 'battery', 'b1');
    enode.script.set('POST /batteries/b1/operation-mode', async () => {
      const action = batteryAction('raced-2', 'b1', t.clock.now().getTime(), 'PENDING', 'IMPORT_FOCUS');
      await reportAction(t, action);
      // Enode's answer has an unreadable updatedAt: the gateway cannot store it, so the origin stays enode.
      return json(200, { ...action, updatedAt: 'not a time' });
    });
    const failed = await post(t, '/batteries/b1/operation-mode', { operationMode: 'IMPORT_FOCUS' });
    expect(failed.status).toBe(502);
    expect(await t.row('SELECT origin FROM actions WHERE id = ?', ['raced-2'])).toEqual({ origin: 'enode' });
    expect((await commandLog(t)).map((r) => [r['outcome'], r['action_id']])).toEqual([['sent', 'raced-2']]);
    await t.exec("UPDATE actions SET state = 'CONFIRMED' WHERE id = ?", ['raced-2']);

    enode.script.delete('POST /batteries/b1/operation-mode');
    t.clock.advance(HOUR);
    const next = await sendResolved(t, 'SELF_RELIANCE');
    expect(next.budget).toEqual({ limit: 6, used: 2, remaining: 4, bySource: { gateway: 2, schedule: 0, smartCharging: 0, other: 0 } });
  });

  it("a command collapsed onto a schedule's PENDING action does not hide that action from the budget", async () => {
    const { t, enode } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '2' });
    await seedDevice(t, 'battery', 'b1');
    await reportAction(t, batteryAction('schedule-p', 'b1', t.clock.now().getTime(), 'PENDING', 'IDLE'));
    const collapsed = await (await post(t, '/batteries/b1/operation-mode', { operationMode: 'IDLE' })).json();
    expect(collapsed).toMatchObject({ outcome: 'collapsed', action: { id: 'schedule-p' } });
    expect(collapsed.budget).toEqual({ limit: 2, used: 1, remaining: 1, bySource: { gateway: 0, schedule: 0, smartCharging: 0, other: 1 } });
    await t.exec("UPDATE actions SET state = 'CONFIRMED' WHERE id = ?", ['schedule-p']);

    t.clock.advance(HOUR);
    expect((await sendResolved(t, 'SELF_RELIANCE')).budget).toEqual({ limit: 2, used: 2, remaining: 0, bySource: { gateway: 1, schedule: 0, smartCharging: 0, other: 1 } });
    t.clock.advance(HOUR);
    const refused = await post(t, '/batteries/b1/operation-mode', { operationMode: 'IMPORT_FOCUS' });
    expect(refused.status).toBe(429);
    expect((await refused.json()).error).toMatchObject({ used: 2, bySource: { gateway: 1, schedule: 0, smartCharging: 0, other: 1 } });
    expect(enode.commandRequests()).toHaveLength(1);
  });

  it("another device's actions and an action's later updates do not count against this device", async () => {
    const { t } = await gatewayEngineApp({ DAILY_COMMAND_LIMIT: '2' });
    await seedDevice(t, 'battery', 'b1');
    await seedDevice(t, 'battery', 'b2');
    const createdMs = t.clock.now().getTime() - 2 * HOUR;
    await reportAction(t, batteryAction('smart-b2', 'b2', createdMs, 'CONFIRMED'));
    await reportAction(t, batteryAction('smart-b1', 'b1', createdMs, 'PENDING'));
    await reportAction(t, batteryAction('smart-b1', 'b1', createdMs, 'CONFIRMED'));
    expect((await sendResolved(t, 'SELF_RELIANCE')).budget).toEqual({ limit: 2, used: 2, remaining: 0, bySource: { gateway: 1, schedule: 0, smartCharging: 0, other: 1 } });
  });
});
