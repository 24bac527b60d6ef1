import type { FC } from 'hono/jsx';
import type { presentDevice } from '../../api/present.js';
import type { TimelineEntry } from '../../reconcile/timeline.js';
import { describeExplanation, formatAge, formatControlled, formatIso, formatTime, formatValue } from '../format.js';
import { localTimeValue } from '../filters.js';
import { IdLink, Layout, Notice, query, Swatch } from '../layout.js';
import { FINDING_COLOR, TimelineSvg, type TimelineLayout } from '../timeline-svg.js';

export const WINDOW_CHOICES_HOURS = [1, 6, 24, 72, 168, 720] as const;

export interface DevicePageData {
  deviceId: string;
  device: ReturnType<typeof presentDevice> | undefined;
  nowMs: number;
  hours: number;
  /** The window when the URL gave `from`/`until` (zoom, pan, a chosen range); undefined for "the last `hours`". */
  range?: { fromMs: number; untilMs: number } | undefined;
  entries: TimelineEntry[];
  layout: TimelineLayout;
  /** Set when the window held more than could be drawn (before paging; kept for callers that cap instead). */
  truncated?: boolean;
  /** The `after` this page was asked with (absent: the window's first entries). */
  after?: string | undefined;
  /** `after` of the next entries; null or absent on the last page (see `deviceTimelineSlice`). */
  next?: string | null;
}

const isoParam = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
/** The window's own parameters, for links that keep it. */
const windowParams = (d: DevicePageData) => (d.range ? { from: isoParam(d.range.fromMs), until: isoParam(d.range.untilMs) } : { hours: d.hours });
const MAX_SPAN_MS = 720 * 3_600_000;
const MIN_SPAN_MS = 60_000;

/** Links between the pages of a long window: back to its start, on to later entries. */
const PageLinks: FC<{ d: DevicePageData }> = ({ d }) =>
  d.after || d.next ? (
    <p class="pager">
      {d.after && <a href={`/ui/devices/${encodeURIComponent(d.deviceId)}${query(windowParams(d))}`}>← Start of the window</a>}{' '}
      {d.next && <a href={`/ui/devices/${encodeURIComponent(d.deviceId)}${query({ ...windowParams(d), after: d.next })}`}>Later entries →</a>}
    </p>
  ) : null;

/** Zoom in and out around the window's middle, and move it earlier or later by half its span (URL parameters `from`, `until`). */
const ZoomLinks: FC<{ d: DevicePageData }> = ({ d }) => {
  const from = d.range?.fromMs ?? d.nowMs - d.hours * 3_600_000;
  const until = d.range?.untilMs ?? d.nowMs;
  const span = until - from;
  const mid = from + span / 2;
  const href = (f: number, u: number) => `/ui/devices/${encodeURIComponent(d.deviceId)}${query({ from: isoParam(Math.round(f)), until: isoParam(Math.round(u)) })}`;
  const inSpan = Math.max(MIN_SPAN_MS, span / 2);
  const outSpan = Math.min(MAX_SPAN_MS, span * 2);
  return (
    <nav class="filters zoom" aria-label="Zoom and move the window">
      <a href={href(from - span / 2, until - span / 2)}>← Earlier</a>
      {span > MIN_SPAN_MS && <a href={href(mid - inSpan / 2, mid + inSpan / 2)}>Zoom in</a>}
      {span < MAX_SPAN_MS && <a href={href(mid - outSpan / 2, mid + outSpan / 2)}>Zoom out</a>}
      {until < d.nowMs && <a href={href(from + span / 2, until + span / 2)}>Later →</a>}
      {d.range && <a href={`/ui/devices/${encodeURIComponent(d.deviceId)}${query({ hours: d.hours })}`}>Back to the last {d.hours} h</a>}
    </nav>
  );
};

