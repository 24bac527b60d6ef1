import { presentAction } from '../api/present.js';
import { decodeStored } from '../api/safe-json.js';
import { AppError } from '../errors.js';
import { findingFields, findingView, type FindingColumns, type FindingView } from '../domain/findings.js';
import type { ReadStore, TimelineAction, TimelineParts } from '../store/read.js';

/** Order of entry types at the same instant: what was asked, what Enode did, what was seen, what it meant. */
const RANK = { command: 0, action: 1, observation: 2, finding: 3, control: 4 } as const;
export type TimelineEntryType = keyof typeof RANK;

/** Sort key of a timeline entry: [device time ms, type rank, id]; also the timeline's page cursor. */
export type TimelineKey = [number, number, string];

/** Orders timeline keys: time, then type rank, then id. */
export function compareTimelineKeys(a: TimelineKey, b: TimelineKey): number {
  return a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0);
}

/** A transition of a controlled field with the reconciler's verdict. */
export interface TimelineTransitionView {
  field: string;
  from: unknown;
  to: unknown;
  status: string;
  /** `{kind:'own_action',actionId}` | `{kind:'natural',cause,…}` | `{kind:'automation',cause,controlId,actionId?}` | `{kind:'unexplained'}`. */
  explanation: unknown;
  findingId: string | null;
}

export interface TimelineCommandView {
  id: string;
  command: string;
  body: unknown;
  outcome: string;
  actionId: string | null;
  override: boolean;
  notes: unknown;
  error: string | null;
}

/** One entry of a device timeline, as `GET /api/v1/devices/{id}/timeline` shows it. */
export type TimelineEntry =
  | {
      type: 'observation';
      at: string;
      receivedAt: string;
      source: string;
      event: string;
      stale: boolean;
      controlled: unknown;
      context: unknown;
      transitions: TimelineTransitionView[];
    }
  | { type: 'action'; at: string; action: ReturnType<typeof presentAction> }
  | { type: 'command'; at: string; command: TimelineCommandView }
  | { type: 'finding'; at: string; finding: FindingView }
  /** A schedule's or smart charging's status taking effect (domain/control.ts ControlStatus). */
  | { type: 'control'; at: string; control: unknown };

export interface KeyedTimelineEntry {
  key: TimelineKey;
  entry: TimelineEntry;
}

/** Deepest nesting of a stored JSON value shown as it is; deeper parts are replaced by `TOO_DEEP`. */
export const MAX_SHOWN_DEPTH = 32;
/** Stands for stored text that is not JSON (a page still renders; the row is not hidden). */
export const UNREADABLE_TEXT = '[unreadable stored JSON]';
/** Stands for the part of a value nested deeper than `MAX_SHOWN_DEPTH`. */
export const TOO_DEEP = `[nested deeper than ${MAX_SHOWN_DEPTH} levels]`;

/**
 * A value with everything deeper than `maxDepth` levels replaced by `TOO_DEEP`, so that JSON
 * rendering (recursive in V8: ~10,000 levels overflow the stack) cannot fail on what storage holds.
 * Recursion stops at `maxDepth`, so this cannot overflow either.
 */
export function boundDepth(value: unknown, maxDepth = MAX_SHOWN_DEPTH): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (maxDepth <= 0) return TOO_DEEP;
  if (Array.isArray(value)) return value.map((v) => boundDepth(v, maxDepth - 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = boundDepth(v, maxDepth - 1);
  return out;
}

/** Stored JSON text as a value fit to render: `UNREADABLE_TEXT` when it does not parse, depth bounded (V8's `JSON.parse` itself does not recurse). */
export function parseStoredJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return boundDepth(JSON.parse(text) as unknown);
  } catch {
    return UNREADABLE_TEXT;
  }
}

/** An action as `presentAction` shows it (a target or failure reason that cannot be shown becomes null with a note). */
function presentTimelineAction(a: TimelineAction) {
  return presentAction({
    ...a,
    target: decodeStored(a.target) as Record<string, unknown> | null,
    failureReason: decodeStored(a.failureReason) as { type: string; detail?: string } | null,
  });
}

/**
 * Assembles a device's timeline from the stored pieces: entries within [sinceMs, untilMs] of
 * device time (and after `cursor` when given), oldest first. Shared by the admin API and the dashboard.
 * Stored JSON is parsed defensively (`parseStoredJson`): a bad record shows as such, it never fails the page.
 */
