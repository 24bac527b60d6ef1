/**
 * The reconciler's loop on Postgres (store/port.ts reconcile): any number of replicas take due
 * devices from `reconcile_queue` and judge each with the shared decision code
 * (reconcile/reconciler.ts reconcileQueued), unchanged.
 *
 * One replica per device at a time. Devices are judged in small batches, one transaction each:
 * their queue rows are claimed with `FOR UPDATE SKIP LOCKED` (another replica skips them), then
 * each device's advisory lock (context.ts deviceLockKey, the lock the funnel holds while it writes the device)
 * is tried; when the funnel holds it, the device is left for a later run rather than waited for
 * (waiting while holding the queue row that the funnel's re-queue waits for would deadlock).
 * The queue row is deleted in the transaction that stores the judgment: a funnel re-queueing the
 * device meanwhile waits for that commit and then queues it again, so no change is lost, and a
 * replica whose claim raced ours finds the row gone. Findings and their alerts are keyed by the
 * episode and the fact (deterministic ids, `ON CONFLICT DO NOTHING`), so one finding per episode
 * and one alert per fact hold whichever replica judges.
 *
 * Round trips decide the cost, so judging is a unit of work (ReconcileIO below): the batch's
 * rows are loaded in two statements, reconcileQueued runs on them in memory device by device, and
 * their writes are stored in three statements. A range read outside what was loaded (an earlier window, a partner
 * device) throws NeedMore: that range is loaded and the device judged again from scratch (the
 * code is deterministic; its writes and log lines are buffered and only the last run's kept).
 * A point read of a key not loaded (a finding by key or id, an alert's fact) is answered "absent"
 * and checked after the run in one statement for all such keys; only when one exists after all
 * is the device judged again. That bounds the runs: a device with several new findings would
 * otherwise need a run per key.
 */
import type pg from 'pg';
import type { NewAlert } from '../../alerts/types.js';
import type { InterferenceSettings } from '../../domain/interference.js';
import { STALE_AFTER_MS } from '../../domain/polling.js';
import type { Logger } from '../../logger.js';
import { isStorageError } from '../../ingest/deliveries.js';
import { interferenceSettings, reconcileQueued } from '../../reconcile/reconciler.js';
import type { ReconcileArgs, ReconcileRun } from '../port.js';
import { type FindingWrite, type QueuedDevice, type ReconcileIO, type StoredAction, type StoredControlStatus, type StoredFinding, type StoredObservation, type TransitionWrite } from '../reconcile.js';
import { alertEvent } from '../../events/facts.js';
import { insertAlerts } from './alerts.js';
import { appendEventsPostgres } from './events.js';
import { deviceLockKey, withTransaction, type PgContext } from './context.js';

/**
 * Default time box of one reconcile call. On SQLite the box (10 ms) protects the single writer:
 * webhook stores wait behind it. On Postgres nothing waits for a reconcile but the device it
 * holds, so the box only bounds how long one call holds a pooled connection and how far its `now`
 * drifts; 50 ms is room for some tens of devices at a few round trips each, so the job's loop of
 * calls is not dominated by per-call overhead.
 */
const DEFAULT_BUDGET_MS = 50;
/**
 * Reconciling waits while stored deliveries have waited more than BACKLOG_LAG_MS to be applied,
 * up to MAX_DEFER_MS (as on SQLite, store/sqlite/reconcile.ts deferToApplying): the backlog may
 * hold the action that explains a change already applied. On Postgres the backlog is shared by
 * every replica, so it is read from the table: whether a pending delivery received more than a
 * second ago exists (deliveries_status_received_idx answers it from the index).
 */
const BACKLOG_LAG_MS = 1_000;
const MAX_DEFER_MS = 30_000;
/** When judging a device throws, it is retried this much later (as on SQLite), and the error logged. */
export const RETRY_AFTER_ERROR_MS = 60_000;
/** Runs of one device at most (each after loading more); past it the device fails loudly. */
const MAX_RUNS = 8;
/**
 * Devices judged per transaction: their rows are loaded, and their judgments stored, in a few
 * statements for all of them (a device alone took about ten round trips). Small enough that one
 * batch stays well inside the time box and holds few queue rows from other replicas.
 */
const BATCH_SIZE = 16;
/** Snapshots read before a window, for each field's value at its start (as db/reconcile-repo.ts). */
const BASELINE_ROWS = 5;

/** Since when (performance.now()) reconciling has waited for the apply backlog, per context (replica). */
const deferredSince = new WeakMap<PgContext, number>();

/** A range read outside what was loaded: load it and judge the device again. */
class NeedMore extends Error {
  constructor(readonly need: Need) {
    super(`reconcile needs more rows: ${JSON.stringify(need)}`);
  }
}
type Need = { kind: 'observations' | 'actions' | 'findings'; deviceId: string; fromMs: number } | { kind: 'device'; deviceId: string };

interface FindingRow extends StoredFinding {
  deviceId: string;
  field: string | null;
  toValue: string;
}

