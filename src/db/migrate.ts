import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { StartupError } from '../startup-error.js';
import { describeOpenError, type Db } from './open.js';

/** The generated migrations folder, found both from src/ (tsx, tests) and from dist/ (built). */
export function migrationsFolder(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, '..', '..', 'drizzle'), join(here, '..', 'drizzle')]) {
    if (existsSync(join(candidate, 'meta', '_journal.json'))) return candidate;
  }
  throw new Error(`migrations folder not found next to ${here}: expected drizzle/meta/_journal.json`);
}

const STORAGE_CODE = /^SQLITE_(FULL|IOERR|BUSY|LOCKED|CANTOPEN|READONLY|CORRUPT|NOTADB|PERM|AUTH)/;

/**
 * Applies every pending migration; the same call runs at boot, in `migrate` and in tests. A
 * storage failure (a corrupt or read-only file, a full disk) becomes a StartupError naming the
 * database and the reason; a migration's own bug keeps its error.
 */
export function runMigrations(db: Db): void {
  const folder = migrationsFolder();
  try {
    migrate(db, { migrationsFolder: folder });
  } catch (err) {
    // drizzle wraps the driver's error; the SQLite code is on it or on its cause.
    const storage = [err, (err as { cause?: unknown }).cause].find((e) => STORAGE_CODE.test(String((e as { code?: unknown } | null)?.code ?? '')));
    if (!storage) throw err;
    const path = db.$client.name;
    const reason = describeOpenError(storage);
    throw new StartupError(`Cannot migrate database ${path}: ${reason}`, path, reason, { cause: err });
  }
}

/** Number of migrations in the folder versus applied in the database, for readiness. */
export function migrationStatus(db: Db): { applied: number; expected: number } {
  const journal = readFileSync(join(migrationsFolder(), 'meta', '_journal.json'), 'utf8');
  const expected = (JSON.parse(journal) as { entries: unknown[] }).entries.length;
  let applied = 0;
  try {
    const row = db.$client.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number };
    applied = row.n;
  } catch {
    applied = 0;
  }
  return { applied, expected };
}