export function buildTimeline(parts: TimelineParts, window: { sinceMs: number; untilMs: number; cursor?: TimelineKey | undefined }): KeyedTimelineEntry[] {
  const { sinceMs, untilMs, cursor } = window;
  const transitionsAt = new Map<number, TimelineTransitionView[]>();
  for (const t of parts.transitions) {
    const list = transitionsAt.get(t.atMs) ?? [];
    list.push({ field: t.field, from: parseStoredJson(t.fromValue), to: parseStoredJson(t.toValue), status: t.status, explanation: parseStoredJson(t.explanation), findingId: t.findingId });
    transitionsAt.set(t.atMs, list);
  }
  const entries: KeyedTimelineEntry[] = [];
  const inWindow = (type: TimelineEntryType, atMs: number, id: string): TimelineKey | undefined => {
    const key: TimelineKey = [atMs, RANK[type], id];
    if (atMs < sinceMs || atMs > untilMs || (cursor && compareTimelineKeys(key, cursor) <= 0)) return undefined;
    return key;
  };
  const at = (ms: number) => new Date(ms).toISOString();
  // An instant's transitions are listed once, on its first observation (several events may share
  // one device time): a consumer counting them counts each once. When the cursor sits among that
  // instant's observations, the first was on an earlier page, and so were its transitions.
  const firstAt = new Map<number, number>();
  for (const o of parts.observations) if (inWindow('observation', o.atMs, String(o.id).padStart(16, '0'))) firstAt.set(o.atMs, Math.min(o.id, firstAt.get(o.atMs) ?? o.id));
  const shownBefore = (atMs: number) => cursor !== undefined && cursor[0] === atMs && cursor[1] === RANK.observation;
  for (const o of parts.observations) {
    const key = inWindow('observation', o.atMs, String(o.id).padStart(16, '0'));
    if (!key) continue;
    const carries = firstAt.get(o.atMs) === o.id && !shownBefore(o.atMs);
    entries.push({
      key,
      entry: {
        type: 'observation',
        at: at(o.atMs),
        receivedAt: at(o.receivedAtMs),
        source: o.source,
        event: o.event,
        stale: o.stale,
        controlled: parseStoredJson(o.controlled),
        context: parseStoredJson(o.context),
        transitions: carries ? (transitionsAt.get(o.atMs) ?? []) : [],
      },
    });
  }
  for (const a of parts.actions) {
    const key = inWindow('action', a.atMs, a.id);
    if (key) entries.push({ key, entry: { type: 'action', at: at(a.atMs), action: presentTimelineAction(a) } });
  }
  for (const cmd of parts.commands) {
    const key = inWindow('command', cmd.requestedAtMs, cmd.id);
    if (!key) continue;
    entries.push({
      key,
      entry: {
        type: 'command',
        at: at(cmd.requestedAtMs),
        command: {
          id: cmd.id,
          command: cmd.command,
          body: parseStoredJson(cmd.body),
          outcome: cmd.outcome,
          actionId: cmd.actionId,
          override: cmd.override,
          notes: parseStoredJson(cmd.notes),
          error: cmd.error,
        },
      },
    });
  }
  for (const f of parts.findings) {
    const key = inWindow('finding', f.observedAtMs, f.id);
    if (key) entries.push({ key, entry: { type: 'finding', at: at(f.observedAtMs), finding: findingOf(f) } });
  }
  for (const c of parts.controls ?? []) {
    const key = inWindow('control', c.atMs, c.id);
    if (key) entries.push({ key, entry: { type: 'control', at: at(c.atMs), control: parseStoredJson(c.status) } });
  }
  entries.sort((a, b) => compareTimelineKeys(a.key, b.key));
  return entries;
}

/** `findingView` with its stored values (and the `fields` its evidence lists, when read) parsed defensively (see `parseStoredJson`). */
export function findingOf(f: FindingColumns & { evidence?: string | null }): FindingView {
  const from = parseStoredJson(f.fromValue);
  const to = parseStoredJson(f.toValue);
  const evidence = f.evidence === undefined ? null : parseStoredJson(f.evidence);
  return { ...findingView({ ...f, fromValue: 'null', toValue: 'null' }), from, to, fields: findingFields(evidence, { field: f.field, from, to }) };
}

/** Largest timeline page (entries). */
export const MAX_TIMELINE_PAGE = 500;

/** One page of a device timeline and the key to pass as `after` for the next (null on the last page). */
export interface TimelinePage {
  entries: KeyedTimelineEntry[];
  next: TimelineKey | null;
}

/**
 * The next `limit` entries of a device's timeline within [sinceMs, untilMs] after `after`, oldest
 * first: each source is read keyset-paged with `limit + 1` rows, so the work and the answer are
 * bounded by the page, whatever the device's history holds, and paging reaches every entry once.
 */
export async function timelinePage(
  repo: Pick<ReadStore, 'timelinePage'>,
  deviceId: string,
  q: { sinceMs: number; untilMs: number; after?: TimelineKey | undefined; limit: number },
): Promise<TimelinePage> {
  const limit = Math.max(1, Math.min(q.limit, MAX_TIMELINE_PAGE));
  const parts = await repo.timelinePage(deviceId, { fromMs: q.sinceMs, untilMs: q.untilMs, after: q.after, limit: limit + 1 });
  const entries = buildTimeline(parts, { sinceMs: q.sinceMs, untilMs: q.untilMs, cursor: q.after });
  const shown = entries.slice(0, limit);
  const last = shown[shown.length - 1];
  return { entries: shown, next: entries.length > limit && last ? last.key : null };
}

/** A timeline cursor as `pagination.after` carries it (decoded): [device time ms, type rank 0…4, id]; anything else is a 400. */
export function timelineCursor(after: Array<string | number> | undefined): TimelineKey | undefined {
  if (!after) return undefined;
  const [ms, rank, id] = after;
  const valid =
    after.length === 3 &&
    typeof ms === 'number' &&
    Number.isSafeInteger(ms) &&
    typeof rank === 'number' &&
    Number.isInteger(rank) &&
    rank >= 0 &&
    rank <= 4 &&
    typeof id === 'string' &&
    // Observations are keyed by their row id, zero-padded to 16 digits.
    (rank !== RANK.observation || /^\d{16}$/.test(id));
  if (!valid) throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
  return [ms, rank, id];
}
