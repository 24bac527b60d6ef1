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

/** The page shell: header with navigation and logout, one `<main>`. No scripts (a page that needs one adds it in its body). */
export const Layout: FC<{ title: string; section: Section; signedIn?: boolean; children?: Child }> = ({ title, section, signedIn = true, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="referrer" content="no-referrer" />
      <title>{`${title} · enode-sync`}</title>
      <link rel="icon" href="/ui/favicon.svg" type="image/svg+xml" />
      <link rel="stylesheet" href="/ui/style.css" />
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
          <form method="post" action="/ui/logout">
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
