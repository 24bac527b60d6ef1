/**
 * Intake on Postgres: storing a verified delivery (the HTTP path, committed before the answer),
 * and applying stored deliveries, polled and gateway events and replays through the unit of work
 * (funnel.ts). Every decision is the shared code's: storeDelivery, applyDelivery, replayDelivery
 * and applyEvent run unchanged against repos answered from rows read up front.
 */
import type pg from 'pg';
import { deliveryFailedAlert } from '../../alerts/facts.js';
import { alertId } from '../../alerts/types.js';
import { alertEvent } from '../../events/facts.js';
import { applyEvent, appliedEventCounts } from '../../ingest/apply.js';
import {
  applyDelivery,
  isStorageError,
  parseEventArray,
  replayDelivery,
  sha256Hex,
  storeDelivery,
  type DeliveryOutcome,
  type ParsedBody,
  type ReceivedDelivery,
} from '../../ingest/deliveries.js';
import type { Logger } from '../../logger.js';
import type { DeliveryHead, DeliveryRepo, NewDelivery, StoredDeliveryHead } from '../funnel.js';
import type { ActionPoll, EventApplyResult } from '../port.js';
import { withClientTransaction, withTransaction, type PgContext } from './context.js';
import { cleanText } from '../text.js';
import { appendEventsPostgres } from './events.js';
import { flushUnitOfWork, KeyRecorder, lockAndLoad, UnitOfWork, UnitOfWorkBug, type LoadedDelivery } from './funnel.js';

/** Longest delivery id (as in ingest/deliveries.ts): a derived id is cut to fit it. */
const MAX_DELIVERY_ID_LENGTH = 200;

/** The id storeDelivery stores a reused id's new bytes under (the same rule, so it can be looked up first). */
export function derivedDeliveryId(id: string, bodySha256: string): string {
  const suffix = `~${bodySha256.slice(0, 16)}`;
  return `${id.slice(0, MAX_DELIVERY_ID_LENGTH - suffix.length)}${suffix}`;
}

/**
 * Storing a delivery takes two round trips (BEGIN, the lock and the lookup in one; the insert and
 * COMMIT in the other), sent as simple-protocol queries with their values quoted by the driver
 * (`escapeLiteral` writes an `E'…'` literal whenever a backslash is in the value, so the quoting
 * holds whatever standard_conforming_strings says; the body travels as hex through `decode`). Under READ
 * COMMITTED each statement of a multi-statement query takes its own snapshot once the one before
 * it finished, so the lookup sees every store of the same bytes that committed before this one's
 * lock was granted, exactly as when the statements went one by one.
 */
function intakeLookupSql(client: pg.PoolClient, ids: string[], sha: string): string {
  const lit = (v: string) => client.escapeLiteral(v);
  return `BEGIN;
SELECT set_config('synchronous_commit', 'on', true);
SELECT pg_advisory_xact_lock(hashtextextended(${lit(`delivery-body:${sha}`)}, 0));
SELECT (SELECT coalesce(json_agg(json_build_array(id, status, error, event_count, body_sha256)), '[]')
     FROM deliveries WHERE id = ANY(ARRAY[${ids.map(lit).join(', ')}]::text[])) AS by_id,
  (SELECT json_build_array(id, status, error, event_count, body_sha256)
     FROM deliveries WHERE body_sha256 = ${lit(sha)} ORDER BY received_at, id LIMIT 1) AS by_body`;
}

/**
 * The body is kept in the delivery's own row (`body`, `body_id` NULL), not in delivery_bodies:
 * one row per delivery, so `INSERT … ON CONFLICT (id) DO NOTHING` alone decides a race between
 * replicas and no orphaned body is left by the loser. SQLite moved bodies out because marking a
 * delivery applied rewrote its whole row; Postgres stores a large value out of line (TOAST) and
 * an UPDATE that leaves it alone does not copy it. Sent with COMMIT in one query: when the id was
 * taken meanwhile nothing is inserted, and the caller looks again in a new transaction.
 */
