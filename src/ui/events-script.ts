/**
 * The events page's live tail, served at /ui/events.js. It is a file rather than an inline
 * script so that the page's CSP can allow `script-src 'self'` without 'unsafe-inline' or a
 * nonce, and it needs no build step: plain browser JavaScript in a string, like the stylesheet.
 *
 * It opens an EventSource on the page's `data-stream` URL (the log after the page's newest
 * position, with the page's filters), and prepends each event as a row built with DOM calls
 * (never innerHTML: payloads come from devices and vendors). EventSource reconnects by itself
 * with Last-Event-ID, so a dropped connection or a `SLOW_CONSUMER` / `SHUTTING_DOWN` end loses
 * nothing. While paused, new events wait and are counted; past MAX_WAITING the stream closes and
 * "Resume" reloads the page instead (the log keeps them). The summary functions mirror
 * event-summary.ts and formatIso of format.ts; test/unit/ui-events-script.test.ts runs both.
 */
import { EVENT_TYPES } from '../events/types.js';
import { SUMMARY_MAX, SUMMARY_PATHS } from './event-summary.js';
import { LATE_AFTER_MS } from './pages/events.js';

/** Rows kept on the page at most; older ones leave from the bottom and the "older" link follows them. */
export const MAX_ROWS = 500;
/** Events kept while paused; more and the page reloads on resume. */
export const MAX_WAITING = 1000;

const SUMMARY = `
const SUMMARY_PATHS = ${SUMMARY_PATHS};
const SUMMARY_MAX = ${SUMMARY_MAX};
const LATE_AFTER_MS = ${LATE_AFTER_MS};
function obj(v) { return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {}; }
function text(v) { return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined; }
function alertDetail(d) {
  return text(obj(d.finding).kind) ?? text(obj(d.fault).powerDeliveryState) ?? text(obj(d.action).failureReason) ??
    text(obj(obj(d.action).failureReason).type) ?? text(obj(d.action).state) ??
    text(obj(d.delivery).error) ?? text(obj(d.apply).error) ?? text(obj(d.webhook).id) ?? text(d.vendor);
}
function longSummary(e) {
  const d = e.data;
  switch (e.type) {
    case 'device.discovered': return 'first seen';
    case 'device.deleted': return 'deleted';
    case 'device.updated': {
      const changes = Array.isArray(d.changes) ? d.changes : [];
      const paths = changes.map((c) => text(obj(c).path) ?? '(whole device)');
      const more = paths.length > SUMMARY_PATHS ? ' +' + (paths.length - SUMMARY_PATHS) + ' more' : '';
      return paths.length === 0 ? 'changed' : paths.slice(0, SUMMARY_PATHS).join(', ') + more;
    }
    case 'action.updated': {
      const a = obj(d.action);
      return (text(a.kind) ?? 'action') + ': ' + (text(d.previousState) ?? 'new') + ' → ' + (text(a.state) ?? '?');
    }
    case 'command.sent':
    case 'command.refused': {
      const c = obj(d.command);
      return (text(c.command) ?? 'command') + (e.type === 'command.sent' ? ' sent' : ' refused') + (text(c.error) ? ': ' + text(c.error) : '');
    }
    case 'interference.acknowledged':
    case 'interference.resolved': {
      const f = obj(d.finding);
      return (text(f.kind) ?? 'finding') + ' ' + (text(d.state) ?? '?') + (text(d.note) ? ': ' + text(d.note) : '');
    }
    default: {
      const detail = alertDetail(d);
      return 'alert ' + e.type + (detail ? ': ' + detail : '');
    }
  }
}
function summarizeEvent(e) {
  const s = longSummary(e);
  return s.length > SUMMARY_MAX ? s.slice(0, SUMMARY_MAX - 1) + '…' : s;
}
function formatIso(iso) {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso : new Date(ms).toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
}
function lateNote(e) {
  const lag = Date.parse(e.recordedAt) - Date.parse(e.occurredAt);
  return Math.abs(lag) > LATE_AFTER_MS ? 'occurred ' + formatIso(e.occurredAt) : null;
}
`;

