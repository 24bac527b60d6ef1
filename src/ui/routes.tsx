import { configuredSinkNames } from '../alerts/sinks/index.js';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { secureHeaders } from 'hono/secure-headers';
import { z } from 'zod';
import { presentDelivery as presentAlertDelivery } from '../alerts/present.js';
import { page, pageParams } from '../api/pagination.js';
import { eventStreamRoutes } from '../api/events-routes.js';
import { presentAction, presentDeliverySummary, presentDevice } from '../api/present.js';
import type { Deps } from '../deps.js';
import { controlledState, DEVICE_TYPES } from '../domain/devices.js';
import { AppError, codeToStatus, isClientAbort, retryAfterHeaders } from '../errors.js';
import { createAuthGuard, type AuthGuard } from '../http/auth-guard.js';
import { authOutcome, clearSessionCookie, createSessionKeeper, dashboardCsrf, identify, requireUiAuth, safeNext, secretMatches, sessionCookie, setSessionCookie } from './auth.js';
import { webhookHealth } from './health.js';
import { query, sendPage } from './layout.js';
import { DevicePage, WINDOW_CHOICES_HOURS } from './pages/device.js';
import { ErrorPage } from './pages/error.js';
import { ACTION_STATES, ALERT_STATUSES, ActionsPage, AlertsPage, DELIVERY_EVENT_TYPES, DELIVERY_STATUSES, DeliveriesPage, FINDING_KINDS, FINDING_STATE_CHOICES, FindingsPage } from './pages/lists.js';
import { ALERT_TYPES } from '../alerts/types.js';
import { presentFinding } from '../api/interference-routes.js';
import { consoleRoutes } from './console-routes.js';
import { filterTime, idFilter, listFilter, type ListFilter } from './filters.js';
import { LoginPage } from './pages/login.js';
import { CHART_DAYS, CHART_MINUTES, OverviewPage } from './pages/overview.js';
import { EventsPage } from './pages/events.js';
import { deviceTimelineSlice } from './queries.js';
import { FAVICON_SVG, STYLESHEET } from './style.js';
import { EVENTS_SCRIPT } from './events-script.js';
import { LIVE_SCRIPT } from './live-script.js';
import { encodeEventCursor } from '../events/cursor.js';
import { eventsPage } from './events-page.js';
import { databaseRevocations } from './session-store.js';
import { layoutTimeline } from './timeline-svg.js';

/** Devices per type on the overview before "next page". */
const DEVICES_PER_TYPE = 100;
const DEFAULT_WINDOW_HOURS = 24;
/** Form posts are a token or an empty body: anything larger is not ours. */
const FORM_BODY_LIMIT_BYTES = 8 * 1024;
/**
 * Except a finding's note (its acknowledge and resolve forms): up to 2,000 characters, which the
 * form encodes as up to 12 bytes each (a 4-byte character, percent-encoded). Only these paths, so
 * the forms read before authentication (the login) stay at the smaller bound.
 */
const NOTE_FORM_BODY_LIMIT_BYTES = 32 * 1024;
const NOTE_FORM_PATH = /^\/ui\/findings\/[^/]+\/(ack|resolve)$/;

const idParam = z.string().min(1).max(200);
const hoursParam = z.coerce.number().int().min(1).max(Math.max(...WINDOW_CHOICES_HOURS));

function id(raw: string): string {
  const parsed = idParam.safeParse(raw);
  if (!parsed.success) throw new AppError('BAD_REQUEST', 'Invalid id: 1 to 200 characters');
  return parsed.data;
}

/** A query value from a fixed list, or undefined when absent; anything else is a 400. */
function oneOf<T extends string>(name: string, raw: string | undefined, values: readonly T[]): T | undefined {
  if (raw === undefined || raw === '') return undefined;
  if ((values as readonly string[]).includes(raw)) return raw as T;
  throw new AppError('BAD_REQUEST', `Invalid "${name}": one of ${values.join(', ')}`);
}

