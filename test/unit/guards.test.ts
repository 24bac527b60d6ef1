import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BUDGET_WINDOW_MS,
  budgetedSends,
  checkCapability,
  dailyBudget,
  evaluateCommand,
  isSameCommand,
  livePendingActions,
  requiredCapability,
  type Command,
  type GuardAction,
  type GuardInput,
} from '../../src/domain/guards.js';
import { STALE_AFTER_MS } from '../../src/domain/polling.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const NOW = Date.parse('2026-03-01T12:00:00Z');

const START: Command = { deviceType: 'vehicle', command: 'charging', body: { action: 'START' } };
const STOP: Command = { deviceType: 'vehicle', command: 'charging', body: { action: 'STOP' } };
const HEAT_21: Command = { deviceType: 'hvac', command: 'permanent-hold', body: { mode: 'HEAT', heatSetpoint: 21 } };

function action(id: string, over: Partial<GuardAction> = {}): GuardAction {
  return { id, state: 'PENDING', kind: 'START', target: null, createdAtMs: NOW - MIN, upstream: null, ...over };
}

function capable(names: string[], incapable: Record<string, string[]> = {}) {
  const caps: Record<string, unknown> = {};
  for (const n of names) caps[n] = { isCapable: true, interventionIds: [] };
  for (const [n, ids] of Object.entries(incapable)) caps[n] = { isCapable: false, interventionIds: ids };
  return { capabilities: caps };
}

function input(over: Partial<GuardInput> = {}): GuardInput {
  return {
    command: START,
    device: { snapshot: capable(['startCharging', 'stopCharging']), isReachable: true },
    pendingActions: [],
    sentAtMs: [],
    dailyLimit: 6,
    override: false,
    supersede: true,
    nowMs: NOW,
    ...over,
  };
}

/** `n` budgeted commands, one per hour, the newest an hour ago. */
function sentHourly(n: number): number[] {
  return Array.from({ length: n }, (_, i) => NOW - (n - i) * HOUR);
}

describe('which PENDING actions count', () => {
  it('keeps only PENDING actions Enode may still work on, newest first', () => {
    const live = livePendingActions(
      [
        action('older', { createdAtMs: NOW - 10 * MIN }),
        action('newer', { createdAtMs: NOW - MIN }),
        action('confirmed', { state: 'CONFIRMED' }),
        action('lost', { upstream: 'not_found' }),
        action('stale', { createdAtMs: NOW - STALE_AFTER_MS }),
      ],
      NOW,
    );
    expect(live.map((a) => a.id)).toEqual(['newer', 'older']);
  });
});

describe('identical command', () => {
  it('charging: same kind is identical, the other kind is not', () => {
    expect(isSameCommand({ kind: 'START', target: null }, START)).toBe(true);
    expect(isSameCommand({ kind: 'STOP', target: null }, START)).toBe(false);
  });

  it('max current: same amperes only, and never a charge action', () => {
    const cmd: Command = { deviceType: 'charger', command: 'max-current', body: { maxCurrent: 16 } };
    expect(isSameCommand({ kind: null, target: { maxCurrent: 16 } }, cmd)).toBe(true);
    expect(isSameCommand({ kind: null, target: { maxCurrent: 10 } }, cmd)).toBe(false);
    expect(isSameCommand({ kind: 'START', target: null }, cmd)).toBe(false);
  });

  it('permanent hold: same mode and setpoints with a PERMANENT hold', () => {
    expect(isSameCommand({ kind: null, target: { mode: 'HEAT', heatSetpoint: 21, holdType: 'PERMANENT' } }, HEAT_21)).toBe(true);
    expect(isSameCommand({ kind: null, target: { mode: 'HEAT', heatSetpoint: 22, holdType: 'PERMANENT' } }, HEAT_21)).toBe(false);
    expect(isSameCommand({ kind: null, target: { mode: 'COOL', coolSetpoint: 21, holdType: 'PERMANENT' } }, HEAT_21)).toBe(false);
    expect(isSameCommand({ kind: null, target: { holdType: 'SCHEDULED' } }, HEAT_21)).toBe(false);
    const auto: Command = { deviceType: 'hvac', command: 'permanent-hold', body: { mode: 'AUTO', heatSetpoint: 19, coolSetpoint: 24 } };
    expect(isSameCommand({ kind: null, target: { mode: 'AUTO', heatSetpoint: 19, coolSetpoint: 24, holdType: 'PERMANENT' } }, auto)).toBe(true);
    expect(isSameCommand({ kind: null, target: { mode: 'AUTO', heatSetpoint: 19, coolSetpoint: 25, holdType: 'PERMANENT' } }, auto)).toBe(false);
    const off: Command = { deviceType: 'hvac', command: 'permanent-hold', body: { mode: 'OFF' } };
    expect(isSameCommand({ kind: null, target: { mode: 'OFF', holdType: 'PERMANENT' } }, off)).toBe(true);
  });

  it('follow schedule: any SCHEDULED hold', () => {
    const cmd: Command = { deviceType: 'hvac', command: 'follow-schedule', body: {} };
    expect(isSameCommand({ kind: null, target: { holdType: 'SCHEDULED' } }, cmd)).toBe(true);
    expect(isSameCommand({ kind: null, target: { mode: 'OFF', holdType: 'PERMANENT' } }, cmd)).toBe(false);
  });

  it('operation mode: same mode only', () => {
    const cmd: Command = { deviceType: 'battery', command: 'operation-mode', body: { operationMode: 'IDLE' } };
    expect(isSameCommand({ kind: null, target: { operationMode: 'IDLE' } }, cmd)).toBe(true);
    expect(isSameCommand({ kind: null, target: { operationMode: 'TIME_OF_USE' } }, cmd)).toBe(false);
  });
});

