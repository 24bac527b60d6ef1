#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { ALERTS_HELP, runAlertsCli } from './alerts/cli.js';
import { configuredSinkNames } from './alerts/sinks/index.js';
import { systemClock } from './clock.js';
import { ConfigError, configWarnings, loadConfig, storageChoice, type Config, type Env } from './config.js';
import { acquireInstanceLock, describeHolder, InstanceLockedError } from './db/instance-lock.js';
import { runMigrations } from './db/migrate.js';
import { openDatabase } from './db/open.js';
import { startDaemon } from './daemon.js';
import { clearDemoDatabase, DEMO_DATABASE_PATH, demoToken, isDemoDatabase, refusedDemoFlag, startDemo } from './demo.js';
import { INIT_HELP, InitError, initReport, runInit } from './init.js';
import { createLogger, type Logger } from './logger.js';
import { runSimulatorCli, SIMULATOR_USAGE, SimulatorUsageError } from './simulator/index.js';
import { StartupError } from './startup-error.js';
import { openPostgres, redactUrl } from './store/postgres/connect.js';
import { runPostgresMigrations } from './store/postgres/migrate.js';
import { DatabaseMissingError, MigrationsPendingError, openStorage, type Storage } from './storage.js';
import { collectStatus, formatStatus, probeDaemon, type StatusReport } from './status.js';

const HELP: Record<string, string> = {
  main: `enode-sync — keeps a faithful local copy of Enode devices and actions, and flags interference.

Usage: enode-sync <command> [options]

Commands:
  init [--public-url <url>] [--out .env]
                        generate the secrets into a new .env and print what to give Enode
  serve                 run the daemon (webhook receiver, admin API)
  demo                  run the daemon and a simulated Enode wired together (try it without Enode)
  simulate              run the simulated Enode API alone (a fake Enode for local runs and tests)
  migrate               apply database migrations and exit
  replay <deliveryId>   apply a stored webhook delivery again (e.g. a failed one after a fix)
  alerts list|retry     list alert deliveries; retry a dead alert (alerts retry <alertId>)
  status [--json] [--url <daemon url>]
                        counts, webhook health, last webhook and heartbeat; whether the daemon is ready
  help [command]        show help

Configuration is read from the environment (and a .env file in the working directory).
See README.md for every variable.`,
  serve: `Usage: enode-sync serve

Starts the daemon on $HOST:$PORT (default 0.0.0.0:8080). Requires ENODE_WEBHOOK_SECRET and
ADMIN_TOKEN. Applies migrations at start. Stops gracefully on SIGTERM/SIGINT (a second signal exits at once).`,
  demo: `Usage: enode-sync demo [--keep-data] [simulator flags]

Starts the daemon on $PORT (default 8080) with the database ./data/demo.db (or $DATABASE_PATH),
and a simulated Enode on a free port whose webhooks go to the daemon, in real time. A demo
retailer sends commands every few seconds and simulated third parties interfere; the console
shows one line per third-party change, finding, command and 10 s of webhooks.
Each run starts fresh: it deletes the previous run's ./data/demo.db (never a DATABASE_PATH of
yours). --keep-data keeps it. INTERFERENCE_GRACE_SECONDS defaults to 15 and DAILY_COMMAND_LIMIT
to 100 here. ADMIN_TOKEN and ENODE_WEBHOOK_SECRET are generated when not set; the admin token is printed.
Simulator flags (see "enode-sync simulate --help") adjust the world, e.g. --seed 7 --drop-rate 0.2
(not --time-scale or --start-time: the demo's clock is the real one). LOG_LEVEL defaults to error here.`,
  simulate: `Usage: enode-sync simulate [flags]

Runs a fake Enode API (OAuth2, devices, actions, webhooks) on simulated time.
Run "enode-sync simulate --help" for every flag; each also reads SIM_<FLAG> from the environment.`,
  migrate: `Usage: enode-sync migrate

Applies pending migrations to $DATABASE_PATH and exits.`,
  replay: `Usage: enode-sync replay <deliveryId>

Applies the stored delivery again through the same funnel as live webhooks. Applying is
idempotent, so replaying an applied delivery changes nothing. Exit code 1 when it still fails.
While the daemon runs, prefer POST /api/v1/deliveries/{id}/replay: it goes through the daemon's writer.`,
  alerts: ALERTS_HELP,
  init: INIT_HELP,
  status: `Usage: enode-sync status [--json] [--url <daemon url>]

Reads $DATABASE_PATH (works with the daemon stopped) and prints device, action, delivery, finding
and alert counts, the last webhook and heartbeat, and a webhook health verdict. It also asks the
daemon's /readyz: at --url, or else at http://127.0.0.1:$PORT. Never creates a database: a
missing file (or a Postgres database never migrated) is an error naming it. Exit code 0 when
healthy and ready, 1 when something needs attention or there is no database, 2 on bad usage or
pending migrations.`,
};

