import { Cron } from 'croner';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Leases } from '../store/leases.js';

/** A job is a plain function of "now"; the scheduler owns timing, overlap, errors and leases. */
export interface JobSpec {
  name: string;
  /** Seconds between runs. */
  everySeconds: number;
  /** Also run once right after start. */
  runAtStart?: boolean;
  /**
   * True for a job every replica runs (its work is claimed row by row, e.g. reconcile); by
   * default one replica runs it per interval, the one holding its lease.
   */
  eachReplica?: boolean;
  run(now: Date): Promise<unknown>;
}

/** Several replicas on one database: jobs take a lease per run (store/leases.ts). */
export interface Fleet {
  leases: Leases;
  /** This process's holder id. */
  holder: string;
}

/**
 * How often a replica that does not hold a job's lease looks whether it lapsed: a job whose
 * replica died runs again at most its interval plus this much after its last run.
 */
export const LEASE_CHECK_SECONDS = 15;
/** How much shorter than its interval a job's lease is. */
const LEASE_SLACK_MS = 1_000;
/** A run that outlasts its lease extends it this often. */
const LEASE_RENEW_MS = 5_000;

export interface Scheduler {
  /** Stops triggering and waits for runs in flight. */
  stop(): Promise<void>;
}

/**
 * The one user of croner. Each job runs at most once at a time (`protect`), logs its failures
 * with its name, and `stop()` waits for runs in flight — croner's own `stop()` does not.
 *
 * With a fleet, a job runs only after its lease `job:<name>` is taken for one interval: across
 * replicas it runs once per interval, on whichever replica took the lease first. The others try
 * every LEASE_CHECK_SECONDS; when the holder dies its lease lapses and another replica runs the
 * job at most `everySeconds + LEASE_CHECK_SECONDS` after the last run.
 */
export function startScheduler(jobs: JobSpec[], clock: Clock, logger: Logger, fleet?: Fleet): Scheduler {
  const inFlight = new Set<Promise<unknown>>();
  const crons: Cron[] = [];
  let stopping = false;

  for (const job of jobs) {
    const log = logger.child({ job: job.name });
    const leased = fleet !== undefined && !job.eachReplica;
    // A little shorter than the interval: the holder's next tick, an interval later, must find it
    // lapsed (a lease of exactly one interval outlives that tick by the ms the run took to start).
    const lease = { name: `job:${job.name}`, ttlMs: job.everySeconds * 1000 - Math.min(LEASE_SLACK_MS, (job.everySeconds * 1000) / 4) };
    const execute = async () => {
      if (stopping) return;
      const started = Date.now();
      let renew: NodeJS.Timeout | undefined;
      const run = (async () => {
        if (leased) {
          if (!(await takeLease(fleet, { ...lease, extend: false }, clock, log))) return 'skipped';
          // A run longer than its lease keeps it: no other replica starts the job meanwhile.
          renew = setInterval(() => void takeLease(fleet, { ...lease, extend: true }, clock, log), Math.min(LEASE_RENEW_MS, lease.ttlMs / 2));
        }
        return job.run(clock.now());
      })();
      inFlight.add(run);
      try {
        const result = await run;
        if (result !== 'skipped') log.debug({ ms: Date.now() - started }, 'job run finished');
      } catch (err) {
        log.error({ err, ms: Date.now() - started }, 'job run failed; it runs again at its next time');
      } finally {
        if (renew) clearInterval(renew);
        inFlight.delete(run);
      }
    };
    // A leased job is tried more often than it runs: the lease decides who runs it and when.
    const tickSeconds = leased ? Math.min(job.everySeconds, LEASE_CHECK_SECONDS) : job.everySeconds;
    const cron = new Cron(
      '* * * * * *',
      {
        // Unnamed: croner's names are global to the process, and tests run several schedulers.
        interval: tickSeconds,
        // croner's interval only spaces runs apart: without startAt the first run comes within a second.
        startAt: new Date(Date.now() + tickSeconds * 1000),
        protect: () => log.debug('previous run still in progress; skipping this one'),
        catch: (err: unknown) => log.error({ err }, 'job run failed'),
      },
      execute,
    );
    crons.push(cron);
    if (job.runAtStart) void cron.trigger();
    log.info({ everySeconds: job.everySeconds, ...(leased ? { leased: true } : {}) }, 'job scheduled');
  }

  return {
    async stop() {
      stopping = true;
      for (const c of crons) c.stop();
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** Takes or extends a job's lease; false when another replica holds it (or the database is away: logged). */
async function takeLease(fleet: Fleet, lease: { name: string; ttlMs: number; extend: boolean }, clock: Clock, log: Logger): Promise<boolean> {
  try {
    return (await fleet.leases.acquire({ ...lease, holder: fleet.holder, nowMs: clock.now().getTime() })) !== null;
  } catch (err) {
    log.warn({ err }, 'could not take the job lease; not running it now');
    return false;
  }
}