describe('capability guard', () => {
  it('names the capability Enode requires for each command', () => {
    expect(requiredCapability(START)).toBe('startCharging');
    expect(requiredCapability(STOP)).toBe('stopCharging');
    expect(requiredCapability({ deviceType: 'charger', command: 'max-current', body: { maxCurrent: 6 } })).toBe('setMaxCurrent');
    expect(requiredCapability(HEAT_21)).toBe('setPermanentHold');
    expect(requiredCapability({ deviceType: 'hvac', command: 'follow-schedule', body: {} })).toBe('setFollowSchedule');
    const modes = { IMPORT_FOCUS: 'importFocus', EXPORT_FOCUS: 'exportFocus', TIME_OF_USE: 'timeOfUse', SELF_RELIANCE: 'selfReliance', IDLE: 'idle' } as const;
    for (const [mode, capability] of Object.entries(modes)) {
      expect(requiredCapability({ deviceType: 'battery', command: 'operation-mode', body: { operationMode: mode as keyof typeof modes } })).toBe(capability);
    }
  });

  it('refuses when the stored device says isCapable: false, with its interventionIds', () => {
    const refusal = checkCapability(STOP, capable(['startCharging'], { stopCharging: ['iv-1', 'iv-2'] }));
    expect(refusal).toMatchObject({ reason: 'NOT_CAPABLE', capability: 'stopCharging', interventionIds: ['iv-1', 'iv-2'] });
  });

  it('lets the command through when capable, or when the snapshot does not say', () => {
    expect(checkCapability(START, capable(['startCharging']))).toBeNull();
    expect(checkCapability(START, {})).toBeNull();
    expect(checkCapability(START, { capabilities: { startCharging: { isCapable: null } } })).toBeNull();
  });

  it('refuses an HVAC hold in a mode the device does not list in capableModes', () => {
    const snapshot = { capabilities: { setPermanentHold: { isCapable: true, interventionIds: [] }, capableModes: ['COOL', 'OFF'] } };
    expect(checkCapability(HEAT_21, snapshot)).toMatchObject({ reason: 'NOT_CAPABLE', capability: 'capableModes', interventionIds: [] });
    expect(checkCapability({ deviceType: 'hvac', command: 'permanent-hold', body: { mode: 'OFF' } }, snapshot)).toBeNull();
  });
});

describe('what the daily budget counts (budgetedSends)', () => {
  it("counts every gateway command and every action of another origin, by its creation time", () => {
    const out = budgetedSends(
      [
        { atMs: NOW - 3 * HOUR, actionId: 'g1' },
        { atMs: NOW - 2 * HOUR, actionId: null },
      ],
      [
        { id: 'schedule-1', createdAtMs: NOW - 90 * MIN, origin: 'enode' },
        { id: 'smart-1', createdAtMs: NOW - 30 * MIN, origin: 'enode' },
      ],
    );
    expect(out).toEqual({ gatewayAtMs: [NOW - 3 * HOUR, NOW - 2 * HOUR], otherAtMs: [NOW - 90 * MIN, NOW - 30 * MIN] });
  });

  it('an action a gateway command names counts once, through the command, whatever its stored origin', () => {
    const commands = [{ atMs: NOW - HOUR, actionId: 'a1' }];
    // Seen by webhook before the gateway stored it (origin still enode), and the same once merged.
    expect(budgetedSends(commands, [{ id: 'a1', createdAtMs: NOW - HOUR + 200, origin: 'enode' }])).toEqual({ gatewayAtMs: [NOW - HOUR], otherAtMs: [] });
    expect(budgetedSends(commands, [{ id: 'a1', createdAtMs: NOW - HOUR + 200, origin: 'gateway' }])).toEqual({ gatewayAtMs: [NOW - HOUR], otherAtMs: [] });
  });

  it('an action of origin gateway is never counted on its own, and one action listed twice counts once', () => {
    const out = budgetedSends(
      [],
      [
        { id: 'g', createdAtMs: NOW - HOUR, origin: 'gateway' },
        { id: 'x', createdAtMs: NOW - HOUR, origin: 'enode' },
        { id: 'x', createdAtMs: NOW - HOUR, origin: 'enode' },
      ],
    );
    expect(out).toEqual({ gatewayAtMs: [], otherAtMs: [NOW - HOUR] });
  });

  it("a refusal past the limit says how many came from other callers", () => {
    const decision = evaluateCommand(input({ sentAtMs: sentHourly(4), otherActionsAtMs: [NOW - 30 * MIN, NOW - 10 * MIN] }));
    expect(decision).toMatchObject({ outcome: 'refuse', refusal: { reason: 'DAILY_COMMAND_LIMIT', budget: { used: 6, bySource: { gateway: 4, other: 2 } } } });
    if (decision.outcome !== 'refuse') throw new Error('expected a refusal');
    expect(decision.refusal.message).toContain('(4 through the gateway, 2 by Enode schedules, smart charging or other callers');
  });
});

