import { Cron } from 'croner';
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Leases } from '../store/leases.js';
import { keepLease, type LeaseKeeper } from './lease-keeper.js';

/** What a run is handed besides "now". */
export interface JobContext {
  /**
   * Aborted when the run must stop: its lease was lost (another replica may be running the job
   * now) or the scheduler is stopping. Jobs look at it between units of work — before each call
   * to Enode and each batch of writes — and end quietly when it is aborted.
   */
  signal: AbortSignal;
  /** The fencing token of the lease this run holds; null for a run under no lease. */
  token: number | null;
}

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
  /**
   * Part of the lease's name for a job whose work depends on this replica's configuration (e.g.
   * the alert sinks it has): replicas configured alike share one lease, and a replica restarted
   * with another configuration takes a fresh one, so its run at start is not held back by a
   * lease taken under the old configuration.
   */
  leaseKey?: string;
  run(now: Date, ctx: JobContext): Promise<unknown>;
}

/** The signal's reason when a run is stopped: its lease was lost, or the scheduler stops. */
export class RunStoppedError extends Error {
  override name = 'RunStoppedError';
}

/** A context for a run outside the scheduler (tests, one-shot use): never aborted, no lease. */
export function unleasedContext(signal: AbortSignal = new AbortController().signal): JobContext {
  return { signal, token: null };
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
  /** Stops triggering, aborts the runs in flight (their signal) and waits for them to end. */
  stop(): Promise<void>;
}

/**
 * The one user of croner. Each job runs at most once at a time (`protect`), logs its failures
 * with its name, and `stop()` aborts runs in flight and waits for them — croner's own `stop()`
 * does neither.
 *
 * With a fleet, a job runs only after its lease `job:<name>` is taken for one interval: across
 * replicas it runs once per interval, on whichever replica took the lease first. The others try
 * every LEASE_CHECK_SECONDS; when the holder dies its lease lapses and another replica runs the
 * job at most `everySeconds + LEASE_CHECK_SECONDS` after the last run. A run longer than its
 * lease renews it; when a renewal is refused, answers another token, or does not succeed before
 * the lease runs out, the run's signal is aborted (lease-keeper.ts).
 */
export function startScheduler(jobs: JobSpec[], clock: Clock, logger: Logger, fleet?: Fleet): Scheduler {
  const inFlight = new Map<Promise<unknown>, AbortController>();
  const crons: Cron[] = [];
  let stopping = false;

  for (const job of jobs) {
    const log = logger.child({ job: job.name });
    const leased = fleet !== undefined && !job.eachReplica;
    const execute = async () => {
      if (stopping) return;
      const started = Date.now();
      const controller = new AbortController();
      const run = leased ? runLeased(job, fleet, controller, clock, log) : job.run(clock.now(), { signal: controller.signal, token: null });
      inFlight.set(run, controller);
      try {
        const result = await run;
        if (controller.signal.aborted) log.debug({ ms: Date.now() - started, why: reasonText(controller.signal) }, 'job run ended early: it was told to stop');
        else if (result !== SKIPPED) log.debug({ ms: Date.now() - started }, 'job run finished');
      } catch (err) {
        // A run told to stop may end by throwing (the signal's reason, or an aborted request): not a failure.
        if (controller.signal.aborted) log.debug({ err, ms: Date.now() - started, why: reasonText(controller.signal) }, 'job run ended early: it was told to stop');
        else log.error({ err, ms: Date.now() - started }, 'job run failed; it runs again at its next time');
      } finally {
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
      for (const controller of inFlight.values()) controller.abort(new RunStoppedError('the scheduler is stopping'));
      await Promise.allSettled([...inFlight.keys()]);
    },
  };
}

const SKIPPED = Symbol('skipped: another replica holds the lease');

/**
 * One run under the job's lease: skipped when the lease is held elsewhere; otherwise the lease is
 * kept while the run lasts, and its loss aborts the run's signal (logged once, at warn).
 */
async function runLeased(job: JobSpec, fleet: Fleet, controller: AbortController, clock: Clock, log: Logger): Promise<unknown> {
  const lease = jobLease(job);
  const grantedAtMs = clock.now().getTime();
  const granted = await takeLease(fleet, { ...lease, nowMs: grantedAtMs }, log);
  if (!granted) return SKIPPED;
  // Stopped while the lease was being taken: the run does not start (the lease lapses by itself).
  if (controller.signal.aborted) return SKIPPED;
  const keeper: LeaseKeeper = keepLease({
    leases: fleet.leases,
    holder: fleet.holder,
    ...lease,
    token: granted.token,
    grantedAtMs,
    clock,
    // A run longer than its lease keeps it: no other replica starts the job meanwhile.
    renewMs: Math.min(LEASE_RENEW_MS, lease.ttlMs / 2),
    onLost: (why) => {
      log.warn({ lease: lease.name, token: granted.token, why }, 'job lost its lease: stopping this run, another replica may be running the job');
      controller.abort(new RunStoppedError(`lease lost: ${why}`));
    },
    onRenewFailed: (err) => log.warn({ err, lease: lease.name }, 'could not renew the job lease; trying again until it runs out'),
  });
  try {
    return await job.run(clock.now(), { signal: controller.signal, token: granted.token });
  } finally {
    keeper.stop();
  }
}

/** The job's lease: its name, and a length a little shorter than the interval. */
function jobLease(job: JobSpec): { name: string; ttlMs: number } {
  const everyMs = job.everySeconds * 1000;
  return {
    name: `job:${job.name}${job.leaseKey ? `:${job.leaseKey}` : ''}`,
    // The holder's next tick, an interval later, must find it lapsed (a lease of exactly one
    // interval outlives that tick by the ms the run took to start).
    ttlMs: everyMs - Math.min(LEASE_SLACK_MS, everyMs / 4),
  };
}

/** Takes a job's lease when it lapsed; null when another replica holds it (or the database is away: logged). */
async function takeLease(fleet: Fleet, lease: { name: string; ttlMs: number; nowMs: number }, log: Logger): Promise<{ token: number } | null> {
  try {
    return await fleet.leases.acquire({ ...lease, holder: fleet.holder, extend: false });
  } catch (err) {
    log.warn({ err }, 'could not take the job lease; not running it now');
    return null;
  }
}

function reasonText(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason);
}
