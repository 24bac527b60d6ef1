import { describe, expect, it } from 'vitest';
import type { TimelineEntry, TimelineTransitionView } from '../../src/reconcile/timeline.js';
import { FINDING_COLOR, layoutTimeline, TIMELINE_WIDTH, timeToX, TimelineSvg } from '../../src/ui/timeline-svg.js';

const BASE_MS = Date.parse('2026-03-01T10:00:00.000Z');
const at = (minute: number) => new Date(BASE_MS + minute * 60_000).toISOString();
const WINDOW = { fromMs: BASE_MS, untilMs: BASE_MS + 60 * 60_000 };
/** The plot spans x 130…944 (960 wide, 130 for labels, 16 right padding). */
const xAt = (minute: number) => Math.round((130 + (minute / 60) * 814) * 10) / 10;

function observation(minute: number, controlled: Record<string, unknown>, transitions: TimelineTransitionView[] = []): TimelineEntry {
  return { type: 'observation', at: at(minute), receivedAt: at(minute), source: 'webhook', event: 'user:vehicle:updated', stale: false, controlled, context: {}, transitions };
}

function transition(field: string, from: unknown, to: unknown, status: string, explanation: unknown, findingId: string | null = null): TimelineTransitionView {
  return { field, from, to, status, explanation, findingId };
}

const action: TimelineEntry = {
  type: 'action',
  at: at(15),
  action: {
    id: 'act-1',
    userId: 'u1',
    targetId: 'v1',
    targetType: 'vehicle',
    kind: 'START',
    target: null,
    state: 'CONFIRMED',
    failureReason: null,
    createdAt: at(15),
    updatedAt: at(16),
    completedAt: at(16),
    origin: 'gateway',
  },
};

const command: TimelineEntry = {
  type: 'command',
  at: at(14),
  command: { id: 'cmd-1', command: 'charging', body: { action: 'START' }, outcome: 'sent', actionId: 'act-1', override: false, notes: [], error: null },
};

const finding: TimelineEntry = {
  type: 'finding',
  at: at(40),
  finding: {
    id: 'fnd-1',
    deviceId: 'v1',
    deviceType: 'vehicle',
    userId: 'u1',
    kind: 'ACTION_OVERRIDDEN',
    field: 'charging',
    from: true,
    to: false,
    fields: [{ field: 'charging', from: true, to: false }],
    observedAt: at(40),
    detectedAt: at(41),
    actionId: 'act-1',
  },
};

/** Charging off at 10, on at 20 (our START), still on at 30, off at 40 (a finding); maxCurrent 16 then 32. */
const ENTRIES: TimelineEntry[] = [
  observation(10, { charging: false, maxCurrent: 16 }),
  command,
  action,
  observation(20, { charging: true, maxCurrent: 16 }, [transition('charging', false, true, 'explained', { kind: 'own_action', actionId: 'act-1' })]),
  observation(30, { charging: true, maxCurrent: 32 }, [transition('maxCurrent', 16, 32, 'explained', { kind: 'natural', cause: 'charge_complete' })]),
  observation(40, { charging: false, maxCurrent: 32 }, [transition('charging', true, false, 'finding', { kind: 'unexplained' }, 'fnd-1')]),
  finding,
];

async function render(entries: TimelineEntry[], fields = ['charging', 'maxCurrent']): Promise<string> {
  const layout = layoutTimeline(entries, WINDOW, fields);
  return String(await TimelineSvg({ layout, label: 'Timeline of v1' })!.toString());
}

