import type { FC } from 'hono/jsx';
import type { presentDelivery as presentAlertDelivery } from '../../alerts/present.js';
import type { presentAction, presentDeliverySummary } from '../../api/present.js';
import type { FindingView } from '../../domain/findings.js';
import { DEVICE_TYPES } from '../../domain/devices.js';
import { ALERT_TYPES } from '../../alerts/types.js';
import { formatIso, formatTime, formatValue } from '../format.js';
import { FilterForm, Filters, IdLink, Layout, Notice, Pager, query, RefreshToggle, type FilterValues } from '../layout.js';
import { HeldHint } from './details.js';

export interface ListPage<Row> {
  rows: Row[];
  next: string | null;
  filter: string | undefined;
  notice?: { kind: 'ok' | 'error'; text: string } | undefined;
  /** The device, user, type and time filters as given (for the form). */
  values?: FilterValues;
  /** Seconds between refreshes; undefined when paused. */
  refreshSeconds?: number | undefined;
  /** This page's URL without and with `refresh=off`. */
  refreshLinks?: { on: string; off: string };
  /** The event stream the live refresh follows (absent when paused). */
  liveStream?: string | undefined;
}

const DeviceLink: FC<{ id: string | null }> = ({ id }) => <IdLink kind="device" id={id} />;

/** The auto-refresh line of a list. */
const ListRefresh: FC<{ p: ListPage<unknown> }> = ({ p }) =>
  p.refreshLinks ? <RefreshToggle on={p.refreshSeconds !== undefined} seconds={p.refreshSeconds ?? 30} onHref={p.refreshLinks.on} offHref={p.refreshLinks.off} stream={p.liveStream} /> : null;

export const FINDING_KINDS = ['ACTION_OVERRIDDEN', 'UNEXPECTED_CHANGE', 'ACTION_CONFLICT'] as const;

export const FINDING_STATE_CHOICES = ['open', 'acknowledged', 'resolved', 'all'] as const;