const EntryRow: FC<{ e: TimelineEntry }> = ({ e }) => {
  switch (e.type) {
    case 'observation':
      return (
        <tr>
          <td>{formatIso(e.at)}</td>
          <td>observation</td>
          <td class="mono">
            {formatControlled(e.controlled)}
            {e.stale && <span class="badge"> stale</span>}
          </td>
          <td>
            {e.transitions.length === 0 ? (
              <span class="muted">
                {e.event} via {e.source} · {formatControlled(e.context)}
              </span>
            ) : (
              <ul>
                {e.transitions.map((t) => (
                  <li>
                    <strong>{t.field}</strong> {formatValue(t.from)} → {formatValue(t.to)}:{' '}
                    <span class={t.status === 'finding' ? 'badge badge-bad' : t.status === 'waiting' ? 'badge badge-warn' : 'badge badge-good'}>{t.status}</span>{' '}
                    {describeExplanation(t.explanation, t.status, t.findingId)}
                  </li>
                ))}
              </ul>
            )}
          </td>
        </tr>
      );
    case 'action':
      return (
        <tr>
          <td>{formatIso(e.at)}</td>
          <td>own action</td>
          <td class="mono">
            {e.action.kind ?? e.action.targetType} {e.action.state}
          </td>
          <td>
            <code>{e.action.id}</code> · origin {e.action.origin}
            {e.action.failureReason && <> · {e.action.failureReason.type}</>}
          </td>
        </tr>
      );
    case 'command':
      return (
        <tr>
          <td>{formatIso(e.at)}</td>
          <td>command</td>
          <td class="mono">
            {e.command.command} {JSON.stringify(e.command.body)}
          </td>
          <td>
            {e.command.outcome}
            {e.command.actionId && (
              <>
                {' '}
                · action <code>{e.command.actionId}</code>
              </>
            )}
            {e.command.error && <> · {e.command.error}</>}
          </td>
        </tr>
      );
    case 'finding':
      return (
        <tr class="finding" id={`finding-${e.finding.id}`}>
          <td>{formatIso(e.at)}</td>
          <td>
            <strong>finding</strong>
          </td>
          <td class="mono">
            {e.finding.kind}
            {e.finding.field && ` ${e.finding.field}: ${formatValue(e.finding.from)} → ${formatValue(e.finding.to)}`}
          </td>
          <td>
            <IdLink kind="finding" id={e.finding.id} /> · detected {formatIso(e.finding.detectedAt)}
            {e.finding.actionId && (
              <>
                {' '}
                · overrides action <IdLink kind="action" id={e.finding.actionId} />
              </>
            )}
          </td>
        </tr>
      );
    case 'control': {
      const c = (e.control ?? {}) as { source?: unknown; id?: unknown; state?: unknown; active?: unknown; expected?: unknown };
      return (
        <tr>
          <td>{formatIso(e.at)}</td>
          <td>{c.source === 'smart_charging' ? 'smart charging' : 'schedule'}</td>
          <td class="mono">
            {String(c.state ?? '?')} {c.active === true ? `expects ${formatControlled(c.expected)}` : '(not in control)'}
          </td>
          <td>{c.id ? <code>{String(c.id)}</code> : '—'}</td>
        </tr>
      );
    }
  }
};

