/**
 * Run as a child process by test/integration/embedding-stop.test.ts: an embedded enode-sync on
 * `:memory:` with its jobs started, an SSE stream read by its client, one its client never reads,
 * a waiting `events()` iterator; then `stop()`. The process must then exit by itself: nothing of
 * ours may keep it alive. Prints the resources still keeping the loop alive right after stop().
 */
import { createEnodeSync } from '../../src/index.js';
import { silentLogger } from '../../src/logger.js';

const ADMIN_TOKEN = 'embedding-admin-token-0123456789abcdef';
const sync = await createEnodeSync({
  databasePath: ':memory:',
  enodeWebhookSecret: 'embedding-webhook-secret-0123456789',
  adminToken: ADMIN_TOKEN,
  eventsStreamKeepaliveSeconds: 1,
  logger: silentLogger(),
});
sync.start();
const stream = () => sync.fetch(new Request('http://embedded/api/v1/events/stream', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
const read = (await stream()).body!.getReader();
await read.read();
// Opened and never read.
await stream();
const iterator = sync.events();
const waiting = iterator.next();
await new Promise((resolve) => setTimeout(resolve, 1_500));
const reading = (async () => {
  for (;;) if ((await read.read()).done) return;
})();
await sync.stop();
await waiting;
await reading;
const alive = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
process.stdout.write(`stopped ${JSON.stringify(alive)}\n`);
