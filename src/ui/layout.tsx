import type { Context } from 'hono';
import { html } from 'hono/html';
import type { Child, FC } from 'hono/jsx';

export type Section = 'overview' | 'findings' | 'actions' | 'deliveries' | 'alerts' | 'events' | 'none';

const NAV: Array<{ section: Section; href: string; label: string }> = [
  { section: 'overview', href: '/ui', label: 'Fleet' },
  { section: 'findings', href: '/ui/findings', label: 'Findings' },
  { section: 'actions', href: '/ui/actions', label: 'Actions' },
  { section: 'deliveries', href: '/ui/deliveries', label: 'Deliveries' },
  { section: 'alerts', href: '/ui/alerts', label: 'Alerts' },
  { section: 'events', href: '/ui/events', label: 'Events' },
];

/**
 * The page shell: header with navigation and logout, one `<main>`. A page that refreshes with a
 * `liveStream` loads the live refresh (/ui/live.js) and keeps the `<meta refresh>` for browsers
 * without scripts; without one it refreshes by `<meta refresh>` alone. Other scripts a page adds in its body.
 */
export const Layout: FC<{ title: string; section: Section; signedIn?: boolean; refreshSeconds?: number | undefined; liveStream?: string | undefined; children?: Child }> = ({
  title,
  section,
  signedIn = true,
  refreshSeconds,
  liveStream,
  children,
}) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="referrer" content="no-referrer" />
      <title>{`${title} · enode-sync`}</title>
      <link rel="icon" href="/ui/favicon.svg" type="image/svg+xml" />
      <link rel="stylesheet" href="/ui/style.css" />
      {refreshSeconds !== undefined && liveStream === undefined && <meta http-equiv="refresh" content={String(refreshSeconds)} />}
      {refreshSeconds !== undefined && liveStream !== undefined && (
        <noscript>
          <meta http-equiv="refresh" content={String(refreshSeconds)} />
        </noscript>
      )}
      {refreshSeconds !== undefined && liveStream !== undefined && <script src="/ui/live.js" defer />}
    </head>
    <body>
      <header class="top">
        <a class="brand" href="/ui">
          enode-sync
        </a>
        {signedIn && (
          <nav aria-label="Dashboard">
            <ul>
              {NAV.map((n) => (
                <li>
                  <a href={n.href} aria-current={n.section === section ? 'page' : undefined}>
                    {n.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        {signedIn && (
          <form class="search" method="get" action="/ui/search" role="search">
            <label class="visually-hidden" for="search-q">
              Find by id
            </label>
            <input id="search-q" type="search" name="q" placeholder="Find an id: device, user, action, delivery, finding" maxlength={200} required />
            <button type="submit">Find</button>
          </form>
        )}
        {signedIn && (
          <form class="logout" method="post" action="/ui/logout">
            <button type="submit">Log out</button>
          </form>
        )}
      </header>
      <main>{children}</main>
    </body>
  </html>
);

/** A status message after a POST (replay, retry), chosen by the server from a fixed vocabulary. */
export const Notice: FC<{ kind: 'ok' | 'error'; children?: Child }> = ({ kind, children }) => (
  <p class={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
    {children}
  </p>
);

/** A "next page" link for keyset-paged lists. */
export const Pager: FC<{ href: string | null }> = ({ href }) =>
  href ? (
    <p class="pager">
      <a href={href} rel="next">
        Next page →
      </a>
    </p>
  ) : null;

/** Filter links for a list (`?status=…`), the current one marked. */
export const Filters: FC<{ label: string; base: string; param: string; values: string[]; current: string | undefined }> = ({ label, base, param, values, current }) => (
  <nav class="filters" aria-label={label}>
    <span class="muted">{label}:</span>
    <a href={base} aria-current={current === undefined ? 'true' : undefined}>
      all
    </a>
    {values.map((v) => (
      <a href={`${base}?${param}=${encodeURIComponent(v)}`} aria-current={current === v ? 'true' : undefined}>
        {v}
      </a>
    ))}
  </nav>
);

/** A small color swatch for legends (SVG, so the CSP needs no inline style). */
export const Swatch: FC<{ color: string }> = ({ color }) => (
  <svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" focusable="false">
    <rect x="0.5" y="0.5" width="11" height="11" fill={color} stroke="#666" />
  </svg>
);

/** Builds a query string from the non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Sends a page with its doctype (standards mode); `status` defaults to 200. */
export function sendPage(c: Context, node: Child, status = 200) {
  return c.html(html`<!DOCTYPE html>${node}`, status as 200);
}

const idHref = (base: string, id: string) => `${base}/${encodeURIComponent(id)}`;

/** A link to a record's dashboard page, the id in monospace; an em dash when there is none. */
export const IdLink: FC<{ kind: 'device' | 'action' | 'delivery' | 'finding' | 'alert' | 'user'; id: string | null | undefined }> = ({ kind, id }) => {
  if (!id) return <span class="muted">—</span>;
  const href =
    kind === 'device'
      ? idHref('/ui/devices', id)
      : kind === 'action'
        ? idHref('/ui/actions', id)
        : kind === 'delivery'
          ? idHref('/ui/deliveries', id)
          : kind === 'finding'
            ? idHref('/ui/findings', id)
            : kind === 'alert'
              ? idHref('/ui/alerts', id)
              : `/ui/events${query({ userId: id })}`;
  return (
    <a class="mono" href={href}>
      {id}
    </a>
  );
};

/** The raw values of a list's filters, for the form and its links. */
export interface FilterValues {
  deviceId?: string | undefined;
  userId?: string | undefined;
  type?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

/**
 * A list's filter form (GET, so the URL holds the filters): device, user, one `type` choice, a
 * time window. `keep` carries other parameters the list reads (e.g. a state) through a submit.
 */
export const FilterForm: FC<{
  action: string;
  values: FilterValues;
  typeLabel: string;
  /** The parameter the type choice is sent as (default `type`). */
  typeName?: string;
  typeChoices: readonly string[];
  keep?: Record<string, string | undefined>;
}> = ({ action, values, typeLabel, typeName = 'type', typeChoices, keep = {} }) => (
  <form class="list-filters" method="get" action={action}>
    {Object.entries(keep).map(([name, value]) => (value ? <input type="hidden" name={name} value={value} /> : null))}
    <label>
      Device
      <input type="text" name="deviceId" value={values.deviceId ?? ''} maxlength={200} />
    </label>
    <label>
      User
      <input type="text" name="userId" value={values.userId ?? ''} maxlength={200} />
    </label>
    <label>
      {typeLabel}
      <select name={typeName}>
        <option value="">any</option>
        {typeChoices.map((t) => (
          <option value={t} selected={values.type === t}>
            {t}
          </option>
        ))}
      </select>
    </label>
    <label>
      From (UTC)
      <input type="datetime-local" name="since" value={values.since ?? ''} />
    </label>
    <label>
      Until (UTC)
      <input type="datetime-local" name="until" value={values.until ?? ''} />
    </label>
    <button class="action" type="submit">
      Filter
    </button>
    <a href={`${action}${query(keep)}`}>Clear</a>
  </form>
);

/**
 * Auto-refresh of a list or the overview, switched by `?refresh=off`. With a `stream` it is the
 * live refresh's line (`#live-refresh`, read by /ui/live.js: "Live", "N new — show"); without, a
 * plain `<meta refresh>` every `seconds`.
 */
export const RefreshToggle: FC<{ on: boolean; offHref: string; onHref: string; seconds: number; stream?: string | undefined }> = ({ on, offHref, onHref, seconds, stream }) =>
  on && stream !== undefined ? (
    <p class="refresh muted" id="live-refresh" data-stream={stream} data-seconds={String(seconds)}>
      <span class="live-status" role="status">
        Refreshes every {seconds} s
      </span>{' '}
      <button class="action live-show" type="button" hidden>
        new — show
      </button>{' '}
      · <a href={offHref}>Pause</a>
    </p>
  ) : (
    <p class="refresh muted">
      {on ? (
        <>
          Refreshes every {seconds} s · <a href={offHref}>Pause</a>
        </>
      ) : (
        <>
          Auto-refresh paused · <a href={onHref}>Resume</a>
        </>
      )}
    </p>
  );
