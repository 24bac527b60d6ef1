/**
 * The dashboard console's detail pages, id search and finding decisions (mounted by routes.tsx
 * behind the session check): every id in the lists leads here.
 */
import { Hono, type Context } from 'hono';
import { configuredSinkNames } from '../alerts/sinks/index.js';
import { presentFinding } from '../api/interference-routes.js';
import { presentAction, presentDelivery } from '../api/present.js';
import { decodeStored } from '../api/safe-json.js';
import type { Deps } from '../deps.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseStoredJson } from '../reconcile/timeline.js';
import { FINDING_NOTE_MAX, type OperatorFindingState } from '../store/finding-state.js';
import { query, sendPage } from './layout.js';
import { ActionDetailPage, AlertDetailPage, DeliveryDetailPage, FindingDetailPage, searchHref, SearchPage } from './pages/details.js';

/** How far either side of a finding its explanation trail reaches (device time). */
const TRAIL_MS = 60 * 60_000;
const TRAIL_LIMIT = 60;

type NoticeText = Record<string, { kind: 'ok' | 'error'; text: string }>;

const FINDING_NOTICES: NoticeText = {
  acknowledged: { kind: 'ok', text: 'Acknowledged.' },
  resolved: { kind: 'ok', text: 'Resolved.' },
  unchanged: { kind: 'error', text: 'Nothing changed: the finding already was in that state or past it.' },
};
const REPLAY_NOTICES: NoticeText = {
  applied: { kind: 'ok', text: 'Replayed: applied.' },
  pending: { kind: 'ok', text: 'Replayed: pending.' },
  failed: { kind: 'error', text: 'Replayed and failed again; the error is below.' },
  quarantined: { kind: 'error', text: 'Replayed: still quarantined (its body is not a JSON array of events).' },
};
const RETRY_NOTICES: NoticeText = {
  ok: { kind: 'ok', text: 'Dead deliveries are pending again and will be sent shortly.' },
  none: { kind: 'error', text: 'No dead delivery to a sink that is still configured.' },
};

const notice = (c: Context, table: NoticeText) => table[c.req.query('result') ?? ''];

function idOf(raw: string): string {
  if (raw.length < 1 || raw.length > 200) throw new AppError('BAD_REQUEST', 'Invalid id: 1 to 200 characters');
  return raw;
}

/** The body as pretty JSON when it parses, else as received. */
function prettyPayload(body: string, encoding: string): string {
  if (encoding !== 'utf8') return body;
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

export function consoleRoutes(deps: Deps, logger: Logger) {
  const { read } = deps;
  const ui = new Hono();

  ui.get('/search', async (c) => {
    const q = (c.req.query('q') ?? '').trim();
    if (!q) return c.redirect('/ui', 303);
    if (q.length > 200) throw new AppError('BAD_REQUEST', 'An id has at most 200 characters');
    const matches = await read.findId(q);
    const only = matches.length === 1 ? matches[0] : undefined;
    if (only) return c.redirect(searchHref(only, q), 303);
    return sendPage(c, <SearchPage q={q} matches={matches} />, matches.length === 0 ? 404 : 200);
  });

  ui.get('/findings/:id', async (c) => {
    const id = idOf(c.req.param('id'));
    const row = await read.getFinding(id);
    if (!row) throw new AppError('NOT_FOUND', `No finding ${id}`);
    const transitions = await read.transitionsAround(row.deviceId, row.observedAtMs - TRAIL_MS, row.observedAtMs + TRAIL_MS, TRAIL_LIMIT);
    const trail = transitions.map((t) => ({ ...t, from: parseStoredJson(t.fromValue), to: parseStoredJson(t.toValue), explanation: decodeStored(t.explanation) }));
    return sendPage(c, <FindingDetailPage f={{ ...presentFinding(row), evidence: parseStoredJson(row.evidence) }} trail={trail} notice={notice(c, FINDING_NOTICES)} />);
  });

  for (const [path, state] of [['ack', 'acknowledged'], ['resolve', 'resolved']] as Array<[string, OperatorFindingState]>) {
    ui.post(`/findings/:id/${path}`, async (c) => {
      const id = idOf(c.req.param('id'));
      const form = await c.req.parseBody();
      const raw = typeof form.note === 'string' ? form.note.trim() : '';
      if (raw.length > FINDING_NOTE_MAX || raw.includes('\u0000')) throw new AppError('BAD_REQUEST', `A note has at most ${FINDING_NOTE_MAX} characters`);
      const outcome = await deps.store.setFindingState({ id, state, note: raw || null, nowMs: deps.clock.now().getTime() });
      if (!outcome.found) throw new AppError('NOT_FOUND', `No finding ${id}`);
      logger.info({ findingId: id, state, changed: outcome.changed }, 'finding state set from the dashboard');
      return c.redirect(`/ui/findings/${encodeURIComponent(id)}${query({ result: outcome.changed ? state : 'unchanged' })}`, 303);
    });
  }

  ui.get('/deliveries/:id', async (c) => {
    const id = idOf(c.req.param('id'));
    const row = await read.getDelivery(id);
    if (!row) throw new AppError('NOT_FOUND', `No delivery ${id}`);
    const d = presentDelivery(row);
    return sendPage(c, <DeliveryDetailPage d={d} payload={prettyPayload(d.body, d.bodyEncoding)} notice={notice(c, REPLAY_NOTICES)} />);
  });

  ui.get('/actions/:id', async (c) => {
    const id = idOf(c.req.param('id'));
    const row = await read.getAction(id);
    if (!row) throw new AppError('NOT_FOUND', `No action ${id}`);
    const [events, commands, findings] = await Promise.all([read.actionEvents(id), read.commandsForAction(id), read.findingsForAction(id)]);
    const lifecycle = events.map((e) => {
      const data = decodeStored(e.data) as { action?: { state?: unknown }; previousState?: unknown };
      return {
        state: String(data.action?.state ?? '?'),
        previousState: typeof data.previousState === 'string' ? data.previousState : null,
        occurredAtMs: e.occurredAtMs,
        recordedAtMs: e.recordedAtMs,
      };
    });
    return sendPage(c, <ActionDetailPage a={presentAction(row)} lifecycle={lifecycle} commands={commands} findings={findings} />);
  });

  ui.get('/alerts/:id', async (c) => {
    const id = idOf(c.req.param('id'));
    const found = await read.getAlert(id);
    if (!found) throw new AppError('NOT_FOUND', `No alert ${id}`);
    const { alert, deliveries } = found;
    return sendPage(
      c,
      <AlertDetailPage
        alert={{ ...alert, createdAtMs: Number(alert.createdAtMs), fannedOutAtMs: alert.fannedOutAtMs === null ? null : Number(alert.fannedOutAtMs), data: decodeStored(alert.data) }}
        deliveries={deliveries.map((d) => ({ ...d, nextAttemptAtMs: Number(d.nextAttemptAtMs), updatedAtMs: Number(d.updatedAtMs), deliveredAtMs: d.deliveredAtMs === null ? null : Number(d.deliveredAtMs) }))}
        sinksConfigured={configuredSinkNames(deps.config.alerts).length > 0}
        notice={notice(c, RETRY_NOTICES)}
      />,
    );
  });

  return ui;
}
