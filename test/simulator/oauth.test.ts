import { afterEach, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { quietSim } from './helpers.js';

let sim: Simulator;
afterEach(async () => {
  await sim?.close();
});

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function token(s: Simulator, auth = basic('enode-sim-client', 'enode-sim-secret'), body = 'grant_type=client_credentials') {
  return s.app.request('http://sim.test/oauth2/token', {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
}

const get = (s: Simulator, path: string, auth?: string) =>
  s.app.request(`http://sim.test${path}`, { headers: auth ? { authorization: auth } : {} });

describe('OAuth2 client credentials', () => {
  it('issues a bearer token for the right client credentials', async () => {
    sim = quietSim();
    const res = await token(sim);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ expires_in: 3599, scope: '', token_type: 'bearer' });
    expect(typeof body['access_token']).toBe('string');
    expect((await get(sim, '/vehicles', `Bearer ${String(body['access_token'])}`)).status).toBe(200);
  });

  it('rejects wrong client credentials and other grant types', async () => {
    sim = quietSim();
    expect((await token(sim, basic('enode-sim-client', 'wrong'))).status).toBe(401);
    expect((await token(sim, 'Bearer x')).status).toBe(401);
    expect((await token(sim, undefined, 'grant_type=password')).status).toBe(400);
  });

  it('answers 401 problem+json without a token and with a bad token', async () => {
    sim = quietSim();
    for (const auth of [undefined, 'Bearer not-a-token', 'Basic abc']) {
      const res = await get(sim, '/vehicles', auth);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await res.json()).toMatchObject({ title: 'Unauthorized', detail: expect.any(String), type: expect.any(String) });
    }
  });

  it('expires tokens after their lifetime in sim time when tokenClock is sim', async () => {
    sim = quietSim({ tokenClock: 'sim', tokenTtlSeconds: 3599 });
    const { access_token } = (await (await token(sim)).json()) as { access_token: string };
    sim.advance(3598_000);
    expect((await get(sim, '/chargers', `Bearer ${access_token}`)).status).toBe(200);
    sim.advance(1_000);
    expect((await get(sim, '/chargers', `Bearer ${access_token}`)).status).toBe(401);
  });

  it('expires tokens in wall time by default', async () => {
    // A second of wall time: an hour of sim time (tens of ms, more on a loaded machine) stays well inside it.
    sim = quietSim({ tokenTtlSeconds: 1 });
    const t = sim.issueToken();
    sim.advance(3600_000);
    expect((await get(sim, '/chargers', `Bearer ${t}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await get(sim, '/chargers', `Bearer ${t}`)).status).toBe(401);
  });

  it('leaves /_sim open unless an admin token is configured', async () => {
    sim = quietSim();
    expect((await get(sim, '/_sim/state')).status).toBe(200);
    sim = quietSim({ adminToken: 'admin-secret' });
    expect((await get(sim, '/_sim/truth')).status).toBe(401);
    expect((await get(sim, '/_sim/truth', 'Bearer admin-secret')).status).toBe(200);
  });
});
