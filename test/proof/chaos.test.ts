/**
 * Chaos (issue 9): the daemon against a simulated Enode that misbehaves in every way the
 * simulator knows — webhooks dropped, duplicated, reordered and delayed; API answers 5xx and 429;
 * third parties changing devices; our own commands through the command gateway (over real HTTP,
 * with Enode Schedules and smart charging on part of the fleet) — then a settle
 * period without commands, the poller still running. What must hold: every action ends in the
 * state Enode has; findings score precision and recall ≥ 0.99 against the ground truth; nothing is
 * left waiting; the log holds no error but the ones listed below as expected.
 *
 * Bounded form (`npm test`): 500 devices, 2 simulated hours of commands + 1.5 h settle.
 * Long form (`npm run test:long`, PROOF_LONG=1): 500 devices, a simulated day + 2 h settle.
 * In-process (the app on :memory:, the simulator, simulated time); a short pass over real HTTP
 * (daemon process + listening simulator) follows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../src/logger.js';
import { canControlCharging, createSimulator, pickDevices, type Simulator } from '../../src/simulator/index.js';
import { controlledState } from '../../src/domain/devices.js';
import { adminGet, allPages, E2E_ADMIN, E2E_SECRET, removeDir, startDaemon, tempDir, waitApplied, type Daemon } from '../support/daemon.js';
import { runInterferenceScenario } from '../support/interference-score.js';

const LONG = process.env.PROOF_LONG === '1';
const PLAN = LONG ? { devices: 500, hours: 24, settleHours: 2 } : { devices: 500, hours: 2, settleHours: 1.5 };

interface LogEntry {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/**
 * Errors the daemon logs by design under these faults, each with why it is right:
 * - `request failed` with ENODE_UNAVAILABLE: Enode answered a command's POST with a 5xx. A create
 *   is not repeated after a 5xx (Enode may have taken it; a second POST would cancel the first
 *   with CONFLICT), so the gateway answers 502 and its caller decides; every 5xx answer of the
 *   API is logged at error level with its cause (STYLE.md 6).
 * - `request failed` with ENODE_RATE_LIMITED: Enode kept answering 429 through every retry; the
 *   gateway answers 503 with Retry-After and nothing was sent.
 */
const EXPECTED_ERRORS: Array<{ msg: string; code: string }> = [
  { msg: 'request failed', code: 'ENODE_UNAVAILABLE' },
  { msg: 'request failed', code: 'ENODE_RATE_LIMITED' },
];

function isExpected(e: LogEntry): boolean {
  const code = (e.err as { code?: unknown } | undefined)?.code;
  return EXPECTED_ERRORS.some((x) => x.msg === e.msg && x.code === code);
}

/** The daemon's logger writing JSON lines to memory: every error/fatal kept, warnings counted by message. */
function memoryLogger(): { logger: Logger; errors: LogEntry[]; warnings: Record<string, number> } {
  const errors: LogEntry[] = [];
  const warnings: Record<string, number> = {};
  const logger = createLogger('warn', {
    write(line: string) {
      const e = JSON.parse(line) as LogEntry;
      if (e.level === 'error' || e.level === 'fatal') errors.push(e);
      else warnings[e.msg] = (warnings[e.msg] ?? 0) + 1;
    },
  });
  return { logger, errors, warnings };
}

