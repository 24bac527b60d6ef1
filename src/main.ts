#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { systemClock } from './clock.js';
import { ConfigError, loadConfig, type Config, type Env } from './config.js';
import { runMigrations } from './db/migrate.js';
import { openDatabase } from './db/open.js';
import { createDeps } from './deps.js';
import { replayDelivery } from './ingest/deliveries.js';
import { createWorkerWriter } from './ingest/writer.js';
import { createLogger, type Logger } from './logger.js';
import { startServer } from './server.js';

const HELP: Record<string, string> = {
  main: `enode-sync — keeps a faithful local copy of Enode devices and actions, and flags interference.

Usage: enode-sync <command> [options]

Commands:
  serve                 run the daemon (webhook receiver, admin API)
  migrate               apply database migrations and exit
  replay <deliveryId>   apply a stored webhook delivery again (e.g. a failed one after a fix)
  help [command]        show help

Configuration is read from the environment (and a .env file in the working directory).
See README.md for every variable.`,
  serve: `Usage: enode-sync serve

Starts the daemon on $HOST:$PORT (default 0.0.0.0:8080). Requires ENODE_WEBHOOK_SECRET and
ADMIN_TOKEN. Applies migrations at start. Stops gracefully on SIGTERM/SIGINT (a second signal exits at once).`,
  migrate: `Usage: enode-sync migrate

Applies pending migrations to $DATABASE_PATH and exits.`,
  replay: `Usage: enode-sync replay <deliveryId>

Applies the stored delivery again through the same funnel as live webhooks. Applying is
idempotent, so replaying an applied delivery changes nothing. Exit code 1 when it still fails.`,
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

async function serveCommand(env: Env): Promise<void> {
  const config = configOrExit(env, ['ENODE_WEBHOOK_SECRET', 'ADMIN_TOKEN']);
  const logger = createLogger(config.logLevel);
  const db = openDatabase(config.databasePath);
  runMigrations(db);
  const writer =
    config.databasePath === ':memory:'
      ? undefined
      : await createWorkerWriter({ databasePath: config.databasePath, logLevel: config.logLevel }, logger, (err) => {
          // Nothing can be stored any more; exit so the supervisor restarts us (Enode retries meanwhile).
          logger.fatal({ err }, 'writer thread died; exiting');
          process.exit(1);
        });
  const deps = createDeps({ config, db, logger, clock: systemClock }, writer);
  if (!config.enode.clientId) {
    logger.warn('ENODE_CLIENT_ID/ENODE_CLIENT_SECRET not set: poller and command gateway are off; webhook ingest works');
  }
  const server = await startServer(deps, config.port, config.host);
  logger.info(
    { url: server.url, database: config.databasePath, enodeEnv: config.enode.env, secrets: config.webhookSecrets.length },
    'enode-sync listening',
  );
  installShutdown(logger, async () => {
    // Stop accepting and finish in-flight requests (their deliveries get committed), then the writer.
    await server.close();
    await deps.writer.close();
    db.$client.close();
  });
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

function migrateCommand(env: Env): void {
  const config = configOrExit(env, []);
  const logger = createLogger(config.logLevel);
  const db = openDatabase(config.databasePath);
  runMigrations(db);
  db.$client.close();
  logger.info({ database: config.databasePath }, 'migrations applied');
}

function replayCommand(env: Env, deliveryId: string | undefined): number {
  if (!deliveryId) {
    process.stderr.write(`${HELP.replay}\n`);
    return 2;
  }
  const config = configOrExit(env, []);
  const logger = createLogger(config.logLevel);
  const db = openDatabase(config.databasePath);
  runMigrations(db);
  const deps = createDeps({ config, db, logger, clock: systemClock });
  const outcome = replayDelivery(deps.repos.ingest, deliveryId, systemClock.now().getTime(), logger);
  db.$client.close();
  if (!outcome) {
    process.stderr.write(`No delivery with id "${deliveryId}" in ${config.databasePath}\n`);
    return 1;
  }
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
  return outcome.status === 'applied' ? 0 : 1;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const env = environment();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${HELP[command ?? 'main'] ?? HELP.main}\n`);
    return;
  }
  switch (command) {
    case 'serve':
      await serveCommand(env);
      return;
    case 'migrate':
      migrateCommand(env);
      return;
    case 'replay':
      process.exitCode = replayCommand(env, rest[0]);
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
  process.stderr.write(`enode-sync: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
