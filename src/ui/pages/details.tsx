/** The dashboard's detail pages: a finding, a delivery, an action, an alert; and the id search's answer. */
import type { FC } from 'hono/jsx';
import type { presentAction, presentDelivery } from '../../api/present.js';
import type { IdKind } from '../../store/console-read.js';
import { describeExplanation, formatIso, formatTime, formatValue } from '../format.js';
import { IdLink, Layout, Notice } from '../layout.js';

type Notice = { kind: 'ok' | 'error'; text: string } | undefined;

const StateBadge: FC<{ state: string }> = ({ state }) => <span class={`badge ${state === 'open' ? 'badge-bad' : state === 'resolved' ? 'badge-good' : 'badge-warn'}`}>{state}</span>;

/** Pretty JSON of a value (already parsed), for a `<pre>`. */
const pretty = (v: unknown) => JSON.stringify(v, null, 2) ?? 'null';

const asRecord = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

// ── finding ──

export interface FindingDetail {
  id: string;
  deviceId: string;
  deviceType: string;
  userId: string;
  kind: string;
  field: string | null;
  from: unknown;
  to: unknown;
  observedAt: string;
  detectedAt: string;
  actionId: string | null;
  state: string;
  note: string | null;
  stateChangedAt: string | null;
  evidence: unknown;
}

export interface TrailEntry {
  atMs: number;
  field: string;
  from: unknown;
  to: unknown;
  status: string;
  explanation: unknown;
  findingId: string | null;
}

