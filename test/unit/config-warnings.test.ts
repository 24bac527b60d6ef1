import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { configWarnings, loadConfig, weakSecretReason } from '../../src/config.js';

const STRONG_SECRET = 'f3c9a1d27b8e4056c1e9d3a7b2f80c64';
const STRONG_TOKEN = '9b1e7c3fa2d84e60b5c71f9a3e2d6c08b4a1f7e3';

const warningsFor = (env: Record<string, string>) => configWarnings(loadConfig({ ENODE_WEBHOOK_SECRET: STRONG_SECRET, ADMIN_TOKEN: STRONG_TOKEN, ...env }));

describe('configWarnings', () => {
  it('has nothing to say about random secrets, a trusted proxy and an https PUBLIC_URL', () => {
    expect(warningsFor({ TRUST_PROXY: 'true', PUBLIC_URL: 'https://sync.example.com' })).toEqual([]);
    // Random-looking values (fixed, so the test cannot flake): 32 hex characters, 32 base64url characters.
    const bytes = (i: number) => createHash('sha256').update(`seed-${i}`).digest();
    for (let i = 0; i < 200; i++) {
      expect(warningsFor({ ENODE_WEBHOOK_SECRET: bytes(i).toString('hex').slice(0, 32), ADMIN_TOKEN: bytes(-i).subarray(0, 24).toString('base64url') })).toEqual([]);
    }
  });

  it('warns about a 6-character webhook secret and a short admin token, never quoting them', () => {
    const w = warningsFor({ ENODE_WEBHOOK_SECRET: 'abc123', ADMIN_TOKEN: 'admin-token-0123456789' });
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/^ENODE_WEBHOOK_SECRET is shorter than 24 characters: anyone who guesses it can sign webhooks/);
    expect(w[1]).toMatch(/^ADMIN_TOKEN is shorter than 32 characters/);
    expect(w.join(' ')).not.toMatch(/abc123|admin-token-0123456789/);
  });

  it('warns about a long admin token of low entropy', () => {
    for (const token of ['a'.repeat(40), 'abcdabcdabcdabcdabcdabcdabcdabcd', 'passwordpasswordpasswordpassword', 'x0123456789abcdefghijklmnopqrstuv', '11112222333344445555666677778888']) {
      const w = warningsFor({ ADMIN_TOKEN: token });
      expect(w, token).toHaveLength(1);
      expect(w[0]).toMatch(/^ADMIN_TOKEN (has fewer than 10 distinct characters|has little entropy|repeats one short part|contains a run)/);
      expect(w[0]).not.toContain(token);
    }
  });

  it('names which webhook secret of a rotation list is weak', () => {
    const w = warningsFor({ ENODE_WEBHOOK_SECRET: `${STRONG_SECRET},short-one` });
    expect(w).toEqual([expect.stringMatching(/^ENODE_WEBHOOK_SECRET \(secret 2 of 2\) is shorter than 24 characters/)]);
  });

  it('warns when PUBLIC_URL is plain http to another host', () => {
    expect(warningsFor({ PUBLIC_URL: 'http://sync.example.com' })).toEqual([expect.stringMatching(/^PUBLIC_URL uses plain http/)]);
    expect(warningsFor({ PUBLIC_URL: 'http://localhost:8080' })).toEqual([]);
  });
});

describe('weakSecretReason', () => {
  it('finds repeated parts and runs in otherwise varied text', () => {
    expect(weakSecretReason('Zq8!Zq8!Zq8!Zq8!Zq8!Zq8!Zq8!Zq8!')).toBeDefined();
    expect(weakSecretReason('kW3p9XmQ-abcdefgh-Lr5T2vNz')).toMatch(/run/);
    expect(weakSecretReason('kW3p9XmQ-hgfedcba-Lr5T2vNz')).toMatch(/run/);
    expect(weakSecretReason('kW3p9XmQ-Lr5T2vNz-8sYb4HcJ')).toBeUndefined();
  });
});
