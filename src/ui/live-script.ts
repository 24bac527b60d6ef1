/**
 * The live refresh of the overview and the lists, served at /ui/live.js (a file, not an inline
 * script, so the pages' CSP stays `script-src 'self'` with no 'unsafe-inline' or nonce).
 *
 * The page marks its refresh line `#live-refresh` with `data-stream`: the dashboard's event
 * stream after the log's position when the page was read, filtered to the event types that can
 * change what the page shows (and to its device and user filters). On each such event the script
 * reloads the page when the reader is at its top and the tab is visible (bursts are gathered, and
 * a page reloads at most once every MIN_RELOAD_MS); otherwise it counts them and shows
 * "N new — show", which reloads. Scrolling back to the top or returning to the tab reloads too.
 * Pausing is the server's `?refresh=off` (no stream, no script). Without EventSource, or when
 * the server refuses or ends the stream for good, it falls back to a plain reload every
 * `data-seconds`, as the `<noscript>` meta refresh does for a browser without scripts.
 */
import { EVENT_TYPES } from '../events/types.js';

/** Shortest time between two automatic reloads (ms): a busy fleet must not make the page flicker. */
export const MIN_RELOAD_MS = 5_000;
/** How long a burst of events is gathered before the one reload it causes (ms). */
export const GATHER_MS = 500;
/** How far from the top (px) still counts as "at the top". */
const TOP_PX = 16;

export const LIVE_SCRIPT = `'use strict';
(function liveRefresh() {
  const box = document.getElementById('live-refresh');
  if (!box) return;
  const status = box.querySelector('.live-status');
  const showButton = box.querySelector('.live-show');
  const seconds = Number(box.dataset.seconds) || 30;
  const loadedAt = Date.now();
  let fresh = 0;
  let timer = null;
  let source = null;

  function periodic(reason) {
    if (source) source.close();
    status.textContent = reason + ' Refreshes every ' + seconds + ' s.';
    setTimeout(() => location.reload(), seconds * 1000);
  }
  if (typeof EventSource === 'undefined') return periodic('Live updates are not available in this browser.');

  const atTop = () => window.scrollY <= ${TOP_PX};
  function reload() {
    if (source) source.close();
    location.reload();
  }
  function scheduleReload() {
    if (timer !== null) return;
    timer = setTimeout(reload, Math.max(${GATHER_MS}, loadedAt + ${MIN_RELOAD_MS} - Date.now()));
  }
  function render() {
    if (fresh === 0) return;
    showButton.textContent = fresh + ' new — show';
    showButton.hidden = false;
  }
  function maybeReload() {
    if (fresh > 0 && atTop() && !document.hidden) scheduleReload();
  }
  function onEvent() {
    fresh += 1;
    render();
    maybeReload();
  }

  source = new EventSource(box.dataset.stream);
  for (const type of ${JSON.stringify(EVENT_TYPES)}) source.addEventListener(type, onEvent);
  source.addEventListener('open', () => {
    status.textContent = 'Live';
  });
  source.addEventListener('error', (message) => {
    // A frame "event: error" carries why the server ended the stream; a plain error event is the connection.
    const reason = message.data ? JSON.parse(message.data) : null;
    if (reason && reason.code === 'CURSOR_EXPIRED') {
      // Retention passed the page's position: a fresh page starts from where the log is now.
      source.close();
      return scheduleReload();
    }
    if (source.readyState === EventSource.CLOSED) return periodic('Live updates stopped.');
    if (!reason) status.textContent = 'Live: reconnecting…';
  });
  showButton.addEventListener('click', reload);
  window.addEventListener('scroll', maybeReload, { passive: true });
  document.addEventListener('visibilitychange', maybeReload);
  status.textContent = 'Live: connecting…';
})();
`;
