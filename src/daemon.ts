import { alertJobs } from './alerts/dispatcher.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { storageChoice } from './config.js';
import { acquireInstanceLock } from './db/instance-lock.js';
import { depsOver, type Deps } from './deps.js';
import { createEnodeClient, TokenBucket, type EnodeClient } from './enode/index.js';
import { openStorage, type Storage } from './storage.js';
import { startScheduler, type JobSpec, type Scheduler } from './jobs/scheduler.js';
import type { Logger } from './logger.js';
import { reconcileJob } from './reconcile/job.js';
import { retentionJob } from './retention/prune.js';
import { startServer, type RunningServer } from './server.js';
import { syncJobs } from './sync/jobs.js';
import { createSubscriptionDispatcher } from './subscriptions/dispatcher.js';

export interface RunningDaemon {
  deps: Deps;
  server: RunningServer;
  enode: EnodeClient | undefined;
  /** Jobs, then the server (in-flight requests finish), then the writer, then the database. */
  close(): Promise<void>;
}

/**
 * What the daemon and the library (src/index.ts) share: storage under its instance lock, the deps
 * over it and the periodic jobs. No HTTP listener, no signal handler, no exit, no environment:
 * each caller decides those.
 */
export interface Composition {
  deps: Deps;
  /** The Enode client; undefined without ENODE_CLIENT_ID/SECRET (poller and command gateway off). */
  enode: EnodeClient | undefined;
  /** Starts the periodic jobs (reconcile, retention, alert and subscription dispatch, sync); a second call does nothing. */
  startJobs(): void;
  /** Stops the jobs, waiting for runs in flight, and ends open event streams. Safe to call twice. */
  stop(): Promise<void>;
  /** After stop(): the writer commits what is queued, the database closes, then the instance lock is released. */
  close(): Promise<void>;
}

export interface ComposeOptions {
  /** Names the holder in the instance lock, e.g. `serve`, `demo` or `embedded`. */
  command: string;
  /** The SQLite writer thread died: nothing can be stored any more. */
  onWriterCrash(err: Error): void;
}

/**
 * Opens storage — under the instance lock for a SQLite file (one writer per file, taken before
 * anything touches the database), migrated — and builds the deps and the jobs without starting
 * them. Throws a StartupError (InstanceLockedError for a second process) naming the path and the reason.
 */
export async function composeDaemon(config: Config, logger: Logger, clock: Clock, options: ComposeOptions): Promise<Composition> {
  // One writer per SQLite file; Postgres is shared by design (replicas coordinate in the database).
  const choice = storageChoice(config);
  const lock = choice.engine === 'sqlite' ? acquireInstanceLock(choice.path, options.command, clock.now()) : undefined;
  try {
    const storage = await openStorage(config, logger, clock, { mode: 'daemon', onWriterCrash: options.onWriterCrash });
    logger.info({ engine: storage.engine, database: storage.where }, 'database open and migrated');
    try {
      return composeOver(storage, config, logger, clock, () => lock?.release());
    } catch (err) {
      await storage.close();
      throw err;
    }
  } catch (err) {
    lock?.release();
    throw err;
  }
}

function composeOver(storage: Storage, config: Config, logger: Logger, clock: Clock, releaseLock: () => void): Composition {
  const deps = depsOver({ config, logger, clock }, storage);
  const { jobs, enode } = daemonJobs(deps);
  // Replicas sharing a database run each periodic job once per interval, under its lease.
  const fleet = deps.replica ? { leases: storage.store.leases, holder: deps.replica.holder } : undefined;
  let scheduler: Scheduler | undefined;
  let stopping: Promise<void> | undefined;
  return {
    deps,
    enode,
    startJobs: () => {
      if (!scheduler && !stopping) scheduler = startScheduler(jobs, clock, logger.child({ component: 'scheduler' }), fleet);
    },
    stop: () =>
      (stopping ??= (async () => {
        await scheduler?.stop();
        // Open event streams end here (each told to reconnect elsewhere), or a server would wait for them until its deadline.
        await deps.eventFeed.close();
      })()),
    close: async () => {
      await storage.close();
      // Last: a successor may start only once this process no longer writes.
      releaseLock();
    },
  };
}

