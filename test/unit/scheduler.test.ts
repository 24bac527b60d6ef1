import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { startScheduler } from '../../src/jobs/scheduler.js';
import { silentLogger } from '../../src/logger.js';

describe('scheduler', () => {
  it('runs a job at start when asked, and stop() waits for the run in flight', async () => {
    let release!: () => void;
    const runs: Date[] = [];
    let finished = false;
    const scheduler = startScheduler(
      [
        {
          name: 'slow',
          everySeconds: 3600,
          runAtStart: true,
          run: async (now) => {
            runs.push(now);
            await new Promise<void>((r) => (release = r));
            finished = true;
          },
        },
      ],
      systemClock,
      silentLogger(),
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(runs).toHaveLength(1);
    const stopped = scheduler.stop();
    let stopResolved = false;
    void stopped.then(() => (stopResolved = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(stopResolved).toBe(false); // croner's stop alone would not wait
    release();
    await stopped;
    expect(finished).toBe(true);
  });

  it('keeps running after a job throws: the next run comes at its time', async () => {
    let calls = 0;
    const scheduler = startScheduler(
      [
        {
          name: 'failing',
          everySeconds: 1,
          runAtStart: true,
          run: async () => {
            calls++;
            throw new Error('upstream down');
          },
        },
      ],
      systemClock,
      silentLogger(),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(1); // at start, and not again before its interval
    await new Promise((r) => setTimeout(r, 2_300));
    expect(calls).toBeGreaterThanOrEqual(2);
    await scheduler.stop();
  });
});
