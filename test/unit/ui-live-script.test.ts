/**
 * The live refresh script (/ui/live.js) run in a VM against a fake page, EventSource and timers:
 * it reloads for new events when the reader is at the top, otherwise offers "N new — show", and
 * falls back to a periodic reload when the stream cannot run.
 */
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { GATHER_MS, LIVE_SCRIPT, MIN_RELOAD_MS } from '../../src/ui/live-script.js';

type Listener = (message: { data?: string }) => void;

class FakeSource {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = 0;
  listeners = new Map<string, Listener[]>();
  constructor(readonly url: string) {}
  addEventListener(type: string, fn: Listener) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  close() {
    this.readyState = 2;
  }
  emit(type: string, data?: string) {
    for (const fn of this.listeners.get(type) ?? []) fn({ data });
  }
}

function page(options: { eventSource?: boolean; scrollY?: number } = {}) {
  let nowMs = 1_000_000;
  const timers: Array<{ at: number; fn: () => void }> = [];
  const sources: FakeSource[] = [];
  const windowListeners = new Map<string, () => void>();
  const status = { textContent: 'Refreshes every 30 s' };
  const show = { textContent: '', hidden: true, click: undefined as (() => void) | undefined, addEventListener(_: string, fn: () => void) { this.click = fn; } };
  const box = { dataset: { stream: '/ui/events/stream?type=interference.*&after=ev1_x', seconds: '30' }, querySelector: (s: string) => (s === '.live-status' ? status : show) };
  let reloads = 0;
  const win = { scrollY: options.scrollY ?? 0, addEventListener: (type: string, fn: () => void) => windowListeners.set(type, fn) };
  const context = {
    document: { hidden: false, getElementById: (id: string) => (id === 'live-refresh' ? box : null), addEventListener: (type: string, fn: () => void) => windowListeners.set(`doc:${type}`, fn) },
    window: win,
    location: { reload: () => (reloads += 1) },
    Date: { now: () => nowMs },
    Math,
    Number,
    JSON,
    setTimeout: (fn: () => void, ms: number) => timers.push({ at: nowMs + ms, fn }),
    EventSource:
      options.eventSource === false
        ? undefined
        : Object.assign(
            function (this: unknown, url: string) {
              const s = new FakeSource(url);
              sources.push(s);
              return s;
            },
            { CLOSED: 2 },
          ),
  };
  runInNewContext(LIVE_SCRIPT, context);
  return {
    status,
    show,
    win,
    source: () => sources[0]!,
    reloads: () => reloads,
    scroll: (y: number) => ((win.scrollY = y), windowListeners.get('scroll')?.()),
    advance(ms: number) {
      nowMs += ms;
      for (const t of timers.splice(0).sort((a, b) => a.at - b.at)) (t.at <= nowMs ? t.fn() : timers.push(t));
    },
  };
}

describe('the live refresh script', () => {
  it('follows the page stream and reloads once for a burst when the reader is at the top (not sooner than MIN_RELOAD_MS after load)', () => {
    const p = page();
    expect(p.source().url).toBe('/ui/events/stream?type=interference.*&after=ev1_x');
    p.source().emit('open');
    expect(p.status.textContent).toBe('Live');
    for (let i = 0; i < 5; i++) p.source().emit('interference.detected', '{}');
    p.advance(MIN_RELOAD_MS - 1);
    expect(p.reloads()).toBe(0);
    p.advance(1);
    expect(p.reloads()).toBe(1);
    expect(p.source().readyState).toBe(FakeSource.CLOSED);
  });

  it('scrolled down, it counts new events as "N new — show" and reloads on the button or on scrolling back to the top', () => {
    const p = page({ scrollY: 800 });
    p.advance(MIN_RELOAD_MS);
    p.source().emit('device.updated', '{}');
    p.source().emit('device.updated', '{}');
    p.advance(60_000);
    expect(p.reloads()).toBe(0);
    expect([p.show.hidden, p.show.textContent]).toEqual([false, '2 new — show']);
    p.show.click!();
    expect(p.reloads()).toBe(1);
    const q = page({ scrollY: 800 });
    q.advance(MIN_RELOAD_MS);
    q.source().emit('action.updated', '{}');
    q.scroll(0);
    q.advance(GATHER_MS);
    expect(q.reloads()).toBe(1);
  });

  it('falls back to reloading every data-seconds when the stream is refused or EventSource is missing', () => {
    const p = page();
    p.source().readyState = FakeSource.CLOSED;
    p.source().emit('error');
    expect(p.status.textContent).toBe('Live updates stopped. Refreshes every 30 s.');
    p.advance(29_999);
    expect(p.reloads()).toBe(0);
    p.advance(1);
    expect(p.reloads()).toBe(1);
    const q = page({ eventSource: false });
    expect(q.status.textContent).toContain('Refreshes every 30 s');
    q.advance(30_000);
    expect(q.reloads()).toBe(1);
  });

  it('a dropped connection reconnects without reloading; a CURSOR_EXPIRED end reloads to a fresh page', () => {
    const p = page();
    p.source().emit('error');
    expect(p.status.textContent).toBe('Live: reconnecting…');
    p.advance(60_000);
    expect(p.reloads()).toBe(0);
    p.source().emit('error', JSON.stringify({ code: 'CURSOR_EXPIRED' }));
    p.advance(GATHER_MS);
    expect(p.reloads()).toBe(1);
  });
});
