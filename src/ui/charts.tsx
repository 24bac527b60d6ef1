/**
 * Small inline SVG charts for the overview (no script, no external asset): bars over time with a
 * labelled axis, and horizontal bars against a limit. Each has a title and a text summary for
 * screen readers; values are also in each bar's tooltip (`<title>`).
 */
import type { FC } from 'hono/jsx';

const W = 320;
const H = 120;
const PAD_LEFT = 40;
const PAD_BOTTOM = 18;

export interface Bar {
  /** Start of the bucket (epoch ms). */
  atMs: number;
  value: number;
  /** Tooltip text. */
  label: string;
}

/** A nice upper bound for an axis: 1, 2, 5 × 10^n at or above `max`. */
export function axisMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * p).find((v) => v >= max) ?? 10 * p;
}

/** Bars over a time range of `buckets` buckets of `bucketMs` ending at `endMs` (missing buckets draw as zero). */
export const TimeBars: FC<{ title: string; bars: Bar[]; endMs: number; bucketMs: number; buckets: number; unit: string; firstLabel: string; lastLabel: string; color?: string }> = ({
  title,
  bars,
  endMs,
  bucketMs,
  buckets,
  unit,
  firstLabel,
  lastLabel,
  color = '#0072B2',
}) => {
  const startMs = Math.floor(endMs / bucketMs) * bucketMs - (buckets - 1) * bucketMs;
  const byBucket = new Map(bars.map((b) => [Math.floor(b.atMs / bucketMs), b]));
  const top = axisMax(Math.max(0, ...bars.map((b) => b.value)));
  const plotW = W - PAD_LEFT - 4;
  const plotH = H - PAD_BOTTOM - 6;
  const bw = plotW / buckets;
  const total = bars.reduce((s, b) => s + b.value, 0);
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: ${total} ${unit} in all`}>
      <title>{title}</title>
      <line x1={PAD_LEFT} y1={6} x2={PAD_LEFT} y2={6 + plotH} stroke="#999" />
      <line x1={PAD_LEFT} y1={6 + plotH} x2={W - 4} y2={6 + plotH} stroke="#999" />
      <text x={PAD_LEFT - 4} y={12} text-anchor="end" font-size="10" fill="#5b6475">
        {top}
      </text>
      <text x={PAD_LEFT - 4} y={6 + plotH} text-anchor="end" font-size="10" fill="#5b6475">
        0
      </text>
      {Array.from({ length: buckets }, (_, i) => {
        const b = byBucket.get(Math.floor(startMs / bucketMs) + i);
        if (!b || b.value <= 0) return null;
        const h = (b.value / top) * plotH;
        return (
          <rect class="bar" x={PAD_LEFT + i * bw + 0.5} y={6 + plotH - h} width={Math.max(1, bw - 1)} height={h} fill={color}>
            <title>{b.label}</title>
          </rect>
        );
      })}
      <text x={PAD_LEFT} y={H - 4} font-size="10" fill="#5b6475">
        {firstLabel}
      </text>
      <text x={W - 4} y={H - 4} text-anchor="end" font-size="10" fill="#5b6475">
        {lastLabel}
      </text>
    </svg>
  );
};

/** Horizontal bars of counts against a limit (a dashed line at the limit; bars at or past it in red). */
export const LimitBars: FC<{ title: string; rows: Array<{ label: string; href: string; value: number }>; limit: number }> = ({ title, rows, limit }) => {
  const rowH = 18;
  const labelW = 110;
  const h = Math.max(1, rows.length) * rowH + 16;
  const top = Math.max(limit, ...rows.map((r) => r.value));
  const plotW = W - labelW - 30;
  const x = (v: number) => labelW + (v / top) * plotW;
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${h}`} role="img" aria-label={`${title}: ${rows.map((r) => `${r.label} ${r.value} of ${limit}`).join(', ') || 'none'}`}>
      <title>{title}</title>
      {rows.map((r, i) => (
        <g>
          <a href={r.href}>
            <text x={labelW - 4} y={i * rowH + 13} text-anchor="end" font-size="10" fill="#0b5cad">
              {r.label.length > 18 ? `${r.label.slice(0, 17)}…` : r.label}
            </text>
          </a>
          <rect x={labelW} y={i * rowH + 3} width={Math.max(1, x(r.value) - labelW)} height={rowH - 6} fill={r.value >= limit ? '#c62828' : '#009E73'}>
            <title>{`${r.label}: ${r.value} of ${limit} commands in 24 h`}</title>
          </rect>
          <text x={x(r.value) + 3} y={i * rowH + 13} font-size="10" fill="#1d2330">
            {r.value}
          </text>
        </g>
      ))}
      <line x1={x(limit)} y1={0} x2={x(limit)} y2={h - 14} stroke="#a86400" stroke-dasharray="3 2" />
      <text x={x(limit)} y={h - 3} text-anchor="middle" font-size="10" fill="#a86400">
        limit {limit}
      </text>
    </svg>
  );
};