describe('daily budget', () => {
  it('counts the commands of the last 24 h; one sent exactly 24 h ago no longer counts', () => {
    expect(dailyBudget([NOW - BUDGET_WINDOW_MS, NOW - BUDGET_WINDOW_MS + 1, NOW - HOUR], 6, NOW)).toEqual({
      limit: 6,
      used: 2,
      remaining: 4,
      bySource: { gateway: 2, schedule: 0, smartCharging: 0, other: 0 },
      nextAllowedAtMs: null,
    });
  });

  it("counts other callers' actions with the gateway's commands, each source apart, in the same window", () => {
    const gateway = [NOW - 5 * HOUR, NOW - 3 * HOUR];
    const other = [NOW - BUDGET_WINDOW_MS, NOW - 4 * HOUR, NOW - HOUR];
    expect(dailyBudget(gateway, 6, NOW, other)).toEqual({ limit: 6, used: 4, remaining: 2, bySource: { gateway: 2, schedule: 0, smartCharging: 0, other: 2 }, nextAllowedAtMs: null });
  });

  it("at the limit with other callers' actions, the next command fits when the oldest of either source leaves", () => {
    const other = [NOW - 20 * HOUR, NOW - 10 * HOUR];
    const gateway = [NOW - 18 * HOUR, NOW - 8 * HOUR, NOW - 6 * HOUR, NOW - 2 * HOUR];
    const budget = dailyBudget(gateway, 6, NOW, other);
    expect(budget).toMatchObject({ used: 6, remaining: 0, bySource: { gateway: 4, other: 2 } });
    expect(budget.nextAllowedAtMs).toBe(NOW - 20 * HOUR + BUDGET_WINDOW_MS);
  });

  it('at the limit, the next command is allowed when the oldest leaves the window', () => {
    const sent = sentHourly(6);
    const budget = dailyBudget(sent, 6, NOW);
    expect(budget).toMatchObject({ used: 6, remaining: 0 });
    expect(budget.nextAllowedAtMs).toBe((sent[0] as number) + BUDGET_WINDOW_MS);
  });

  it('past the limit (after overrides), waits until enough of the oldest have left', () => {
    const sent = sentHourly(8);
    expect(dailyBudget(sent, 6, NOW).nextAllowedAtMs).toBe((sent[2] as number) + BUDGET_WINDOW_MS);
  });

  it('property: no command fits before nextAllowedAt, and one does from then on', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: BUDGET_WINDOW_MS - 1 }), fc.integer({ min: 0, max: 47 }).map((k) => k * 30 * MIN)), { maxLength: 12 }), fc.integer({ min: 1, max: 8 }), (ages, limit) => {
        const sent = ages.map((age) => NOW - age);
        const budget = dailyBudget(sent, limit, NOW);
        expect(budget.used).toBe(sent.length);
        if (budget.nextAllowedAtMs === null) {
          expect(budget.remaining).toBeGreaterThan(0);
          return;
        }
        expect(budget.nextAllowedAtMs).toBeGreaterThan(NOW);
        expect(dailyBudget(sent, limit, budget.nextAllowedAtMs - 1).remaining).toBe(0);
        // Commands sent at the same instant leave the window together.
        expect(dailyBudget(sent, limit, budget.nextAllowedAtMs).remaining).toBeGreaterThanOrEqual(1);
      }),
    );
  });
});