describe('chaos: a fleet under every fault the simulator has', () => {
  it(
    `${PLAN.devices} devices, ${PLAN.hours} h of commands and interference + ${PLAN.settleHours} h settle: actions right, findings ≥ 0.99, no unexpected error`,
    async () => {
      const log = memoryLogger();
      const score = await runInterferenceScenario({
        seed: 9,
        devices: PLAN.devices,
        hours: PLAN.hours,
        settleHours: PLAN.settleHours,
        interferenceRate: 0.4,
        dropRate: 0.1,
        duplicateRate: 0.05,
        reorderRate: 0.05,
        delayMs: [0, 5_000],
        errorRate: 0.05,
        rateLimitRate: 0.05,
        commandEveryMinutes: 1,
        commands: 'gateway',
        logger: log.logger,
      });
      const { mistakes, ...summary } = score;
      const unexpected = log.errors.filter((e) => !isExpected(e));
      console.info(`chaos ${JSON.stringify(PLAN)}: ${JSON.stringify(summary)}`);
      console.info(`chaos log: ${log.errors.length} errors (${log.errors.length - unexpected.length} expected), warnings ${JSON.stringify(log.warnings)}`);

      // The faults really happened.
      expect(score.faults.dropped).toBeGreaterThan(0);
      expect(score.faults.duplicated).toBeGreaterThan(0);
      expect(score.faults.reordered).toBeGreaterThan(0);
      expect(score.enode.byStatus['429'] ?? 0).toBeGreaterThan(0);
      expect(Object.entries(score.enode.byStatus).filter(([status]) => Number(status) >= 500).length).toBeGreaterThan(0);
      expect(score.commands.sent ?? 0).toBeGreaterThan(PLAN.hours * 30);

      // Every action Enode created, in the state Enode holds; nothing the daemon made up.
      expect(score.actions.wrong).toEqual([]);
      expect(score.actions.right).toBe(score.actions.total);
      expect(score.actions.unknownToEnode).toBe(0);

      // Findings against the truth.
      expect(score.waiting).toBe(0);
      expect(score.truePositives).toBeGreaterThan(100);
      expect(score.precision, JSON.stringify(mistakes)).toBeGreaterThanOrEqual(0.99);
      expect(score.recall, JSON.stringify(mistakes)).toBeGreaterThanOrEqual(0.99);

      // The log: no error or fatal entry beyond the expected ones.
      expect(unexpected).toEqual([]);
    },
    LONG ? 1_800_000 : 240_000,
  );
});