function intakeInsertSql(client: pg.PoolClient, d: NewDelivery, error: string | null): string {
  const lit = (v: string | null) => (v === null ? 'NULL' : client.escapeLiteral(v));
  const num = (v: number | null) => (v === null ? 'NULL' : String(Math.trunc(v)));
  return `INSERT INTO deliveries (id, received_at, headers, body, body_sha256, status, error, event_count, applied_at, attempts, body_id)
  VALUES (${lit(d.id)}, ${num(d.receivedAt)}, ${lit(JSON.stringify(d.headers))}::json, decode('${d.body.toString('hex')}', 'hex'), ${lit(d.bodySha256)}, ${lit(d.status)}, ${lit(error)}, ${num(d.eventCount)}, ${num(d.appliedAt)}, 1, NULL)
  ON CONFLICT (id) DO NOTHING RETURNING 1;
COMMIT`;
}

type HeadRow = [string, DeliveryHead['status'], string | null, number, string];
const toHead = ([id, status, error, eventCount, bodySha256]: HeadRow): StoredDeliveryHead => ({ id, status, error, eventCount, bodySha256 });

/** What storeDelivery needs, answered from one lookup; the insert it asks for is kept for the caller. */
function intakeRepo(byId: Map<string, DeliveryHead | undefined>, byBody: StoredDeliveryHead | undefined, held: { insert?: NewDelivery }): DeliveryRepo {
  const unused = (name: string) => () => {
    throw new UnitOfWorkBug(`${name} is not part of storing a delivery`);
  };
  return {
    settings: { clockSkewToleranceMs: 0 },
    findDelivery: (id) => {
      if (!byId.has(id)) throw new UnitOfWorkBug(`delivery ${id} was not looked up`);
      return byId.get(id);
    },
    findDeliveryByBody: () => byBody,
    insertDelivery: (d) => {
      held.insert = d;
      return true;
    },
    transaction: (fn) => fn(),
    derivedTransaction: (fn) => fn(),
    deliveryBody: unused('deliveryBody'),
    finishDelivery: unused('finishDelivery'),
    countAttempt: unused('countAttempt'),
    getActionVersion: unused('getActionVersion'),
    setActionOrigin: unused('setActionOrigin'),
    upsertAction: unused('upsertAction'),
    getDevice: unused('getDevice'),
    appendEvent: unused('appendEvent'),
    writeDevice: unused('writeDevice'),
    markDeviceDeleted: unused('markDeviceDeleted'),
    markForReconcile: unused('markForReconcile'),
    insertObservation: unused('insertObservation'),
    insertSystemEvent: unused('insertSystemEvent'),
    insertControlStatus: unused('insertControlStatus'),
    enqueueAlert: unused('enqueueAlert'),
  };
}

/**
 * One try at storing, in a transaction of its own: looks the ids and the body up, decides with
 * storeDelivery, inserts and commits. Undefined when another replica stored a delivery under the
 * same id between the lookup and the insert (nothing was written; look again).
 */
async function tryStore(client: pg.PoolClient, r: ReceivedDelivery, ids: string[], sha: string, logger: Logger): Promise<DeliveryOutcome | undefined> {
  const results = (await client.query(intakeLookupSql(client, ids, sha))) as unknown as Array<pg.QueryResult<{ by_id: HeadRow[]; by_body: HeadRow | null }>>;
  const row = results[results.length - 1]!.rows[0]!;
  const found = new Map<string, DeliveryHead | undefined>(ids.map((id) => [id, undefined]));
  for (const head of row.by_id) found.set(head[0], toHead(head));
  const held: { insert?: NewDelivery } = {};
  const { outcome } = storeDelivery(intakeRepo(found, row.by_body ? toHead(row.by_body) : undefined, held), r, logger);
  const d = held.insert;
  if (!d) {
    await client.query('COMMIT');
    return outcome;
  }
  const error = cleanText(d.error);
  const inserted = (await client.query(intakeInsertSql(client, d, error))) as unknown as pg.QueryResult[];
  return inserted[0]!.rowCount === 1 ? { ...outcome, error } : undefined;
}

