/** Issue 14, item 10: bodies of the admin API and the dashboard are bounded; a client's X-Request-Id is kept only when short and plain. */
import { describe, expect, it } from 'vitest';
import { api, makeApp } from '../support/fixtures.js';

describe('admin API and dashboard bodies', () => {
  it('answers 413 to an authenticated body over API_BODY_LIMIT_BYTES, before the route reads it', async () => {
    const t = await makeApp({ API_BODY_LIMIT_BYTES: '2048' });
    const big = JSON.stringify({ chargeState: 'START', padding: 'x'.repeat(4096) });
    const command = await api(t, '/vehicles/vehicle-1/charging', { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    expect(command.status).toBe(413);
    expect((await command.json()).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it("reads no body before the token is checked: a stranger's body without a length gets 401, unread", async () => {
    const t = await makeApp({ API_BODY_LIMIT_BYTES: '2048' });
    let pulls = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(new Uint8Array(1024));
      },
    });
    const res = await api(t, '/vehicles/vehicle-1/charging', { method: 'POST', body: endless, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit, null);
    expect(res.status).toBe(401);
    expect(pulls).toBeLessThanOrEqual(2);
  });

  it('bounds the login form, read before authentication, to 8 KiB whatever API_BODY_LIMIT_BYTES is', async () => {
    const t = await makeApp({ API_BODY_LIMIT_BYTES: String(10 * 1024 * 1024) });
    const res = await t.app.request('/ui/login', { method: 'POST', body: `token=${'x'.repeat(9 * 1024)}`, headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost' } });
    expect(res.status).toBe(413);
  });

  it('lets a body under the limit through to the route', async () => {
    const t = await makeApp({ API_BODY_LIMIT_BYTES: '2048' });
    const res = await api(t, '/vehicles/vehicle-1/charging', { method: 'POST', body: JSON.stringify({ action: 'START' }), headers: { 'content-type': 'application/json' } });
    expect(res.status).not.toBe(413);
  });
});

describe('X-Request-Id', () => {
  it('echoes a short plain id, and replaces a long or odd one by a generated UUID', async () => {
    const t = await makeApp();
    const plain = await t.app.request('/healthz', { headers: { 'x-request-id': 'trace-abc_123' } });
    expect(plain.headers.get('x-request-id')).toBe('trace-abc_123');
    for (const given of ['a'.repeat(65), 'id with spaces', '<script>', 'a/b']) {
      const res = await t.app.request('/healthz', { headers: { 'x-request-id': given } });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });
});
