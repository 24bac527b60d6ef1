/**
 * The composition root's choice of engine: `DATABASE_URL` (Postgres, any number of replicas) or
 * `DATABASE_PATH` (SQLite, one process). Everything above gets the same two ports — the Store for
 * writes and the ReadStore for reads — and never learns which engine answers.
 */
import { existsSync } from 'node:fs';
import { storageChoice, type Config } from './config.js';
import type { Clock } from './clock.js';
import type { IngestRepo } from './db/ingest-repo.js';
import { createIngestRepo, ingestSettings } from './db/ingest-repo.js';
import { runMigrations } from './db/migrate.js';
import { openDatabase, type Db } from './db/open.js';
import type { Logger } from './logger.js';
import { StartupError } from './startup-error.js';
import type { Store } from './store/port.js';
import { openPostgres, redactUrl } from './store/postgres/connect.js';
import { postgresMigrationStatus, runPostgresMigrations } from './store/postgres/migrate.js';
import { createPostgresReader, postgresEngineReads } from './store/postgres/reader.js';
import { createPostgresStore } from './store/postgres/store.js';
import { createReadStore, type ReadStore } from './store/read.js';
import { createSqliteReader, sqliteEngineReads, sqliteMigrationStatus } from './store/sqlite/reader.js';
import { createInlineStore, createWorkerStore } from './store/sqlite/store.js';

export interface Storage {
  engine: 'sqlite' | 'postgres';
  store: Store;
  read: ReadStore;
  /** Where the data lives, for logs and messages: the SQLite path, or the Postgres URL without its password. */
  where: string;
  /** True when other processes may share this database (Postgres): periodic jobs then take leases. */
  shared: boolean;
  /** SQLite only: the open database and its write repository (the demo's summary, one-shot CLI commands). */
  sqlite?: { db: Db; ingest: IngestRepo };
  /** Stops the store (it commits what is queued), then closes the database. */
  close(): Promise<void>;
}

export interface OpenStorageOptions {
  /**
   * `daemon`: SQLite file databases get their writer thread, Postgres stores apply pending
   * deliveries in the background. `oneShot`: a CLI command — SQLite writes inline on this thread,
   * Postgres applies nothing it was not asked to.
   */
  mode: 'daemon' | 'oneShot';
  /** The SQLite writer thread died: nothing can be stored any more (daemon mode). */
  onWriterCrash?: (err: Error) => void;
  /**
   * Apply pending migrations first (default true). False for commands that only read beside a
   * running daemon: a newer CLI must not change the schema under it.
   */
  migrate?: boolean;
  /**
   * Use only a database that exists and holds enode-sync's tables (one-shot commands besides
   * `migrate`): a missing SQLite file, or a database no migration ever ran on, is a
   * DatabaseMissingError naming it, and nothing is created.
   */
  existing?: boolean;
}

/** Opens and migrates the configured database and builds both ports over it. */
export async function openStorage(config: Config, logger: Logger, clock: Clock, options: OpenStorageOptions): Promise<Storage> {
  const choice = storageChoice(config);
  if (choice.engine === 'postgres') {
    if (choice.ignoredPath !== undefined) logger.warn({ databasePath: choice.ignoredPath }, 'DATABASE_URL is set and wins: DATABASE_PATH is not used');
    const where = redactUrl(choice.url);
    const pool = openPostgres(choice.url, { onIdleError: (err) => logger.warn({ err: err.message, database: where }, 'an idle Postgres connection failed; it is replaced on next use') });
    try {
      if (options.existing) notMigratedRefused(where, await postgresMigrationStatus(pool), 'the database');
      if (options.migrate !== false) await runPostgresMigrations(pool);
      else pendingMigrationsRefused(where, await postgresMigrationStatus(pool));
      const store = await createPostgresStore({ pool, clock, logger: logger.child({ component: 'store' }), config, background: options.mode === 'daemon' });
      return {
        engine: 'postgres',
        store,
        read: createReadStore(createPostgresReader(pool), postgresEngineReads(pool)),
        where,
        shared: true,
        close: async () => {
          await store.close();
          await pool.end();
        },
      };
    } catch (err) {
      await pool.end().catch(() => {});
      throw err;
    }
  }
  if (options.existing && isMissingFile(choice.path)) {
    throw new DatabaseMissingError(`No database at ${choice.path}: ${MISSING_HINT}`, choice.path, 'no such file');
  }
  const db = openDatabase(choice.path, { mustExist: options.existing === true });
  try {
    if (options.existing) notMigratedRefused(choice.path, sqliteMigrationStatus(db.$client), 'the file');
    if (options.migrate !== false) runMigrations(db);
    else pendingMigrationsRefused(choice.path, sqliteMigrationStatus(db.$client));
  } catch (err) {
    db.$client.close();
    throw err;
  }
  const ingest = createIngestRepo(db.$client, ingestSettings(config));
  const writerLogger = logger.child({ component: 'writer' });
  let store: Store;
  try {
    store =
      options.mode === 'daemon' && choice.path !== ':memory:'
        ? await createWorkerStore({ databasePath: choice.path, logLevel: config.logLevel, config }, logger, options.onWriterCrash)
        : createInlineStore(ingest, clock, writerLogger, config);
  } catch (err) {
    // The writer thread could not start (its own open or probe failed): nothing may stay open.
    db.$client.close();
    throw err;
  }
  return {
    engine: 'sqlite',
    store,
    read: createReadStore(createSqliteReader(db.$client), sqliteEngineReads(db.$client)),
    where: choice.path,
    shared: false,
    sqlite: { db, ingest },
    close: async () => {
      await store.close();
      db.$client.close();
    },
  };
}

/**
 * A command that must not migrate (it reads beside a running daemon) cannot work on a database
 * whose migrations are pending: it says so, naming the way out, instead of failing on a table.
 */
function pendingMigrationsRefused(where: string, m: { applied: number; expected: number }): void {
  if (m.applied >= m.expected) return;
  const reason = `${m.expected - m.applied} of ${m.expected} migration(s) pending; run "enode-sync migrate" (or start the daemon) first`;
  throw new MigrationsPendingError(`${where}: ${reason}`, where, reason);
}

const MISSING_HINT = 'set DATABASE_PATH (or DATABASE_URL) to the daemon\'s database, or create it by starting the daemon or running "enode-sync migrate"';

/** A plain SQLite file path (not `:memory:`, not a URI) with nothing at it. */
function isMissingFile(path: string): boolean {
  return path !== ':memory:' && !path.startsWith('file:') && !existsSync(path);
}

/** A database no migration ever ran on is not the daemon's database (yet): said so, never created. */
function notMigratedRefused(where: string, m: { applied: number }, what: string): void {
  if (m.applied > 0) return;
  const reason = `${what} holds no enode-sync tables (no migration was ever applied)`;
  throw new DatabaseMissingError(`${where}: ${reason}; ${MISSING_HINT}`, where, reason);
}

/** The database a one-shot command was pointed at does not exist, or was never migrated (the CLI exits 1). */
export class DatabaseMissingError extends StartupError {
  override name = 'DatabaseMissingError';
}

/** The database needs migrations a read-only command may not apply (the CLI exits 2). */
export class MigrationsPendingError extends StartupError {
  override name = 'MigrationsPendingError';
}