const TAIL = `
function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined) node.textContent = content;
  return node;
}
function eventRow(e) {
  const li = el('li', 'event');
  li.dataset.id = e.id;
  const details = el('details');
  const summary = el('summary');
  const time = el('span', 'ev-time', formatIso(e.recordedAt));
  const late = lateNote(e);
  if (late) time.append(el('span', 'ev-late muted', late));
  const device = el('span', 'ev-device');
  if (e.deviceId) {
    const a = el('a', 'mono', e.deviceId);
    a.href = '/ui/devices/' + encodeURIComponent(e.deviceId);
    device.append(a);
  } else device.append(el('span', 'muted', '—'));
  summary.append(time, el('span', 'ev-type mono', e.type), device, el('span', 'ev-user mono', e.userId ?? '—'), el('span', 'ev-summary', summarizeEvent(e)));
  details.append(summary, el('pre', 'ev-json', JSON.stringify(e, null, 2)));
  li.append(details);
  return li;
}
(function liveTail() {
  const live = document.getElementById('events-live');
  const list = document.getElementById('events-list');
  const status = document.getElementById('events-live-status');
  const pause = document.getElementById('events-pause');
  const empty = document.getElementById('events-empty');
  const older = document.getElementById('events-older');
  if (!live || !list || !status || !pause || typeof EventSource === 'undefined') return;
  live.hidden = false;
  let added = 0;
  let paused = false;
  let waiting = [];
  let overflow = false;
  let stopped = null;
  const source = new EventSource(live.dataset.stream);

  function show() {
    if (stopped) status.textContent = stopped;
    else if (!paused) status.textContent = 'Live: ' + added + ' new ' + (added === 1 ? 'row' : 'rows') + ' since the page loaded';
    else if (overflow) status.textContent = 'Paused: more than ' + ${MAX_WAITING} + ' new events; resume reloads the page';
    else status.textContent = 'Paused: ' + waiting.length + ' new ' + (waiting.length === 1 ? 'event waits' : 'events wait');
  }
  function trim() {
    while (list.children.length > ${MAX_ROWS}) list.lastElementChild.remove();
    const last = list.lastElementChild;
    if (!older || !last || list.children.length < ${MAX_ROWS}) return;
    const url = new URL(location.href);
    url.searchParams.set('before', last.dataset.id);
    older.href = url.pathname + url.search;
    older.hidden = false;
  }
  function insert(e) {
    list.prepend(eventRow(e));
    added += 1;
    if (empty) empty.hidden = true;
    trim();
  }
  function onEvent(message) {
    const e = JSON.parse(message.data);
    if (!paused) insert(e);
    else if (waiting.length < ${MAX_WAITING}) waiting.push(e);
    else if (!overflow) {
      overflow = true;
      source.close();
    }
    show();
  }
  for (const type of ${JSON.stringify(EVENT_TYPES)}) source.addEventListener(type, onEvent);
  source.addEventListener('open', show);
  source.addEventListener('error', (message) => {
    // A frame "event: error" carries why the server ended the stream; a plain error event is the connection.
    const reason = message.data ? JSON.parse(message.data) : null;
    if (reason && reason.code === 'CURSOR_EXPIRED') {
      source.close();
      stopped = 'Live tail stopped: retention deleted events it had not shown yet. Reload the page.';
    } else if (source.readyState === EventSource.CLOSED && !overflow) {
      stopped = 'Live tail stopped (signed out, or the server refused the stream). Reload the page.';
    } else if (!reason) {
      status.textContent = 'Live tail: reconnecting…';
      return;
    }
    show();
  });
  pause.addEventListener('click', () => {
    if (!paused) {
      paused = true;
    } else if (overflow) {
      location.reload();
      return;
    } else {
      paused = false;
      for (const e of waiting) insert(e);
      waiting = [];
    }
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
    show();
  });
  show();
})();
`;

/** The script as served (a classic script: the page loads it with `defer`). */
export const EVENTS_SCRIPT = `'use strict';\n${SUMMARY}${TAIL}`;

/** The summary part alone, for the test that holds it to event-summary.ts. */
export const EVENTS_SUMMARY_SCRIPT = SUMMARY;