describe('evaluateCommand', () => {
  it('an identical PENDING action collapses the command, before any other guard', () => {
    const decision = evaluateCommand(
      input({
        pendingActions: [action('a1')],
        sentAtMs: sentHourly(6),
        device: { snapshot: capable([], { startCharging: ['iv'] }), isReachable: true },
      }),
    );
    expect(decision).toMatchObject({ outcome: 'collapse', actionId: 'a1' });
    expect(decision.notes).toEqual([expect.objectContaining({ code: 'COLLAPSED', actionId: 'a1' })]);
  });

  it('collapses only onto the newest PENDING action: an older one was superseded (Enode keeps one per device)', () => {
    const older = action('start-old', { kind: 'START', createdAtMs: NOW - 120_000 });
    const newer = action('stop-new', { kind: 'STOP', createdAtMs: NOW - 60_000 });
    const decision = evaluateCommand(input({ pendingActions: [older, newer] }));
    expect(decision).toMatchObject({ outcome: 'send', supersedes: 'stop-new' });
  });

  it('an identical action that is stale or lost does not collapse: the command is sent', () => {
    const decision = evaluateCommand(input({ pendingActions: [action('old', { createdAtMs: NOW - STALE_AFTER_MS })] }));
    expect(decision).toMatchObject({ outcome: 'send', supersedes: null });
  });

  it('refuses a command the device is not capable of, with its interventionIds', () => {
    const decision = evaluateCommand(input({ device: { snapshot: capable(['stopCharging'], { startCharging: ['iv-9'] }), isReachable: true } }));
    expect(decision).toMatchObject({ outcome: 'refuse', refusal: { reason: 'NOT_CAPABLE', capability: 'startCharging', interventionIds: ['iv-9'] } });
  });

  it('a different PENDING action: sends, with a note that Enode cancels it (CONFLICT)', () => {
    const decision = evaluateCommand(input({ command: STOP, pendingActions: [action('a1', { kind: 'START' })] }));
    expect(decision).toMatchObject({ outcome: 'send', supersedes: 'a1', overridden: false });
    expect(decision.notes).toEqual([expect.objectContaining({ code: 'SUPERSEDES', actionId: 'a1', message: expect.stringContaining('CONFLICT') })]);
  });

  it('a different PENDING action with supersede=false: refuses, naming the pending action', () => {
    const decision = evaluateCommand(input({ command: STOP, supersede: false, pendingActions: [action('a1')] }));
    expect(decision).toMatchObject({ outcome: 'refuse', refusal: { reason: 'ACTION_PENDING', actionId: 'a1' } });
  });

  it('supersede=false changes nothing when no other action is pending', () => {
    expect(evaluateCommand(input({ supersede: false })).outcome).toBe('send');
  });

  it('refuses the 7th command in 24 h with the time the next one is allowed', () => {
    const sent = sentHourly(6);
    const decision = evaluateCommand(input({ sentAtMs: sent }));
    expect(decision).toMatchObject({ outcome: 'refuse', refusal: { reason: 'DAILY_COMMAND_LIMIT', budget: { used: 6, limit: 6 } } });
    if (decision.outcome !== 'refuse' || decision.refusal.reason !== 'DAILY_COMMAND_LIMIT') throw new Error('expected a budget refusal');
    expect(decision.refusal.budget.nextAllowedAtMs).toBe((sent[0] as number) + BUDGET_WINDOW_MS);
    expect(decision.refusal.message).toContain(new Date((sent[0] as number) + BUDGET_WINDOW_MS).toISOString());
  });

  it('sends the 6th command: the limit is reached, not exceeded', () => {
    expect(evaluateCommand(input({ sentAtMs: sentHourly(5) })).outcome).toBe('send');
  });

  it('override=true sends past the limit, noted and flagged as overridden', () => {
    const decision = evaluateCommand(input({ sentAtMs: sentHourly(6), override: true }));
    expect(decision).toMatchObject({ outcome: 'send', overridden: true });
    expect(decision.notes.map((n) => n.code)).toEqual(['DAILY_LIMIT_OVERRIDDEN']);
  });

  it('override=true within the budget is not an override', () => {
    const decision = evaluateCommand(input({ sentAtMs: sentHourly(2), override: true }));
    expect(decision).toMatchObject({ outcome: 'send', overridden: false, notes: [] });
  });

  it('override does not bypass the capability guard', () => {
    const decision = evaluateCommand(input({ override: true, device: { snapshot: capable([], { startCharging: [] }), isReachable: true } }));
    expect(decision).toMatchObject({ outcome: 'refuse', refusal: { reason: 'NOT_CAPABLE' } });
  });

  it('notes a device last reported unreachable, and still sends', () => {
    const decision = evaluateCommand(input({ device: { snapshot: capable(['startCharging']), isReachable: false } }));
    expect(decision.outcome).toBe('send');
    expect(decision.notes.map((n) => n.code)).toEqual(['DEVICE_UNREACHABLE']);
  });
});