function keyPair(after: Array<string | number> | undefined): [number, string] | undefined {
  if (!after) return undefined;
  const [ms, last] = after;
  if (typeof ms !== 'number' || typeof last !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
  return [ms, last];
}

/**
 * Seconds between refreshes of the overview and the lists where the live refresh cannot run (a
 * `<meta refresh>` without scripts, a reload when the stream fails); `?refresh=off` pauses both.
 */
export const REFRESH_SECONDS = 30;

/** The event types that can change what each refreshing page shows (the stream's `type` filter; undefined = all). */
export const LIVE_TYPES = {
  overview: undefined,
  findings: 'interference.*',
  actions: 'action.*,command.*',
  // A delivery shows in the log through what applying it changed, and through its failures.
  deliveries: 'device.*,action.*,delivery.*,apply.*,webhook.*',
  alerts: ALERT_TYPES.join(','),
} as const;

/** The pages the live refresh runs on: they may load scripts from this origin and open its event stream. */
const SCRIPTED_PAGES = new Set(['/ui', '/ui/findings', '/ui/actions', '/ui/deliveries', '/ui/alerts', '/ui/events']);

/**
 * The refresh state of a page: its two links (the page's own query with and without
 * `refresh=off`) and, unless paused, the event stream its live refresh follows — the log after
 * its position now, read before the page's data so that nothing committed meanwhile is missed.
 */
async function refreshOf(c: Context, read: Deps['read'], live: { type?: string | undefined; deviceId?: string | undefined; userId?: string | undefined }) {
  const url = new URL(c.req.url);
  const off = url.searchParams.get('refresh') === 'off';
  const without = new URLSearchParams(url.searchParams);
  without.delete('refresh');
  const withOff = new URLSearchParams(without);
  withOff.set('refresh', 'off');
  const base = url.pathname;
  const head = off ? undefined : await read.lastEventPosition();
  return {
    refreshSeconds: off ? undefined : REFRESH_SECONDS,
    refreshLinks: { on: `${base}${without.size ? `?${without}` : ''}`, off: `${base}?${withOff}` },
    refresh: off ? ('off' as const) : undefined,
    liveStream: head === undefined ? undefined : `/ui/events/stream${query({ type: live.type, deviceId: live.deviceId, userId: live.userId, after: encodeEventCursor(head) })}`,
  };
}

/** Longest device timeline window (ms): 30 days, as the longest `hours` choice. */
const MAX_RANGE_MS = 720 * 3_600_000;
/** Shortest (ms): zooming in stops at one minute. */
const MIN_RANGE_MS = 60_000;

/** The device page's window: `from`..`until` when either is given (the other defaults to `hours` away), else the last `hours`. */
function rangeWindow(fromMs: number | undefined, untilMs: number | undefined, hours: number, nowMs: number) {
  if (fromMs === undefined && untilMs === undefined) return { fromMs: nowMs - hours * 3_600_000, untilMs: nowMs };
  const until = untilMs ?? Math.min(nowMs, (fromMs as number) + hours * 3_600_000);
  const from = fromMs ?? until - hours * 3_600_000;
  if (until <= from) throw new AppError('BAD_REQUEST', '"until" must be after "from"');
  if (until - from > MAX_RANGE_MS) throw new AppError('BAD_REQUEST', 'A timeline window spans at most 30 days');
  return { fromMs: from, untilMs: Math.max(until, from + MIN_RANGE_MS) };
}

/** The list filters for links: device, user, time as given. */
const linkFilters = (f: ListFilter) => ({ deviceId: f.raw.deviceId, userId: f.raw.userId, since: f.raw.since, until: f.raw.until });

const REPLAY_NOTICES: Record<string, { kind: 'ok' | 'error'; text: (id: string) => string }> = {
  applied: { kind: 'ok', text: (d) => `Delivery ${d} replayed: applied.` },
  pending: { kind: 'ok', text: (d) => `Delivery ${d} replayed: pending.` },
  failed: { kind: 'error', text: (d) => `Delivery ${d} replayed and failed again; its error is in the table.` },
  quarantined: { kind: 'error', text: (d) => `Delivery ${d} replayed: still quarantined (its body is not a JSON array of events).` },
  missing: { kind: 'error', text: (d) => `No delivery ${d}.` },
};

const RETRY_NOTICES: Record<string, { kind: 'ok' | 'error'; text: (id: string) => string }> = {
  ok: { kind: 'ok', text: (a) => `Alert ${a}: dead deliveries are pending again and will be sent shortly.` },
  none: { kind: 'error', text: (a) => `Alert ${a} has no dead delivery to a sink that is still configured.` },
  missing: { kind: 'error', text: (a) => `No alert ${a}.` },
};

/** The message after a redirect from a POST: fixed texts picked by `result`, with the id shown escaped. */
function noticeFrom(c: Context, idName: string, notices: typeof REPLAY_NOTICES) {
  const subject = c.req.query(idName);
  const notice = notices[c.req.query('result') ?? ''];
  if (!subject || subject.length > 200 || !notice) return undefined;
  return { kind: notice.kind, text: notice.text(subject) };
}

/** The `back` field of a list's POST form: the list's filter to return to, if valid. */
async function backFilter<T extends string>(c: Context, values: readonly T[]): Promise<T | undefined> {
  const form = await c.req.parseBody();
  const back = typeof form.back === 'string' ? form.back : undefined;
  return back && (values as readonly string[]).includes(back) ? (back as T) : undefined;
}

/** The dashboard's security headers; `scripted` lets a page load scripts from this origin and open its event stream. */
function dashboardHeaders(scripted: boolean): MiddlewareHandler {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      ...(scripted ? { scriptSrc: ["'self'"], connectSrc: ["'self'"] } : {}),
    },
    xFrameOptions: 'DENY',
    referrerPolicy: 'no-referrer',
  });
}