/** Reads `.env` from the working directory when present; real environment variables win. */
function environment(): Env {
  if (existsSync('.env')) {
    const fromFile: Env = {};
    const before = { ...process.env };
    process.loadEnvFile('.env');
    for (const [k, v] of Object.entries(process.env)) if (!(k in before)) fromFile[k] = v;
    return { ...fromFile, ...before };
  }
  return { ...process.env };
}

function configOrExit(env: Env, require: Array<'ENODE_WEBHOOK_SECRET' | 'ADMIN_TOKEN'>): Config {
  try {
    return loadConfig(env, { require });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * Ends the process on an expected start-up failure (database path unusable, another daemon on the
 * file): the fatal log line and stderr name the path and the reason; no stack trace.
 */
function exitOnStartupError(err: unknown, logger: Logger, command: string): never {
  if (err instanceof StartupError) {
    logger.fatal({ path: err.path, reason: err.reason }, err.message);
    process.stderr.write(`enode-sync ${command}: ${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

/**
 * Runs a CLI command that writes under the instance lock, so it never writes beside a running
 * daemon (two writers; the daemon's view and jobs would not know). Refused with `instead`, the
 * daemon's own way to do it, while a daemon holds the lock: exit code 1.
 */
async function underInstanceLock(databasePath: string, command: string, instead: string, run: () => number | Promise<number>): Promise<number> {
  let lock;
  try {
    lock = acquireInstanceLock(databasePath, command);
  } catch (err) {
    if (err instanceof InstanceLockedError) {
      process.stderr.write(`enode-sync ${command}: database ${databasePath} is in use by ${describeHolder(err.holder)}. ${instead}\n`);
      return 1;
    }
    throw err;
  }
  try {
    return await run();
  } finally {
    lock?.release();
  }
}

async function serveCommand(env: Env): Promise<void> {
  const config = configOrExit(env, ['ENODE_WEBHOOK_SECRET', 'ADMIN_TOKEN']);
  const logger = createLogger(config.logLevel);
  // Weak secrets and risky settings are allowed, but said out loud (never with the secret itself).
  for (const warning of configWarnings(config)) logger.warn(warning);
  let daemon;
  try {
    daemon = await startDaemon(config, logger);
  } catch (err) {
    exitOnStartupError(err, logger, 'serve');
  }
  logger.info(
    { url: daemon.server.url, database: storageChoice(config).engine === 'postgres' ? 'postgres (DATABASE_URL)' : config.databasePath, enodeEnv: config.enode.env, secrets: config.webhookSecrets.length, poller: daemon.enode !== undefined },
    'enode-sync listening',
  );
  installShutdown(logger, () => daemon.close());
}

/** Graceful shutdown against a deadline; a second signal exits at once. */
function installShutdown(logger: Logger, stop: () => Promise<void>, deadlineMs = 15_000): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ deadlineMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function simulateCommand(env: Env, args: string[]): Promise<void> {
  const logger = createLogger(env.LOG_LEVEL && env.LOG_LEVEL !== '' ? env.LOG_LEVEL : 'info');
  let running;
  try {
    running = await runSimulatorCli(args, env, logger);
  } catch (err) {
    if (err instanceof SimulatorUsageError) {
      process.stdout.write(`${err.message}\n`);
      return;
    }
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  installShutdown(logger, () => running.close());
}

async function demoCommand(env: Env, args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${HELP.demo}\n\nSimulator flags:\n${SIMULATOR_USAGE}\n`);
    return;
  }
  const keepData = args.includes('--keep-data');
  const simulatorArgs = args.filter((a) => a !== '--keep-data');
  const databasePath = env.DATABASE_PATH || DEMO_DATABASE_PATH;
  const demoEnv: Env = {
    ...env,
    DATABASE_PATH: databasePath,
    ENODE_WEBHOOK_SECRET: env.ENODE_WEBHOOK_SECRET || demoToken(32),
    ADMIN_TOKEN: env.ADMIN_TOKEN || demoToken(24),
    // The console tells the story in lines (findings included); the daemon's JSON log shows errors only.
    LOG_LEVEL: env.LOG_LEVEL || 'error',
    // A change waits this long for the action that explains it: the webhooks here come at once.
    INTERFERENCE_GRACE_SECONDS: env.INTERFERENCE_GRACE_SECONDS || '15',
    // The retailer sends a command every few seconds: a day's budget of 6 per device would run out in minutes.
    DAILY_COMMAND_LIMIT: env.DAILY_COMMAND_LIMIT || '100',
  };
  const config = configOrExit(demoEnv, ['ENODE_WEBHOOK_SECRET', 'ADMIN_TOKEN']);
  const logger = createLogger(config.logLevel);
  const refused = refusedDemoFlag(simulatorArgs, demoEnv);
  if (refused) {
    process.stderr.write(`enode-sync demo: ${refused}\n`);
    process.exit(2);
  }
  // A second run starts fresh: yesterday's devices and actions would make today's findings
  // spurious. Only the demo's own file is ever deleted; a DATABASE_PATH of the user's is kept.
  let dataNote: string;
  if (keepData) dataNote = `kept the data of earlier runs in ${databasePath} (--keep-data)`;
  else if (!isDemoDatabase(databasePath)) dataNote = `DATABASE_PATH ${databasePath} is yours: kept as it is (a fresh start deletes only ${DEMO_DATABASE_PATH})`;
  else {
    try {
      dataNote = clearDemoDatabase(databasePath) ? `started fresh: deleted the previous demo's ${databasePath} (keep it with --keep-data)` : `started fresh in ${databasePath} (--keep-data keeps it for the next run)`;
    } catch (err) {
      if (!(err instanceof StartupError)) throw err;
      process.stderr.write(`enode-sync demo: ${err.message}${err instanceof InstanceLockedError ? ` (${describeHolder(err.holder)}); stop that demo first` : ''}\n`);
      process.exit(1);
    }
  }
  let demo;
  try {
    demo = await startDemo({ config, simulatorArgs, env: demoEnv, logger, say: (line) => process.stdout.write(`${line}\n`) });
  } catch (err) {
    process.stderr.write(`enode-sync demo: ${(err as Error).message}\n`);
    process.exit(err instanceof StartupError ? 1 : 2);
  }
  const auth = `-H "Authorization: Bearer ${demo.adminToken}"`;
  process.stdout.write(
    [
      '',
      'enode-sync demo is running: the daemon, and a simulated Enode that sends it webhooks.',
      `  dashboard          ${demo.daemonUrl}/ui   (log in with the admin token)`,
      `  admin token        ${demo.adminToken}`,
      `  daemon             ${demo.daemonUrl}   (database ${config.databasePath})`,
      `  simulated Enode    ${demo.simulatorUrl}   (ground truth: ${demo.simulatorUrl}/_sim/truth)`,
      `  data               ${dataNote}`,
      '',
      'Time: real time (1 simulated second = 1 second), so every time shown is a real one.',
      `A retailer sends a command every few seconds through the command gateway; third parties change`,
      `devices on their own (the first a few seconds in). A change nothing explains becomes a finding after`,
      `${config.interferenceGraceSeconds} s of grace: watch the lines below, or a device page on the dashboard.`,
      '',
      'Try:',
      `  curl -s ${auth} ${demo.daemonUrl}/api/v1/interference`,
      `  curl -s ${auth} '${demo.daemonUrl}/api/v1/actions?state=CONFIRMED'`,
      '',
      'Ctrl-C stops.',
      '',
    ].join('\n'),
  );
  const summary = setInterval(() => process.stdout.write(`[demo] ${demo.summary()}\n`), 60_000);
  summary.unref();
  installShutdown(logger, async () => {
    clearInterval(summary);
    await demo.close();
  });
}

function initCommand(args: string[]): number {
  const value = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const known = new Set(['--public-url', '--out']);
  const bad = args.filter((a, i) => (a.startsWith('--') ? !known.has(a) : !known.has(args[i - 1] ?? '')));
  if (bad.length > 0 || [...known].some((k) => args.includes(k) && (value(k) === undefined || value(k)?.startsWith('--')))) {
    process.stderr.write(`${INIT_HELP}\n`);
    return 2;
  }
  try {
    const result = runInit({ path: value('--out') ?? '.env', publicUrl: value('--public-url') });
    process.stdout.write(`${initReport(result)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof InitError)) throw err;
    process.stderr.write(`enode-sync init: ${err.message}\n`);
    return 1;
  }
}

async function migrateCommand(env: Env): Promise<number> {
  const config = configOrExit(env, []);
  const logger = createLogger(config.logLevel);
  const choice = storageChoice(config);
  if (choice.engine === 'postgres') {
    // Replicas migrate at start under an advisory lock; doing it by hand beside them is just as safe.
    const pool = openPostgres(choice.url);
    try {
      await runPostgresMigrations(pool);
    } finally {
      await pool.end();
    }
    logger.info({ database: redactUrl(choice.url) }, 'migrations applied');
    return 0;
  }
  return underInstanceLock(config.databasePath, 'migrate', 'The daemon applies migrations when it starts; stop it first to migrate by hand.', () => {
    const db = openDatabase(config.databasePath);
    try {
      runMigrations(db);
    } finally {
      db.$client.close();
    }
    logger.info({ database: config.databasePath }, 'migrations applied');
    return 0;
  });
}

async function replayCommand(env: Env, deliveryId: string | undefined): Promise<number> {
  if (!deliveryId) {
    process.stderr.write(`${HELP.replay}\n`);
    return 2;
  }
  const config = configOrExit(env, []);
  const logger = createLogger(config.logLevel);
  const replay = async () => {
    // One-shot: SQLite writes inline on this thread; Postgres applies only this delivery (locked
    // against the replicas' own apply loops), nothing in the background.
    // Never creates or migrates a database: replaying into an empty one would find nothing anyway.
    const storage = await openForCommand(config, logger, false, 'replay');
    if (typeof storage === 'number') return storage;
    let outcome;
    try {
      outcome = await storage.store.replay(deliveryId);
    } finally {
      await storage.close();
    }
    if (!outcome) {
      process.stderr.write(`No delivery with id "${deliveryId}" in ${storage.where}\n`);
      return 1;
    }
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
    return outcome.status === 'applied' ? 0 : 1;
  };
  if (storageChoice(config).engine === 'postgres') return replay();
  const missing = refuseMissingFile(config, 'replay');
  if (missing !== undefined) return missing;
  const instead = `Replay through it: POST /api/v1/deliveries/${encodeURIComponent(deliveryId)}/replay (admin token).`;
  return underInstanceLock(config.databasePath, 'replay', instead, replay);
}

async function alertsCommand(env: Env, args: string[]): Promise<number> {
  const config = configOrExit(env, []);
  const logger = createLogger(config.logLevel);
  const writes = args[0] === 'retry' && args[1] !== undefined && !args[1].startsWith('-');
  // Usage errors first: they must not open (or need) a database.
  if (!writes && args[0] !== 'list') {
    process.stderr.write(`${ALERTS_HELP}\n`);
    return 2;
  }
  const run = async () => {
    // Only a write migrates: `list` runs beside a daemon, whose schema a newer CLI must not change under it.
    const storage = await openForCommand(config, logger, writes, `alerts ${args[0] ?? ''}`.trim());
    if (typeof storage === 'number') return storage;
    try {
      const io = { out: (l: string) => process.stdout.write(`${l}\n`), err: (l: string) => process.stderr.write(`${l}\n`) };
      return await runAlertsCli(args, systemClock.now().getTime(), io, { read: storage.read, store: storage.store, sinksConfigured: configuredSinkNames(config.alerts).length > 0 });
    } finally {
      await storage.close();
    }
  };
  if (!writes || storageChoice(config).engine === 'postgres') return run();
  const missing = refuseMissingFile(config, 'alerts retry');
  if (missing !== undefined) return missing;
  const instead = `Retry through it: POST /api/v1/alerts/${encodeURIComponent(args[1] as string)}/retry (admin token).`;
  return underInstanceLock(config.databasePath, 'alerts retry', instead, run);
}

/**
 * Storage for a one-shot command: an existing database only (a missing SQLite file, or a database
 * never migrated, is never created). Otherwise the exit code, after saying why on stderr: 1 for a
 * missing database, 2 when the command may not migrate and migrations are pending.
 */
async function openForCommand(config: Config, logger: Logger, migrate: boolean, command: string): Promise<Storage | number> {
  try {
    return await openStorage(config, logger, systemClock, { mode: 'oneShot', migrate, existing: true });
  } catch (err) {
    if (err instanceof DatabaseMissingError || (err instanceof StartupError && !(err instanceof MigrationsPendingError))) {
      process.stderr.write(`enode-sync ${command}: ${err.message}\n`);
      return 1;
    }
    if (!(err instanceof MigrationsPendingError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
}

/**
 * A SQLite file a one-shot command was pointed at that does not exist: said before anything (the
 * instance lock's sidecar file included) is created next to it. Exit code 1.
 */
function refuseMissingFile(config: Config, command: string): number | undefined {
  const choice = storageChoice(config);
  if (choice.engine !== 'sqlite' || choice.path === ':memory:' || choice.path.startsWith('file:') || existsSync(choice.path)) return undefined;
  process.stderr.write(
    `enode-sync ${command}: No database at ${choice.path}: set DATABASE_PATH (or DATABASE_URL) to the daemon's database, or create it by starting the daemon or running "enode-sync migrate"\n`,
  );
  return 1;
}

async function statusCommand(env: Env, args: string[]): Promise<number> {
  const json = args.includes('--json');
  const urlAt = args.indexOf('--url');
  const url = urlAt >= 0 ? args[urlAt + 1] : undefined;
  const unknown = args.filter((a, i) => a !== '--json' && a !== '--url' && !(urlAt >= 0 && i === urlAt + 1));
  if ((urlAt >= 0 && !url) || unknown.length > 0) {
    process.stderr.write(`${HELP.status}\n`);
    return 2;
  }
  const config = configOrExit(env, []);
  // Reads only, beside a running daemon: nothing created, nothing migrated, nothing applied.
  const storage = await openForCommand(config, createLogger(config.logLevel), false, 'status');
  if (typeof storage === 'number') return storage;
  let report: StatusReport;
  try {
    report = await collectStatus(storage.read, storage.where, systemClock.now().getTime(), configuredSinkNames(config.alerts).length > 0);
  } finally {
    await storage.close();
  }
  report.daemon = await probeDaemon(url ?? `http://127.0.0.1:${config.port}`);
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : `${formatStatus(report)}\n`);
  const alertsHeld = report.heldAlerts.count > 0 && !report.heldAlerts.sinksConfigured;
  return report.webhook.healthy && !alertsHeld && report.daemon.ready && report.migrations.applied === report.migrations.expected ? 0 : 1;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const env = environment();
  // demo and simulate pass flags to the simulator, which prints its own help.
  if ((rest.includes('--help') || rest.includes('-h')) && command !== 'simulate' && command !== 'demo') {
    process.stdout.write(`${HELP[command ?? 'main'] ?? HELP.main}\n`);
    return;
  }
  switch (command) {
    case 'serve':
      await serveCommand(env);
      return;
    case 'demo':
      await demoCommand(env, rest);
      return;
    case 'simulate':
      await simulateCommand(env, rest);
      return;
    case 'init':
      process.exitCode = initCommand(rest);
      return;
    case 'migrate':
      process.exitCode = await migrateCommand(env);
      return;
    case 'replay':
      process.exitCode = await replayCommand(env, rest[0]);
      return;
    case 'alerts':
      process.exitCode = await alertsCommand(env, rest);
      return;
    case 'status':
      process.exitCode = await statusCommand(env, rest);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${HELP[rest[0] ?? 'main'] ?? HELP.main}\n`);
      return;
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${HELP.main}\n`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof StartupError) {
    // Expected (a path that cannot be used): the message says what and why; a stack adds nothing.
    process.stderr.write(`enode-sync: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`enode-sync: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
