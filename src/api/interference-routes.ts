import { Hono } from 'hono';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import type { InterferenceReadRepo } from '../db/interference-read-repo.js';
import type { ReadRepo } from '../db/read-repo.js';
import { parseTimeMs } from '../domain/time.js';
import { AppError } from '../errors.js';
import { findingView } from '../reconcile/findings.js';
import { encodeCursor, page, pageParams } from './pagination.js';
import { presentAction } from './present.js';

export interface InterferenceRouteDeps {
  read: ReadRepo;
  interference: InterferenceReadRepo;
  clock: Clock;
}

/** Default timeline window when `since` is not given. */
const DEFAULT_TIMELINE_MS = 24 * 3_600_000;
/** Extra rows read per source beyond the page, for entries sharing the cursor's instant. */
const SAME_INSTANT_SLACK = 50;

const isoTime = (name: string) =>
  z
    .string()
    .max(40)
    .refine((v) => parseTimeMs(v) !== undefined, `"${name}" must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z`)
    .transform((v) => parseTimeMs(v) as number);

function parseQuery<T extends z.ZodType>(schema: T, query: Record<string, string>): z.infer<T> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AppError('BAD_REQUEST', `Invalid query parameter "${String(issue?.path[0] ?? '')}": ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

const pageQuery = { after: z.string().max(2000).optional(), limit: z.string().optional() };
const idText = z.string().min(1).max(200);

/** Order of entry types at the same instant: what was asked, what Enode did, what was seen, what it meant. */
const RANK = { command: 0, action: 1, observation: 2, finding: 3 } as const;
type EntryType = keyof typeof RANK;
type Key = [number, number, string];

function compareKeys(a: Key, b: Key): number {
  return a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0);
}

const parseJson = (text: string): unknown => JSON.parse(text) as unknown;

/** `GET /interference` and `GET /devices/{id}/timeline`, under /api/v1 (auth applied by the caller). */
export function interferenceRoutes(deps: InterferenceRouteDeps) {
  const app = new Hono();

  app.get('/interference', (c) => {
    const q = parseQuery(
      z.object({
        deviceId: idText.optional(),
        userId: idText.optional(),
        kind: z.enum(['ACTION_OVERRIDDEN', 'UNEXPECTED_CHANGE', 'ACTION_CONFLICT']).optional(),
        since: isoTime('since').optional(),
        ...pageQuery,
      }),
      c.req.query(),
    );
    const { limit, after } = pageParams(q);
    let cursor: [number, string] | undefined;
    if (after) {
      const [ms, id] = after;
      if (typeof ms !== 'number' || typeof id !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
      cursor = [ms, id];
    }
    const rows = deps.interference.listFindings({ deviceId: q.deviceId, userId: q.userId, kind: q.kind, sinceMs: q.since, after: cursor, limit });
    return c.json(page(rows, limit, (r) => [r.observedAtMs, r.id], findingView));
  });

  app.get('/interference/:id', (c) => {
    const row = deps.interference.getFinding(idText.parse(c.req.param('id')));
    if (!row) throw new AppError('NOT_FOUND', `No finding ${c.req.param('id')}`);
    return c.json({ ...findingView(row), evidence: parseJson(row.evidence) });
  });

  app.get('/devices/:id/timeline', (c) => {
    const idParsed = idText.safeParse(c.req.param('id'));
    if (!idParsed.success) throw new AppError('BAD_REQUEST', 'Invalid id: 1 to 200 characters');
    const deviceId = idParsed.data;
    const device = deps.read.getDevice(deviceId);
    const q = parseQuery(z.object({ since: isoTime('since').optional(), until: isoTime('until').optional(), ...pageQuery }), c.req.query());
    const { limit, after } = pageParams(q);
    let cursor: Key | undefined;
    if (after) {
      const [ms, rank, id] = after;
      if (typeof ms !== 'number' || typeof rank !== 'number' || typeof id !== 'string') throw new AppError('BAD_REQUEST', 'Invalid "after" cursor for this list');
      cursor = [ms, rank, id];
    }
    const untilMs = q.until ?? Number.MAX_SAFE_INTEGER;
    const sinceMs = cursor ? cursor[0] : (q.since ?? deps.clock.now().getTime() - DEFAULT_TIMELINE_MS);
    const parts = deps.interference.timeline(deviceId, sinceMs, untilMs, limit + 1 + SAME_INSTANT_SLACK);
    if (!device && parts.actions.length === 0 && parts.commands.length === 0) throw new AppError('NOT_FOUND', `No device ${deviceId}`);

    const transitionsAt = new Map<number, unknown[]>();
    for (const t of parts.transitions) {
      const list = transitionsAt.get(t.atMs) ?? [];
      list.push({ field: t.field, from: parseJson(t.fromValue), to: parseJson(t.toValue), status: t.status, explanation: parseJson(t.explanation), findingId: t.findingId });
      transitionsAt.set(t.atMs, list);
    }
    const entries: Array<{ key: Key; body: Record<string, unknown> }> = [];
    const add = (type: EntryType, atMs: number, id: string, body: Record<string, unknown>) => {
      const key: Key = [atMs, RANK[type], id];
      if (atMs < sinceMs || atMs > untilMs || (cursor && compareKeys(key, cursor) <= 0)) return;
      entries.push({ key, body: { type, at: new Date(atMs).toISOString(), ...body } });
    };
    for (const o of parts.observations) {
      add('observation', o.atMs, String(o.id).padStart(16, '0'), {
        receivedAt: new Date(o.receivedAtMs).toISOString(),
        source: o.source,
        event: o.event,
        stale: o.stale === 1,
        controlled: parseJson(o.controlled),
        context: parseJson(o.context),
        transitions: transitionsAt.get(o.atMs) ?? [],
      });
    }
    for (const a of parts.actions) add('action', parseTimeMs(a.createdAt) ?? a.updatedAtMs, a.id, { action: presentAction(a) });
    for (const cmd of parts.commands) {
      add('command', cmd.requestedAtMs, cmd.id, {
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
      });
    }
    for (const f of parts.findings) add('finding', f.observedAtMs, f.id, { finding: findingView(f) });
    entries.sort((a, b) => compareKeys(a.key, b.key));
    const shown = entries.slice(0, limit);
    const last = shown[shown.length - 1];
    return c.json({
      deviceId,
      data: shown.map((e) => e.body),
      pagination: { after: entries.length > limit && last ? encodeCursor(last.key) : null },
    });
  });

  return app;
}