describe('chaos over real HTTP: daemon process + listening simulator with API faults', () => {
  let daemon: Daemon | undefined;
  let sim: Simulator | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await sim?.close();
    await daemon?.proc.stop();
    if (dir) removeDir(dir);
    daemon = sim = dir = undefined;
  });

  it('commands through the gateway, webhooks duplicated/reordered/delayed, Enode 5xx and 429: actions and devices end as Enode has them', async () => {
    dir = tempDir('enode-sync-chaos-');
    sim = createSimulator({
      seed: 21,
      devices: 40,
      interferenceRate: 0.3,
      duplicateRate: 0.1,
      reorderRate: 0.2,
      delayMs: [0, 3_000],
      errorRate: 0.1,
      rateLimitRate: 0.05,
      actionDelaySeconds: [20, 120],
      // Enode's other levels of control (issue 17): schedules and smart charging act on part of
      // the fleet through their own vendor actions and status webhooks, and Enode answers 422 to
      // basic commands they control — which the gateway now refuses first, with a 409.
      schedulesShare: 0.25,
      smartChargingShare: 0.4,
    });
    const listening = await sim.listen(0, '127.0.0.1');
    daemon = await startDaemon(dir, {
      ENODE_API_URL: listening.url,
      ENODE_OAUTH_URL: `${listening.url}/oauth2/token`,
      ENODE_CLIENT_ID: sim.options.clientId,
      ENODE_CLIENT_SECRET: sim.options.clientSecret,
      LOG_LEVEL: 'info',
    });
    const created = sim.webhooks.create({ url: `${daemon.url}/webhooks/enode`, secret: E2E_SECRET });
    if ('error' in created) throw new Error(created.error);
    sim.world.announceAll();
    await sim.runFor(60_000);

    const statuses: Record<string, number> = {};
    const command = async (path: string, body: unknown) => {
      const res = await fetch(`${daemon!.url}/api/v1${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${E2E_ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const out = (await res.json()) as { error?: { code?: string } };
      const key = res.status === 200 ? 'sent' : (out.error?.code ?? String(res.status));
      statuses[key] = (statuses[key] ?? 0) + 1;
    };
    // Two simulated hours: every 5 minutes a charging toggle and a battery mode through the gateway.
    for (let step = 0; step < 24; step++) {
      const world = sim.world;
      const vehicles = pickDevices(world, 'vehicle', (d) => canControlCharging(d) && d.chargeState.isPluggedIn === true);
      const car = vehicles[step % Math.max(1, vehicles.length)];
      if (car) await command(`/vehicles/${car.id}/charging`, { action: car.chargeState.isCharging ? 'STOP' : 'START' });
      const batteries = pickDevices(world, 'battery');
      const battery = batteries[step % Math.max(1, batteries.length)];
      if (battery) await command(`/batteries/${battery.id}/operation-mode`, { operationMode: (['IMPORT_FOCUS', 'SELF_RELIANCE', 'TIME_OF_USE'] as const)[step % 3] });
      await sim.runFor(5 * 60_000);
    }
    await sim.runFor(60 * 60_000); // every action resolves, every retry lands
    await sim.flushWebhooks();
    await waitApplied(daemon.url, 30_000);

    const truth = sim.truth();
    expect(truth.webhookStats.duplicated).toBeGreaterThan(0);
    expect(truth.webhookStats.reordered).toBeGreaterThan(0);
    expect(truth.droppedEvents).toHaveLength(0);
    expect(statuses.sent ?? 0).toBeGreaterThan(10);
    // The automation acted (its changes are in the truth, and the device states compared below include them).
    expect(truth.changes.filter((c) => c.cause === 'own_automation').length).toBeGreaterThan(0);

    // Enode's 5xx and 429 reached the daemon's client (its own count, on /metrics).
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    const faulted = metrics.split('\n').filter((l) => l.startsWith('enode_sync_enode_requests_total') && /status="(429|5\d\d)"/.test(l));
    // The schedules' and plans' statuses reached the daemon and were stored.
    for (const event of ['user:schedule:execution-updated', 'user:vehicle:smart-charging-status-updated']) {
      const line = metrics.split('\n').find((l) => l.startsWith('enode_sync_events_applied_total') && l.includes(`event="${event}"`) && l.includes('outcome="recorded"'));
      expect(Number(line?.split(' ').pop() ?? 0), `${event} recorded`).toBeGreaterThan(0);
    }
    expect(faulted.length, metrics.split('\n').filter((l) => l.includes('enode_requests')).join('\n')).toBeGreaterThan(0);

    const actions = await allPages<{ id: string; state: string }>(daemon.url, '/actions');
    const held = new Map(actions.map((a) => [a.id, a.state]));
    expect(truth.actions.length).toBeGreaterThan(10);
    expect(truth.actions.filter((a) => held.get(a.id) !== a.state).map((a) => ({ id: a.id, truth: a.state, daemon: held.get(a.id) }))).toEqual([]);
    expect(actions).toHaveLength(truth.actions.length);

    const devices = await allPages<{ id: string; controlled: Record<string, unknown> }>(daemon.url, '/devices');
    const mine = new Map(devices.map((d) => [d.id, d.controlled]));
    for (const rec of sim.world.all()) {
      expect(mine.get(rec.data.id), `device ${rec.data.id}`).toEqual(controlledState(rec.type, rec.data as unknown as Record<string, unknown>));
    }
    expect(((await (await adminGet(daemon.url, '/deliveries?status=failed')).json()) as { data: unknown[] }).data).toEqual([]);

    const entries = daemon
      .logs()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogEntry);
    const errors = entries.filter((e) => e.level === 'error' || e.level === 'fatal');
    console.info(`chaos over HTTP: commands ${JSON.stringify(statuses)}, actions ${truth.actions.length}, errors ${errors.length} (${errors.filter(isExpected).length} expected)`);
    expect(errors.filter((e) => !isExpected(e))).toEqual([]);
  }, 120_000);
});
