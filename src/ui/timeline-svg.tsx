import type { FC } from 'hono/jsx';
import type { TimelineEntry, TimelineTransitionView } from '../reconcile/timeline.js';
import { describeExplanation, formatTime, formatValue } from './format.js';

/** Geometry of the drawing, in SVG user units (the SVG scales to the page width). */
export const TIMELINE_WIDTH = 960;
const PLOT_LEFT = 130;
const PLOT_RIGHT_PAD = 16;
const TOP = 10;
const BAND_HEIGHT = 24;
const ROW_GAP = 12;
const MARKER_ROW_HEIGHT = 22;
const AXIS_HEIGHT = 28;

/** Okabe–Ito: colors told apart with the common kinds of color blindness; [fill, text]. */
const PALETTE: Array<[string, string]> = [
  ['#0072B2', '#ffffff'],
  ['#E69F00', '#000000'],
  ['#CC79A7', '#000000'],
  ['#56B4E9', '#000000'],
  ['#D55E00', '#ffffff'],
  ['#F0E442', '#000000'],
  ['#009E73', '#ffffff'],
  ['#7f7f7f', '#ffffff'],
];
const TRUE_COLOR: [string, string] = ['#009E73', '#ffffff'];
const FALSE_COLOR: [string, string] = ['#8a94a6', '#ffffff'];
const UNKNOWN_COLOR: [string, string] = ['#e6e9ee', '#333333'];
export const FINDING_COLOR = '#d32f2f';
const STATUS_COLOR: Record<string, string> = { explained: '#1d2330', waiting: '#b86e00', finding: FINDING_COLOR };
const ACTION_COLOR: Record<string, string> = { CONFIRMED: '#0072B2', PENDING: '#E69F00', FAILED: '#D55E00', CANCELLED: '#D55E00' };

export interface TimelineWindow {
  fromMs: number;
  untilMs: number;
}

/** A stretch of time during which a controlled field kept one value. */
export interface Segment {
  field: string;
  value: unknown;
  label: string;
  color: string;
  textColor: string;
  startMs: number;
  endMs: number;
  x: number;
  width: number;
  /** Set when the change that started this stretch is an interference finding. */
  findingId: string | null;
}

/** A change of a field, where the reconciler's explanation is shown on hover. */
export interface TransitionMark {
  field: string;
  atMs: number;
  x: number;
  status: string;
  findingId: string | null;
  title: string;
}

export interface Band {
  field: string;
  y: number;
  segments: Segment[];
  transitions: TransitionMark[];
  legend: Array<{ label: string; color: string }>;
}

export interface Marker {
  kind: 'action' | 'command' | 'finding';
  id: string;
  atMs: number;
  x: number;
  /** Center of the marker's row. */
  y: number;
  color: string;
  /** Field the finding is about (findings only). */
  field: string | null;
  title: string;
}

