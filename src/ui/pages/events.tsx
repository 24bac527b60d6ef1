import type { FC } from 'hono/jsx';
import { ALERT_TYPES } from '../../alerts/types.js';
import type { presentEvent } from '../../api/events-routes.js';
import { summarizeEvent } from '../event-summary.js';
import { formatIso } from '../format.js';
import { Layout } from '../layout.js';

export type EventEnvelope = ReturnType<typeof presentEvent>;

/** Occurred and recorded further apart than this: the row says when the fact happened too (a late delivery). */
export const LATE_AFTER_MS = 60_000;

export interface EventsPageData {
  events: EventEnvelope[];
  filter: { type: string | undefined; deviceId: string | undefined; userId: string | undefined };
  /** The link to older events, or null on the oldest page. */
  older: string | null;
  /** The link to the newest page when this is an older one (no live tail there). */
  newest: string | null;
  /** The live tail's stream URL, on the newest page only. */
  stream: string | null;
  /** Every type and the prefixes, for the type field's suggestions. */
  typeChoices: string[];
  /** Retention deleted older events: said under the last page so that nobody looks for them. */
  pruned: boolean;
}

/** Quick filters an on-call engineer reaches for; any comma list of types and prefixes works in the field. */
const QUICK_FILTERS: Array<{ label: string; type: string }> = [
  { label: 'devices', type: 'device.*' },
  { label: 'actions', type: 'action.updated' },
  { label: 'commands', type: 'command.*' },
  { label: 'alerts', type: ALERT_TYPES.join(',') },
];

function lateNote(e: EventEnvelope): string | null {
  const lag = Date.parse(e.recordedAt) - Date.parse(e.occurredAt);
  return Math.abs(lag) > LATE_AFTER_MS ? `occurred ${formatIso(e.occurredAt)}` : null;
}

/** One event: a summary line that expands to the envelope as the API returns it. */
export const EventRow: FC<{ e: EventEnvelope }> = ({ e }) => {
  const late = lateNote(e);
  return (
    <li class="event" data-id={e.id}>
      <details>
        <summary>
          <span class="ev-time">
            {formatIso(e.recordedAt)}
            {late && <span class="ev-late muted">{late}</span>}
          </span>
          <span class="ev-type mono">{e.type}</span>
          <span class="ev-device">
            {e.deviceId ? (
              <a class="mono" href={`/ui/devices/${encodeURIComponent(e.deviceId)}`}>
                {e.deviceId}
              </a>
            ) : (
              <span class="muted">—</span>
            )}
          </span>
          <span class="ev-user mono">{e.userId ?? '—'}</span>
          <span class="ev-summary">{summarizeEvent(e)}</span>
        </summary>
        <pre class="ev-json">{JSON.stringify(e, null, 2)}</pre>
      </details>
    </li>
  );
};

const FilterForm: FC<{ d: EventsPageData }> = ({ d }) => (
  <form class="event-filters" method="get" action="/ui/events">
    <label>
      Type
      <input name="type" value={d.filter.type ?? ''} list="event-types" placeholder="device.*,action.updated" autocomplete="off" />
    </label>
    <datalist id="event-types">
      {d.typeChoices.map((t) => (
        <option value={t} />
      ))}
    </datalist>
    <label>
      Device
      <input name="deviceId" value={d.filter.deviceId ?? ''} autocomplete="off" />
    </label>
    <label>
      User
      <input name="userId" value={d.filter.userId ?? ''} autocomplete="off" />
    </label>
    <button class="action" type="submit">
      Filter
    </button>
    <a href="/ui/events">Clear</a>
  </form>
);

const QuickFilters: FC<{ current: string | undefined }> = ({ current }) => (
  <nav class="filters" aria-label="Event types">
    <span class="muted">Show:</span>
    <a href="/ui/events" aria-current={current === undefined ? 'true' : undefined}>
      all
    </a>
    {QUICK_FILTERS.map((q) => (
      <a href={`/ui/events?type=${encodeURIComponent(q.type)}`} aria-current={current === q.type ? 'true' : undefined}>
        {q.label}
      </a>
    ))}
  </nav>
);

/** The live tail's controls: hidden until the script runs, so that without scripts the page is a plain list. */
const LiveControls: FC<{ stream: string }> = ({ stream }) => (
  <div id="events-live" class="live" data-stream={stream} hidden>
    <span id="events-live-status" role="status" aria-live="polite">
      Live tail: connecting…
    </span>
    <button type="button" id="events-pause" aria-pressed="false">
      Pause
    </button>
  </div>
);

/**
 * `/ui/events`: the event log, newest first. On-call reads from "now" backwards and the live
 * tail adds rows at the top, where the eye already is; older pages follow by cursor.
 */
export const EventsPage: FC<{ data: EventsPageData }> = ({ data: d }) => (
  <Layout title="Events" section="events">
    <h1>Event log</h1>
    <FilterForm d={d} />
    <QuickFilters current={d.filter.type} />
    {d.stream ? (
      <LiveControls stream={d.stream} />
    ) : (
      <p class="muted">
        Older events. The live tail runs on the <a href={d.newest ?? '/ui/events'}>newest page</a>.
      </p>
    )}
    <div class="events-head" aria-hidden="true">
      <span />
      <span>Recorded</span>
      <span>Type</span>
      <span>Device</span>
      <span>User</span>
      <span>What</span>
    </div>
    <ol id="events-list" class="events" aria-label="Events, newest first">
      {d.events.map((e) => (
        <EventRow e={e} />
      ))}
    </ol>
    <p id="events-empty" class="muted" hidden={d.events.length > 0}>
      No events{d.filter.type || d.filter.deviceId || d.filter.userId ? ' match these filters' : ''}.
    </p>
    <p class="pager">
      <a id="events-older" href={d.older ?? '/ui/events'} rel="next" hidden={d.older === null}>
        Older events →
      </a>
    </p>
    {d.pruned && d.older === null && <p class="muted">Older events were deleted by retention (RETENTION_DAYS).</p>}
    {d.stream && <script src="/ui/events.js" defer />}
  </Layout>
);
