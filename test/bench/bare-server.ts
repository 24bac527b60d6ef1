// The reference for the ingest benchmark: a bare Hono handler that does only what any receiver
// must do — the HMAC-SHA1 check of the raw body and JSON.parse — and answers 200. No storage.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const secret = process.env.BENCH_SECRET ?? '';
const port = Number(process.env.BENCH_PORT ?? '0');
const app = new Hono();
app.post('/webhooks/enode', async (c) => {
  const body = Buffer.from(await c.req.arrayBuffer());
  const header = c.req.header('x-enode-signature') ?? '';
  const expected = Buffer.from(`sha1=${createHmac('sha1', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return c.json({ error: 'unauthorized' }, 401);
  const events = JSON.parse(body.toString('utf8')) as unknown[];
  return c.json({ ok: true, events: events.length });
});
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`listening ${info.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
