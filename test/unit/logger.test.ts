import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger('info', stream) };
}

describe('logger redaction', () => {
  it('hides authorization headers, signatures and cookies of requests', () => {
    const { lines, logger } = capture();
    logger.info({ req: { headers: { authorization: 'Bearer admin-token-value', 'x-enode-signature': 'sha1=abcdef', cookie: 'session=1', 'user-agent': 'Enode' } } }, 'request');
    const text = lines.join('');
    expect(text).not.toContain('admin-token-value');
    expect(text).not.toContain('sha1=abcdef');
    expect(text).not.toContain('session=1');
    expect(text).toContain('Enode');
  });

  it('hides secrets when a whole config is logged', () => {
    const { lines, logger } = capture();
    const config = loadConfig({
      ENODE_WEBHOOK_SECRET: 'webhook-secret-value',
      ADMIN_TOKEN: 'admin-token-value-123',
      ENODE_CLIENT_ID: 'client-id',
      ENODE_CLIENT_SECRET: 'client-secret-value',
      ALERT_WEBHOOK_SECRET: 'whsec_alertsecretvalue',
    });
    logger.info({ config }, 'config');
    const text = lines.join('');
    for (const secret of ['webhook-secret-value', 'admin-token-value-123', 'client-secret-value', 'whsec_alertsecretvalue']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('client-id');
  });
});
