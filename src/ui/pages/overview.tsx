import type { FC } from 'hono/jsx';
import type { presentDevice } from '../../api/present.js';
import { formatAge, formatControlled, formatIso, formatTime } from '../format.js';
import type { WebhookHealth } from '../health.js';
import { Layout, Pager } from '../layout.js';

type DeviceView = ReturnType<typeof presentDevice>;

export interface OverviewData {
  nowMs: number;
  lastWebhookMs: number | null;
  lastHeartbeat: { receivedAt: number; pendingEvents: number | null } | undefined;
  health: WebhookHealth;
  findingsByKind: Array<{ kind: string; count: number }>;
  alerts: { dead: number; pending: number };
  groups: Array<{ type: string; devices: DeviceView[]; next: string | null }>;
  /** Set when the page shows one type only (paging through it). */
  onlyType: string | undefined;
}

const Reachable: FC<{ value: boolean | null }> = ({ value }) =>
  value === null ? <span class="badge">unknown</span> : value ? <span class="badge badge-good">yes</span> : <span class="badge badge-bad">no</span>;

/** `/ui`: webhook health, counts of findings and dead alerts, devices by type with their controlled state. */
export const OverviewPage: FC<{ data: OverviewData }> = ({ data: d }) => (
  <Layout title="Fleet" section="overview">
    <h1>Fleet overview</h1>
    <div class="cards">
      <section class="card" aria-labelledby="health-h">
        <h2 id="health-h">Enode webhook</h2>
        <p>
          <span class={`verdict verdict-${d.health.verdict}`}>{d.health.verdict}</span> <span>{d.health.reason}</span>
        </p>
        <dl class="facts">
          <dt>Last webhook</dt>
          <dd>
            {formatTime(d.lastWebhookMs)} <span class="muted">({formatAge(d.lastWebhookMs, d.nowMs)})</span>
          </dd>
          <dt>Last heartbeat</dt>
          <dd>
            {formatTime(d.lastHeartbeat?.receivedAt)} <span class="muted">({formatAge(d.lastHeartbeat?.receivedAt, d.nowMs)})</span>
          </dd>
          <dt>Queued at Enode</dt>
          <dd>{d.lastHeartbeat?.pendingEvents ?? '—'}</dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="findings-h">
        <h2 id="findings-h">Interference findings</h2>
        <dl class="facts">
          {d.findingsByKind.map((f) => (
            <>
              <dt>
                <a href={`/ui/findings?kind=${f.kind}`}>{f.kind}</a>
              </dt>
              <dd>{f.count > 0 ? <span class="badge badge-bad">{f.count}</span> : f.count}</dd>
            </>
          ))}
        </dl>
      </section>
      <section class="card" aria-labelledby="alerts-h">
        <h2 id="alerts-h">Alerts</h2>
        <dl class="facts">
          <dt>
            <a href="/ui/alerts?status=dead">Dead deliveries</a>
          </dt>
          <dd>{d.alerts.dead > 0 ? <span class="badge badge-bad">{d.alerts.dead}</span> : d.alerts.dead}</dd>
          <dt>
            <a href="/ui/alerts?status=pending">Pending deliveries</a>
          </dt>
          <dd>{d.alerts.pending}</dd>
        </dl>
      </section>
    </div>

    <h2>Devices{d.onlyType ? ` · ${d.onlyType}` : ''}</h2>
    {d.onlyType && (
      <p>
        <a href="/ui">All device types</a>
      </p>
    )}
    {d.groups.every((g) => g.devices.length === 0) && <p class="muted">No devices yet: they appear with the first webhook or resync.</p>}
    {d.groups
      .filter((g) => g.devices.length > 0)
      .map((g) => (
        <section aria-label={`${g.type} devices`}>
          <table>
            <caption>
              {g.type} ({g.devices.length}
              {g.next ? '+' : ''})
            </caption>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">User</th>
                <th scope="col">Vendor</th>
                <th scope="col">Controlled state</th>
                <th scope="col">Reachable</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {g.devices.map((dev) => (
                <tr>
                  <td>
                    <a class="mono" href={`/ui/devices/${encodeURIComponent(dev.id)}`}>
                      {dev.id}
                    </a>
                    {dev.deletedAt && <span class="badge"> deleted</span>}
                  </td>
                  <td class="mono">{dev.userId}</td>
                  <td>{dev.vendor ?? '—'}</td>
                  <td class="mono">{formatControlled(dev.controlled)}</td>
                  <td>
                    <Reachable value={dev.isReachable} />
                  </td>
                  <td>
                    {formatIso(dev.lastSeen)} <span class="muted">({formatAge(dev.lastSeen ? Date.parse(dev.lastSeen) : null, d.nowMs)})</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager href={g.next} />
        </section>
      ))}
  </Layout>
);