/**
 * Stores a verified delivery and answers as storeDelivery decides, once committed
 * (`synchronous_commit` on for this transaction, whatever the server's default). A delivery id
 * stored by another replica is a duplicate: the primary key decides, and the loser of a race
 * looks again. Two replicas storing the same bytes under different ids are serialised by an
 * advisory lock on the body's hash, so the second sees the first (as SQLite's single writer would).
 * Always, header id or not: a body stored under its hash (no header) and the same bytes under a
 * header id must see each other.
 */
export async function submitDelivery(ctx: PgContext, r: ReceivedDelivery): Promise<DeliveryOutcome> {
  if (r.headerId !== null && r.headerId.includes('\u0000')) {
    throw new Error('delivery id contains a NUL character (U+0000); it cannot be stored');
  }
  const sha = r.checked?.bodySha256 ?? sha256Hex(r.body);
  const id = r.headerId ?? `sha256-${sha}`;
  const ids = [id, derivedDeliveryId(id, sha)];
  for (let attempt = 0; attempt < 3; attempt++) {
    const outcome = await withClientTransaction(ctx, (client) => tryStore(client, r, ids, sha, ctx.logger));
    if (outcome) return outcome;
  }
  throw new Error(`delivery ${id}: its id kept being taken by concurrent stores`);
}

/** Applied-event counts of a synchronous pass: the difference of apply.ts's counters around it. */
export type EventCounts = Map<string, number>;

function countDuring<T>(fn: () => T): { result: T; counts: EventCounts } {
  const key = (c: { event: string; outcome: string; version?: string }) => `${c.event}\t${c.outcome}\t${c.version ?? ''}`;
  const before = new Map(appliedEventCounts().map((c) => [key(c), c.count]));
  const result = fn();
  const counts: EventCounts = new Map();
  for (const c of appliedEventCounts()) {
    const delta = c.count - (before.get(key(c)) ?? 0);
    if (delta > 0) counts.set(key(c), delta);
  }
  return { result, counts };
}

/**
 * Runs `pass` twice over the same deliveries: against a KeyRecorder (what does it touch?), then,
 * with those keys locked and loaded, against a UnitOfWork whose writes are flushed. Only the
 * second pass's applied-event counts are returned (the first one's are not real).
 */
async function runUnitOfWork<T>(
  ctx: PgContext,
  client: pg.PoolClient,
  deliveries: Map<string, LoadedDelivery>,
  pass: (repo: DeliveryRepo, discovery: boolean) => T,
): Promise<{ result: T; counts: EventCounts }> {
  const recorder = new KeyRecorder(ctx.settings, deliveries);
  pass(recorder, true);
  const loaded = await lockAndLoad(client, recorder.keys);
  const uow = new UnitOfWork(ctx.settings, new Map(deliveries), loaded);
  const done = countDuring(() => pass(uow, false));
  await flushUnitOfWork(client, uow);
  return done;
}

const CLAIM_SQL = `SELECT d.id, d.received_at, coalesce(b.body, d.body) AS body, d.status, d.error, d.event_count, d.body_sha256
  FROM deliveries d LEFT JOIN delivery_bodies b ON b.id = d.body_id
  WHERE d.status = 'pending' ORDER BY d.received_at, d.id LIMIT $1
  FOR UPDATE OF d SKIP LOCKED`;

interface DeliveryRow {
  id: string;
  received_at: number;
  body: Buffer;
  status: DeliveryHead['status'];
  error: string | null;
  event_count: number;
  body_sha256: string;
}

const toLoaded = (r: DeliveryRow): LoadedDelivery => ({
  id: r.id,
  receivedAt: r.received_at,
  body: r.body,
  head: { status: r.status, error: r.error, eventCount: r.event_count, bodySha256: r.body_sha256 },
});