describe('timeline layout (pure)', () => {
  it('maps device time to x linearly across the plot and clamps outside the window', () => {
    expect(timeToX(BASE_MS, WINDOW)).toBe(130);
    expect(timeToX(WINDOW.untilMs, WINDOW)).toBe(TIMELINE_WIDTH - 16);
    expect(timeToX(BASE_MS + 30 * 60_000, WINDOW)).toBe(537);
    expect(timeToX(BASE_MS - 3_600_000, WINDOW)).toBe(130);
    expect(timeToX(WINDOW.untilMs + 1, WINDOW)).toBe(944);
  });

  it('draws one band per field with a segment per run of equal values, the last running to the window end', () => {
    const layout = layoutTimeline(ENTRIES, WINDOW, ['charging', 'maxCurrent']);
    expect(layout.bands.map((b) => b.field)).toEqual(['charging', 'maxCurrent']);
    const charging = layout.bands[0]!;
    expect(charging.segments.map((s) => [s.label, s.startMs, s.endMs])).toEqual([
      ['no', BASE_MS + 10 * 60_000, BASE_MS + 20 * 60_000],
      ['yes', BASE_MS + 20 * 60_000, BASE_MS + 40 * 60_000],
      ['no', BASE_MS + 40 * 60_000, WINDOW.untilMs],
    ]);
    expect(charging.segments.map((s) => s.x)).toEqual([xAt(10), xAt(20), xAt(40)]);
    expect(charging.segments[0]!.width).toBeCloseTo(xAt(20) - xAt(10), 0);
    // Same value, same color; the two values differ.
    expect(charging.segments[0]!.color).toBe(charging.segments[2]!.color);
    expect(charging.segments[0]!.color).not.toBe(charging.segments[1]!.color);
    expect(charging.legend.map((l) => l.label)).toEqual(['no', 'yes']);

    const maxCurrent = layout.bands[1]!;
    expect(maxCurrent.segments.map((s) => [s.label, s.x])).toEqual([
      ['16', xAt(10)],
      ['32', xAt(30)],
    ]);
    expect(maxCurrent.segments[0]!.color).not.toBe(maxCurrent.segments[1]!.color);
    expect(maxCurrent.y).toBeGreaterThan(charging.y);
  });

  it('marks the segment a finding started and keeps explanations for the hover titles', () => {
    const charging = layoutTimeline(ENTRIES, WINDOW, ['charging', 'maxCurrent']).bands[0]!;
    expect(charging.segments.map((s) => s.findingId)).toEqual([null, null, 'fnd-1']);
    expect(charging.transitions.map((t) => [t.x, t.status])).toEqual([
      [xAt(20), 'explained'],
      [xAt(40), 'finding'],
    ]);
    expect(charging.transitions[0]!.title).toBe('charging: no → yes at 2026-03-01 10:20:00 UTC — explained by own action act-1');
    expect(charging.transitions[1]!.title).toContain('unexplained: interference finding fnd-1');
  });

  it('finds an instant’s transitions whichever of its observations lists them: the segment where the value changes is the finding’s, with one mark', () => {
    // Two snapshots of minute 40: the first still shows charging, the second (the one judged)
    // does not; the timeline lists the instant's transition on the first.
    const entries = [
      observation(10, { charging: true }),
      observation(40, { charging: true }, [transition('charging', true, false, 'finding', null, 'fnd-1')]),
      observation(40, { charging: false }),
    ];
    const charging = layoutTimeline(entries, WINDOW, ['charging']).bands[0]!;
    expect(charging.segments.map((s) => [s.value, s.startMs, s.findingId])).toEqual([
      [true, BASE_MS + 10 * 60_000, null],
      [false, BASE_MS + 40 * 60_000, 'fnd-1'],
    ]);
    expect(charging.transitions.map((t) => [t.atMs, t.findingId])).toEqual([[BASE_MS + 40 * 60_000, 'fnd-1']]);
  });

  it('puts own actions and commands on the action row and findings on the finding row, at their times', () => {
    const layout = layoutTimeline(ENTRIES, WINDOW, ['charging', 'maxCurrent']);
    expect(layout.markers.map((m) => [m.kind, m.id, m.x])).toEqual([
      ['command', 'cmd-1', xAt(14)],
      ['action', 'act-1', xAt(15)],
      ['finding', 'fnd-1', xAt(40)],
    ]);
    const [cmd, act, fnd] = layout.markers;
    expect(cmd!.y).toBe(layout.actionRowY);
    expect(act!.y).toBe(layout.actionRowY);
    expect(fnd!.y).toBe(layout.findingRowY);
    expect(fnd!.color).toBe(FINDING_COLOR);
    expect(act!.title).toContain('Own action act-1: START — CONFIRMED');
    expect(fnd!.title).toContain('Finding ACTION_OVERRIDDEN — charging: yes → no');
    expect(layout.counts).toEqual({ observations: 4, transitions: 3, actions: 1, commands: 1, findings: 1 });
  });

  it('adds a band for a field the observations carry beyond the type’s, and draws none for a field never observed', () => {
    const layout = layoutTimeline([observation(5, { operationMode: 'IMPORT_FOCUS', extra: 1 })], WINDOW, ['operationMode', 'other']);
    expect(layout.bands.map((b) => [b.field, b.segments.length])).toEqual([
      ['operationMode', 1],
      ['other', 0],
      ['extra', 1],
    ]);
  });

  it('labels the axis in UTC with a step that gives at most 8 ticks', () => {
    const layout = layoutTimeline([], WINDOW, ['charging']);
    expect(layout.ticks.map((t) => t.label)).toEqual(['10:00', '10:10', '10:20', '10:30', '10:40', '10:50', '11:00']);
    expect(layout.ticks[0]!.x).toBe(130);
    const week = layoutTimeline([], { fromMs: BASE_MS, untilMs: BASE_MS + 7 * 86_400_000 }, ['charging']);
    expect(week.ticks.length).toBeLessThanOrEqual(8);
    expect(week.ticks.map((t) => t.label)).toEqual(['03-02', '03-03', '03-04', '03-05', '03-06', '03-07', '03-08']);
  });
});

