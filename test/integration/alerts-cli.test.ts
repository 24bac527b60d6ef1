import { describe, expect, it } from 'vitest';
import { runAlertsCli } from '../../src/alerts/cli.js';
import { alertsEngineApp, failAction, startReceiver } from './alerts-support.js';

async function run(args: string[], t: Awaited<ReturnType<typeof alertsEngineApp>>['t']) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAlertsCli(args, t.clock.now().getTime(), { out: (l) => out.push(l), err: (l) => err.push(l) }, t.deps);
  return { code, out, err };
}

describe('alerts CLI (in process)', () => {
  it('rejects bad arguments with usage and exit code 2', async () => {
    const { t } = await alertsEngineApp({});
    for (const args of [[], ['lsit'], ['list', '--status'], ['list', '--status', 'lost'], ['list', '--limit', '0'], ['list', '--limit'], ['retry'], ['retry', '--force']]) {
      const r = await run(args, t);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.err.join('\n')).toContain('Usage: enode-sync alerts');
    }
  });

  it('lists with a limit, and retries a dead alert so that the dispatcher sends it again', async () => {
    const rx = await startReceiver(() => ({ status: 500 }));
    try {
      const { t, dispatcher } = await alertsEngineApp({ ALERT_WEBHOOK_URLS: rx.url });
      const id = await failAction(t, 'act-1');
      await failAction(t, 'act-2');
      for (let i = 0; i < 8; i++) {
        await dispatcher.runAll(t.clock.now());
        t.clock.advance(11 * 3600_000);
      }
      expect((await run(['list', '--status', 'dead'], t)).out).toHaveLength(2);
      expect((await run(['list', '--status', 'dead', '--limit', '1'], t)).out).toHaveLength(1);
      expect(await run(['retry', id], t)).toMatchObject({ code: 0 });
      rx.answer(() => ({ status: 200 }));
      await dispatcher.runAll(t.clock.now());
      expect(rx.requests.at(-1)?.headers['webhook-id']).toBe(id);
      expect((await run(['list', '--status', 'delivered'], t)).out.map((l) => (JSON.parse(l) as { alertId: string }).alertId)).toEqual([id]);
    } finally {
      await rx.close();
    }
  });
});