/** The periodic jobs over the deps, and the Enode client when credentials are configured (set on deps.enode for the gateway). */
function daemonJobs(deps: Deps): { jobs: JobSpec[]; enode: EnodeClient | undefined } {
  const { config, logger, clock } = deps;
  // Jobs that run with or without Enode credentials.
  const jobs: JobSpec[] = [reconcileJob(deps.store, config.interference.reconcileIntervalSeconds, logger.child({ component: 'reconcile' }))];
  if (config.retention.days > 0) {
    jobs.push(retentionJob(deps.store, config.retention.days, config.retention.intervalMinutes, logger.child({ component: 'retention' })));
  }
  jobs.push(...alertJobs({ store: deps.store, config: config.alerts, clock, logger: logger.child({ component: 'alerts' }) }));
  // Outbound subscriptions to the event log: a lane per subscription polling on the alerts' interval, with their timeout.
  jobs.push(
    createSubscriptionDispatcher({
      store: deps.store,
      clock,
      logger: logger.child({ component: 'subscriptions' }),
      timeoutMs: config.alerts.timeoutSeconds * 1000,
      allowPrivateUrls: config.subscriptions.allowPrivateUrls,
      // Idle lanes wake when the log grows, checked as often as the event stream reads it.
      head: () => deps.read.lastEventPosition(),
      headPollMs: config.eventsStream.pollMs,
    }).job(
      config.alerts.dispatchIntervalSeconds,
    ),
  );
  if (!config.enode.clientId || !config.enode.clientSecret) {
    logger.warn('ENODE_CLIENT_ID/ENODE_CLIENT_SECRET not set: poller and command gateway are off; webhook ingest works');
    return { jobs, enode: undefined };
  }
  const enode = createEnodeClient({
    apiUrl: config.enode.apiUrl,
    oauthUrl: config.enode.oauthUrl,
    clientId: config.enode.clientId,
    clientSecret: config.enode.clientSecret,
    clock,
    logger: logger.child({ component: 'enode' }),
    budget: new TokenBucket({ capacity: Math.max(1, Math.ceil(config.enodeRequestsPerMinute / 10)), refillPerSecond: config.enodeRequestsPerMinute / 60 }, clock),
  });
  // The command gateway reads it per request.
  deps.enode = enode;
  const sync = syncJobs({
    config,
    logger: logger.child({ component: 'sync' }),
    clock,
    enode,
    store: deps.store,
    read: deps.read,
    state: { startedAt: clock.now().getTime(), lastFullResyncAt: null },
    fleet: deps.replica && { leases: deps.store.leases, holder: deps.replica.holder },
  });
  jobs.push(...sync);
  return { jobs, enode };
}

/**
 * Assembles and starts the daemon: the shared composition (lock, storage, deps, jobs), the jobs,
 * then the HTTP server. A writer thread that dies ends the process (the supervisor restarts it).
 */
export async function startDaemon(config: Config, logger: Logger, clock: Clock = systemClock, command = 'serve'): Promise<RunningDaemon> {
  const core = await composeDaemon(config, logger, clock, {
    command,
    onWriterCrash: (err) => {
      // Nothing can be stored any more; exit so the supervisor restarts us (Enode retries meanwhile).
      logger.fatal({ err }, 'writer thread died; exiting');
      process.exit(1);
    },
  });
  core.startJobs();
  let server: RunningServer;
  try {
    server = await startServer(core.deps, config.port, config.host);
  } catch (err) {
    await core.stop();
    await core.close();
    throw err;
  }
  return {
    deps: core.deps,
    server,
    enode: core.enode,
    close: async () => {
      await core.stop();
      await server.close();
      await core.close();
    },
  };
}
