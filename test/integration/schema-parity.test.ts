/**
 * The SQLite and Postgres schemas describe the same tables: read from the two migrated databases
 * (never from a list written here), compared table by table, column by column (name, nullability,
 * primary key), index by index (name, columns, uniqueness), trigger by trigger; column types
 * through a known mapping, per the drizzle column kind of src/db/schema.ts.
 */
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { getTableConfig, type SQLiteTable } from 'drizzle-orm/sqlite-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runMigrations } from '../../src/db/migrate.js';
import { openDatabase, type Db } from '../../src/db/open.js';
import * as sqliteSchema from '../../src/db/schema.js';
import * as pgSchema from '../../src/store/postgres/schema.js';
import { describeIfPostgres, freshPostgresSchema, type FreshSchema } from '../support/postgres.js';

interface Column {
  type: string;
  notNull: boolean;
}
interface Index {
  columns: string[];
  unique: boolean;
}
interface Table {
  columns: Record<string, Column>;
  primaryKey: string[];
  indexes: Record<string, Index>;
}
interface Described {
  tables: Record<string, Table>;
  triggers: string[];
}

function describeSqlite(db: Db): Described {
  const sqlite = db.$client;
  const names = sqlite
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__drizzle%' ORDER BY name`)
    .pluck()
    .all() as string[];
  const tables: Record<string, Table> = {};
  for (const name of names) {
    const info = sqlite.pragma(`table_info("${name}")`) as Array<{ name: string; type: string; notnull: number; pk: number }>;
    const columns = Object.fromEntries(info.map((c) => [c.name, { type: c.type.toLowerCase(), notNull: c.notnull === 1 || c.pk > 0 }]));
    const primaryKey = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
    const indexes: Record<string, Index> = {};
    for (const ix of sqlite.pragma(`index_list("${name}")`) as Array<{ name: string; unique: number; origin: string }>) {
      if (ix.origin === 'pk') continue; // the primary key: compared as primaryKey
      const cols = (sqlite.pragma(`index_info("${ix.name}")`) as Array<{ seqno: number; name: string }>).sort((a, b) => a.seqno - b.seqno).map((c) => c.name);
      indexes[ix.name] = { columns: cols, unique: ix.unique === 1 };
    }
    tables[name] = { columns, primaryKey, indexes };
  }
  const triggers = sqlite.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name`).pluck().all() as string[];
  return { tables, triggers };
}

async function describePostgres(pg: FreshSchema): Promise<Described> {
  const q = async <T extends Record<string, unknown>>(text: string): Promise<T[]> => (await pg.pool.query<T>(text, [pg.schema])).rows;
  const columns = await q<{ table: string; column: string; type: string; nullable: string }>(
    `SELECT table_name AS table, column_name AS column, data_type AS type, is_nullable AS nullable
     FROM information_schema.columns WHERE table_schema = $1 AND table_name <> '__drizzle_migrations' ORDER BY table_name, ordinal_position`,
  );
  const names = await q<{ table: string; index: string }>(`SELECT tablename AS table, indexname AS index FROM pg_indexes WHERE schemaname = $1`);
  const details = await q<{ index: string; unique: boolean; primary: boolean; columns: string[] }>(
    `SELECT i.relname AS index, ix.indisunique AS unique, ix.indisprimary AS primary,
            array(SELECT a.attname::text FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
     FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
     WHERE n.nspname = $1`,
  );
  const byIndex = new Map(details.map((d) => [d.index, d]));
  const tables: Record<string, Table> = {};
  for (const c of columns) {
    const t = (tables[c.table] ??= { columns: {}, primaryKey: [], indexes: {} });
    t.columns[c.column] = { type: c.type, notNull: c.nullable === 'NO' };
  }
  for (const { table, index } of names) {
    const t = tables[table];
    const d = byIndex.get(index);
    if (!t || !d) continue; // the journal's own table
    if (d.primary) t.primaryKey = d.columns;
    else t.indexes[index] = { columns: d.columns, unique: d.unique };
  }
  const triggers = await q<{ name: string }>(
    `SELECT DISTINCT t.tgname AS name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND NOT t.tgisinternal ORDER BY 1`,
  );
  return { tables, triggers: triggers.map((t) => t.name) };
}

/** Postgres types a column of each drizzle SQLite kind may have (the reasons are in src/store/postgres/schema.ts). */
const TYPE_MAP: Record<string, { sqlite: string; postgres: string[] }> = {
  SQLiteText: { sqlite: 'text', postgres: ['text'] },
  SQLiteTextJson: { sqlite: 'text', postgres: ['json'] },
  SQLiteInteger: { sqlite: 'integer', postgres: ['bigint', 'integer'] },
  SQLiteBoolean: { sqlite: 'integer', postgres: ['boolean'] },
  SQLiteBlobBuffer: { sqlite: 'blob', postgres: ['bytea'] },
};

/** The drizzle column kind of every SQLite column, by table and column name. */
function sqliteKinds(): Map<string, string> {
  const kinds = new Map<string, string>();
  for (const value of Object.values(sqliteSchema)) {
    const table = value as SQLiteTable;
    let config: ReturnType<typeof getTableConfig>;
    try {
      config = getTableConfig(table);
    } catch {
      continue; // not a table (a type export compiles away; anything else is skipped)
    }
    if (!config?.name) continue;
    for (const c of config.columns) kinds.set(`${config.name}.${c.name}`, c.columnType);
  }
  return kinds;
}

/** Every difference between the two, one sentence each; empty when they describe the same tables. */
function differences(lite: Described, pg: Described, kinds: Map<string, string>): string[] {
  const out: string[] = [];
  const all = (a: Record<string, unknown>, b: Record<string, unknown>) => [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  for (const name of all(lite.tables, pg.tables)) {
    const l = lite.tables[name];
    const p = pg.tables[name];
    if (!l || !p) {
      out.push(`table ${name} only in ${l ? 'SQLite' : 'Postgres'}`);
      continue;
    }
    for (const col of all(l.columns, p.columns)) {
      const lc = l.columns[col];
      const pc = p.columns[col];
      if (!lc || !pc) {
        out.push(`column ${name}.${col} only in ${lc ? 'SQLite' : 'Postgres'}`);
        continue;
      }
      if (lc.notNull !== pc.notNull) out.push(`column ${name}.${col}: NOT NULL in ${lc.notNull ? 'SQLite' : 'Postgres'} only`);
      const kind = kinds.get(`${name}.${col}`);
      const mapping = kind ? TYPE_MAP[kind] : undefined;
      if (!mapping) out.push(`column ${name}.${col}: no known type mapping for ${kind ?? 'a column missing from src/db/schema.ts'}`);
      else if (mapping.sqlite !== lc.type || !mapping.postgres.includes(pc.type)) {
        out.push(`column ${name}.${col}: ${kind} is ${lc.type} in SQLite and ${pc.type} in Postgres (expected ${mapping.sqlite} and ${mapping.postgres.join(' or ')})`);
      }
    }
    if (l.primaryKey.join(',') !== p.primaryKey.join(',')) out.push(`table ${name}: primary key (${l.primaryKey.join(', ')}) in SQLite, (${p.primaryKey.join(', ')}) in Postgres`);
    for (const ix of all(l.indexes, p.indexes)) {
      const li = l.indexes[ix];
      const pi = p.indexes[ix];
      if (!li || !pi) out.push(`index ${ix} on ${name} only in ${li ? 'SQLite' : 'Postgres'}`);
      else if (li.columns.join(',') !== pi.columns.join(',') || li.unique !== pi.unique) {
        out.push(`index ${ix}: ${li.unique ? 'unique ' : ''}(${li.columns.join(', ')}) in SQLite, ${pi.unique ? 'unique ' : ''}(${pi.columns.join(', ')}) in Postgres`);
      }
    }
  }
  for (const t of [...new Set([...lite.triggers, ...pg.triggers])].sort()) {
    if (!lite.triggers.includes(t) || !pg.triggers.includes(t)) out.push(`trigger ${t} only in ${lite.triggers.includes(t) ? 'SQLite' : 'Postgres'}`);
  }
  return out;
}

describeIfPostgres('schema parity: SQLite and Postgres', () => {
  let pg: FreshSchema;
  let lite: Db;

  beforeAll(async () => {
    pg = await freshPostgresSchema();
    lite = openDatabase(':memory:');
    runMigrations(lite);
  });

  afterAll(async () => {
    lite?.$client.close();
    await pg?.drop();
  });

  it('describe the same tables, columns, primary keys, indexes and triggers', async () => {
    const l = describeSqlite(lite);
    const p = await describePostgres(pg);
    expect(Object.keys(l.tables).length).toBeGreaterThan(10);
    expect(Object.keys(p.tables).sort()).toEqual(Object.keys(l.tables).sort());
    expect(differences(l, p, sqliteKinds())).toEqual([]);
  });

  it('notice a column, an index or a table added to one side only', async () => {
    const other = await freshPostgresSchema();
    const extra = openDatabase(':memory:');
    try {
      runMigrations(extra);
      await other.pool.query('ALTER TABLE leases ADD COLUMN renewed_at_ms bigint');
      await other.pool.query('CREATE INDEX leases_holder_idx ON leases (holder)');
      extra.$client.exec('ALTER TABLE devices ADD COLUMN nickname text; CREATE TABLE notes (id text PRIMARY KEY)');
      const found = differences(describeSqlite(extra), await describePostgres(other), sqliteKinds());
      expect(found).toEqual(
        expect.arrayContaining([
          'column devices.nickname only in SQLite',
          'column leases.renewed_at_ms only in Postgres',
          'index leases_holder_idx on leases only in Postgres',
          'table notes only in SQLite',
        ]),
      );
    } finally {
      extra.$client.close();
      await other.drop();
    }
  });

  it('a deleted delivery takes its body on both (the trigger means the same)', async () => {
    const body = Buffer.from('{"x":1}');
    lite.$client.prepare('INSERT INTO delivery_bodies (id, body) VALUES (7, ?)').run(body);
    lite.$client.prepare(`INSERT INTO deliveries (id, received_at, headers, body, body_sha256, status, body_id) VALUES ('d1', 1, '{}', X'', 'h', 'pending', 7)`).run();
    lite.$client.prepare(`DELETE FROM deliveries WHERE id = 'd1'`).run();
    expect(lite.$client.prepare('SELECT count(*) FROM delivery_bodies').pluck().get()).toBe(0);

    const ids = (await pg.pool.query<{ id: number }>('INSERT INTO delivery_bodies (body) VALUES ($1), ($1), ($1) RETURNING id', [body])).rows.map((r) => r.id);
    expect(ids.every((id) => typeof id === 'number')).toBe(true);
    for (const [i, id] of ids.entries()) {
      await pg.pool.query(`INSERT INTO deliveries (id, received_at, headers, body, body_sha256, status, body_id) VALUES ($1, $2, '{}', '', $3, 'pending', $4)`, [`d${i}`, 1_796_000_000_000 + i, `h${i}`, id]);
    }
    // One statement deleting two deliveries; the third keeps its body.
    await pg.pool.query(`DELETE FROM deliveries WHERE id IN ('d0', 'd1')`);
    const left = await pg.pool.query<{ id: number; body: Buffer }>('SELECT id, body FROM delivery_bodies');
    expect(left.rows).toEqual([{ id: ids[2], body }]);
    const received = await pg.pool.query<{ at: number }>(`SELECT received_at AS at FROM deliveries`);
    expect(received.rows).toEqual([{ at: 1_796_000_000_002 }]);
  });

  it('values read back through drizzle as written, as on SQLite (json keeps key order, NUL and lone surrogates; bigint is a number)', async () => {
    const snapshot = { zeta: 1, alpha: '\u0000', mid: '\ud800', nested: { b: [1.5, -0, 1e308, 5e-324], a: null } };
    const device = {
      id: 'dev-1',
      type: 'charger',
      userId: 'u1',
      vendor: null,
      lastSeen: null,
      isReachable: true,
      snapshot,
      controlled: { charging: false },
      snapshotAtMs: 1_796_182_624_677,
      snapshotRank: 2,
      snapshotEventAtMs: Number.MAX_SAFE_INTEGER,
      snapshotHash: 'h',
      firstSeenAt: 1,
      updatedAt: 2,
      deletedAtMs: null,
    };
    const pgDb = drizzle({ client: pg.pool, schema: pgSchema });
    await pgDb.insert(pgSchema.devices).values(device);
    const [fromPg] = await pgDb.select().from(pgSchema.devices).where(eq(pgSchema.devices.id, 'dev-1'));
    lite.insert(sqliteSchema.devices).values(device).run();
    const fromLite = lite.select().from(sqliteSchema.devices).where(eq(sqliteSchema.devices.id, 'dev-1')).get();
    expect(fromPg).toEqual(fromLite);
    expect(JSON.stringify(fromPg)).toBe(JSON.stringify(fromLite)); // key order too
    expect(typeof fromPg?.snapshotEventAtMs).toBe('number');
    // Raw queries (not drizzle's mapping) see numbers too: int8 is parsed to number for the pool.
    const raw = await pg.pool.query<{ at: unknown; n: unknown }>(`SELECT snapshot_at_ms AS at, count(*) OVER () AS n FROM devices`);
    expect(raw.rows).toEqual([{ at: 1_796_182_624_677, n: 1 }]);
  });
});