/**
 * The dashboard under /ui: server-rendered pages (hono/jsx). The events page runs its live tail
 * (events-script.ts), the overview and the lists their live refresh (live-script.ts); every page
 * works without them. Login with ADMIN_TOKEN
 * sets an opaque http-only session cookie; scripts may send the API's bearer header instead.
 * `guard` counts wrong tokens per client address; pass the admin API's, so both share one budget.
 */
export function uiRoutes(deps: Deps, guard: AuthGuard = createAuthGuard(deps)) {
  const adminToken = deps.config.adminToken;
  const sessions = adminToken ? createSessionKeeper(adminToken, deps.clock, { revocations: databaseRevocations(deps.read, deps.store) }) : undefined;
  const { read } = deps;
  const logger = deps.logger.child({ component: 'ui' });
  const ui = new Hono();

  const renderError = (c: Context, status: number, message: string) => {
    const outcome = authOutcome(c);
    const signedIn = outcome === 'session' || outcome === 'bearer';
    return sendPage(c, <ErrorPage status={status} message={message} requestId={(c.get('requestId' as never) as string | undefined) ?? 'unknown'} signedIn={signedIn} />, status);
  };

  ui.onError((err, c) => {
    if (err instanceof AppError) {
      const status = codeToStatus(err.code);
      if (status >= 500) logger.error({ err }, 'dashboard request failed');
      for (const [name, value] of Object.entries(retryAfterHeaders(err))) c.header(name, value);
      return renderError(c, status, err.message);
    }
    if (err instanceof HTTPException) {
      if (err.status === 403) return renderError(c, 403, 'Cross-site form submission refused. Reload the page and try again.');
      if (err.status >= 500) logger.error({ err }, 'dashboard request failed');
      return renderError(c, err.status, err.status >= 500 ? 'Internal error' : err.message || 'Bad request');
    }
    if (isClientAbort(err)) {
      // The browser went away mid-request: not our failure, and no one reads the answer.
      logger.warn({ path: c.req.path }, 'client closed the connection before sending the whole request');
      return renderError(c, 400, 'The connection closed before the request was complete');
    }
    logger.error({ err }, 'dashboard request failed');
    return renderError(c, 500, 'Internal error (see the log)');
  });

  // The events page (its live tail) and the overview and lists (their live refresh) run a script
  // from this origin that reads the event stream; every other page keeps a policy that allows none.
  const pageHeaders = dashboardHeaders(false);
  const scriptedPageHeaders = dashboardHeaders(true);
  ui.use((c, next) => (SCRIPTED_PAGES.has(c.req.path) ? scriptedPageHeaders(c, next) : pageHeaders(c, next)));
  // Pages show fleet data: never cached by the browser or a proxy.
  ui.use(async (c, next) => {
    await next();
    if (!c.res.headers.has('cache-control')) c.header('cache-control', 'no-store');
  });
  // Who is asking, once per request; a wrong bearer is refused (and counted) before anything else.
  ui.use(identify(sessions, adminToken, guard, (c) => renderError(c, 401, 'Invalid bearer token')));
  // A cross-site form cannot send a bearer: only requests a valid bearer authenticated skip the check.
  ui.use(dashboardCsrf({ publicUrl: deps.config.alerts.publicUrl, trustProxy: deps.config.http.trustProxy }));
  const tooLarge = () => {
    throw new AppError('PAYLOAD_TOO_LARGE', 'Form too large');
  };
  const formLimit = bodyLimit({ maxSize: FORM_BODY_LIMIT_BYTES, onError: tooLarge });
  const noteFormLimit = bodyLimit({ maxSize: NOTE_FORM_BODY_LIMIT_BYTES, onError: tooLarge });
  ui.post('*', (c, next) => (NOTE_FORM_PATH.test(c.req.path) ? noteFormLimit(c, next) : formLimit(c, next)));

  // ── public: stylesheet, login, logout ──
  ui.get('/style.css', (c) => {
    c.header('content-type', 'text/css; charset=utf-8');
    c.header('cache-control', 'public, max-age=3600');
    return c.body(STYLESHEET);
  });

  ui.get('/favicon.svg', (c) => {
    c.header('content-type', 'image/svg+xml');
    c.header('cache-control', 'public, max-age=86400');
    return c.body(FAVICON_SVG);
  });

  ui.get('/events.js', (c) => {
    c.header('content-type', 'text/javascript; charset=utf-8');
    c.header('cache-control', 'public, max-age=3600');
    return c.body(EVENTS_SCRIPT);
  });

  ui.get('/live.js', (c) => {
    c.header('content-type', 'text/javascript; charset=utf-8');
    c.header('cache-control', 'public, max-age=3600');
    return c.body(LIVE_SCRIPT);
  });

  ui.get('/login', (c) => {
    if (authOutcome(c) === 'session') return c.redirect(safeNext(c.req.query('next')), 303);
    return sendPage(c, <LoginPage next={safeNext(c.req.query('next'))} disabled={!adminToken} />);
  });

  ui.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    if (!adminToken || !sessions) return sendPage(c, <LoginPage next={next} disabled />, 503);
    try {
      guard.assertAllowed(c, 'ui-login');
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      for (const [name, value] of Object.entries(retryAfterHeaders(err))) c.header(name, value);
      return sendPage(c, <LoginPage next={next} error={err.message} />, 429);
    }
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    if (!token || !secretMatches(token, adminToken)) {
      // Counted and logged in aggregate per address, not a line per guess.
      guard.recordFailure(c, 'ui-login');
      return sendPage(c, <LoginPage next={next} error="That is not the admin token." />, 401);
    }
    setSessionCookie(c, sessions.issue(), sessions.ttlMs);
    return c.redirect(next, 303);
  });

  ui.post('/logout', async (c) => {
    // Stored through the writer before the answer: a restart right after still refuses the cookie.
    await sessions?.revoke(sessionCookie(c));
    clearSessionCookie(c);
    return c.redirect('/ui/login', 303);
  });

  // The live tail's stream: a script cannot follow the login redirect of the pages, so it is told 401.
  ui.use('/events/stream', async (c, next) => {
    const outcome = authOutcome(c);
    if (outcome !== 'session' && outcome !== 'bearer') return c.text('Sign in to the dashboard to follow the event log', 401);
    await next();
    return undefined;
  });

  // ── everything below needs a session or the bearer token ──
  ui.use(requireUiAuth());

  // The API's own stream route over the process's one feed (same filters, resume, keep-alive and
  // endings as GET /api/v1/events/stream), behind the dashboard's session instead of the bearer.
  ui.route('/', eventStreamRoutes({ read, feed: deps.eventFeed, keepAliveMs: deps.config.eventsStream.keepAliveSeconds * 1000 }));

  ui.get('/events', async (c) => sendPage(c, <EventsPage data={await eventsPage(read, (name) => c.req.query(name))} />));

  ui.get('/', async (c) => {
    const nowMs = deps.clock.now().getTime();
    const onlyType = oneOf('type', c.req.query('type'), DEVICE_TYPES);
    const deviceId = idFilter('deviceId', c.req.query('deviceId'));
    const userId = idFilter('userId', c.req.query('userId'));
    const after = c.req.query('after');
    if (after !== undefined && (!onlyType || after.length > 200)) throw new AppError('BAD_REQUEST', '"after" pages through one device type: pass "type" too');
    // One device by id is one read, whatever the type; a user's devices page like all of them.
    const one = deviceId ? read.getDevice(deviceId).then((row) => (row && (!userId || row.userId === userId) ? [row] : [])) : undefined;
    const group = async (type: (typeof DEVICE_TYPES)[number]) => {
      const rows = one ? (await one).filter((row) => row.type === type) : await read.listDevices({ type, userId, after, limit: DEVICES_PER_TYPE });
      const shown = rows.slice(0, DEVICES_PER_TYPE);
      const last = shown[shown.length - 1];
      return { type, devices: shown.map(presentDevice), next: rows.length > DEVICES_PER_TYPE && last ? `/ui${query({ type, userId, after: last.id })}` : null };
    };
    const live = await refreshOf(c, read, { type: LIVE_TYPES.overview, deviceId, userId });
    const [groups, heartbeat, webhookMs, counts, alertCounts, heldCount, perMinute, perDay, budget] = await Promise.all([
      Promise.all((onlyType ? [onlyType] : DEVICE_TYPES).map(group)),
      read.lastHeartbeat(),
      read.lastWebhookMs(),
      read.countFindingsByKind('open'),
      read.alertDeliveryCounts(),
      read.heldAlertCount(),
      read.deliveriesPerMinute(Math.floor(nowMs / 60_000) * 60_000 - (CHART_MINUTES - 1) * 60_000),
      read.findingsPerDay(Math.floor(nowMs / 86_400_000) * 86_400_000 - (CHART_DAYS - 1) * 86_400_000),
      read.budgetedCommandsPerDevice(nowMs - 86_400_000, 10),
    ]);
    const { refresh: _refresh, ...refresh } = live;
    return sendPage(
      c,
      <OverviewPage
        data={{
          nowMs,
          lastWebhookMs: webhookMs,
          lastHeartbeat: heartbeat,
          health: webhookHealth({ lastWebhookMs: webhookMs, lastHeartbeatMs: heartbeat?.receivedAt ?? null, pendingEvents: heartbeat?.pendingEvents ?? null }, nowMs),
          findingsByKind: FINDING_KINDS.map((kind) => ({ kind, count: counts[kind] ?? 0 })),
          alerts: { dead: alertCounts.dead ?? 0, pending: alertCounts.pending ?? 0 },
          groups,
          onlyType,
          filter: { deviceId, userId, type: onlyType },
          held: { count: heldCount, sinksConfigured: configuredSinkNames(deps.config.alerts).length > 0 },
          charts: { perMinute, perDay, budget, dailyLimit: deps.config.dailyCommandLimit },
          ...refresh,
        }}
      />,
    );
  });

  ui.get('/devices/:id', async (c) => {
    const deviceId = id(c.req.param('id'));
    const rawHours = c.req.query('hours');
    const parsedHours = hoursParam.safeParse(rawHours ?? DEFAULT_WINDOW_HOURS);
    if (!parsedHours.success) throw new AppError('BAD_REQUEST', `Invalid "hours": a whole number from 1 to ${Math.max(...WINDOW_CHOICES_HOURS)}`);
    const hours = parsedHours.data;
    const nowMs = deps.clock.now().getTime();
    // `from`/`until` (any range, e.g. from the zoom links) win over `hours` (the last N hours).
    const fromMs = filterTime('from', c.req.query('from'));
    const untilMs = filterTime('until', c.req.query('until'));
    const window = rangeWindow(fromMs, untilMs, hours, nowMs);
    const after = c.req.query('after') || undefined;
    const [row, slice] = await Promise.all([read.getDevice(deviceId), deviceTimelineSlice(read, deviceId, window, after)]);
    if (!row && !after && slice.entries.length === 0) throw new AppError('NOT_FOUND', `No device ${deviceId}`);
    const fields = Object.keys(controlledState(row?.type ?? '', {}));
    return sendPage(
      c,
      <DevicePage
        data={{
          deviceId,
          device: row ? presentDevice(row) : undefined,
          nowMs,
          hours,
          range: fromMs !== undefined || untilMs !== undefined ? window : undefined,
          entries: slice.entries,
          layout: layoutTimeline(slice.entries, slice.drawWindow, fields),
          after,
          next: slice.next,
        }}
      />,
    );
  });

  ui.get('/findings', async (c) => {
    const kind = oneOf('kind', c.req.query('kind') || c.req.query('type'), FINDING_KINDS);
    const state = oneOf('state', c.req.query('state'), FINDING_STATE_CHOICES) ?? 'open';
    const f = listFilter((name) => c.req.query(name));
    const { limit, after } = pageParams({ after: c.req.query('after'), limit: c.req.query('limit') });
    const r = await refreshOf(c, read, { type: LIVE_TYPES.findings, deviceId: f.deviceId, userId: f.userId });
    const rows = await read.listFindings({ kind, state: state === 'all' ? undefined : state, deviceId: f.deviceId, userId: f.userId, sinceMs: f.sinceMs, untilMs: f.untilMs, after: keyPair(after), limit });
    const p = page(rows, limit, (r) => [r.observedAtMs, r.id], presentFinding);
    const next = p.pagination.after ? `/ui/findings${query({ ...linkFilters(f), kind, state, refresh: r.refresh, after: p.pagination.after })}` : null;
    return sendPage(c, <FindingsPage page={{ rows: p.data, filter: kind, state, next, values: { ...f.raw, type: kind }, ...r }} />);
  });

  ui.get('/actions', async (c) => {
    const state = oneOf('state', c.req.query('state'), ACTION_STATES);
    const type = oneOf('type', c.req.query('type'), DEVICE_TYPES);
    const f = listFilter((name) => c.req.query(name));
    const { limit, after } = pageParams({ after: c.req.query('after'), limit: c.req.query('limit') });
    const r = await refreshOf(c, read, { type: LIVE_TYPES.actions, deviceId: f.deviceId, userId: f.userId });
    const rows = await read.listActions({ state, targetType: type, targetId: f.deviceId, userId: f.userId, sinceMs: f.sinceMs, untilMs: f.untilMs, after: keyPair(after), limit });
    const p = page(rows, limit, (r) => [r.updatedAtMs, r.id], presentAction);
    const next = p.pagination.after ? `/ui/actions${query({ ...linkFilters(f), state, type, refresh: r.refresh, after: p.pagination.after })}` : null;
    return sendPage(c, <ActionsPage page={{ rows: p.data, filter: state, next, values: { ...f.raw, type }, ...r }} />);
  });

  ui.get('/deliveries', async (c) => {
    const status = oneOf('status', c.req.query('status'), DELIVERY_STATUSES);
    const eventType = oneOf('type', c.req.query('type'), DELIVERY_EVENT_TYPES);
    const f = listFilter((name) => c.req.query(name));
    const { limit, after } = pageParams({ after: c.req.query('after'), limit: c.req.query('limit') });
    const r = await refreshOf(c, read, { type: LIVE_TYPES.deliveries, deviceId: f.deviceId, userId: f.userId });
    const rows = await read.listDeliveries({ status, eventType, deviceId: f.deviceId, userId: f.userId, sinceMs: f.sinceMs, untilMs: f.untilMs, after: keyPair(after), limit });
    const p = page(rows, limit, (r) => [r.receivedAt, r.id], presentDeliverySummary);
    return sendPage(
      c,
      <DeliveriesPage
        page={{
          rows: p.data,
          filter: status,
          next: p.pagination.after ? `/ui/deliveries${query({ ...linkFilters(f), status, type: eventType, refresh: r.refresh, after: p.pagination.after })}` : null,
          notice: noticeFrom(c, 'replayed', REPLAY_NOTICES),
          values: { ...f.raw, type: eventType },
          ...r,
        }}
      />,
    );
  });

  ui.post('/deliveries/:id/replay', async (c) => {
    const deliveryId = id(c.req.param('id'));
    const back = await backFilter(c, [...DELIVERY_STATUSES, 'detail']);
    const outcome = await deps.store.replay(deliveryId);
    logger.info({ deliveryId, status: outcome?.status ?? 'missing' }, 'delivery replayed from the dashboard');
    if (back === 'detail' && outcome) return c.redirect(`/ui/deliveries/${encodeURIComponent(deliveryId)}${query({ result: outcome.status })}`, 303);
    return c.redirect(`/ui/deliveries${query({ status: back === 'detail' ? undefined : back, replayed: deliveryId, result: outcome?.status ?? 'missing' })}`, 303);
  });

  ui.get('/alerts', async (c) => {
    const onlyHeld = c.req.query('status') === 'held';
    const status = onlyHeld ? undefined : oneOf('status', c.req.query('status'), ALERT_STATUSES);
    const type = oneOf('type', c.req.query('type'), ALERT_TYPES);
    const f = listFilter((name) => c.req.query(name));
    const { limit, after } = pageParams({ after: c.req.query('after'), limit: c.req.query('limit') });
    let key: [number, string, string] | undefined;
    if (after) {
      const [ms, alertId, sink] = after;
      if (typeof ms !== 'number' || typeof alertId !== 'string' || typeof sink !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
      key = [ms, alertId, sink];
    }
    // Held alerts page by their own key: `?status=held&after=` continues them, any other `after` the deliveries.
    const heldKey = onlyHeld ? keyPair(after) : undefined;
    const r = await refreshOf(c, read, { type: type ?? LIVE_TYPES.alerts, deviceId: f.deviceId, userId: f.userId });
    const [rows, heldRows, heldTotal] = await Promise.all([
      onlyHeld ? Promise.resolve([]) : read.listAlertDeliveries({ status, type, deviceId: f.deviceId, userId: f.userId, sinceMs: f.sinceMs, untilMs: f.untilMs, after: key, limit }),
      read.listHeldAlerts({ after: heldKey, limit: onlyHeld ? limit : 10 }),
      read.heldAlertCount(),
    ]);
    const p = page(rows, limit, (r) => [r.updatedAtMs, r.alertId, r.sink], presentAlertDelivery);
    const held = page(heldRows, onlyHeld ? limit : 10, (r) => [r.createdAtMs, r.id], (r) => r);
    return sendPage(
      c,
      <AlertsPage
        page={{
          rows: p.data,
          filter: status,
          next: p.pagination.after ? `/ui/alerts${query({ ...linkFilters(f), status, type, refresh: r.refresh, after: p.pagination.after })}` : null,
          notice: noticeFrom(c, 'retried', RETRY_NOTICES),
          values: { ...f.raw, type },
          onlyHeld,
          held: {
            rows: held.data,
            total: heldTotal,
            next: held.pagination.after ? `/ui/alerts${query({ status: 'held', after: held.pagination.after })}` : onlyHeld || heldTotal <= 10 ? null : '/ui/alerts?status=held',
            sinksConfigured: configuredSinkNames(deps.config.alerts).length > 0,
          },
          ...r,
        }}
      />,
    );
  });

  ui.post('/alerts/:id/retry', async (c) => {
    const alertId = id(c.req.param('id'));
    const back = await backFilter(c, [...ALERT_STATUSES, 'detail']);
    const outcome = await deps.store.alerts.retry({ alertId, nowMs: deps.clock.now().getTime(), configured: configuredSinkNames(deps.config.alerts) });
    const result = !outcome.found ? 'missing' : outcome.sinks.length === 0 ? 'none' : 'ok';
    logger.info({ alertId, result, sinks: outcome.sinks }, 'alert retried from the dashboard');
    if (back === 'detail' && outcome.found) return c.redirect(`/ui/alerts/${encodeURIComponent(alertId)}${query({ result })}`, 303);
    return c.redirect(`/ui/alerts${query({ status: back === 'detail' ? undefined : back, retried: alertId, result })}`, 303);
  });

  ui.route('/', consoleRoutes(deps, logger));

  ui.all('*', (c) => (c.req.path === '/ui/' ? c.redirect('/ui', 301) : renderError(c, 404, `No dashboard page at ${c.req.path}`)));

  return ui;
}
