import { describe, expect, it } from 'vitest';
import { makeApp } from '../support/fixtures.js';

const TOKEN = '3f9c1a7be2d84c06a5e1f2b9d7c34e8a';

describe('GET /metrics and METRICS_TOKEN', () => {
  it('stays open without METRICS_TOKEN (the contract default)', async () => {
    const t = await makeApp();
    const res = await t.app.request('/metrics');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('enode_sync_');
  });

  it('needs Authorization: Bearer <METRICS_TOKEN> when it is set; the admin token does not open it', async () => {
    const t = await makeApp({ METRICS_TOKEN: TOKEN });
    const none = await t.app.request('/metrics');
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { message: string } }).error.message).toContain('METRICS_TOKEN');
    expect((await t.app.request('/metrics', { headers: { authorization: 'Bearer wrong-token-000000000' } })).status).toBe(401);
    expect((await t.app.request('/metrics', { headers: { authorization: `Bearer ${t.config.adminToken}` } })).status).toBe(401);
    const ok = await t.app.request('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('enode_sync_');
    // The other probes stay open for the orchestrator.
    expect((await t.app.request('/healthz')).status).toBe(200);
  });

  it('throttles a client that keeps guessing (429) like the admin API', async () => {
    const t = await makeApp({ METRICS_TOKEN: TOKEN, AUTH_FAILURES_PER_MINUTE: '2' });
    const guess = () => t.app.request('/metrics', { headers: { authorization: 'Bearer wrong-token-000000000' } });
    expect((await guess()).status).toBe(401);
    expect((await guess()).status).toBe(401);
    expect((await guess()).status).toBe(429);
  });
});
