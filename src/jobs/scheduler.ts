import { Cron } from 'croner';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';

/** A job is a plain function of "now"; the scheduler owns timing, overlap and errors. */
export interface JobSpec {
  name: string;
  /** Seconds between runs. */
  everySeconds: number;
  /** Also run once right after start. */
  runAtStart?: boolean;
  run(now: Date): Promise<unknown>;
}

export interface Scheduler {
  /** Stops triggering and waits for runs in flight. */
  stop(): Promise<void>;
}

/**
 * The one user of croner. Each job runs at most once at a time (`protect`), logs its failures
 * with its name, and `stop()` waits for runs in flight — croner's own `stop()` does not.
 */
export function startScheduler(jobs: JobSpec[], clock: Clock, logger: Logger): Scheduler {
  const inFlight = new Set<Promise<unknown>>();
  const crons: Cron[] = [];
  let stopping = false;

  for (const job of jobs) {
    const log = logger.child({ job: job.name });
    const execute = async () => {
      if (stopping) return;
      const started = Date.now();
      const run = job.run(clock.now());
      inFlight.add(run);
      try {
        await run;
        log.debug({ ms: Date.now() - started }, 'job run finished');
      } catch (err) {
        log.error({ err, ms: Date.now() - started }, 'job run failed; it runs again at its next time');
      } finally {
        inFlight.delete(run);
      }
    };
    const cron = new Cron(
      '* * * * * *',
      {
        name: job.name,
        interval: job.everySeconds,
        // croner's interval only spaces runs apart: without startAt the first run comes within a second.
        startAt: new Date(Date.now() + job.everySeconds * 1000),
        protect: () => log.debug('previous run still in progress; skipping this one'),
        catch: (err: unknown) => log.error({ err }, 'job run failed'),
      },
      execute,
    );
    crons.push(cron);
    if (job.runAtStart) void cron.trigger();
    log.info({ everySeconds: job.everySeconds }, 'job scheduled');
  }

  return {
    async stop() {
      stopping = true;
      for (const c of crons) c.stop();
      await Promise.allSettled([...inFlight]);
    },
  };
}