/** `/ui/findings`: interference findings, newest first; open ones unless `state` says otherwise. */
export const FindingsPage: FC<{ page: ListPage<FindingView & { state: string; note: string | null }> & { state: string } }> = ({ page: p }) => (
  <Layout title="Findings" section="findings" refreshSeconds={p.refreshSeconds} liveStream={p.liveStream}>
    <h1>Interference findings</h1>
    <nav class="filters" aria-label="State">
      <span class="muted">State:</span>
      {FINDING_STATE_CHOICES.map((s) => (
        <a href={`/ui/findings${query({ ...p.values, kind: p.values?.type, type: undefined, state: s })}`} aria-current={p.state === s ? 'true' : undefined}>
          {s}
        </a>
      ))}
    </nav>
    <FilterForm action="/ui/findings" values={p.values ?? {}} typeLabel="Kind" typeName="kind" typeChoices={FINDING_KINDS} keep={{ state: p.state }} />
    <ListRefresh p={p} />
    {p.rows.length === 0 ? (
      <p class="muted">No findings.</p>
    ) : (
      <table>
        <caption>Findings, newest first (by device time of the change)</caption>
        <thead>
          <tr>
            <th scope="col">Observed</th>
            <th scope="col">Finding</th>
            <th scope="col">Device</th>
            <th scope="col">Kind</th>
            <th scope="col">Change</th>
            <th scope="col">Action</th>
            <th scope="col">State</th>
            <th scope="col">Detected</th>
          </tr>
        </thead>
        <tbody>
          {p.rows.map((f) => (
            <tr class={f.state === 'open' ? 'finding' : undefined}>
              <td>{formatIso(f.observedAt)}</td>
              <td>
                <IdLink kind="finding" id={f.id} />
              </td>
              <td>
                <DeviceLink id={f.deviceId} /> <span class="muted">{f.deviceType}</span>
                <div>
                  <IdLink kind="user" id={f.userId} />
                </div>
              </td>
              <td>{f.kind}</td>
              <td class="mono">{f.field ? `${f.field}: ${formatValue(f.from)} → ${formatValue(f.to)}` : '—'}</td>
              <td>
                <IdLink kind="action" id={f.actionId} />
              </td>
              <td>
                {f.state}
                {f.note && <div class="muted note">{f.note}</div>}
              </td>
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
  <Layout title="Actions" section="actions" refreshSeconds={p.refreshSeconds} liveStream={p.liveStream}>
    <h1>Own actions</h1>
    <Filters label="State" base="/ui/actions" param="state" values={[...ACTION_STATES]} current={p.filter} />
    <FilterForm action="/ui/actions" values={p.values ?? {}} typeLabel="Device type" typeChoices={DEVICE_TYPES} keep={{ state: p.filter }} />
    <ListRefresh p={p} />
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
              <td>
                <IdLink kind="action" id={a.id} />
              </td>
              <td>
                <DeviceLink id={a.targetId} /> <span class="muted">{a.targetType}</span>
                <div>
                  <IdLink kind="user" id={a.userId} />
                </div>
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

/**
 * The deliveries list's `type`: an Enode event name a delivery carried, as recorded when it was
 * applied — device events and the system events (heartbeats, invalidated credentials). Vendor
 * actions are merged into their action and keep no link to the delivery: the actions list has them.
 */
export const DELIVERY_EVENT_TYPES = [
  ...DEVICE_TYPES.flatMap((t) => ['discovered', 'updated', 'deleted'].map((verb) => `user:${t}:${verb}`)),
  'user:credentials:invalidated',
  'system:heartbeat',
] as const;
const REPLAYABLE = new Set(['failed', 'quarantined']);

/** `/ui/deliveries`: raw webhook deliveries; failed (and quarantined) ones can be replayed. */
export const DeliveriesPage: FC<{ page: ListPage<ReturnType<typeof presentDeliverySummary>> }> = ({ page: p }) => (
  <Layout title="Deliveries" section="deliveries" refreshSeconds={p.refreshSeconds} liveStream={p.liveStream}>
    <h1>Webhook deliveries</h1>
    {p.notice && <Notice kind={p.notice.kind}>{p.notice.text}</Notice>}
    <Filters label="Status" base="/ui/deliveries" param="status" values={[...DELIVERY_STATUSES]} current={p.filter} />
    <FilterForm action="/ui/deliveries" values={p.values ?? {}} typeLabel="Event type" typeChoices={DELIVERY_EVENT_TYPES} keep={{ status: p.filter }} />
    <ListRefresh p={p} />
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
              <td>
                <IdLink kind="delivery" id={d.id} />
              </td>
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

export interface HeldAlertRow {
  id: string;
  type: string;
  deviceId: string | null;
  userId: string | null;
  createdAtMs: number;
}

/** Alerts no sink has taken: newest first, with why and what to configure. */
const HeldAlerts: FC<{ held: { rows: HeldAlertRow[]; total: number; next: string | null; sinksConfigured: boolean } }> = ({ held }) => (
  <section aria-labelledby="held-h">
    <h2 id="held-h">
      Held alerts <span class={`badge ${held.total > 0 ? 'badge-warn' : ''}`}>{held.total}</span>
    </h2>
    {held.total > 0 && <HeldHint sinksConfigured={held.sinksConfigured} />}
    {held.rows.length === 0 ? (
      <p class="muted">None: every alert has been handed to the configured sinks.</p>
    ) : (
      <table>
        <caption>Alerts not yet routed to a sink, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Alert</th>
            <th scope="col">Type</th>
            <th scope="col">Device</th>
            <th scope="col">User</th>
            <th scope="col">Raised</th>
          </tr>
        </thead>
        <tbody>
          {held.rows.map((a) => (
            <tr>
              <td>
                <IdLink kind="alert" id={a.id} />
              </td>
              <td>{a.type}</td>
              <td>
                <DeviceLink id={a.deviceId} />
              </td>
              <td>
                <IdLink kind="user" id={a.userId} />
              </td>
              <td>{formatTime(a.createdAtMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    )}
    <Pager href={held.next} />
  </section>
);

/** `/ui/alerts`: alerts held for want of a sink, then deliveries per sink; dead ones can be retried. `?status=held` shows only the held ones. */
export const AlertsPage: FC<{
  page: ListPage<ReturnType<typeof presentAlertDelivery>> & { held: { rows: HeldAlertRow[]; total: number; next: string | null; sinksConfigured: boolean }; onlyHeld: boolean };
}> = ({ page: p }) => (
  <Layout title="Alerts" section="alerts" refreshSeconds={p.refreshSeconds} liveStream={p.liveStream}>
    <h1>Alerts</h1>
    {p.notice && <Notice kind={p.notice.kind}>{p.notice.text}</Notice>}
    <Filters label="Status" base="/ui/alerts" param="status" values={[...ALERT_STATUSES, 'held']} current={p.onlyHeld ? 'held' : p.filter} />
    <ListRefresh p={p} />
    {(p.onlyHeld || p.held.total > 0) && <HeldAlerts held={p.held} />}
    {!p.onlyHeld && <AlertDeliveries p={p} />}
  </Layout>
);

const AlertDeliveries: FC<{ p: ListPage<ReturnType<typeof presentAlertDelivery>> }> = ({ p }) => (
  <>
    <h2>Deliveries to sinks</h2>
    <FilterForm action="/ui/alerts" values={p.values ?? {}} typeLabel="Alert type" typeChoices={ALERT_TYPES} keep={{ status: p.filter }} />
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
              <td>
                <IdLink kind="alert" id={a.alertId} />
              </td>
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
  </>
);
