import { describe, expect, it } from 'vitest';
import { alertId } from '../../src/alerts/types.js';
import { configuredSinkNames } from '../../src/alerts/sinks/index.js';
import { SINK_GONE } from '../../src/alerts/types.js';
import { api, makeApp, NOW } from '../support/fixtures.js';

const SECRET_KEY = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;

describe('alert sinks that are no longer configured', () => {
  it('their pending deliveries become dead with the reason, and a retry does not revive them', async () => {
    // Yesterday's configuration had a webhook sink; today's has none.
    const old = await makeApp({ ALERT_WEBHOOK_URLS: 'https://old.example/hook?token=abc', ALERT_WEBHOOK_SECRET: SECRET_KEY });
    const t = await makeApp();
    for (const app of [old, t]) {
      await app.deps.store.alerts.raise({
        type: 'delivery.failed',
        dedupeKey: 'delivery.failed:d1',
        deviceId: null,
        userId: null,
        data: { delivery: { id: 'd1' } },
        createdAtMs: NOW.getTime(),
      });
    }
    // Fan out under the old configuration, into the database the new one uses.
    const { createSinks } = await import('../../src/alerts/sinks/index.js');
    const oldSinks = createSinks(old.config.alerts, old.clock).map((s) => ({ name: s.name, types: s.types }));
    expect(oldSinks).toHaveLength(1);
    await t.deps.store.alerts.claim({ nowMs: NOW.getTime(), sinks: oldSinks, sink: 'none', limit: 10, leaseMs: 1000 });
    expect(await t.column(`SELECT status FROM alert_deliveries`)).toEqual(['pending']);

    expect(await t.deps.store.alerts.retireSinks({ nowMs: NOW.getTime(), configured: configuredSinkNames(t.config.alerts) })).toBe(1);
    const row = await t.row(`SELECT status, last_error AS "lastError" FROM alert_deliveries`);
    expect(row).toEqual({ status: 'dead', lastError: SINK_GONE });
    const dead = await api(t, '/alerts?status=dead');
    expect(((await dead.json()) as { data: unknown[] }).data).toHaveLength(1);

    const retry = await api(t, `/alerts/${alertId('delivery.failed:d1')}/retry`, { method: 'POST' });
    expect(retry.status).toBe(409);
    expect(await t.column(`SELECT status FROM alert_deliveries`)).toEqual(['dead']);
  });
});
