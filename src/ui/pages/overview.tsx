import type { FC } from 'hono/jsx';
import type { presentDevice } from '../../api/present.js';
import { formatAge, formatControlled, formatIso, formatTime } from '../format.js';
import type { WebhookHealth } from '../health.js';
import type { DayBucket, MinuteBucket } from '../../store/console-read.js';
import { LimitBars, TimeBars } from '../charts.js';
import { IdLink, Layout, Pager, RefreshToggle } from '../layout.js';
import { DEVICE_TYPES } from '../../domain/devices.js';
import { HeldHint } from './details.js';

type DeviceView = ReturnType<typeof presentDevice>;

export interface OverviewData {
  nowMs: number;
  lastWebhookMs: number | null;
  lastHeartbeat: { receivedAt: number; pendingEvents: number | null } | undefined;
  health: WebhookHealth;
  /** Open findings per kind (acknowledged and resolved ones are not counted). */
  findingsByKind: Array<{ kind: string; count: number }>;
  alerts: { dead: number; pending: number };
  groups: Array<{ type: string; devices: DeviceView[]; next: string | null }>;
  /** Set when the page shows one type only (paging through it). */
  onlyType: string | undefined;
  /** The device list's filters as given (`deviceId`, `userId`, `type`). */
  filter: { deviceId: string | undefined; userId: string | undefined; type: string | undefined };
  held: { count: number; sinksConfigured: boolean };
  charts: { perMinute: MinuteBucket[]; perDay: DayBucket[]; budget: Array<{ deviceId: string; count: number }>; dailyLimit: number };
  refreshSeconds: number | undefined;
  refreshLinks: { on: string; off: string };
  /** The event stream the live refresh follows (absent when paused). */
  liveStream?: string | undefined;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Minutes of webhook traffic and apply lag drawn; days of findings. */
export const CHART_MINUTES = 60;
export const CHART_DAYS = 14;

const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);
const mmdd = (ms: number) => new Date(ms).toISOString().slice(5, 10);

/** Webhooks per minute, apply lag, findings per day, commands against the daily budget. */
const Charts: FC<{ d: OverviewData }> = ({ d }) => {
  const c = d.charts;
  const lagBars = c.perMinute.filter((b) => b.maxApplyLagMs !== null).map((b) => ({ atMs: b.atMs, value: b.maxApplyLagMs as number, label: `${hhmm(b.atMs)} UTC: slowest apply ${b.maxApplyLagMs} ms` }));
  return (
    <div class="cards charts">
      <section class="card" aria-labelledby="c-webhooks">
        <h2 id="c-webhooks">Webhooks per minute</h2>
        <TimeBars
          title={`Webhook deliveries per minute, last ${CHART_MINUTES} minutes`}
          bars={c.perMinute.map((b) => ({ atMs: b.atMs, value: b.count, label: `${hhmm(b.atMs)} UTC: ${b.count} deliveries` }))}
          endMs={d.nowMs}
          bucketMs={MINUTE_MS}
          buckets={CHART_MINUTES}
          unit="deliveries"
          firstLabel={`${hhmm(d.nowMs - (CHART_MINUTES - 1) * MINUTE_MS)} UTC`}
          lastLabel="now"
        />
      </section>
      <section class="card" aria-labelledby="c-lag">
        <h2 id="c-lag">Apply lag (ms, slowest per minute)</h2>
        <TimeBars
          title={`Slowest time from receipt to applied, per minute, last ${CHART_MINUTES} minutes`}
          bars={lagBars}
          endMs={d.nowMs}
          bucketMs={MINUTE_MS}
          buckets={CHART_MINUTES}
          unit="ms"
          firstLabel={`${hhmm(d.nowMs - (CHART_MINUTES - 1) * MINUTE_MS)} UTC`}
          lastLabel="now"
          color="#E69F00"
        />
      </section>
      <section class="card" aria-labelledby="c-findings">
        <h2 id="c-findings">Findings per day</h2>
        <TimeBars
          title={`Findings detected per day, last ${CHART_DAYS} days`}
          bars={c.perDay.map((b) => ({ atMs: b.atMs, value: b.count, label: `${mmdd(b.atMs)}: ${b.count} findings` }))}
          endMs={d.nowMs}
          bucketMs={DAY_MS}
          buckets={CHART_DAYS}
          unit="findings"
          firstLabel={mmdd(d.nowMs - (CHART_DAYS - 1) * DAY_MS)}
          lastLabel="today"
          color="#D55E00"
        />
      </section>
      <section class="card" aria-labelledby="c-budget">
        <h2 id="c-budget">Commands vs daily budget</h2>
        {c.budget.length === 0 ? (
          <p class="muted">No commands in the last 24 h.</p>
        ) : (
          <LimitBars title="Commands per device in the last 24 hours (the gateway's and other callers' of the Enode client: schedules, smart charging) against DAILY_COMMAND_LIMIT" rows={c.budget.map((b) => ({ label: b.deviceId, href: `/ui/devices/${encodeURIComponent(b.deviceId)}`, value: b.count }))} limit={c.dailyLimit} />
        )}
      </section>
    </div>
  );
};

