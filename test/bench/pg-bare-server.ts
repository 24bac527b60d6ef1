// The reference for the Postgres ingest benchmark: the bare Hono handler of bare-server.ts (the
// HMAC-SHA1 check of the raw body and JSON.parse) plus what any durable receiver on Postgres must
// do: one INSERT of the body, committed before the 200. It runs on its own pool of the same size
// as the daemon's (10, pg's default here) and commits durably (`synchronous_commit` is the
// server's default, `on`; the bench prints it).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import pg from 'pg';

const secret = process.env.BENCH_SECRET ?? '';
const port = Number(process.env.BENCH_PORT ?? '0');
const pool = new pg.Pool({ connectionString: process.env.BENCH_DATABASE_URL, max: Number(process.env.BENCH_POOL ?? '10') });
await pool.query(`CREATE TABLE IF NOT EXISTS bench_deliveries (id text PRIMARY KEY, received_at int8 NOT NULL, body bytea NOT NULL)`);

const app = new Hono();
app.post('/webhooks/enode', async (c) => {
  const body = Buffer.from(await c.req.arrayBuffer());
  const header = c.req.header('x-enode-signature') ?? '';
  const expected = Buffer.from(`sha1=${createHmac('sha1', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return c.json({ error: 'unauthorized' }, 401);
  const events = JSON.parse(body.toString('utf8')) as unknown[];
  // One round trip: an autocommitted INSERT is its own transaction (the duplicate check is the key's).
  await pool.query(`INSERT INTO bench_deliveries (id, received_at, body) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`, [
    c.req.header('x-enode-delivery') ?? '',
    Date.now(),
    body,
  ]);
  return c.json({ ok: true, events: events.length });
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`listening ${info.port}\n`);
});
process.on('SIGTERM', () => {
  void pool.end().finally(() => process.exit(0));
});
