import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createAggregateLog } from '../../src/http/aggregate-log.js';
import { captureLogs } from '../support/logs.js';

describe('createAggregateLog', () => {
  it('logs the first failure of a key at once and the rest as one summary when the window ends', () => {
    const { lines, logger } = captureLogs();
    const clock = new ManualClock('2026-12-01T00:00:00Z');
    const log = createAggregateLog({ logger, clock, message: 'rejected', windowMs: 60_000 });
    for (let i = 0; i < 500; i++) log.record('10.0.0.1', { reason: 'bad signature' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ key: '10.0.0.1', reason: 'bad signature', msg: 'rejected' });

    clock.advance(60_000);
    log.flush();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ key: '10.0.0.1', suppressed: 499, msg: 'rejected (repeated)' });
    log.stop();
  });

  it('tracks at most maxKeys keys; failures from further keys share the key "other"', () => {
    const { lines, logger } = captureLogs();
    const clock = new ManualClock('2026-12-01T00:00:00Z');
    const log = createAggregateLog({ logger, clock, message: 'rejected', maxKeys: 3 });
    for (let i = 0; i < 100; i++) log.record(`addr-${i}`);
    log.stop();
    const keys = new Set(lines.map((l) => l.key));
    expect(keys).toEqual(new Set(['addr-0', 'addr-1', 'addr-2', 'other']));
    expect(lines.find((l) => l.key === 'other' && l.suppressed !== undefined)).toMatchObject({ suppressed: 96 });
  });
});