/** `/ui/devices/:id`: current state, the drawn timeline with its legend, and every entry in a table. */
export const DevicePage: FC<{ data: DevicePageData }> = ({ data: d }) => {
  const dev = d.device;
  const label = d.range ? `Timeline of ${d.deviceId} from ${formatTime(d.range.fromMs)} to ${formatTime(d.range.untilMs)}` : `Timeline of ${d.deviceId} over the last ${d.hours} h`;
  return (
    <Layout title={`Device ${d.deviceId}`} section="overview">
      <p>
        <a href="/ui">← Fleet</a>
      </p>
      <h1>
        Device <span class="mono">{d.deviceId}</span>
      </h1>
      {dev ? (
        <dl class="facts card">
          <dt>Type</dt>
          <dd>{dev.type}</dd>
          <dt>User</dt>
          <dd>
            <IdLink kind="user" id={dev.userId} />
          </dd>
          <dt>Vendor</dt>
          <dd>{dev.vendor ?? '—'}</dd>
          <dt>Reachable</dt>
          <dd>{formatValue(dev.isReachable)}</dd>
          <dt>Last seen</dt>
          <dd>
            {formatIso(dev.lastSeen)} <span class="muted">({formatAge(dev.lastSeen ? Date.parse(dev.lastSeen) : null, d.nowMs)})</span>
          </dd>
          <dt>Controlled state</dt>
          <dd class="mono">{formatControlled(dev.controlled)}</dd>
          {dev.deletedAt && (
            <>
              <dt>Deleted</dt>
              <dd>{formatIso(dev.deletedAt)}</dd>
            </>
          )}
        </dl>
      ) : (
        <Notice kind="error">This device is not in the projection (only actions or commands refer to it).</Notice>
      )}

      <h2 id="timeline-h">Timeline</h2>
      <form method="get" class="filters" aria-label="Time window">
        <label for="hours">Window</label>
        <select id="hours" name="hours">
          {WINDOW_CHOICES_HOURS.map((h) => (
            <option value={String(h)} selected={h === d.hours}>
              last {h < 48 ? `${h} h` : `${h / 24} days`}
            </option>
          ))}
        </select>
        <button type="submit">Show</button>
        <span class="muted">
          {formatTime(d.layout.window.fromMs)} – {formatTime(d.layout.window.untilMs)}
        </span>
      </form>
      <form method="get" class="timeline-range" aria-label="Any range">
        <label>
          From (UTC)
          <input type="datetime-local" name="from" step="1" value={localTimeValue(d.range?.fromMs ?? d.nowMs - d.hours * 3_600_000)} />
        </label>
        <label>
          Until (UTC)
          <input type="datetime-local" name="until" step="1" value={localTimeValue(d.range?.untilMs ?? d.nowMs)} />
        </label>
        <button type="submit">Show range</button>
      </form>
      <ZoomLinks d={d} />
      <p class="muted">
        Also: <a href={`/ui/findings?deviceId=${encodeURIComponent(d.deviceId)}&state=all`}>findings</a> ·{' '}
        <a href={`/ui/actions?deviceId=${encodeURIComponent(d.deviceId)}`}>actions</a> · <a href={`/ui/deliveries?deviceId=${encodeURIComponent(d.deviceId)}`}>deliveries</a> ·{' '}
        <a href={`/ui/events?deviceId=${encodeURIComponent(d.deviceId)}`}>events</a>
      </p>
      {d.truncated && <Notice kind="error">This window holds more entries than the page shows: choose a shorter window.</Notice>}
      {(d.after || d.next) && <p class="muted">A long window is shown in pages of at most 500 entries, oldest first; the drawing spans this page.</p>}
      <PageLinks d={d} />
      <div class="timeline-wrap">
        <TimelineSvg layout={d.layout} label={label} />
      </div>
      <ul class="legend" aria-label="Legend">
        {d.layout.bands.map((b) => (
          <li>
            <strong>{b.field}:</strong>{' '}
            {b.legend.length === 0 ? (
              <span class="muted">no observation</span>
            ) : (
              b.legend.map((l) => (
                <>
                  <Swatch color={l.color} /> {l.label}{' '}
                </>
              ))
            )}
          </li>
        ))}
        <li>
          <Swatch color={FINDING_COLOR} /> finding (red diamond, red outline)
        </li>
        <li>▼ own action · ○ gateway command · | transition (hover for its explanation)</li>
      </ul>

      <h2>Entries</h2>
      {d.entries.length === 0 ? (
        <p class="muted">Nothing in this window.</p>
      ) : (
        <table>
          <caption>Timeline entries, oldest first (device time)</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Type</th>
              <th scope="col">State / what</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {d.entries.map((e) => (
              <EntryRow e={e} />
            ))}
          </tbody>
        </table>
      )}
      <PageLinks d={d} />
    </Layout>
  );
};
