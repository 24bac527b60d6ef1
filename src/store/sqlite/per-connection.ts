import type Database from 'better-sqlite3';

/**
 * What `make` prepares on a connection, made once per connection and kept as long as it lives:
 * preparing a statement costs more than running it on the hot write paths, and the writer and
 * a test may each hold their own connection.
 */
export function perConnection<T>(make: (sqlite: Database.Database) => T): (sqlite: Database.Database) => T {
  const made = new WeakMap<Database.Database, T>();
  return (sqlite) => {
    let value = made.get(sqlite);
    if (value === undefined) {
      value = make(sqlite);
      made.set(sqlite, value);
    }
    return value;
  };
}
