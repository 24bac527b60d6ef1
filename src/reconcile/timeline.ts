import { presentAction } from '../api/present.js';
import type { InterferenceReadRepo } from '../db/interference-read-repo.js';
import { parseTimeMs } from '../domain/time.js';
import { findingView, type FindingView } from './findings.js';

/** Order of entry types at the same instant: what was asked, what Enode did, what was seen, what it meant. */
const RANK = { command: 0, action: 1, observation: 2, finding: 3 } as const;
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
  /** `{kind:'own_action',actionId}` | `{kind:'natural',cause,…}` | `{kind:'unexplained'}`. */
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
  | { type: 'finding'; at: string; finding: FindingView };

export interface KeyedTimelineEntry {
  key: TimelineKey;
  entry: TimelineEntry;
}

const parseJson = (text: string): unknown => JSON.parse(text) as unknown;

/**
 * Assembles a device's timeline from the stored pieces: entries within [sinceMs, untilMs] of
 * device time (and after `cursor` when given), oldest first. Shared by the admin API and the dashboard.
 */
export function buildTimeline(
  parts: ReturnType<InterferenceReadRepo['timeline']>,
  window: { sinceMs: number; untilMs: number; cursor?: TimelineKey | undefined },
): KeyedTimelineEntry[] {
  const { sinceMs, untilMs, cursor } = window;
  const transitionsAt = new Map<number, TimelineTransitionView[]>();
  for (const t of parts.transitions) {
    const list = transitionsAt.get(t.atMs) ?? [];
    list.push({ field: t.field, from: parseJson(t.fromValue), to: parseJson(t.toValue), status: t.status, explanation: parseJson(t.explanation), findingId: t.findingId });
    transitionsAt.set(t.atMs, list);
  }
  const entries: KeyedTimelineEntry[] = [];
  const inWindow = (type: TimelineEntryType, atMs: number, id: string): TimelineKey | undefined => {
    const key: TimelineKey = [atMs, RANK[type], id];
    if (atMs < sinceMs || atMs > untilMs || (cursor && compareTimelineKeys(key, cursor) <= 0)) return undefined;
    return key;
  };
  const at = (ms: number) => new Date(ms).toISOString();
  for (const o of parts.observations) {
    const key = inWindow('observation', o.atMs, String(o.id).padStart(16, '0'));
    if (!key) continue;
    entries.push({
      key,
      entry: {
        type: 'observation',
        at: at(o.atMs),
        receivedAt: at(o.receivedAtMs),
        source: o.source,
        event: o.event,
        stale: o.stale === 1,
        controlled: parseJson(o.controlled),
        context: parseJson(o.context),
        transitions: transitionsAt.get(o.atMs) ?? [],
      },
    });
  }
  for (const a of parts.actions) {
    const atMs = parseTimeMs(a.createdAt) ?? a.updatedAtMs;
    const key = inWindow('action', atMs, a.id);
    if (key) entries.push({ key, entry: { type: 'action', at: at(atMs), action: presentAction(a) } });
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
          body: parseJson(cmd.body),
          outcome: cmd.outcome,
          actionId: cmd.actionId,
          override: cmd.override === 1,
          notes: parseJson(cmd.notes),
          error: cmd.error,
        },
      },
    });
  }
  for (const f of parts.findings) {
    const key = inWindow('finding', f.observedAtMs, f.id);
    if (key) entries.push({ key, entry: { type: 'finding', at: at(f.observedAtMs), finding: findingView(f) } });
  }
  entries.sort((a, b) => compareTimelineKeys(a.key, b.key));
  return entries;
}
