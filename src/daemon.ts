import { alertJobs } from './alerts/dispatcher.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { storageChoice } from './config.js';
import { acquireInstanceLock } from './db/instance-lock.js';
import { depsOver, type Deps } from './deps.js';
import { createEnodeClient, TokenBucket, type EnodeClient } from './enode/index.js';
import { openStorage } from './storage.js';
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
 * Assembles and starts the daemon: the instance lock (one daemon per database file, taken before
 * anything touches the database), database (migrated), the writer (a worker thread for file
 * databases), the HTTP server, and — with Enode credentials — the client and the sync jobs.
 * Throws a StartupError (InstanceLockedError for a second daemon) naming the path and the reason.
 */
export async function startDaemon(config: Config, logger: Logger, clock: Clock = systemClock, command = 'serve'): Promise<RunningDaemon> {
  // One daemon per SQLite file; Postgres is shared by design (replicas coordinate in the database).
  const choice = storageChoice(config);
  const lock = choice.engine === 'sqlite' ? acquireInstanceLock(choice.path, command, clock.now()) : undefined;
  try {
    return await assemble(config, logger, clock, () => lock?.release());
  } catch (err) {
    lock?.release();
    throw err;
  }
}

async function assemble(config: Config, logger: Logger, clock: Clock, releaseLock: () => void): Promise<RunningDaemon> {
  const storage = await openStorage(config, logger, clock, {
    mode: 'daemon',
    onWriterCrash: (err) => {
      // Nothing can be stored any more; exit so the supervisor restarts us (Enode retries meanwhile).
      logger.fatal({ err }, 'writer thread died; exiting');
      process.exit(1);
    },
  });
  logger.info({ engine: storage.engine, database: storage.where }, 'database open and migrated');
  const deps = depsOver({ config, logger, clock }, storage);

  let enode: EnodeClient | undefined;
  // Jobs that run with or without Enode credentials.
  const jobs: JobSpec[] = [reconcileJob(deps.store, config.interference.reconcileIntervalSeconds, logger.child({ component: 'reconcile' }))];
  if (config.retention.days > 0) {
    jobs.push(retentionJob(deps.store, config.retention.days, config.retention.intervalMinutes, logger.child({ component: 'retention' })));
  }
  jobs.push(...alertJobs({ store: deps.store, config: config.alerts, clock, logger: logger.child({ component: 'alerts' }) }));
  // Outbound subscriptions to the event log: sent on the alerts' interval and timeout.
  jobs.push(
    createSubscriptionDispatcher({ store: deps.store, clock, logger: logger.child({ component: 'subscriptions' }), timeoutMs: config.alerts.timeoutSeconds * 1000 }).job(
      config.alerts.dispatchIntervalSeconds,
    ),
  );
  if (config.enode.clientId && config.enode.clientSecret) {
    enode = createEnodeClient({
      apiUrl: config.enode.apiUrl,
      oauthUrl: config.enode.oauthUrl,
      clientId: config.enode.clientId,
      clientSecret: config.enode.clientSecret,
      clock,
      logger: logger.child({ component: 'enode' }),
      budget: new TokenBucket({ capacity: Math.max(1, Math.ceil(config.enodeRequestsPerMinute / 10)), refillPerSecond: config.enodeRequestsPerMinute / 60 }, clock),
    });
    // The command gateway reads it per request; the server is created below.
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
  } else {
    logger.warn('ENODE_CLIENT_ID/ENODE_CLIENT_SECRET not set: poller and command gateway are off; webhook ingest works');
  }

  // Replicas sharing a database run each periodic job once per interval, under its lease.
  const fleet = deps.replica ? { leases: storage.store.leases, holder: deps.replica.holder } : undefined;
  const scheduler: Scheduler = startScheduler(jobs, clock, logger.child({ component: 'scheduler' }), fleet);
  const server = await startServer(deps, config.port, config.host);
  return {
    deps,
    server,
    enode,
    close: async () => {
      await scheduler.stop();
      // Open event streams end first (each told to reconnect elsewhere), or the server would wait for them until its deadline.
      deps.eventFeed.close();
      await server.close();
      await storage.close();
      // Last: a successor may start only once this process no longer writes.
      releaseLock();
    },
  };
}
