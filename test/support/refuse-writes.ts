/** A database that still answers reads but refuses every write, under an app of either engine. */
import type { EngineApp } from './fixtures.js';

/**
 * Postgres: every table of the app's schema gets a trigger that fails writes as a read-only
 * server does (SQLSTATE 25006), the way a managed database answers while it is a standby. A
 * trigger rather than revoked privileges, so that it holds for a superuser too.
 */
const REFUSE_POSTGRES = `
CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'cannot execute % in a read-only transaction', TG_OP USING ERRCODE = '25006';
END $$;
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> '__drizzle_migrations' LOOP
    EXECUTE format('CREATE TRIGGER refuse_writes BEFORE INSERT OR UPDATE OR DELETE ON %I FOR EACH STATEMENT EXECUTE FUNCTION refuse_writes()', t);
  END LOOP;
END $$`;

/**
 * Makes the app's database refuse writes (SQLite: `query_only`, as a file made read-only under
 * the daemon). Returns what makes it writable again: call it before the app closes, since a
 * closing Postgres app empties its schema for the next app of the file.
 */
export async function refuseWrites(t: EngineApp): Promise<() => Promise<void>> {
  if (t.engine === 'sqlite') {
    await t.exec('PRAGMA query_only = ON');
    return () => t.exec('PRAGMA query_only = OFF');
  }
  await t.exec(REFUSE_POSTGRES);
  return () => t.exec('DROP FUNCTION refuse_writes() CASCADE');
}
