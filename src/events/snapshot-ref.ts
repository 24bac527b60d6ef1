/**
 * A device event's snapshot stored by reference (issue 16/19: the writer's hot path). A device
 * event carried by a webhook shows the snapshot exactly as the delivery's body holds it, and that
 * body is stored anyway: the SQLite writer keeps the event's `data` without the snapshot and with
 * a reference to it (delivery, position in the body, key), and readers put the snapshot back,
 * parsing each referenced body once per page. The writer then writes a few hundred bytes per
 * event instead of another copy of every snapshot (BENCHMARKS.md, "the event log on SQLite").
 *
 * A first seen device's `changes` list every field from nothing, the snapshot whole among them:
 * they are left out as well and derived when read (`firstSeen`).
 *
 * Readers see the same `data` either way. When the delivery is gone (retention pruned it before
 * the event, which a backlog applied late can cause), the snapshot reads `{}` with a `note`, as
 * the admin API shows a snapshot it cannot show, and so does the `snapshot` change of a first
 * seen device (Postgres, which keeps its copy, still shows both). Rows written this way need this
 * version or a later one to read: enode-sync's storage does not support going back a version.
 */
import { diffJson } from '../domain/diff.js';
import { parseWellFormedJson } from '../domain/well-formed.js';
import type { SnapshotRef } from './types.js';

const MARK = '$snapshot';
const MARK_TEXT = `"${MARK}"`;

/** The note a device gets in place of a snapshot whose delivery is gone. */
export const SNAPSHOT_GONE_NOTE = 'snapshot not shown: the delivery that carried it was pruned by retention';

/**
 * The event's `data` as JSON text, its `device.snapshot` left out and referenced instead. A first
 * seen device's `changes` are left out too: they list every leaf of the device from nothing, the
 * snapshot again among them, and readers derive them from the device (`ref.firstSeen`).
 */
export function dataWithSnapshotRef(data: Record<string, unknown>, ref: SnapshotRef): string {
  const device = data.device as Record<string, unknown>;
  return JSON.stringify({ ...data, device: { ...device, snapshot: undefined }, changes: ref.firstSeen === true ? undefined : data.changes, [MARK]: ref });
}

/** Whether stored `data` text holds a reference (cheap: a text search, no parse). */
export function hasSnapshotRef(text: string): boolean {
  return text.includes(MARK_TEXT);
}

/** The reference of a stored `data`, or undefined (the text only mentions the mark: a snapshot holding that string). */
function refOf(data: Record<string, unknown>): SnapshotRef | undefined {
  const ref = data[MARK] as Partial<SnapshotRef> | null | undefined;
  const device = data.device;
  if (ref === null || typeof ref !== 'object' || typeof ref.delivery !== 'string' || !Number.isInteger(ref.index) || typeof ref.key !== 'string') return undefined;
  if (ref.firstSeen !== undefined && ref.firstSeen !== true) return undefined;
  return device !== null && typeof device === 'object' ? (ref as SnapshotRef) : undefined;
}

/** The deliveries whose bodies the rows reference. */
export function referencedDeliveries(rows: ReadonlyArray<{ data: string }>): string[] {
  const ids = new Set<string>();
  for (const r of rows) {
    if (!hasSnapshotRef(r.data)) continue;
    const ref = refOf(JSON.parse(r.data) as Record<string, unknown>);
    if (ref) ids.add(ref.delivery);
  }
  return [...ids];
}

/** A stored body's events: it was checked when received (ingest/deliveries.ts parseEventArray), so a parse without the checks. */
function eventsOfBody(body: Uint8Array | undefined): unknown[] | null {
  if (!body) return null;
  try {
    // As the funnel parsed it when applying (lone surrogates as U+FFFD), so the snapshot shown is the one applied.
    const value: unknown = parseWellFormedJson(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    return Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/** The device with its snapshot put back where `presentDevice` places it (after `controlled`). */
function withSnapshot(device: Record<string, unknown>, snapshot: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let placed = false;
  for (const [k, v] of Object.entries(device)) {
    if (k === 'snapshot') continue;
    out[k] = v;
    if (k === 'controlled') (out.snapshot = snapshot), (placed = true);
  }
  if (!placed) out.snapshot = snapshot;
  return out;
}

/**
 * Puts the referenced snapshots back into the rows' `data` (in place), from `bodies` (delivery id →
 * raw body; a missing one reads `{}` with a note). Rows without a reference are left as they are.
 */
export function fillSnapshots<T extends { data: string }>(rows: T[], bodies: ReadonlyMap<string, Uint8Array>): T[] {
  const parsed = new Map<string, unknown[] | null>();
  const eventsOf = (id: string): unknown[] | null => {
    if (!parsed.has(id)) {
      parsed.set(id, eventsOfBody(bodies.get(id)));
    }
    return parsed.get(id) ?? null;
  };
  for (const r of rows) {
    if (!hasSnapshotRef(r.data)) continue;
    const parsed = JSON.parse(r.data) as Record<string, unknown>;
    const ref = refOf(parsed);
    if (!ref) continue;
    const { [MARK]: _ref, ...data } = parsed;
    const device = data.device as Record<string, unknown>;
    const event = eventsOf(ref.delivery)?.[ref.index] as Record<string, unknown> | undefined;
    const snapshot = event?.[ref.key];
    const found = snapshot !== null && typeof snapshot === 'object' && !Array.isArray(snapshot);
    const shown = withSnapshot(device, found ? snapshot : {});
    const out: Record<string, unknown> = { ...data, device: shown };
    // A first seen device: what the writer computed, every leaf from nothing (before the note, which the writer did not see).
    if (ref.firstSeen === true && !('changes' in data)) out.changes = diffJson({}, shown);
    if (!found) shown.note = typeof device.note === 'string' ? `${device.note}; ${SNAPSHOT_GONE_NOTE}` : SNAPSHOT_GONE_NOTE;
    r.data = JSON.stringify(out);
  }
  return rows;
}

/** The SQL that reads the bodies of `n` deliveries (portable: `?` placeholders), as `id`, `body`. */
export function bodiesSql(n: number): string {
  return `SELECT d.id AS "id", COALESCE(b.body, d.body) AS "body" FROM deliveries d LEFT JOIN delivery_bodies b ON b.id = d.body_id
           WHERE d.id IN (${Array.from({ length: n }, () => '?').join(', ')})`;
}
