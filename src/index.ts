/**
 * enode-sync as a library: `createEnodeSync(options)` gives a host service the daemon's webhook
 * receiver, admin API, dashboard and jobs as a fetch handler to mount, `start()`/`stop()`, and
 * `events()` over the event log. Embedded, it never reads `process.env`, installs no signal
 * handler and never exits the process: problems are thrown, or logged through the host's logger.
 */
import pino from 'pino';
import { createApp } from './app.js';
import { systemClock, type Clock } from './clock.js';
import { composeDaemon, type Composition } from './daemon.js';
import { configFromOptions, type EnodeSyncConfig } from './embed/options.js';
import { createEventLog, type EventsOptions } from './embed/events.js';
import type { EnodeSyncEvent } from './embed/event-types.js';
import { createLogger, type Logger } from './logger.js';

export { ConfigError } from './config.js';
export { EventCursorExpiredError, type EventsOptions } from './embed/events.js';
export type { EnodeSyncConfig } from './embed/options.js';
export type { Clock } from './clock.js';
export type { Logger } from './logger.js';
export type {
  ActionUpdatedData,
  AlertEventData,
  AlertType,
  CommandEventData,
  CommandEventType,
  DeviceEventData,
  DeviceEventType,
  EnodeSyncAction,
  EnodeSyncChange,
  EnodeSyncDevice,
  EnodeSyncEvent,
  EventEnvelope,
  EventType,
  FindingStateData,
  FindingStateEventType,
} from './embed/event-types.js';

export interface EnodeSyncOptions extends EnodeSyncConfig {
  /** Where enode-sync logs (a pino logger, e.g. a child of the host's); default: warnings and errors as JSON lines on stderr. */
  logger?: Logger;
  /** The source of "now" (tests); default: the system clock. */
  clock?: Clock;
  /**
   * Called once if the SQLite writer thread dies: nothing can be stored any more. The host
   * decides what follows (e.g. stop and exit so that its supervisor restarts it); it is logged
   * as fatal either way.
   */
  onFatal?: (err: Error) => void;
}

/** A standard fetch handler (Hono's): mount it with `app.mount('/enode', sync.fetch)` or serve it with `@hono/node-server`. */
export type FetchHandler = (request: Request, env?: unknown, executionCtx?: unknown) => Response | Promise<Response>;

export interface EnodeSync {
  /** The HTTP surface: `POST /webhooks/enode`, `/api/v1/*`, `/ui`, `/healthz`, `/readyz`, `/metrics`. */
  fetch: FetchHandler;
  /** Starts the periodic work: reconcile, retention, alert and subscription dispatch, and (with Enode credentials) polling and resync. */
  start(): void;
  /** Stops the jobs and waits for runs and requests in flight, ends `events()` iterators and open streams, then closes the database. */
  stop(): Promise<void>;
  /** The event log, oldest first from `after` (or the oldest kept), waiting for new events until `stop()` or a `break`. */
  events(options?: EventsOptions): AsyncIterableIterator<EnodeSyncEvent>;
}

/** How often a waiting `events()` iterator reads the log. */
const EVENTS_POLL_MS = 250;
/** How long stop() waits for requests in flight before it closes the database under them. */
const REQUESTS_DEADLINE_MS = 10_000;

/** pino's own level names: the only ones the writer thread's logger knows (a host's custom level leaves it at its default). */
const STANDARD_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Warnings and errors only, as JSON lines on stderr: a library should not fill its host's stdout. */
function defaultLogger(level: string | undefined): Logger {
  return createLogger(level ?? 'warn', pino.destination({ dest: 2, sync: true }));
}

/**
 * Validates the options with the environment's schema (throws a ConfigError naming each bad
 * option), opens and migrates the database, and resolves to the handler, lifecycle and event log.
 * The webhook receiver works as soon as it resolves; `start()` starts the background jobs.
 */
export async function createEnodeSync(options: EnodeSyncOptions): Promise<EnodeSync> {
  const { logger: given, clock = systemClock, onFatal, ...settings } = options;
  const config = configFromOptions(settings, ['ENODE_WEBHOOK_SECRET']);
  const logger = given ?? defaultLogger(settings.logLevel);
  // The writer thread logs on its own at config.logLevel: unless told otherwise, as quiet as the logger it was given.
  if (settings.logLevel === undefined && STANDARD_LEVELS.has(logger.level)) config.logLevel = logger.level;
  const core = await composeDaemon(config, logger, clock, {
    command: 'embedded',
    onWriterCrash: (err) => {
      logger.fatal({ err }, 'writer thread died: nothing can be stored any more; stop() and create enode-sync again');
      onFatal?.(err);
    },
  });
  return embedded(core, logger);
}

function embedded(core: Composition, logger: Logger): EnodeSync {
  const app = createApp(core.deps);
  const log = createEventLog(core.deps.read, EVENTS_POLL_MS);
  const inFlight = new Set<Promise<Response>>();
  let stopping: Promise<void> | undefined;

  const fetch: FetchHandler = (request, env, executionCtx) => {
    if (stopping) return Response.json({ error: { code: 'SHUTTING_DOWN', message: 'enode-sync is stopping' } }, { status: 503 });
    const answer = Promise.resolve(app.fetch(request, env as never, executionCtx as never));
    inFlight.add(answer);
    const forget = () => inFlight.delete(answer);
    answer.then(forget, forget);
    return answer;
  };

  const stop = async () => {
    await log.close();
    await core.stop();
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, REQUESTS_DEADLINE_MS).unref());
    await Promise.race([Promise.allSettled([...inFlight]), deadline]);
    await core.close();
    logger.info('enode-sync stopped');
  };

  return {
    fetch,
    start: () => {
      if (stopping) throw new Error('enode-sync was stopped: create a new instance to start again');
      core.startJobs();
    },
    stop: () => (stopping ??= stop()),
    events: (options) => log.events(options),
  };
}
