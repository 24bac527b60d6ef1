import { hostname } from 'node:os';
import type { Clock } from './clock.js';
import { leaseHolderId } from './store/leases.js';
import type { Config } from './config.js';
import { createIngestRepo, ingestSettings, type IngestRepo } from './db/ingest-repo.js';
import type { Db } from './db/open.js';
import type { EnodeApi } from './enode/client.js';
import type { Store } from './store/port.js';
import { createReadStore, type ReadStore } from './store/read.js';
import { createSqliteReader, sqliteEngineReads } from './store/sqlite/reader.js';
import { createInlineStore } from './store/sqlite/store.js';
import type { Logger } from './logger.js';
import type { Storage } from './storage.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createEventFeed, type EventFeed } from './events/stream.js';

/** Everything the app, jobs and CLI commands need, built once and passed down. */
export interface Deps {
  config: Config;
  /** SQLite only: the open database (tests and the demo read it directly); undefined on Postgres. */
  db?: Db;
  logger: Logger;
  clock: Clock;
  /** SQLite only: the write repository on the main thread's connection. */
  repos?: { ingest: IngestRepo };
  /** The single writer: a worker thread for file databases, inline for `:memory:` and tests. */
  store: Store;
  /** Every read of the API, dashboard, gateway, metrics and jobs (portable SQL; here over this process's SQLite connection). */
  read: ReadStore;
  /** The Enode API client; undefined without ENODE_CLIENT_ID/SECRET (poller and command gateway off). */
  enode?: EnodeApi | undefined;
  /** Prometheus metrics (`GET /metrics`). */
  metrics: Metrics;
  /** Set when replicas share the database: this process's lease holder id (jobs, the gateway's device lock). */
  replica?: { holder: string };
  /** The one poller of the event log that every `GET /api/v1/events/stream` client shares (closed at shutdown). */
  eventFeed: EventFeed;
}

/** The process's event feed over its read store (events/stream.ts). */
function eventFeedOver(config: Config, read: ReadStore, logger: Logger): EventFeed {
  return createEventFeed({
    read,
    pollMs: config.eventsStream.pollMs,
    bufferEvents: config.eventsStream.bufferEvents,
    slowAfterMs: config.eventsStream.slowSeconds * 1000,
    logger: logger.child({ component: 'events-stream' }),
  });
}

/** Deps over storage the composition root opened (storage.ts): either engine. */
export function depsOver(base: { config: Config; logger: Logger; clock: Clock; enode?: EnodeApi | undefined }, storage: Storage): Deps {
  const deps: Deps = {
    ...base,
    ...(storage.shared ? { replica: { holder: leaseHolderId(hostname(), process.pid) } } : {}),
    ...(storage.sqlite ? { db: storage.sqlite.db, repos: { ingest: storage.sqlite.ingest } } : {}),
    store: storage.store,
    read: storage.read,
    eventFeed: eventFeedOver(base.config, storage.read, base.logger),
    metrics: createMetrics({
      read: storage.read,
      eventFeed: { get size() { return deps.eventFeed.size; }, disconnects: () => deps.eventFeed.disconnects() },
      clock: base.clock,
      store: storage.store,
      enodeStats: () => deps.enode?.stats(),
    }),
  };
  return deps;
}

/** Wires the repositories and the store over an open, migrated SQLite database (tests, the demo). */
export function createDeps(base: { config: Config; db: Db; logger: Logger; clock: Clock; enode?: EnodeApi | undefined }, store?: Store): Deps {
  const ingest = createIngestRepo(base.db.$client, ingestSettings(base.config));
  const theStore = store ?? createInlineStore(ingest, base.clock, base.logger.child({ component: 'writer' }), base.config);
  const read = createReadStore(createSqliteReader(base.db.$client), sqliteEngineReads(base.db.$client));
  const deps: Deps = {
    ...base,
    repos: { ingest },
    store: theStore,
    read,
    eventFeed: eventFeedOver(base.config, read, base.logger),
    metrics: createMetrics({
      read,
      eventFeed: { get size() { return deps.eventFeed.size; }, disconnects: () => deps.eventFeed.disconnects() },
      clock: base.clock,
      store: theStore,
      // Read at scrape time: the daemon sets deps.enode once its client exists.
      enodeStats: () => deps.enode?.stats(),
    }),
  };
  return deps;
}
