// Issue 15 groundwork: `pg` (node-postgres) against `postgres` (porsager) on the shapes enode-sync
// needs from Postgres: durable one-row inserts of a 12.3 KB body from 32 concurrent requests (ingest),
// a sequential point read (dedupe, API), a transaction of 40 small statements (applying a delivery),
// awaited one by one and, for postgres, pipelined. Same server, same pool size, rounds alternating.
// Not part of `npm run bench` (neither driver is a dependency yet). Run it in
// a scratch directory against a local PostgreSQL:
//   mkdir /tmp/pgbench && cd /tmp/pgbench && npm init -y && npm i pg@8 postgres@3
//   cp <repo>/test/bench/pg-drivers.mjs . && PG_URL=postgres://user:pass@127.0.0.1:5432/db node pg-drivers.mjs
// Figures and the choice: BENCHMARKS.md, "Postgres driver".
import pg from 'pg';
import postgres from 'postgres';
const URL = process.env.PG_URL ?? 'postgres://bench:bench@127.0.0.1:5432/bench';
const POOL = 8, CONC = 32, N = 6000;
const body = Buffer.alloc(12300, 'x');
const setup = new pg.Client(URL); await setup.connect();
await setup.query(`DROP TABLE IF EXISTS d; CREATE TABLE d (id text PRIMARY KEY, received_at bigint, body bytea, sha text, status text);
  DROP TABLE IF EXISTS o; CREATE TABLE o (id bigserial PRIMARY KEY, device_id text, at bigint, hash text, UNIQUE (device_id, at, hash));
  DROP TABLE IF EXISTS dev; CREATE TABLE dev (id text PRIMARY KEY, snap text, at bigint);`);
await setup.end();

async function run(name, drv) {
  let next = 0; const t0 = performance.now(); const lat = [];
  await Promise.all(Array.from({ length: CONC }, async () => { while (next < N) { const i = next++; const s = performance.now(); await drv.insert(`${name}-${i}-${Math.random()}`, i); lat.push(performance.now() - s); } }));
  const ins = N / ((performance.now() - t0) / 1000); lat.sort((a, b) => a - b);
  let t1 = performance.now(); for (let i = 0; i < 3000; i++) await drv.point(`${name}-${i}`); const point = (performance.now() - t1) / 3000 * 1000;
  t1 = performance.now(); for (let i = 0; i < 200; i++) await drv.apply(name, i); const apply = (performance.now() - t1) / 200;
  console.log(`${name.padEnd(9)} durable inserts ${ins.toFixed(0)}/s (p50 ${lat[N >> 1].toFixed(1)} ms, p99 ${lat[Math.floor(N * 0.99)].toFixed(1)} ms); point read ${point.toFixed(0)} µs; 40-statement transaction ${apply.toFixed(2)} ms`);
}

const pool = new pg.Pool({ connectionString: URL, max: POOL });
const pgDrv = {
  insert: (id, i) => pool.query({ name: 'ins', text: 'INSERT INTO d (id, received_at, body, sha, status) VALUES ($1, $2, $3, $4, $5)', values: [id, i, body, 'h' + i, 'pending'] }),
  point: (id) => pool.query({ name: 'pt', text: 'SELECT status, sha FROM d WHERE id = $1', values: [id] }),
  apply: async (name, i) => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      for (let k = 0; k < 10; k++) {
        const dev = `${name}-dev-${(i * 10 + k) % 500}`;
        await c.query({ name: 'o', text: 'INSERT INTO o (device_id, at, hash) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', values: [dev, i * 10 + k, 'h'] });
        await c.query({ name: 'g', text: 'SELECT at FROM dev WHERE id = $1', values: [dev] });
        await c.query({ name: 'u', text: 'INSERT INTO dev (id, snap, at) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET snap = excluded.snap, at = excluded.at', values: [dev, 'x'.repeat(1200), i] });
        await c.query({ name: 'q', text: 'SELECT 1 WHERE $1::text IS NOT NULL', values: [dev] });
      }
      await c.query('COMMIT');
    } finally { c.release(); }
  },
};
const sql = postgres(URL, { max: POOL, prepare: true });
const pjDrv = {
  insert: (id, i) => sql`INSERT INTO d (id, received_at, body, sha, status) VALUES (${id}, ${i}, ${body}, ${'h' + i}, ${'pending'})`,
  point: (id) => sql`SELECT status, sha FROM d WHERE id = ${id}`,
  apply: (name, i) => sql.begin(async (tx) => {
    for (let k = 0; k < 10; k++) {
      const dev = `${name}-dev-${(i * 10 + k) % 500}`;
      await tx`INSERT INTO o (device_id, at, hash) VALUES (${dev}, ${i * 10 + k}, ${'h'}) ON CONFLICT DO NOTHING`;
      await tx`SELECT at FROM dev WHERE id = ${dev}`;
      await tx`INSERT INTO dev (id, snap, at) VALUES (${dev}, ${'x'.repeat(1200)}, ${i}) ON CONFLICT (id) DO UPDATE SET snap = excluded.snap, at = excluded.at`;
      await tx`SELECT 1 WHERE ${dev}::text IS NOT NULL`;
    }
  }),
};
const pjPipe = { ...pjDrv, apply: (name, i) => sql.begin((tx) => {
  const qs = [];
  for (let k = 0; k < 10; k++) {
    const dev = `${name}-dev-${(i * 10 + k) % 500}`;
    qs.push(tx`INSERT INTO o (device_id, at, hash) VALUES (${dev}, ${i * 10 + k}, ${'h'}) ON CONFLICT DO NOTHING`);
    qs.push(tx`SELECT at FROM dev WHERE id = ${dev}`);
    qs.push(tx`INSERT INTO dev (id, snap, at) VALUES (${dev}, ${'x'.repeat(1200)}, ${i}) ON CONFLICT (id) DO UPDATE SET snap = excluded.snap, at = excluded.at`);
    qs.push(tx`SELECT 1 WHERE ${dev}::text IS NOT NULL`);
  }
  return Promise.all(qs);
}) };
for (let r = 0; r < 3; r++) { await run('pg', pgDrv); await run('postgres', pjDrv); await run('pj-pipe', pjPipe); }
await pool.end(); await sql.end();