/** A batch whose failure is not the storage's (a constraint, a bug): its deliveries, to be tried one by one. */
export class BatchFailure extends Error {
  override name = 'BatchFailure';
  constructor(
    readonly ids: string[],
    override readonly cause: unknown,
  ) {
    super(`applying deliveries ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''} failed: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

export interface AppliedBatch {
  claimed: number;
  counts: EventCounts;
  failed: Array<{ id: string; error: string | null }>;
}

export interface ApplyHooks {
  /** Runs inside the apply transaction once its deliveries are claimed (tests abandon it here). */
  afterClaim?: (client: pg.PoolClient, ids: string[]) => Promise<void>;
}

/**
 * One delivery as the SQLite ingestor applies it: applyDelivery (its own savepoint, `failed`
 * with its alert, `quarantined` when the body does not parse); anything else it throws, except
 * the storage's or a bug of the unit of work, fails this delivery alone.
 */
function applyOne(repo: DeliveryRepo, d: LoadedDelivery, parsed: ParsedBody, now: number): DeliveryOutcome | { status: 'failed'; error: string } | undefined {
  try {
    return applyDelivery(repo, d.id, now, parsed.ok ? { receivedAt: d.receivedAt, events: parsed.events } : undefined);
  } catch (err) {
    if (isStorageError(err) || err instanceof UnitOfWorkBug) throw err;
    const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const eventCount = parsed.ok ? parsed.events.length : 0;
    repo.finishDelivery(d.id, 'failed', error, null, eventCount);
    repo.enqueueAlert(deliveryFailedAlert({ id: d.id, error, eventCount }, now));
    return { status: 'failed', error };
  }
}

/**
 * Claims up to `limit` pending deliveries (oldest first; rows another replica holds are skipped),
 * applies them and marks them in the same transaction. A replica that dies mid-way holds nothing
 * after its connection ends: its rows are pending again for whoever claims next.
 */
export async function applyPendingBatch(ctx: PgContext, limit: number, hooks: ApplyHooks = {}): Promise<AppliedBatch> {
  return withTransaction(ctx, async (client) => {
    const { rows } = await client.query<DeliveryRow>(CLAIM_SQL, [limit]);
    if (rows.length === 0) return { claimed: 0, counts: new Map(), failed: [] };
    const ids = rows.map((r) => r.id);
    try {
      await hooks.afterClaim?.(client, ids);
      const deliveries = new Map(rows.map((r) => [r.id, toLoaded(r)]));
      const parsed = new Map(rows.map((r) => [r.id, parseEventArray(r.body)]));
      const now = ctx.clock.now().getTime();
      const { result, counts } = await runUnitOfWork(ctx, client, deliveries, (repo) =>
        rows.map((r) => ({ id: r.id, outcome: applyOne(repo, deliveries.get(r.id)!, parsed.get(r.id)!, now) })),
      );
      const failed = result.filter((x) => x.outcome?.status === 'failed').map((x) => ({ id: x.id, error: x.outcome!.error }));
      return { claimed: rows.length, counts, failed };
    } catch (err) {
      throw wrapBatchError(err, ids);
    }
  });
}

/** Storage errors and those withTransaction retries pass through; anything else names the batch's deliveries. */
function wrapBatchError(err: unknown, ids: string[]): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (isStorageError(err) || code === '40001' || code === '40P01') return err;
  return new BatchFailure(ids, err);
}

/**
 * Marks one delivery `failed` with its alert, in a transaction of its own, when applying it alone
 * failed for a reason that is not the storage's: it must not hold up the deliveries behind it.
 */
export async function markDeliveryFailed(ctx: PgContext, id: string, error: string): Promise<void> {
  const now = ctx.clock.now().getTime();
  await withTransaction(ctx, async (client) => {
    const { rows } = await client.query<{ event_count: number }>(
      `UPDATE deliveries SET status = 'failed', error = $2 WHERE id = $1 AND status = 'pending' RETURNING event_count`,
      [id, cleanText(error)],
    );
    if (rows.length === 0) return;
    const alert = deliveryFailedAlert({ id, error, eventCount: rows[0]!.event_count }, now);
    const inserted = await client.query(
      `INSERT INTO alerts (id, type, dedupe_key, device_id, user_id, data, created_at_ms) VALUES ($1, $2, $3, NULL, NULL, $4, $5)
       ON CONFLICT DO NOTHING`,
      [alertId(alert.dedupeKey), alert.type, alert.dedupeKey, cleanText(JSON.stringify(alert.data)), alert.createdAtMs],
    );
    // Its event, last in the transaction (events.ts: positions in commit order); none when the alert was already there.
    if ((inserted.rowCount ?? 0) > 0) await appendEventsPostgres(client, [alertEvent(alert)]);
  });
}

/** Applies a stored delivery again (replayDelivery's rules); undefined for an unknown id. */
export async function replayStoredDelivery(ctx: PgContext, id: string): Promise<{ outcome: DeliveryOutcome | undefined; counts: EventCounts }> {
  if (id.includes('\u0000')) return { outcome: undefined, counts: new Map() };
  return withTransaction(ctx, async (client) => {
    // Waits for an apply batch that holds the row, then holds it: one application at a time.
    const { rows } = await client.query<DeliveryRow>(
      `SELECT d.id, d.received_at, coalesce(b.body, d.body) AS body, d.status, d.error, d.event_count, d.body_sha256
       FROM deliveries d LEFT JOIN delivery_bodies b ON b.id = d.body_id WHERE d.id = $1 FOR UPDATE OF d`,
      [id],
    );
    if (rows.length === 0) return { outcome: undefined, counts: new Map() };
    const deliveries = new Map([[id, toLoaded(rows[0]!)]]);
    const now = ctx.clock.now().getTime();
    const { result, counts } = await runUnitOfWork(ctx, client, deliveries, (repo, discovery) =>
      discovery ? applyDelivery(repo, id, now) : replayDelivery(repo, id, now, ctx.logger),
    );
    return { outcome: result, counts };
  });
}

/**
 * Applies polled or gateway events through the funnel in one transaction, each in its own
 * savepoint (as the SQLite store's applyObserved): one bad event fails alone.
 */
export async function applyObservedEvents(
  ctx: PgContext,
  events: unknown[],
  source: 'poll' | 'gateway',
): Promise<{ results: EventApplyResult[]; counts: EventCounts }> {
  if (events.length === 0) return { results: [], counts: new Map() };
  const receivedAt = ctx.clock.now().getTime();
  const apply = (repo: DeliveryRepo, event: unknown) => applyEvent(repo, event, { source, deliveryId: null, receivedAt });
  return withTransaction(ctx, async (client) => {
    const { result, counts } = await runUnitOfWork(ctx, client, new Map(), (repo, discovery) =>
      events.map((event): EventApplyResult => {
        try {
          return discovery ? apply(repo, event) : repo.transaction(() => apply(repo, event));
        } catch (err) {
          if (isStorageError(err) || (err instanceof UnitOfWorkBug && !discovery)) throw err;
          return { event: String((event as { event?: unknown } | null)?.event ?? 'unknown'), error: (err as Error).message };
        }
      }),
    );
    return { results: result, counts };
  });
}

/**
 * Records polls of actions in one statement. Several polls of one action in a call count each;
 * the last one's time and the last flag reported win, as one UPDATE per poll would leave them.
 */
export async function recordPolls(ctx: PgContext, polls: ActionPoll[]): Promise<void> {
  const byId = new Map<string, { polledAt: number; n: number; upstream: string | null }>();
  for (const p of polls) {
    if (p.id.includes('\u0000')) continue;
    const cur = byId.get(p.id);
    byId.set(p.id, { polledAt: p.polledAt, n: (cur?.n ?? 0) + 1, upstream: p.upstream ?? cur?.upstream ?? null });
  }
  if (byId.size === 0) return;
  const ids = [...byId.keys()].sort();
  const v = ids.map((id) => byId.get(id)!);
  await ctx.pool.query(
    `UPDATE actions a SET last_polled_at = u.polled_at, poll_attempts = a.poll_attempts + u.n, upstream = coalesce(u.upstream, a.upstream)
     FROM unnest($1::text[], $2::int8[], $3::int4[], $4::text[]) AS u(id, polled_at, n, upstream) WHERE a.id = u.id`,
    [ids, v.map((x) => x.polledAt), v.map((x) => x.n), v.map((x) => x.upstream)],
  );
}