describe('timeline SVG (rendered)', () => {
  it('is an accessible image with a title and description', async () => {
    const svg = await render(ENTRIES);
    expect(svg).toMatch(/^<svg class="timeline" role="img" aria-labelledby="timeline-title timeline-desc"/);
    expect(svg).toContain('<title id="timeline-title">Timeline of v1</title>');
    expect(svg).toContain('4 observations, 3 transitions, 1 own actions, 1 commands and 1 findings');
  });

  it('draws colored segments, a red-outlined finding segment and a red finding marker linking to its row', async () => {
    const svg = await render(ENTRIES);
    expect(svg.match(/<g class="segment[^"]*" data-value=/g)).toHaveLength(5);
    expect(svg).toContain(`<rect class="finding-outline" x="${xAt(40)}"`);
    expect(svg).toMatch(new RegExp(`<a href="#finding-fnd-1" class="finding-marker" data-finding-id="fnd-1"><title>Finding ACTION_OVERRIDDEN`));
    expect(svg).toContain(`fill="${FINDING_COLOR}"`);
    expect(svg).toContain('data-action-id="act-1"');
    expect(svg).toContain('data-command-id="cmd-1"');
  });

  it('gives each transition its explanation as an SVG title', async () => {
    const svg = await render(ENTRIES);
    expect(svg).toContain('<g class="transition transition-explained" data-status="explained"><title>charging: no → yes at 2026-03-01 10:20:00 UTC — explained by own action act-1</title>');
    expect(svg).toContain('<title>maxCurrent: 16 → 32 at 2026-03-01 10:30:00 UTC — explained by a natural cause: charge complete</title>');
    expect(svg).toContain('<g class="transition transition-finding" data-status="finding"><title>charging: yes → no at 2026-03-01 10:40:00 UTC — unexplained: interference finding fnd-1</title>');
  });

  it('escapes values taken from device data', async () => {
    const svg = await render([observation(5, { hvacMode: '<script>alert(1)</script>' })], ['hvacMode']);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