/** Before and after, field by field (controlled state, then context), the changed ones marked. */
const EvidenceTable: FC<{ before: Record<string, unknown> | null; after: Record<string, unknown> | null }> = ({ before, after }) => {
  const rows = (key: 'controlled' | 'context') => {
    const b = asRecord(before?.[key]);
    const a = asRecord(after?.[key]);
    return [...new Set([...Object.keys(b), ...Object.keys(a)])].map((field) => ({ key, field, b: b[field], a: a[field], changed: JSON.stringify(b[field]) !== JSON.stringify(a[field]) }));
  };
  const all = [...rows('controlled'), ...rows('context')];
  return (
    <table class="evidence">
      <caption>Snapshots before and after the change</caption>
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <th scope="row">device time</th>
          <td>{formatTime(typeof before?.atMs === 'number' ? before.atMs : null)}</td>
          <td>{formatTime(typeof after?.atMs === 'number' ? after.atMs : null)}</td>
        </tr>
        <tr>
          <th scope="row">received</th>
          <td>{formatTime(typeof before?.receivedAtMs === 'number' ? before.receivedAtMs : null)}</td>
          <td>{formatTime(typeof after?.receivedAtMs === 'number' ? after.receivedAtMs : null)}</td>
        </tr>
        {all.map((r) => (
          <tr class={r.changed ? 'changed' : undefined}>
            <th scope="row" class="mono">
              {r.field} <span class="muted">({r.key})</span>
            </th>
            <td class="mono">{formatValue(r.b)}</td>
            <td class="mono">{formatValue(r.a)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
};

const StateForms: FC<{ id: string; state: string }> = ({ id, state }) =>
  state === 'resolved' ? (
    <p class="muted">Resolved: nothing left to do.</p>
  ) : (
    <div class="state-forms">
      {state === 'open' && (
        <form method="post" action={`/ui/findings/${encodeURIComponent(id)}/ack`}>
          <label for="ack-note">Note (optional)</label>
          <textarea id="ack-note" name="note" rows={2} maxlength={2000} />
          <button class="action" type="submit">
            Acknowledge
          </button>
        </form>
      )}
      <form method="post" action={`/ui/findings/${encodeURIComponent(id)}/resolve`}>
        <label for="resolve-note">Note (optional)</label>
        <textarea id="resolve-note" name="note" rows={2} maxlength={2000} />
        <button class="action" type="submit">
          Resolve
        </button>
      </form>
    </div>
  );

/** `/ui/findings/{id}`: the finding, its state (acknowledge, resolve), its evidence, the action involved, the explanation trail. */
export const FindingDetailPage: FC<{ f: FindingDetail; trail: TrailEntry[]; notice: Notice }> = ({ f, trail, notice }) => {
  const evidence = asRecord(f.evidence);
  const before = evidence.before ? asRecord(evidence.before) : null;
  const after = evidence.after ? asRecord(evidence.after) : null;
  const action = evidence.action ? asRecord(evidence.action) : null;
  return (
    <Layout title={`Finding ${f.id}`} section="findings">
      <h1>
        Finding <span class="mono">{f.id}</span> <StateBadge state={f.state} />
      </h1>
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      <div class="cards">
        <section class="card" aria-labelledby="what-h">
          <h2 id="what-h">What happened</h2>
          <dl class="facts">
            <dt>Kind</dt>
            <dd>{f.kind}</dd>
            <dt>Change</dt>
            <dd class="mono">{f.field ? `${f.field}: ${formatValue(f.from)} → ${formatValue(f.to)}` : '—'}</dd>
            <dt>Device</dt>
            <dd>
              <IdLink kind="device" id={f.deviceId} /> <span class="muted">{f.deviceType}</span>
            </dd>
            <dt>User</dt>
            <dd>
              <IdLink kind="user" id={f.userId} />
            </dd>
            <dt>Observed</dt>
            <dd>{formatIso(f.observedAt)}</dd>
            <dt>Detected</dt>
            <dd>{formatIso(f.detectedAt)}</dd>
            <dt>Action</dt>
            <dd>
              <IdLink kind="action" id={f.actionId} />
            </dd>
          </dl>
        </section>
        <section class="card" aria-labelledby="state-h">
          <h2 id="state-h">State</h2>
          <dl class="facts">
            <dt>State</dt>
            <dd>
              <StateBadge state={f.state} />
            </dd>
            <dt>Changed</dt>
            <dd>{formatIso(f.stateChangedAt)}</dd>
            <dt>Note</dt>
            <dd class="note">{f.note ?? '—'}</dd>
          </dl>
          <StateForms id={f.id} state={f.state} />
        </section>
      </div>

      <h2>Evidence</h2>
      {before || after ? <EvidenceTable before={before} after={after} /> : <p class="muted">No snapshots: a conflict is about the action alone.</p>}

      <h2>Action involved</h2>
      {action ? (
        <dl class="facts card">
          <dt>Action</dt>
          <dd>
            <IdLink kind="action" id={typeof action.id === 'string' ? action.id : null} />
          </dd>
          <dt>Kind</dt>
          <dd>{formatValue(action.kind)}</dd>
          <dt>Target</dt>
          <dd class="mono">{formatValue(action.target)}</dd>
          <dt>State</dt>
          <dd>
            {formatValue(action.state)}
            {action.failureReasonType ? ` (${formatValue(action.failureReasonType)})` : ''}
          </dd>
          <dt>Created</dt>
          <dd>{formatTime(typeof action.createdAtMs === 'number' ? action.createdAtMs : null)}</dd>
          <dt>Completed</dt>
          <dd>{formatTime(typeof action.completedAtMs === 'number' ? action.completedAtMs : null)}</dd>
          <dt>Origin</dt>
          <dd>{formatValue(action.origin)}</dd>
        </dl>
      ) : (
        <p class="muted">None: no own action was in force for this change.</p>
      )}

      <h2>Explanation trail</h2>
      <p class="muted">The device's transitions around the change and how the reconciler explained each.</p>
      {trail.length === 0 ? (
        <p class="muted">No transitions kept for this window (retention may have pruned them).</p>
      ) : (
        <table>
          <caption>Transitions, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">Device time</th>
              <th scope="col">Change</th>
              <th scope="col">Explanation</th>
            </tr>
          </thead>
          <tbody>
            {trail.map((t) => (
              <tr class={t.findingId === f.id ? 'finding' : undefined}>
                <td>{formatTime(t.atMs)}</td>
                <td class="mono">
                  {t.field}: {formatValue(t.from)} → {formatValue(t.to)}
                </td>
                <td>
                  {describeExplanation(t.explanation, t.status, null)}
                  {t.findingId && t.findingId !== f.id && (
                    <>
                      {' '}
                      · <IdLink kind="finding" id={t.findingId} />
                    </>
                  )}
                  {t.findingId === f.id && <span class="badge badge-bad"> this finding</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <details class="raw">
        <summary>Evidence as stored (JSON)</summary>
        <pre class="json">{pretty(f.evidence)}</pre>
      </details>
    </Layout>
  );
};

// ── delivery ──

/** `/ui/deliveries/{id}`: a webhook delivery with its headers, its payload pretty-printed, and a Replay button. */
export const DeliveryDetailPage: FC<{ d: ReturnType<typeof presentDelivery>; payload: string; notice: Notice }> = ({ d, payload, notice }) => (
  <Layout title={`Delivery ${d.id}`} section="deliveries">
    <h1>
      Delivery <span class="mono">{d.id}</span> <span class={`badge ${d.status === 'applied' ? 'badge-good' : d.status === 'pending' ? '' : 'badge-bad'}`}>{d.status}</span>
    </h1>
    {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
    <div class="cards">
      <section class="card" aria-labelledby="d-h">
        <h2 id="d-h">Delivery</h2>
        <dl class="facts">
          <dt>Received</dt>
          <dd>{formatIso(d.receivedAt)}</dd>
          <dt>Applied</dt>
          <dd>{formatIso(d.appliedAt)}</dd>
          <dt>Events</dt>
          <dd>{d.eventCount}</dd>
          <dt>Attempts</dt>
          <dd>{d.attempts}</dd>
          <dt>Error</dt>
          <dd>{d.error ?? '—'}</dd>
          <dt>Body SHA-256</dt>
          <dd class="mono">{d.bodySha256}</dd>
        </dl>
        <form method="post" action={`/ui/deliveries/${encodeURIComponent(d.id)}/replay`}>
          <input type="hidden" name="back" value="detail" />
          <button class="action" type="submit" aria-label={`Replay delivery ${d.id}`}>
            Replay
          </button>{' '}
          <span class="muted">Applies the stored body again; events already applied change nothing.</span>
        </form>
      </section>
      <section class="card" aria-labelledby="h-h">
        <h2 id="h-h">Headers</h2>
        <dl class="facts">
          {Object.entries(d.headers).map(([name, value]) => (
            <>
              <dt class="mono">{name}</dt>
              <dd class="mono">{value}</dd>
            </>
          ))}
        </dl>
      </section>
    </div>
    <h2>Payload{d.bodyEncoding === 'base64' ? ' (base64: not UTF-8)' : ''}</h2>
    <pre class="json">{payload}</pre>
  </Layout>
);

// ── action ──

export interface LifecycleStep {
  state: string;
  previousState: string | null;
  occurredAtMs: number;
  recordedAtMs: number;
}

export interface CommandView {
  id: string;
  command: string;
  body: string;
  requestedAtMs: number;
  outcome: string;
  override: boolean;
  notes: string;
  error: string | null;
}

/** `/ui/actions/{id}`: an own action, its lifecycle (one step per state reached), the command that sent it, the findings naming it. */
export const ActionDetailPage: FC<{
  a: ReturnType<typeof presentAction>;
  lifecycle: LifecycleStep[];
  commands: CommandView[];
  findings: Array<{ id: string; kind: string; field: string | null; observedAtMs: number; state: string }>;
}> = ({ a, lifecycle, commands, findings }) => (
  <Layout title={`Action ${a.id}`} section="actions">
    <h1>
      Action <span class="mono">{a.id}</span> <span class={`badge ${a.state === 'CONFIRMED' ? 'badge-good' : a.state === 'PENDING' ? 'badge-warn' : 'badge-bad'}`}>{a.state}</span>
    </h1>
    <div class="cards">
      <section class="card" aria-labelledby="a-h">
        <h2 id="a-h">Action</h2>
        <dl class="facts">
          <dt>Target</dt>
          <dd>
            <IdLink kind="device" id={a.targetId} /> <span class="muted">{a.targetType}</span>
          </dd>
          <dt>User</dt>
          <dd>
            <IdLink kind="user" id={a.userId} />
          </dd>
          <dt>Kind</dt>
          <dd>{a.kind ?? '—'}</dd>
          <dt>Target value</dt>
          <dd class="mono">{a.target === null ? '—' : formatValue(a.target)}</dd>
          <dt>Failure</dt>
          <dd>{a.failureReason ? `${a.failureReason.type}${a.failureReason.detail ? `: ${a.failureReason.detail}` : ''}` : '—'}</dd>
          <dt>Origin</dt>
          <dd>{a.origin}</dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="l-h">
        <h2 id="l-h">Lifecycle</h2>
        <ol class="lifecycle">
          <li>
            created <span class="muted">{formatIso(a.createdAt)}</span>
          </li>
          {lifecycle.map((s) => (
            <li>
              {s.previousState ? `${s.previousState} → ` : ''}
              <strong>{s.state}</strong> <span class="muted">{formatTime(s.occurredAtMs)}</span>
              {s.recordedAtMs - s.occurredAtMs > 1000 && <span class="muted"> (learned {formatTime(s.recordedAtMs)})</span>}
            </li>
          ))}
          {a.completedAt && (
            <li>
              completed <span class="muted">{formatIso(a.completedAt)}</span>
            </li>
          )}
        </ol>
        {lifecycle.length === 0 && <p class="muted">No state changes in the event log (retention may have pruned them). Last update {formatIso(a.updatedAt)}.</p>}
      </section>
    </div>
    <h2>Commands</h2>
    {commands.length === 0 ? (
      <p class="muted">{a.origin === 'gateway' ? 'No command record kept.' : 'None: this action was not sent through the gateway.'}</p>
    ) : (
      <table>
        <caption>Gateway commands for this action</caption>
        <thead>
          <tr>
            <th scope="col">Command</th>
            <th scope="col">Requested</th>
            <th scope="col">Body</th>
            <th scope="col">Outcome</th>
            <th scope="col">Guards</th>
          </tr>
        </thead>
        <tbody>
          {commands.map((c) => (
            <tr>
              <td>
                {c.command} <span class="mono muted">{c.id}</span>
              </td>
              <td>{formatTime(c.requestedAtMs)}</td>
              <td class="mono">{c.body}</td>
              <td>
                {c.outcome}
                {c.override && <span class="badge"> override</span>}
                {c.error && <div class="muted">{c.error}</div>}
              </td>
              <td class="mono">{c.notes === '[]' ? '—' : c.notes}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
    <h2>Findings naming it</h2>
    {findings.length === 0 ? (
      <p class="muted">None.</p>
    ) : (
      <ul>
        {findings.map((f) => (
          <li>
            <IdLink kind="finding" id={f.id} /> {f.kind} {f.field ? `(${f.field})` : ''} <span class="muted">{formatTime(f.observedAtMs)}</span> <StateBadge state={f.state} />
          </li>
        ))}
      </ul>
    )}
  </Layout>
);

// ── alert ──

export interface AlertDeliveryView {
  sink: string;
  status: string;
  attempts: number;
  nextAttemptAtMs: number;
  lastStatus: number | null;
  lastError: string | null;
  updatedAtMs: number;
  deliveredAtMs: number | null;
}

/** `/ui/alerts/{id}`: an alert, its payload, and each sink's attempts; dead ones can be retried. A held alert says how to configure a sink. */
export const AlertDetailPage: FC<{
  alert: { id: string; type: string; deviceId: string | null; userId: string | null; createdAtMs: number; fannedOutAtMs: number | null; data: unknown };
  deliveries: AlertDeliveryView[];
  sinksConfigured: boolean;
  notice: Notice;
}> = ({ alert, deliveries, sinksConfigured, notice }) => (
  <Layout title={`Alert ${alert.id}`} section="alerts">
    <h1>
      Alert <span class="mono">{alert.id}</span> <span class="badge">{alert.type}</span>
    </h1>
    {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
    {alert.fannedOutAtMs === null && <HeldHint sinksConfigured={sinksConfigured} />}
    <dl class="facts card">
      <dt>Type</dt>
      <dd>{alert.type}</dd>
      <dt>Device</dt>
      <dd>
        <IdLink kind="device" id={alert.deviceId} />
      </dd>
      <dt>User</dt>
      <dd>
        <IdLink kind="user" id={alert.userId} />
      </dd>
      <dt>Raised</dt>
      <dd>{formatTime(alert.createdAtMs)}</dd>
      <dt>Routed to sinks</dt>
      <dd>{alert.fannedOutAtMs === null ? 'not yet (held)' : formatTime(alert.fannedOutAtMs)}</dd>
    </dl>
    <h2>Attempts per sink</h2>
    {deliveries.length === 0 ? (
      <p class="muted">No sink has taken it.</p>
    ) : (
      <table>
        <caption>One row per sink</caption>
        <thead>
          <tr>
            <th scope="col">Sink</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">
              Attempts
            </th>
            <th scope="col">Last answer</th>
            <th scope="col">Next attempt</th>
            <th scope="col">Delivered</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.map((d) => (
            <tr class={d.status === 'dead' ? 'finding' : undefined}>
              <td>{d.sink}</td>
              <td>{d.status}</td>
              <td class="num">{d.attempts}</td>
              <td>
                {d.lastStatus !== null && <code>{d.lastStatus}</code>} {d.lastError ?? (d.lastStatus === null ? '—' : '')}
              </td>
              <td>{d.status === 'pending' ? formatTime(d.nextAttemptAtMs) : '—'}</td>
              <td>{formatTime(d.deliveredAtMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
    {deliveries.some((d) => d.status === 'dead') && (
      <form method="post" action={`/ui/alerts/${encodeURIComponent(alert.id)}/retry`}>
        <input type="hidden" name="back" value="detail" />
        <button class="action" type="submit">
          Retry dead deliveries
        </button>
      </form>
    )}
    <h2>Payload data</h2>
    <pre class="json">{pretty(alert.data)}</pre>
  </Layout>
);

/** Why alerts are held, and what to set so they are sent. */
export const HeldHint: FC<{ sinksConfigured: boolean }> = ({ sinksConfigured }) => (
  <p class="notice notice-warn hint">
    {sinksConfigured
      ? 'Held: not routed to a sink yet; the dispatcher picks it up on its next run.'
      : 'Held: no alert sink is configured, so alerts are kept but not sent. Set ALERT_WEBHOOK_URLS (with ALERT_WEBHOOK_SECRET) or ALERT_SLACK_WEBHOOK_URL and restart; held alerts are then sent.'}
  </p>
);

// ── search ──

const SEARCH_LINKS: Record<IdKind, { label: string; href: (id: string) => string }> = {
  device: { label: 'Device', href: (id) => `/ui/devices/${encodeURIComponent(id)}` },
  user: { label: 'User (their events)', href: (id) => `/ui/events?userId=${encodeURIComponent(id)}` },
  action: { label: 'Action', href: (id) => `/ui/actions/${encodeURIComponent(id)}` },
  delivery: { label: 'Delivery', href: (id) => `/ui/deliveries/${encodeURIComponent(id)}` },
  finding: { label: 'Finding', href: (id) => `/ui/findings/${encodeURIComponent(id)}` },
  alert: { label: 'Alert', href: (id) => `/ui/alerts/${encodeURIComponent(id)}` },
};

/** Where a found id leads. */
export const searchHref = (kind: IdKind, id: string) => SEARCH_LINKS[kind].href(id);

/** `/ui/search?q=`: what an id names, when it names several kinds of record or none. */
export const SearchPage: FC<{ q: string; matches: IdKind[] }> = ({ q, matches }) => (
  <Layout title="Find" section="none">
    <h1>
      Find <span class="mono">{q}</span>
    </h1>
    {matches.length === 0 ? (
      <p>
        Nothing has this id: no device, user, action, delivery, finding or alert. Ids match exactly; try the{' '}
        <a href={`/ui/events?deviceId=${encodeURIComponent(q)}`}>events of a device</a> with this id.
      </p>
    ) : (
      <ul>
        {matches.map((k) => (
          <li>
            <a href={searchHref(k, q)}>{SEARCH_LINKS[k].label}</a> <span class="mono">{q}</span>
          </li>
        ))}
      </ul>
    )}
  </Layout>
);