export interface TimelineLayout {
  width: number;
  height: number;
  window: TimelineWindow;
  plotLeft: number;
  plotRight: number;
  bands: Band[];
  actionRowY: number;
  findingRowY: number;
  axisY: number;
  markers: Marker[];
  ticks: Array<{ x: number; label: string }>;
  counts: { observations: number; transitions: number; actions: number; commands: number; findings: number };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Maps a device time to x within the plot, clamped to the window. */
export function timeToX(ms: number, window: TimelineWindow, width = TIMELINE_WIDTH): number {
  const plotRight = width - PLOT_RIGHT_PAD;
  const span = Math.max(1, window.untilMs - window.fromMs);
  const clamped = Math.min(window.untilMs, Math.max(window.fromMs, ms));
  return round1(PLOT_LEFT + ((clamped - window.fromMs) / span) * (plotRight - PLOT_LEFT));
}

function colorOf(value: unknown, palette: Map<string, [string, string]>): [string, string] {
  if (value === null || value === undefined) return UNKNOWN_COLOR;
  if (value === true) return TRUE_COLOR;
  if (value === false) return FALSE_COLOR;
  const key = JSON.stringify(value);
  let c = palette.get(key);
  if (!c) {
    c = PALETTE[palette.size % PALETTE.length] as [string, string];
    palette.set(key, c);
  }
  return c;
}

const TICK_STEPS_MS = [5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map((m) => m * 60_000);

function axisTicks(window: TimelineWindow, width: number): Array<{ x: number; label: string }> {
  const span = Math.max(1, window.untilMs - window.fromMs);
  const step = TICK_STEPS_MS.find((s) => span / s <= 8) ?? (TICK_STEPS_MS[TICK_STEPS_MS.length - 1] as number);
  const ticks: Array<{ x: number; label: string }> = [];
  for (let t = Math.ceil(window.fromMs / step) * step; t <= window.untilMs; t += step) {
    const iso = new Date(t).toISOString();
    const label = step >= 1440 * 60_000 ? iso.slice(5, 10) : span > 24 * 3_600_000 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(11, 16);
    ticks.push({ x: timeToX(t, window, width), label });
  }
  return ticks;
}

function transitionTitle(t: TimelineTransitionView, atMs: number): string {
  return `${t.field}: ${formatValue(t.from)} → ${formatValue(t.to)} at ${formatTime(atMs)} — ${describeExplanation(t.explanation, t.status, t.findingId)}`;
}

/**
 * Lays out a device timeline (pure: entries in, coordinates out). One band per controlled field,
 * split into segments where the observed value changes; own actions and gateway commands on one
 * marker row, findings on another; each transition keeps its explanation for the hover title.
 */
export function layoutTimeline(entries: readonly TimelineEntry[], window: TimelineWindow, fields: readonly string[], width = TIMELINE_WIDTH): TimelineLayout {
  const x = (ms: number) => timeToX(ms, window, width);
  const observations = entries
    .filter((e): e is Extract<TimelineEntry, { type: 'observation' }> => e.type === 'observation')
    .map((e) => ({ atMs: Date.parse(e.at), controlled: (e.controlled ?? {}) as Record<string, unknown>, transitions: e.transitions }))
    .sort((a, b) => a.atMs - b.atMs);

  // Fields of the device type first, then any other field the observations carry.
  const allFields = [...fields];
  for (const o of observations) for (const f of Object.keys(o.controlled)) if (!allFields.includes(f)) allFields.push(f);

  // An instant's transitions are listed on one of its observations (the first): found by instant,
  // so the observation where a value changes gets its finding whichever observation lists it.
  const transitionsAt = new Map<number, typeof observations[number]['transitions']>();
  for (const o of observations) if (o.transitions.length > 0) transitionsAt.set(o.atMs, [...(transitionsAt.get(o.atMs) ?? []), ...o.transitions]);

  const bands: Band[] = allFields.map((field, i) => {
    const palette = new Map<string, [string, string]>();
    const y = TOP + i * (BAND_HEIGHT + ROW_GAP);
    const changes: Array<{ atMs: number; value: unknown; findingId: string | null }> = [];
    const transitions: TransitionMark[] = [];
    let markedAt: number | undefined;
    for (const o of observations) {
      const t = transitionsAt.get(o.atMs)?.find((tr) => tr.field === field);
      // One mark per instant, however many observations share it.
      if (t && markedAt !== o.atMs) transitions.push({ field, atMs: o.atMs, x: x(o.atMs), status: t.status, findingId: t.findingId, title: transitionTitle(t, o.atMs) });
      if (t) markedAt = o.atMs;
      if (!(field in o.controlled)) continue;
      const value = o.controlled[field];
      const last = changes[changes.length - 1];
      if (last && same(last.value, value)) continue;
      changes.push({ atMs: o.atMs, value, findingId: t?.status === 'finding' ? t.findingId : null });
    }
    const segments: Segment[] = changes.map((c, j) => {
      const endMs = changes[j + 1]?.atMs ?? window.untilMs;
      const [color, textColor] = colorOf(c.value, palette);
      const x0 = x(c.atMs);
      return { field, value: c.value, label: formatValue(c.value), color, textColor, startMs: c.atMs, endMs, x: x0, width: round1(Math.max(1, x(endMs) - x0)), findingId: c.findingId };
    });
    const legend: Band['legend'] = [];
    for (const s of segments) if (!legend.some((l) => l.label === s.label)) legend.push({ label: s.label, color: s.color });
    return { field, y, segments, transitions, legend };
  });

  const bandsBottom = TOP + bands.length * (BAND_HEIGHT + ROW_GAP);
  const actionRowY = bandsBottom + MARKER_ROW_HEIGHT / 2;
  const findingRowY = actionRowY + MARKER_ROW_HEIGHT + ROW_GAP / 2;
  const axisY = findingRowY + MARKER_ROW_HEIGHT / 2 + 4;

  const markers: Marker[] = [];
  const counts = { observations: observations.length, transitions: bands.reduce((n, b) => n + b.transitions.length, 0), actions: 0, commands: 0, findings: 0 };
  for (const e of entries) {
    const atMs = Date.parse(e.at);
    if (e.type === 'action') {
      counts.actions++;
      const a = e.action;
      markers.push({
        kind: 'action',
        id: a.id,
        atMs,
        x: x(atMs),
        y: actionRowY,
        color: ACTION_COLOR[a.state] ?? '#5b6475',
        field: null,
        title: `Own action ${a.id}: ${a.kind ?? a.targetType} — ${a.state}${a.failureReason ? ` (${a.failureReason.type})` : ''}, created ${formatTime(atMs)}, origin ${a.origin}`,
      });
    } else if (e.type === 'command') {
      counts.commands++;
      const cmd = e.command;
      markers.push({
        kind: 'command',
        id: cmd.id,
        atMs,
        x: x(atMs),
        y: actionRowY,
        color: cmd.outcome === 'sent' ? '#0072B2' : '#5b6475',
        field: null,
        title: `Command ${cmd.command} — ${cmd.outcome}${cmd.actionId ? `, action ${cmd.actionId}` : ''} at ${formatTime(atMs)}${cmd.error ? `: ${cmd.error}` : ''}`,
      });
    } else if (e.type === 'finding') {
      const f = e.finding;
      // One marker per episode: a finding is one episode, however many fields it moved.
      if (markers.some((m) => m.kind === 'finding' && m.id === f.id)) continue;
      counts.findings++;
      const change = f.field ? `${f.field}: ${formatValue(f.from)} → ${formatValue(f.to)}` : 'conflicting command';
      markers.push({
        kind: 'finding',
        id: f.id,
        atMs,
        x: x(atMs),
        y: findingRowY,
        color: FINDING_COLOR,
        field: f.field,
        title: `Finding ${f.kind} — ${change}, observed ${formatTime(atMs)}, detected ${formatTime(Date.parse(f.detectedAt))}${f.actionId ? `, action ${f.actionId}` : ''}`,
      });
    }
  }

  return {
    width,
    height: axisY + AXIS_HEIGHT,
    window,
    plotLeft: PLOT_LEFT,
    plotRight: width - PLOT_RIGHT_PAD,
    bands,
    actionRowY,
    findingRowY,
    axisY,
    markers,
    ticks: axisTicks(window, width),
    counts,
  };
}

const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif';

/** Draws a laid-out timeline as inline SVG; every mark carries a `<title>` for hover. */
export const TimelineSvg: FC<{ layout: TimelineLayout; label: string }> = ({ layout: l, label }) => {
  const plotWidth = l.plotRight - l.plotLeft;
  const desc =
    `${l.counts.observations} observations, ${l.counts.transitions} transitions, ${l.counts.actions} own actions, ` +
    `${l.counts.commands} commands and ${l.counts.findings} findings between ${formatTime(l.window.fromMs)} and ${formatTime(l.window.untilMs)}. ` +
    'Hover a mark for its explanation; the table below lists every entry.';
  return (
    <svg
      class="timeline"
      role="img"
      aria-labelledby="timeline-title timeline-desc"
      viewBox={`0 0 ${l.width} ${l.height}`}
      width={l.width}
      height={l.height}
      font-family={FONT}
      font-size="12"
      xmlns="http://www.w3.org/2000/svg"
    >
      <title id="timeline-title">{label}</title>
      <desc id="timeline-desc">{desc}</desc>

      <g class="grid" aria-hidden="true">
        {l.ticks.map((t) => (
          <line x1={t.x} x2={t.x} y1={TOP - 4} y2={l.axisY} stroke="#e3e6eb" stroke-width="1" />
        ))}
      </g>

      {l.bands.map((b) => (
        <g class="band" data-field={b.field}>
          <text x={l.plotLeft - 8} y={b.y + BAND_HEIGHT / 2 + 4} text-anchor="end" fill="#1d2330">
            {b.field}
          </text>
          <rect x={l.plotLeft} y={b.y} width={plotWidth} height={BAND_HEIGHT} fill="#f3f4f7" stroke="#d9dde5">
            <title>{`${b.field}: no observation in this part of the window`}</title>
          </rect>
          {b.segments.map((s) => (
            <g class={s.findingId ? 'segment segment-finding' : 'segment'} data-value={s.label}>
              <title>{`${s.field} = ${s.label} from ${formatTime(s.startMs)} to ${formatTime(s.endMs)}${s.findingId ? ' (started by an interference finding)' : ''}`}</title>
              <rect
                x={s.x}
                y={b.y}
                width={s.width}
                height={BAND_HEIGHT}
                fill={s.color}
              />
              {s.width >= s.label.length * 7 + 10 && (
                <text x={round1(s.x + s.width / 2)} y={b.y + BAND_HEIGHT / 2 + 4} text-anchor="middle" fill={s.textColor} pointer-events="none">
                  {s.label}
                </text>
              )}
            </g>
          ))}
          {b.segments
            .filter((s) => s.findingId)
            .map((s) => (
              <rect class="finding-outline" x={s.x} y={b.y} width={s.width} height={BAND_HEIGHT} fill="none" stroke={FINDING_COLOR} stroke-width="2.5" pointer-events="none" />
            ))}
          {b.transitions.map((t) => (
            <g class={`transition transition-${t.status}`} data-status={t.status}>
              <title>{t.title}</title>
              <rect x={round1(t.x - 4)} y={b.y - 3} width="8" height={BAND_HEIGHT + 6} fill="transparent" />
              <line x1={t.x} x2={t.x} y1={b.y - 3} y2={b.y + BAND_HEIGHT + 3} stroke={STATUS_COLOR[t.status] ?? '#1d2330'} stroke-width={t.status === 'finding' ? 3 : 2} />
            </g>
          ))}
        </g>
      ))}

      <text x={l.plotLeft - 8} y={l.actionRowY + 4} text-anchor="end" fill="#1d2330">
        own actions
      </text>
      <line x1={l.plotLeft} x2={l.plotRight} y1={l.actionRowY} y2={l.actionRowY} stroke="#d9dde5" />
      <text x={l.plotLeft - 8} y={l.findingRowY + 4} text-anchor="end" fill={FINDING_COLOR}>
        findings
      </text>
      <line x1={l.plotLeft} x2={l.plotRight} y1={l.findingRowY} y2={l.findingRowY} stroke="#f1b4b4" />

      {l.markers.map((m) =>
        m.kind === 'finding' ? (
          <a href={`#finding-${m.id}`} class="finding-marker" data-finding-id={m.id}>
            <title>{m.title}</title>
            <line x1={m.x} x2={m.x} y1={TOP} y2={m.y} stroke={FINDING_COLOR} stroke-width="1" stroke-dasharray="3 3" />
            <polygon points={`${m.x},${m.y - 8} ${m.x + 8},${m.y} ${m.x},${m.y + 8} ${m.x - 8},${m.y}`} fill={FINDING_COLOR} stroke="#7f0000" />
          </a>
        ) : m.kind === 'action' ? (
          <g class="action-marker" data-action-id={m.id}>
            <title>{m.title}</title>
            <polygon points={`${m.x - 7},${m.y - 7} ${m.x + 7},${m.y - 7} ${m.x},${m.y + 6}`} fill={m.color} stroke="#1d2330" stroke-width="0.75" />
          </g>
        ) : (
          <g class="command-marker" data-command-id={m.id}>
            <title>{m.title}</title>
            <circle cx={m.x} cy={m.y} r="5" fill="#ffffff" stroke={m.color} stroke-width="2" />
          </g>
        ),
      )}

      <g class="axis" aria-hidden="true">
        <line x1={l.plotLeft} x2={l.plotRight} y1={l.axisY} y2={l.axisY} stroke="#8a94a6" />
        {l.ticks.map((t) => (
          <text x={t.x} y={l.axisY + 16} text-anchor="middle" fill="#5b6475">
            {t.label}
          </text>
        ))}
        <text x={l.plotLeft - 8} y={l.axisY + 16} text-anchor="end" fill="#5b6475">
          UTC
        </text>
      </g>
    </svg>
  );
};