/** What is loaded of one device's neighbourhood: complete within each recorded range. */
interface Loaded {
  devices: Map<string, { type: string; userId: string } | null>;
  /** Per device: every observation from `fromMs` on, plus BASELINE_ROWS before it, oldest first. */
  observations: Map<string, { fromMs: number; rows: Array<StoredObservation & { hash: string }> }>;
  /** Per device, with its observations: every control status from `fromMs` on, plus the newest of each control before it. */
  controls: Map<string, { fromMs: number; rows: StoredControlStatus[] }>;
  /** Per target: every action updated at or after `sinceMs`, by last update. */
  actions: Map<string, { sinceMs: number; rows: StoredAction[] }>;
  /**
   * Findings: per judged device, complete from the time in `from` on; plus any others met by key
   * or id. Several devices are judged on one Loaded (a batch).
   */
  findings: { from: Map<string, number>; rows: Map<string, FindingRow> };
  /** Finding keys and ids, alert dedupe keys known absent. */
  absent: { findingKeys: Set<string>; findingIds: Set<string>; alertKeys: Set<string> };
  /** Alert dedupe keys known present. */
  alertKeys: Set<string>;
}

/** What one run of reconcileQueued wrote, to be stored if the run stands. */
interface Writes {
  transitions: { fromMs: number; rows: TransitionWrite[] } | null;
  inserted: Map<string, FindingWrite>;
  moved: Map<string, { key: string; observedAtMs: number; fromValue: string; evidence: string }>;
  queue: Map<string, { fromMs: number; dueAtMs: number }>;
  alerts: Map<string, NewAlert>;
}