const filtered = (f: OverviewData['filter']) => Boolean(f.deviceId || f.userId || f.type);

/** The device list's filters (GET, so the URL holds them): a device id, a user, a device type. */
const DeviceFilters: FC<{ filter: OverviewData['filter'] }> = ({ filter: f }) => (
  <form class="list-filters" method="get" action="/ui">
    <label>
      Device
      <input type="text" name="deviceId" value={f.deviceId ?? ''} maxlength={200} />
    </label>
    <label>
      User
      <input type="text" name="userId" value={f.userId ?? ''} maxlength={200} />
    </label>
    <label>
      Device type
      <select name="type">
        <option value="">any</option>
        {DEVICE_TYPES.map((t) => (
          <option value={t} selected={f.type === t}>
            {t}
          </option>
        ))}
      </select>
    </label>
    <button class="action" type="submit">
      Filter
    </button>
    {filtered(f) && <a href="/ui">All devices</a>}
  </form>
);

const Reachable: FC<{ value: boolean | null }> = ({ value }) =>
  value === null ? <span class="badge">unknown</span> : value ? <span class="badge badge-good">yes</span> : <span class="badge badge-bad">no</span>;

/** `/ui`: webhook health, counts of findings and dead alerts, devices by type with their controlled state. */
export const OverviewPage: FC<{ data: OverviewData }> = ({ data: d }) => (
  <Layout title="Fleet" section="overview" refreshSeconds={d.refreshSeconds} liveStream={d.liveStream}>
    <h1>Fleet overview</h1>
    <RefreshToggle on={d.refreshSeconds !== undefined} seconds={d.refreshSeconds ?? 30} onHref={d.refreshLinks.on} offHref={d.refreshLinks.off} stream={d.liveStream} />
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
        <h2 id="findings-h">
          <a href="/ui/findings?state=open">Open findings</a>
        </h2>
        <dl class="facts">
          {d.findingsByKind.map((f) => (
            <>
              <dt>
                <a href={`/ui/findings?kind=${f.kind}&state=open`}>{f.kind}</a>
              </dt>
              <dd>{f.count > 0 ? <span class="badge badge-bad">{f.count}</span> : f.count}</dd>
            </>
          ))}
        </dl>
        <p class="muted">
          Acknowledged and resolved ones: <a href="/ui/findings?state=all">all findings</a>
        </p>
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
          <dt>
            <a href="/ui/alerts?status=held">Held (no sink)</a>
          </dt>
          <dd>{d.held.count > 0 ? <span class="badge badge-warn">{d.held.count}</span> : d.held.count}</dd>
        </dl>
        {d.held.count > 0 && <HeldHint sinksConfigured={d.held.sinksConfigured} />}
      </section>
    </div>
    <Charts d={d} />

    <h2>Devices{d.onlyType ? ` · ${d.onlyType}` : ''}</h2>
    <DeviceFilters filter={d.filter} />
    {d.groups.every((g) => g.devices.length === 0) && (
      <p class="muted">{filtered(d.filter) ? 'No device matches these filters.' : 'No devices yet: they appear with the first webhook or resync.'}</p>
    )}
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
                  <td>
                    <IdLink kind="user" id={dev.userId} />
                  </td>
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
