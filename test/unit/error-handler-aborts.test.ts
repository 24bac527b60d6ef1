import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createErrorHandler } from '../../src/errors.js';
import { captureLogs } from '../support/logs.js';

/** Node's error for a body cut short by the client. */
const aborted = () => Object.assign(new Error('aborted'), { code: 'ECONNRESET' });

describe('error handler: client aborts', () => {
  it('answers 400 to each, but logs a flood of them once per area and minute, then as a count', async () => {
    const { lines, logger } = captureLogs('warn');
    const clock = new ManualClock('2026-12-01T00:00:00Z');
    const app = new Hono();
    app.onError(createErrorHandler(logger, clock));
    app.post('/api/v1/x', () => {
      throw aborted();
    });
    for (let i = 0; i < 200; i++) expect((await app.request('/api/v1/x', { method: 'POST' })).status).toBe(400);
    expect(lines.filter((l) => String(l['msg']).startsWith('client closed the connection'))).toHaveLength(1);

    clock.advance(60_000);
    expect((await app.request('/api/v1/x', { method: 'POST' })).status).toBe(400);
    expect(lines.find((l) => l['suppressed'] !== undefined)).toMatchObject({ key: '/api', suppressed: 199 });
  });
});