/** Point keys answered "absent" without being loaded: checked after the run. */
interface Guesses {
  findingKeys: Set<string>;
  findingIds: Set<string>;
  alertKeys: Set<string>;
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The ReconcileIO of one run over what is loaded: reads answer from `loaded` overlaid with this
 * run's own writes; writes go to `writes`.
 */
function unitOfWork(loaded: Loaded, deviceId: string, settings: PgContext['settings']): { io: ReconcileIO; writes: Writes; guesses: Guesses } {
  const writes: Writes = { transitions: null, inserted: new Map(), moved: new Map(), queue: new Map(), alerts: new Map() };
  const guesses: Guesses = { findingKeys: new Set(), findingIds: new Set(), alertKeys: new Set() };
  // This run's view of the findings: loaded rows with its inserts and moves applied.
  const findings = new Map<string, FindingRow>(loaded.findings.rows);
  const byKey = () => {
    const m = new Map<string, FindingRow>();
    for (const f of findings.values()) m.set(f.key, f);
    return m;
  };
  let keyIndex = byKey();

  const io: ReconcileIO = {
    settings,
    device(id) {
      const d = loaded.devices.get(id);
      if (d === undefined) throw new NeedMore({ kind: 'device', deviceId: id });
      return d ?? undefined;
    },
    observations(id, fromMs) {
      const l = loaded.observations.get(id);
      if (!l || l.fromMs > fromMs) throw new NeedMore({ kind: 'observations', deviceId: id, fromMs });
      const before = l.rows.filter((o) => o.atMs < fromMs).slice(-BASELINE_ROWS);
      return [...before, ...l.rows.filter((o) => o.atMs >= fromMs)].map(({ hash: _hash, ...o }) => o);
    },
    controls(id, fromMs) {
      const l = loaded.controls.get(id);
      if (!l || l.fromMs > fromMs) throw new NeedMore({ kind: 'observations', deviceId: id, fromMs });
      // What was loaded before `fromMs`: at least the newest of each control (older ones change nothing).
      return l.rows;
    },
    actions(targetId, sinceMs) {
      const l = loaded.actions.get(targetId);
      if (!l || l.sinceMs > sinceMs) throw new NeedMore({ kind: 'actions', deviceId: targetId, fromMs: sinceMs });
      return l.rows.filter((a) => a.updatedAtMs >= sinceMs);
    },
    replaceTransitions(id, fromMs, rows) {
      if (id !== deviceId) throw new Error(`reconciling ${deviceId} wrote transitions of ${id}`);
      const prev = writes.transitions;
      writes.transitions = prev
        ? { fromMs: Math.min(prev.fromMs, fromMs), rows: [...prev.rows.filter((r) => r.atMs < fromMs), ...rows] }
        : { fromMs, rows: [...rows] };
    },
    findingById(id) {
      if (findings.has(id)) return true;
      if (!loaded.absent.findingIds.has(id)) guesses.findingIds.add(id);
      return false;
    },
    findingByKey(key) {
      const f = keyIndex.get(key);
      if (f) return { id: f.id, key: f.key, observedAtMs: f.observedAtMs };
      if (!loaded.absent.findingKeys.has(key)) guesses.findingKeys.add(key);
      return undefined;
    },
    findingInRun(id, field, toValue, fromMs, untilMs) {
      const loadedFrom = loaded.findings.from.get(id);
      if (id !== deviceId || loadedFrom === undefined || loadedFrom > fromMs) throw new NeedMore({ kind: 'findings', deviceId: id, fromMs });
      const hit = [...findings.values()]
        .filter((f) => f.deviceId === id && f.field === field && f.toValue === toValue && f.observedAtMs >= fromMs && f.observedAtMs < untilMs)
        .sort((a, b) => a.observedAtMs - b.observedAtMs || byCodeUnit(a.id, b.id))[0];
      return hit ? { id: hit.id, key: hit.key, observedAtMs: hit.observedAtMs } : undefined;
    },
    insertFinding(f) {
      writes.inserted.set(f.id, { ...f });
      findings.set(f.id, { id: f.id, key: f.key, observedAtMs: f.observedAtMs, deviceId: f.deviceId, field: f.field, toValue: f.toValue });
      keyIndex = byKey();
    },
    moveFinding(id, key, observedAtMs, fromValue, evidence) {
      const row = findings.get(id);
      if (row) findings.set(id, { ...row, key, observedAtMs });
      const inserted = writes.inserted.get(id);
      if (inserted) writes.inserted.set(id, { ...inserted, key, observedAtMs, fromValue, evidence });
      else writes.moved.set(id, { key, observedAtMs, fromValue, evidence });
      keyIndex = byKey();
    },
    markForReconcile(id, fromMs, dueAtMs) {
      const prev = writes.queue.get(id);
      writes.queue.set(id, prev ? { fromMs: Math.min(prev.fromMs, fromMs), dueAtMs: Math.min(prev.dueAtMs, dueAtMs) } : { fromMs, dueAtMs });
    },
    enqueueAlert(alert) {
      const key = alert.dedupeKey;
      if (writes.alerts.has(key) || loaded.alertKeys.has(key)) return false;
      writes.alerts.set(key, alert);
      if (!loaded.absent.alertKeys.has(key)) guesses.alertKeys.add(key);
      return true;
    },
  };
  return { io, writes, guesses };
}

/** Where a device's first load starts: the windows reconcileQueued reads for a device queued from `fromMs`. */
function firstWindow(s: InterferenceSettings, fromMs: number): { contextFrom: number; actionsSince: number } {
  const rewriteFrom = fromMs - s.graceMs - s.matchWindowMs;
  const contextFrom = rewriteFrom - Math.max(s.plugInWindowMs, s.matchWindowMs) - s.graceMs;
  return { contextFrom, actionsSince: fromMs - s.graceMs - s.matchWindowMs - s.intentTtlMs - STALE_AFTER_MS };
}

/** Devices a device's snapshots name as plugged into it (the partners reconcileQueued reads too). */
function partnersIn(loaded: Loaded, deviceId: string): string[] {
  const ids = new Set<string>();
  for (const o of loaded.observations.get(deviceId)?.rows ?? []) {
    const context = JSON.parse(o.context) as Record<string, unknown>;
    for (const id of [context.pluggedInChargerId, context.pluggedInVehicleId]) if (typeof id === 'string' && id !== deviceId) ids.add(id);
  }
  return [...ids];
}

interface LoadRequest {
  devices: string[];
  observations: Array<{ deviceId: string; fromMs: number }>;
  actions: Array<{ deviceId: string; fromMs: number }>;
  /** Judged devices' findings, each from its time on. */
  findings: Array<{ deviceId: string; fromMs: number }>;
}

/**
 * Loads what `req` names in one statement (one row of JSON arrays; the JSON columns travel as
 * the text stored) and records it in `loaded`, replacing earlier loads of the same ranges.
 */
async function load(client: pg.ClientBase, loaded: Loaded, req: LoadRequest): Promise<void> {
  const { rows } = await client.query<{ d: unknown[][] | null; o: unknown[][] | null; c: unknown[][] | null; a: unknown[][] | null; f: unknown[][] | null }>(
    `SELECT
       (SELECT json_agg(json_build_array(id, type, user_id)) FROM devices WHERE id = ANY($1::text[])) AS d,
       (SELECT json_agg(json_build_array(r.device_id, r.observed_at_ms, r.received_at, r.controlled, r.context, r.hash))
          FROM unnest($2::text[], $3::int8[]) AS q(device_id, from_ms)
          CROSS JOIN LATERAL (
            (SELECT device_id, observed_at_ms, received_at, controlled::text, context::text, hash FROM observations
              WHERE device_id = q.device_id AND observed_at_ms >= q.from_ms)
            UNION ALL
            (SELECT device_id, observed_at_ms, received_at, controlled::text, context::text, hash FROM observations
              WHERE device_id = q.device_id AND observed_at_ms < q.from_ms
              ORDER BY observed_at_ms DESC, hash COLLATE "C" DESC LIMIT ${BASELINE_ROWS})
          ) r) AS o,
       (SELECT json_agg(json_build_array(r.device_id, r.at_ms, r.status, r.hash))
          FROM unnest($2::text[], $3::int8[]) AS q(device_id, from_ms)
          CROSS JOIN LATERAL (
            (SELECT device_id, at_ms, status, hash FROM control_statuses WHERE device_id = q.device_id AND at_ms >= q.from_ms)
            UNION ALL
            (SELECT c.device_id, c.at_ms, c.status, c.hash FROM control_statuses c
               JOIN (SELECT source, subject_id, max(at_ms) AS m FROM control_statuses WHERE device_id = q.device_id AND at_ms < q.from_ms GROUP BY source, subject_id) l
                 ON c.source = l.source AND c.subject_id = l.subject_id AND c.at_ms = l.m
              WHERE c.device_id = q.device_id)
          ) r) AS c,
       (SELECT json_agg(json_build_array(a.id, a.target_id, a.target_type, a.user_id, a.kind, a.target::text, a.state,
                 a.failure_reason::text, a.created_at, a.updated_at_ms, a.completed_at, a.origin))
          FROM unnest($4::text[], $5::int8[]) AS q(target_id, since_ms)
          JOIN actions a ON a.target_id = q.target_id AND a.updated_at_ms >= q.since_ms) AS a,
       (SELECT json_agg(json_build_array(f.id, f.key, f.observed_at_ms, f.device_id, f.field, f.to_value))
          FROM unnest($6::text[], $7::int8[]) AS q(device_id, from_ms)
          JOIN findings f ON f.device_id = q.device_id AND f.observed_at_ms >= q.from_ms) AS f`,
    [
      req.devices,
      req.observations.map((o) => o.deviceId),
      req.observations.map((o) => o.fromMs),
      req.actions.map((a) => a.deviceId),
      req.actions.map((a) => a.fromMs),
      req.findings.map((f) => f.deviceId),
      req.findings.map((f) => f.fromMs),
    ],
  );
  const row = rows[0] ?? { d: null, o: null, c: null, a: null, f: null };
  for (const id of req.devices) loaded.devices.set(id, null);
  for (const [id, type, userId] of (row.d ?? []) as string[][]) loaded.devices.set(id as string, { type: type as string, userId: userId as string });

  const obs = new Map(req.observations.map((o) => [o.deviceId, [] as Array<StoredObservation & { hash: string }>]));
  for (const [deviceId, atMs, receivedAtMs, controlled, context, hash] of (row.o ?? []) as [string, number, number, string, string, string][]) {
    obs.get(deviceId)?.push({ atMs, receivedAtMs, controlled, context, hash });
  }
  for (const { deviceId, fromMs } of req.observations) {
    // Oldest first; snapshots of one instant by hash, as SQLite's index walks them.
    const list = (obs.get(deviceId) ?? []).sort((x, y) => x.atMs - y.atMs || byCodeUnit(x.hash, y.hash));
    loaded.observations.set(deviceId, { fromMs, rows: list });
  }

  const controls = new Map(req.observations.map((o) => [o.deviceId, [] as Array<StoredControlStatus & { hash: string }>]));
  for (const [deviceId, atMs, status, hash] of (row.c ?? []) as [string, number, string, string][]) controls.get(deviceId)?.push({ atMs, status, hash });
  for (const { deviceId, fromMs } of req.observations) {
    const list = (controls.get(deviceId) ?? []).sort((x, y) => x.atMs - y.atMs || byCodeUnit(x.hash, y.hash));
    loaded.controls.set(deviceId, { fromMs, rows: list.map(({ hash: _hash, ...c }) => c) });
  }

  const acts = new Map(req.actions.map((a) => [a.deviceId, [] as StoredAction[]]));
  for (const r of (row.a ?? []) as unknown[][]) {
    const [id, targetId, targetType, userId, kind, target, state, failureReason, createdAt, updatedAtMs, completedAt, origin] = r as [
      string, string, string, string, string | null, string | null, string, string | null, string, number, string | null, StoredAction['origin'],
    ];
    acts.get(targetId)?.push({ id, targetId, targetType, userId, kind, target, state, failureReason, createdAt, updatedAtMs, completedAt, origin });
  }
  for (const { deviceId, fromMs } of req.actions) {
    loaded.actions.set(deviceId, { sinceMs: fromMs, rows: (acts.get(deviceId) ?? []).sort((x, y) => x.updatedAtMs - y.updatedAtMs || byCodeUnit(x.id, y.id)) });
  }

  for (const { deviceId, fromMs } of req.findings) {
    loaded.findings.from.set(deviceId, Math.min(fromMs, loaded.findings.from.get(deviceId) ?? Number.POSITIVE_INFINITY));
  }
  for (const [id, key, observedAtMs, deviceId, field, toValue] of (row.f ?? []) as [string, string, number, string, string | null, string][]) {
    loaded.findings.rows.set(id, { id, key, observedAtMs, deviceId, field, toValue });
  }
}

/**
 * The first load of a batch of queued devices, in two statements whatever their number: each
 * device, its window and its findings; then the partners their snapshots name.
 */
async function loadFirst(client: pg.ClientBase, s: InterferenceSettings, qs: QueuedDevice[]): Promise<Loaded> {
  const loaded: Loaded = {
    devices: new Map(),
    observations: new Map(),
    controls: new Map(),
    actions: new Map(),
    findings: { from: new Map(), rows: new Map() },
    absent: { findingKeys: new Set(), findingIds: new Set(), alertKeys: new Set() },
    alertKeys: new Set(),
  };
  const windows = qs.map((q) => ({ deviceId: q.deviceId, ...firstWindow(s, q.fromMs) }));
  await load(client, loaded, {
    devices: windows.map((w) => w.deviceId),
    observations: windows.map((w) => ({ deviceId: w.deviceId, fromMs: w.contextFrom })),
    actions: windows.map((w) => ({ deviceId: w.deviceId, fromMs: w.actionsSince })),
    findings: windows.map((w) => ({ deviceId: w.deviceId, fromMs: w.contextFrom })),
  });
  await loadPartners(client, loaded, s, windows);
  return loaded;
}

/**
 * Loads the partners named in the devices' loaded snapshots that are not loaded yet, each from
 * the earliest window that names it (one statement, or none).
 */
async function loadPartners(client: pg.ClientBase, loaded: Loaded, s: InterferenceSettings, of: Array<{ deviceId: string; contextFrom: number }>): Promise<void> {
  const fresh = new Map<string, number>();
  for (const { deviceId, contextFrom } of of) {
    let partners: string[];
    try {
      partners = partnersIn(loaded, deviceId);
    } catch (err) {
      // A snapshot that cannot be read fails its device alone, as judging it would.
      throw new DeviceFailure(deviceId, err);
    }
    for (const id of partners) {
      if (!loaded.observations.has(id)) fresh.set(id, Math.min(contextFrom, fresh.get(id) ?? Number.POSITIVE_INFINITY));
    }
  }
  if (fresh.size === 0) return;
  const partners = [...fresh];
  await load(client, loaded, {
    devices: [],
    observations: partners.map(([id, fromMs]) => ({ deviceId: id, fromMs })),
    actions: partners.map(([id, fromMs]) => ({ deviceId: id, fromMs: fromMs - s.intentTtlMs - STALE_AFTER_MS })),
    findings: [],
  });
}

/**
 * Loads what a NeedMore asked for, with what the next reads will ask for too: a partner's actions
 * and history go together (reconcileQueued reads its actions from intentTtl + STALE_AFTER_MS
 * before its history), and more of the judged device's history brings the partners it names.
 */
async function loadNeed(client: pg.ClientBase, loaded: Loaded, s: InterferenceSettings, q: QueuedDevice, need: Need): Promise<void> {
  const none: LoadRequest = { devices: [], observations: [], actions: [], findings: [] };
  if (need.kind === 'device') return load(client, loaded, { ...none, devices: [need.deviceId] });
  if (need.kind === 'findings') return load(client, loaded, { ...none, findings: [{ deviceId: need.deviceId, fromMs: need.fromMs }] });
  const lead = s.intentTtlMs + STALE_AFTER_MS;
  if (need.deviceId === q.deviceId) {
    const req = need.kind === 'actions' ? { ...none, actions: [{ deviceId: q.deviceId, fromMs: need.fromMs }] } : { ...none, observations: [{ deviceId: q.deviceId, fromMs: need.fromMs }] };
    await load(client, loaded, req);
    if (need.kind === 'observations') await loadPartners(client, loaded, s, [{ deviceId: q.deviceId, contextFrom: need.fromMs }]);
    return;
  }
  const historyFrom = need.kind === 'actions' ? need.fromMs + lead : need.fromMs;
  const obs = loaded.observations.get(need.deviceId);
  const acts = loaded.actions.get(need.deviceId);
  await load(client, loaded, {
    ...none,
    observations: !obs || obs.fromMs > historyFrom ? [{ deviceId: need.deviceId, fromMs: historyFrom }] : [],
    actions: !acts || acts.sinceMs > historyFrom - lead ? [{ deviceId: need.deviceId, fromMs: historyFrom - lead }] : [],
  });
}

/**
 * Checks the keys runs guessed absent (one statement). Records what it finds in `loaded` and
 * returns it (`f:<key>`, `i:<finding id>`, `a:<alert key>`): a run that guessed one of those
 * answered wrongly and its device is judged again.
 */
async function checkGuesses(client: pg.ClientBase, loaded: Loaded, g: Guesses): Promise<Set<string>> {
  const { rows } = await client.query<{ what: 'f' | 'a'; id: string; key: string; observedAtMs: number; deviceId: string; field: string | null; toValue: string }>(
    `SELECT 'f' AS what, id, key, observed_at_ms AS "observedAtMs", device_id AS "deviceId", field, to_value AS "toValue"
       FROM findings WHERE key = ANY($1::text[]) OR id = ANY($2::text[])
     UNION ALL
     SELECT 'a', id, dedupe_key, NULL, NULL, NULL, NULL FROM alerts WHERE dedupe_key = ANY($3::text[])`,
    [[...g.findingKeys], [...g.findingIds], [...g.alertKeys]],
  );
  for (const k of g.findingKeys) loaded.absent.findingKeys.add(k);
  for (const id of g.findingIds) loaded.absent.findingIds.add(id);
  for (const k of g.alertKeys) loaded.absent.alertKeys.add(k);
  const found = new Set<string>();
  for (const r of rows) {
    if (r.what === 'a') {
      loaded.absent.alertKeys.delete(r.key);
      loaded.alertKeys.add(r.key);
      found.add(`a:${r.key}`);
    } else {
      loaded.absent.findingKeys.delete(r.key);
      loaded.absent.findingIds.delete(r.id);
      loaded.findings.rows.set(r.id, { id: r.id, key: r.key, observedAtMs: r.observedAtMs, deviceId: r.deviceId, field: r.field, toValue: r.toValue });
      found.add(`f:${r.key}`).add(`i:${r.id}`);
    }
  }
  return found;
}

/** Whether a run guessed any of the keys `found` holds. */
function guessedWrong(g: Guesses, found: Set<string>): boolean {
  for (const k of g.findingKeys) if (found.has(`f:${k}`)) return true;
  for (const id of g.findingIds) if (found.has(`i:${id}`)) return true;
  for (const k of g.alertKeys) if (found.has(`a:${k}`)) return true;
  return false;
}

/** Stores the runs' writes and deletes their claimed queue rows (three statements whatever their number). */
async function flush(client: pg.ClientBase, runs: Array<{ deviceId: string; writes: Writes }>): Promise<void> {
  const moved = runs.flatMap((r) => [...r.writes.moved.entries()]);
  const replaced = runs.filter((r) => r.writes.transitions !== null);
  await client.query(
    `WITH dequeued AS (DELETE FROM reconcile_queue WHERE device_id = ANY($1::text[])),
          replaced AS (DELETE FROM transitions t USING unnest($2::text[], $3::int8[]) AS r(device_id, from_ms)
                        WHERE t.device_id = r.device_id AND t.at_ms >= r.from_ms)
     UPDATE findings f SET key = m.key, observed_at_ms = m.observed_at_ms, from_value = m.from_value, evidence = m.evidence
       FROM unnest($4::text[], $5::text[], $6::int8[], $7::text[], $8::text[]) AS m(id, key, observed_at_ms, from_value, evidence)
      WHERE f.id = m.id`,
    [
      runs.map((r) => r.deviceId),
      replaced.map((r) => r.deviceId),
      replaced.map((r) => r.writes.transitions!.fromMs),
      moved.map(([id]) => id),
      moved.map(([, m]) => m.key),
      moved.map(([, m]) => m.observedAtMs),
      moved.map(([, m]) => m.fromValue),
      moved.map(([, m]) => m.evidence),
    ],
  );
  const f = runs.flatMap((r) => [...r.writes.inserted.values()]);
  const t = runs.flatMap((r) => r.writes.transitions?.rows ?? []);
  // Each run re-queues at most its own device; merged anyway, so one row per device is written.
  const queue = new Map<string, { fromMs: number; dueAtMs: number }>();
  for (const r of runs) {
    for (const [id, e] of r.writes.queue) {
      const prev = queue.get(id);
      queue.set(id, prev ? { fromMs: Math.min(prev.fromMs, e.fromMs), dueAtMs: Math.min(prev.dueAtMs, e.dueAtMs) } : e);
    }
  }
  const q = [...queue.entries()];
  await client.query(
    `WITH found AS (
       INSERT INTO findings (id, key, device_id, device_type, user_id, kind, field, from_value, to_value, observed_at_ms, detected_at_ms, action_id, evidence)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                            $10::int8[], $11::int8[], $12::text[], $13::text[])
     ), written AS (
       INSERT INTO transitions (device_id, at_ms, field, from_value, to_value, received_at_ms, explanation, status, finding_id)
       SELECT * FROM unnest($14::text[], $15::int8[], $16::text[], $17::text[], $18::text[], $19::int8[], $20::text[], $21::text[], $22::text[])
     )
     INSERT INTO reconcile_queue (device_id, due_at_ms, from_ms)
     SELECT * FROM unnest($23::text[], $24::int8[], $25::int8[])
     ON CONFLICT (device_id) DO UPDATE SET due_at_ms = LEAST(reconcile_queue.due_at_ms, excluded.due_at_ms),
                                           from_ms = LEAST(reconcile_queue.from_ms, excluded.from_ms)`,
    [
      f.map((x) => x.id),
      f.map((x) => x.key),
      f.map((x) => x.deviceId),
      f.map((x) => x.deviceType),
      f.map((x) => x.userId),
      f.map((x) => x.kind),
      f.map((x) => x.field),
      f.map((x) => x.fromValue),
      f.map((x) => x.toValue),
      f.map((x) => x.observedAtMs),
      f.map((x) => x.detectedAtMs),
      f.map((x) => x.actionId),
      f.map((x) => x.evidence),
      t.map((x) => x.deviceId),
      t.map((x) => x.atMs),
      t.map((x) => x.field),
      t.map((x) => x.fromValue),
      t.map((x) => x.toValue),
      t.map((x) => x.receivedAtMs),
      t.map((x) => x.explanation),
      t.map((x) => x.status),
      t.map((x) => x.findingId),
      q.map(([id]) => id),
      q.map(([, e]) => e.dueAtMs),
      q.map(([, e]) => e.fromMs),
    ],
  );
  const byKey = new Map<string, NewAlert>();
  for (const r of runs) for (const [key, alert] of r.writes.alerts) if (!byKey.has(key)) byKey.set(key, alert);
  const alerts = [...byKey.values()];
  const inserted = await insertAlerts(client, alerts);
  // Each alert written is an event of the log; last, after every other write (events.ts).
  await appendEventsPostgres(client, alerts.filter((a) => inserted.has(a.dedupeKey)).map(alertEvent));
}

/** A logger that keeps what a run logs, so that only the run that stands is logged. */
function bufferedLogger(): { logger: Logger; replay(to: Logger): void } {
  const calls: Array<[string | symbol, unknown[]]> = [];
  const logger = new Proxy({} as Logger, {
    get: (_target, level) => (...args: unknown[]) => {
      calls.push([level, args]);
    },
  });
  return {
    logger,
    replay: (to) => {
      for (const [level, args] of calls) (to as unknown as Record<string | symbol, (...a: unknown[]) => void>)[level]?.(...args);
    },
  };
}

/** Judging one device failed for a reason of its own (not the storage's): it alone is set aside. */
class DeviceFailure extends Error {
  constructor(
    readonly deviceId: string,
    override readonly cause: unknown,
  ) {
    super(`reconciling device ${deviceId} failed: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

interface Judged {
  deviceId: string;
  writes: Writes;
  guesses: Guesses;
  findings: string[];
  log: ReturnType<typeof bufferedLogger>;
}

/** Runs reconcileQueued on one device until it needs nothing more loaded (a run that stands on what is loaded). */
async function runDevice(ctx: PgContext, client: pg.ClientBase, loaded: Loaded, s: InterferenceSettings, q: QueuedDevice, nowMs: number, runs: { n: number }): Promise<Judged> {
  for (;;) {
    if (++runs.n > MAX_RUNS) throw new DeviceFailure(q.deviceId, new Error(`still needed more rows after ${MAX_RUNS} runs`));
    const { io, writes, guesses } = unitOfWork(loaded, q.deviceId, ctx.settings);
    const log = bufferedLogger();
    try {
      const findings = reconcileQueued(io, log.logger, s, q, nowMs);
      return { deviceId: q.deviceId, writes, guesses, findings, log };
    } catch (err) {
      if (!(err instanceof NeedMore)) throw new DeviceFailure(q.deviceId, err);
      await loadNeed(client, loaded, s, q, err.need);
    }
  }
}

/**
 * Judges claimed devices (their locks held) until every run stands, then stores them together.
 * The devices share one load: two statements for all of them, then one per rare NeedMore, then
 * one check of every key guessed absent; a device whose guess was wrong is judged again.
 */
async function judge(ctx: PgContext, client: pg.ClientBase, s: InterferenceSettings, qs: QueuedDevice[], nowMs: number): Promise<Judged[]> {
  const loaded = await loadFirst(client, s, qs);
  const runs = new Map(qs.map((q) => [q.deviceId, { n: 0 }]));
  const done = new Map<string, Judged>();
  let todo = qs;
  while (todo.length > 0) {
    const judged: Judged[] = [];
    for (const q of todo) judged.push(await runDevice(ctx, client, loaded, s, q, nowMs, runs.get(q.deviceId)!));
    const all: Guesses = { findingKeys: new Set(), findingIds: new Set(), alertKeys: new Set() };
    for (const j of judged) {
      for (const k of j.guesses.findingKeys) all.findingKeys.add(k);
      for (const id of j.guesses.findingIds) all.findingIds.add(id);
      for (const k of j.guesses.alertKeys) all.alertKeys.add(k);
    }
    const found = all.findingKeys.size + all.findingIds.size + all.alertKeys.size > 0 ? await checkGuesses(client, loaded, all) : new Set<string>();
    const again = new Set(judged.filter((j) => guessedWrong(j.guesses, found)).map((j) => j.deviceId));
    for (const j of judged) if (!again.has(j.deviceId)) done.set(j.deviceId, j);
    todo = todo.filter((q) => again.has(q.deviceId));
  }
  const result = qs.map((q) => done.get(q.deviceId)!);
  await flush(client, result);
  return result;
}

interface BatchOutcome {
  claimed: number;
  judged: Array<{ findings: string[]; log: () => void }>;
  /** Devices whose lock the funnel (or another judge) held: left for a later call. */
  busy: string[];
  failed: string[];
}

/** SQLSTATEs withTransaction retries: not a failure of a device, so not caught as one. */
const RETRYABLE = new Set(['40001', '40P01']);

/**
 * Up to `size` devices in one transaction: claims the most overdue queue rows nobody holds
 * (skipping `skip`), tries each device's lock (the same key and hash as context.ts lockKeys,
 * tried rather than waited for, see the file's comment), judges those it got.
 *
 * When a device's lock is busy (the funnel is writing it, and will re-queue it), the transaction
 * ends at once, judging nothing: holding that device's queue row while others are judged would
 * make the funnel's re-queue wait for the whole batch. The caller claims again without it.
 *
 * A device that fails is logged and due again RETRY_AFTER_ERROR_MS later: the batch is rolled
 * back to before the judging and the others are judged again without it. An error that names no
 * device (a statement failing for the batch) is narrowed down by judging the devices one at a
 * time, so one device's bad rows never hold up the devices behind it. Storage errors (and the
 * serialization failures withTransaction retries) end the call.
 */
async function reconcileBatch(ctx: PgContext, s: InterferenceSettings, nowMs: number, skip: readonly string[], size: number): Promise<BatchOutcome> {
  return withTransaction(ctx, async (client): Promise<BatchOutcome> => {
    const { rows } = await client.query<QueuedDevice & { locked: boolean }>(
      `SELECT c.device_id AS "deviceId", c.due_at_ms AS "dueAtMs", c.from_ms AS "fromMs",
              pg_try_advisory_xact_lock(hashtextextended('device:' || c.device_id, 0)) AS locked
         FROM (SELECT device_id, due_at_ms, from_ms FROM reconcile_queue
                WHERE due_at_ms <= $1 AND NOT (device_id = ANY($2::text[]))
                ORDER BY due_at_ms, device_id COLLATE "C" LIMIT $3 FOR UPDATE SKIP LOCKED) AS c`,
      [nowMs, [...skip], size],
    );
    const outcome: BatchOutcome = { claimed: rows.length, judged: [], busy: rows.filter((r) => !r.locked).map((r) => r.deviceId), failed: [] };
    if (outcome.busy.length > 0) return outcome;
    let todo: QueuedDevice[] = rows.map(({ deviceId, dueAtMs, fromMs }) => ({ deviceId, dueAtMs, fromMs }));
    let oneByOne = false;
    while (todo.length > 0) {
      const batch = oneByOne ? todo.slice(0, 1) : todo;
      await client.query('SAVEPOINT judge');
      try {
        const judged = await judge(ctx, client, s, batch, nowMs);
        outcome.judged.push(...judged.map((j) => ({ findings: j.findings, log: () => j.log.replay(ctx.logger) })));
        todo = todo.slice(batch.length);
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        if ((typeof code === 'string' && RETRYABLE.has(code)) || isStorageError(err)) throw err;
        await client.query('ROLLBACK TO SAVEPOINT judge');
        const culprit = err instanceof DeviceFailure ? batch.find((d) => d.deviceId === err.deviceId) : batch.length === 1 ? batch[0] : undefined;
        if (!culprit) {
          oneByOne = true;
          continue;
        }
        ctx.logger.error({ err: err instanceof DeviceFailure ? err.cause : err, deviceId: culprit.deviceId }, 'reconciling the device failed; retrying later');
        await client.query(`UPDATE reconcile_queue SET due_at_ms = $2, from_ms = $3 WHERE device_id = $1`, [culprit.deviceId, nowMs + RETRY_AFTER_ERROR_MS, culprit.fromMs]);
        outcome.failed.push(culprit.deviceId);
        todo = todo.filter((d) => d !== culprit);
      }
    }
    return outcome;
  });
}

/**
 * True while reconciling should wait for stored deliveries to be applied (at most MAX_DEFER_MS
 * in a row on this replica): a pending delivery received more than BACKLOG_LAG_MS ago exists.
 */
async function deferToApplying(ctx: PgContext): Promise<boolean> {
  const { rows } = await ctx.pool.query<{ behind: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM deliveries WHERE status = 'pending' AND received_at < $1) AS behind`,
    [ctx.clock.now().getTime() - BACKLOG_LAG_MS],
  );
  if (!rows[0]?.behind) {
    deferredSince.delete(ctx);
    return false;
  }
  const now = performance.now();
  const since = deferredSince.get(ctx);
  if (since === undefined) {
    deferredSince.set(ctx, now);
    return true;
  }
  // Waited long enough: this call reconciles what is due (the wait restarts once it is done).
  return now - since < MAX_DEFER_MS;
}

/**
 * Reconciles due devices in batches (1, 2, 4, … BATCH_SIZE per transaction) within the time box
 * (one device at least).
 * Devices another replica or the funnel holds are skipped for this call. `more` when the box ran
 * out with due devices left.
 */
export async function reconcilePostgres(ctx: PgContext, args: ReconcileArgs = {}): Promise<ReconcileRun> {
  const nowMs = args.nowMs ?? ctx.clock.now().getTime();
  const budgetMs = args.budgetMs ?? DEFAULT_BUDGET_MS;
  const s = interferenceSettings(ctx.config);
  const run: ReconcileRun = { devices: 0, findings: [], errors: 0, more: false, deferred: false };
  if (await deferToApplying(ctx)) return { ...run, deferred: true };
  const started = performance.now();
  const skip: string[] = [];
  // The first batch is one device (a spent box still judges one, as on SQLite), then they double.
  for (let size = 1; ; size = Math.min(size * 2, BATCH_SIZE)) {
    const outcome = await reconcileBatch(ctx, s, nowMs, skip, size);
    if (outcome.claimed === 0) break;
    for (const judged of outcome.judged) {
      // Logged once committed: a transaction retried after a deadlock judges the devices again.
      judged.log();
      run.devices++;
      run.findings.push(...judged.findings);
    }
    run.devices += outcome.failed.length;
    run.errors += outcome.failed.length;
    skip.push(...outcome.busy, ...outcome.failed);
    // Checked after each batch: devices with long histories must not hold the call up.
    if (performance.now() - started >= budgetMs) {
      run.more = await dueCount(ctx, nowMs, skip);
      break;
    }
  }
  if (!run.more) deferredSince.delete(ctx);
  return run;
}

/** Whether due devices remain that this call did not skip. */
async function dueCount(ctx: PgContext, nowMs: number, skip: readonly string[]): Promise<boolean> {
  const { rows } = await ctx.pool.query<{ more: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM reconcile_queue WHERE due_at_ms <= $1 AND NOT (device_id = ANY($2::text[]))) AS more`,
    [nowMs, [...skip]],
  );
  return rows[0]?.more ?? false;
}
