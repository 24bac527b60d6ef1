import type { FC } from 'hono/jsx';
import type { presentDelivery as presentAlertDelivery } from '../../alerts/present.js';
import type { presentAction, presentDeliverySummary } from '../../api/present.js';
import type { FindingView } from '../../domain/findings.js';
import { formatIso, formatValue } from '../format.js';
import { Filters, Layout, Notice, Pager } from '../layout.js';

export interface ListPage<Row> {
  rows: Row[];
  next: string | null;
  filter: string | undefined;
  notice?: { kind: 'ok' | 'error'; text: string } | undefined;
}

const DeviceLink: FC<{ id: string | null }> = ({ id }) =>
  id ? (
    <a class="mono" href={`/ui/devices/${encodeURIComponent(id)}`}>
      {id}
    </a>
  ) : (
    <span class="muted">—</span>
  );

export const FINDING_KINDS = ['ACTION_OVERRIDDEN', 'UNEXPECTED_CHANGE', 'ACTION_CONFLICT'] as const;

/** `/ui/findings`: interference findings, newest first. */
export const FindingsPage: FC<{ page: ListPage<FindingView> }> = ({ page: p }) => (
  <Layout title="Findings" section="findings">
    <h1>Interference findings</h1>
    <Filters label="Kind" base="/ui/findings" param="kind" values={[...FINDING_KINDS]} current={p.filter} />
    {p.rows.length === 0 ? (
      <p class="muted">No findings.</p>
    ) : (
      <table>
        <caption>Findings, newest first (by device time of the change)</caption>
        <thead>
          <tr>
            <th scope="col">Observed</th>
            <th scope="col">Device</th>
            <th scope="col">Kind</th>
            <th scope="col">Change</th>
            <th scope="col">Action</th>
            <th scope="col">Detected</th>
          </tr>
        </thead>
        <tbody>
          {p.rows.map((f) => (
            <tr class="finding">
              <td>{formatIso(f.observedAt)}</td>
              <td>
                <DeviceLink id={f.deviceId} /> <span class="muted">{f.deviceType}</span>
              </td>
              <td>{f.kind}</td>
              <td class="mono">{f.field ? `${f.field}: ${formatValue(f.from)} → ${formatValue(f.to)}` : '—'}</td>
              <td class="mono">{f.actionId ?? '—'}</td>
              <td>{formatIso(f.detectedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
    <Pager href={p.next} />
  </Layout>
);

export const ACTION_STATES = ['PENDING', 'CONFIRMED', 'FAILED', 'CANCELLED'] as const;

/** `/ui/actions`: own vendor actions, most recently updated first. */
export const ActionsPage: FC<{ page: ListPage<ReturnType<typeof presentAction>> }> = ({ page: p }) => (
  <Layout title="Actions" section="actions">
    <h1>Own actions</h1>
    <Filters label="State" base="/ui/actions" param="state" values={[...ACTION_STATES]} current={p.filter} />
    {p.rows.length === 0 ? (
      <p class="muted">No actions.</p>
    ) : (
      <table>
        <caption>Vendor actions, most recently updated first</caption>
        <thead>
          <tr>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Kind</th>
            <th scope="col">State</th>
            <th scope="col">Failure</th>
            <th scope="col">Origin</th>
            <th scope="col">Created</th>
            <th scope="col">Updated</th>
          </tr>
        </thead>
        <tbody>
          {p.rows.map((a) => (
            <tr>
              <td class="mono">{a.id}</td>
              <td>
                <DeviceLink id={a.targetId} /> <span class="muted">{a.targetType}</span>
              </td>
              <td>{a.kind ?? '—'}</td>
              <td>{a.state}</td>
              <td>{a.failureReason ? `${a.failureReason.type}${a.failureReason.detail ? `: ${a.failureReason.detail}` : ''}` : '—'}</td>
              <td>{a.origin}</td>
              <td>{formatIso(a.createdAt)}</td>
              <td>{formatIso(a.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
    <Pager href={p.next} />
  </Layout>
);

export const DELIVERY_STATUSES = ['failed', 'quarantined', 'pending', 'applied'] as const;
const REPLAYABLE = new Set(['failed', 'quarantined']);

/** `/ui/deliveries`: raw webhook deliveries; failed (and quarantined) ones can be replayed. */
export const DeliveriesPage: FC<{ page: ListPage<ReturnType<typeof presentDeliverySummary>> }> = ({ page: p }) => (
  <Layout title="Deliveries" section="deliveries">
    <h1>Webhook deliveries</h1>
    {p.notice && <Notice kind={p.notice.kind}>{p.notice.text}</Notice>}
    <Filters label="Status" base="/ui/deliveries" param="status" values={[...DELIVERY_STATUSES]} current={p.filter} />
    {p.rows.length === 0 ? (
      <p class="muted">No deliveries.</p>
    ) : (
      <table>
        <caption>Deliveries, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Delivery</th>
            <th scope="col">Received</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">
              Events
            </th>
            <th scope="col" class="num">
              Attempts
            </th>
            <th scope="col">Error</th>
            <th scope="col">
              <span class="visually-hidden">Replay</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {p.rows.map((d) => (
            <tr class={d.status === 'failed' ? 'finding' : undefined}>
              <td class="mono">{d.id}</td>
              <td>{formatIso(d.receivedAt)}</td>
              <td>{d.status}</td>
              <td class="num">{d.eventCount}</td>
              <td class="num">{d.attempts}</td>
              <td>{d.error ?? '—'}</td>
              <td>
                {REPLAYABLE.has(d.status) && (
                  <form class="inline" method="post" action={`/ui/deliveries/${encodeURIComponent(d.id)}/replay`}>
                    <input type="hidden" name="back" value={p.filter ?? ''} />
                    <button class="action" type="submit" aria-label={`Replay delivery ${d.id}`}>
                      Replay
                    </button>
                  </form>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
    <Pager href={p.next} />
  </Layout>
);

export const ALERT_STATUSES = ['dead', 'pending', 'delivered'] as const;

/** `/ui/alerts`: alert deliveries per sink; dead ones can be retried. */
export const AlertsPage: FC<{ page: ListPage<ReturnType<typeof presentAlertDelivery>> }> = ({ page: p }) => (
  <Layout title="Alerts" section="alerts">
    <h1>Alerts</h1>
    {p.notice && <Notice kind={p.notice.kind}>{p.notice.text}</Notice>}
    <Filters label="Status" base="/ui/alerts" param="status" values={[...ALERT_STATUSES]} current={p.filter} />
    {p.rows.length === 0 ? (
      <p class="muted">No alert deliveries.</p>
    ) : (
      <table>
        <caption>Alert deliveries (one per alert and sink), most recently updated first</caption>
        <thead>
          <tr>
            <th scope="col">Alert</th>
            <th scope="col">Type</th>
            <th scope="col">Device</th>
            <th scope="col">Sink</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">
              Attempts
            </th>
            <th scope="col">Last error</th>
            <th scope="col">Updated</th>
            <th scope="col">
              <span class="visually-hidden">Retry</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {p.rows.map((a) => (
            <tr class={a.status === 'dead' ? 'finding' : undefined}>
              <td class="mono">{a.alertId}</td>
              <td>{a.alert.type}</td>
              <td>
                <DeviceLink id={a.alert.deviceId} />
              </td>
              <td>{a.sink}</td>
              <td>{a.status}</td>
              <td class="num">{a.attempts}</td>
              <td>
                {a.lastStatus !== null && <code>{a.lastStatus}</code>} {a.lastError ?? (a.lastStatus === null ? '—' : '')}
              </td>
              <td>{formatIso(a.updatedAt)}</td>
              <td>
                {a.status === 'dead' && (
                  <form class="inline" method="post" action={`/ui/alerts/${encodeURIComponent(a.alertId)}/retry`}>
                    <input type="hidden" name="back" value={p.filter ?? ''} />
                    <button class="action" type="submit" aria-label={`Retry alert ${a.alertId}`}>
                      Retry
                    </button>
                  </form>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
    <Pager href={p.next} />
  </Layout>
);
