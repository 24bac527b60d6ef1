import { describe, expect, it } from 'vitest';
import { runAlertsCli } from '../../src/alerts/cli.js';
import { alertsEngineApp, failAction } from './alerts-support.js';

async function run(args: string[], t: Awaited<ReturnType<typeof alertsEngineApp>>['t'], sinksConfigured: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAlertsCli(args, t.clock.now().getTime(), { out: (l) => out.push(l), err: (l) => err.push(l) }, { read: t.deps.read, store: t.deps.store, sinksConfigured });
  return { code, out: out.map((l) => JSON.parse(l) as { alertId: string; sink: string | null; status: string; alert?: { type: string } }), err };
}

describe('alerts list shows alerts held for want of a sink', () => {
  it('lists them as "held" with their alert, says on stderr how to configure a sink, and --status held lists only them', async () => {
    const { t } = await alertsEngineApp({});
    const id = await failAction(t, 'act-held');
    const all = await run(['list'], t, false);
    expect(all.code).toBe(0);
    expect(all.out).toEqual([expect.objectContaining({ alertId: id, sink: null, status: 'held', alert: expect.objectContaining({ type: 'action.failed' }) })]);
    expect(all.err).toEqual([expect.stringMatching(/^1 alert\(s\) held: no alert sink is configured; configure a sink .*ALERT_WEBHOOK_URLS/)]);
    expect((await run(['list', '--status', 'held'], t, false)).out.map((r) => r.alertId)).toEqual([id]);
    expect((await run(['list', '--status', 'dead'], t, false)).out).toEqual([]);
    // With a sink configured they only wait for the next dispatch run: no hint.
    expect((await run(['list'], t, true)).err).toEqual([]);
  });

  it('keeps to --limit across deliveries and held alerts', async () => {
    const { t } = await alertsEngineApp({});
    await failAction(t, 'act-1');
    await failAction(t, 'act-2');
    expect((await run(['list', '--limit', '1'], t, false)).out).toHaveLength(1);
    expect((await run(['list'], t, false)).out).toHaveLength(2);
  });
});
