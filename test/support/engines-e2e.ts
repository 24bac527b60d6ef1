/**
 * The end-to-end suites on both engines. These files spawn daemon processes, so they do not use the
 * `postgres` vitest project (which switches the in-process app by TEST_ENGINE): each file describes
 * its tests once per engine instead, in the one project it already runs in. SQLite always; Postgres
 * when postgres.ts finds a server. Without one, a skipped suite per file names the reason, printed
 * once; under CI=true postgresAvailable() throws instead.
 */
import { describe, it } from 'vitest';
import { makeApp, type EngineApp, type TestAppOptions } from './fixtures.js';
import { freshPostgresSchema, postgresAvailable } from './postgres.js';

export type Engine = 'sqlite' | 'postgres';

let warned = false;

/** Why Postgres is not among the engines, or undefined when it is. */
function postgresSkipReason(): string | undefined {
  const a = postgresAvailable();
  return 'skip' in a ? a.skip : undefined;
}

/** `sqlite`, and `postgres` when a test server answers (the skip reason is printed once otherwise). */
export function engines(): Engine[] {
  const reason = postgresSkipReason();
  if (reason === undefined) return ['sqlite', 'postgres'];
  if (!warned) console.warn(`Postgres end-to-end tests skipped: ${reason}`);
  warned = true;
  return ['sqlite'];
}

/**
 * `describe(name [engine], …)` for each engine. When Postgres is missing, a skipped suite with one
 * test naming the reason stands in for it, so the report shows the gap.
 */
export function describeEngines(name: string, fn: (engine: Engine) => void): void {
  for (const engine of engines()) describe(`${name} [${engine}]`, () => fn(engine));
  const reason = postgresSkipReason();
  if (reason !== undefined) {
    describe.skip(`${name} [postgres]`, () => {
      it(`needs Postgres: ${reason}`, () => {});
    });
  }
}

/** Where one test's daemons keep their data: the environment to start each with, and a drop for after. */
export interface DaemonDatabase {
  engine: Engine;
  /** Extra environment for startDaemon: none on SQLite (its file is in the test's directory), DATABASE_URL on Postgres. */
  env: Record<string, string>;
  /** Frees the database once the test's daemons are stopped (the Postgres schema is dropped). */
  drop(): Promise<void>;
}

/**
 * A database for the daemons of one test. On Postgres a fresh, empty schema, named as the
 * search_path of the URL: the first daemon migrates into it, as a replica does on a new database,
 * and a daemon restarted in the same test finds its data there.
 */
export async function daemonDatabase(engine: Engine): Promise<DaemonDatabase> {
  if (engine === 'sqlite') return { engine, env: {}, drop: async () => {} };
  const schema = await freshPostgresSchema({ migrate: false, max: 1 });
  return { engine, env: { DATABASE_URL: schema.url }, drop: schema.drop };
}

/** Collects a file's databases and drops them (call `dropAll` after the daemons are stopped). */
export function daemonDatabases() {
  const open: DaemonDatabase[] = [];
  return {
    async make(engine: Engine): Promise<DaemonDatabase> {
      const db = await daemonDatabase(engine);
      open.push(db);
      return db;
    },
    async dropAll(): Promise<void> {
      for (const db of open.splice(0)) await db.drop();
    },
  };
}

/**
 * An in-process app (fixtures.ts `makeApp`) on `engine`, whichever project runs the file. makeApp
 * reads TEST_ENGINE before its first await, so the variable is set for that call only.
 */
export function engineApp(engine: Engine, overrides: Record<string, string> = {}, options: TestAppOptions = {}): Promise<EngineApp> {
  const saved = process.env['TEST_ENGINE'];
  process.env['TEST_ENGINE'] = engine;
  try {
    return makeApp(overrides, options);
  } finally {
    if (saved === undefined) delete process.env['TEST_ENGINE'];
    else process.env['TEST_ENGINE'] = saved;
  }
}

/**
 * Drops the Postgres schemas engineApp's apps used (call it in afterAll). engine-setup.ts does this
 * only in the `postgres` project; these files run in the `sqlite` one.
 */
export async function dropEngineApps(): Promise<void> {
  if (postgresSkipReason() !== undefined) return;
  const { dropTestSchemas } = await import('./pg-app.js');
  await dropTestSchemas();
}
