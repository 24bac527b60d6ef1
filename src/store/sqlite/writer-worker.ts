// Entry of the writer thread: owns the write connection and the group-commit loop.
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../../clock.js';
import { createIngestRepo, ingestSettings } from '../../db/ingest-repo.js';
import { openDatabase } from '../../db/open.js';
import { createWalGuard, startCheckpointer } from '../../db/checkpointer.js';
import { createWalSyncer } from '../../db/wal-sync.js';
import { createLogger } from '../../logger.js';
import { createInlineWriter, type WorkerWriterOptions, type WriterReply, type WriterRequest } from './store.js';

const options = workerData as WorkerWriterOptions;
const CHECKPOINT_INTERVAL_MS = 250;
const port = parentPort;
if (!port) throw new Error('writer-worker must run as a worker thread');

const logger = createLogger(options.logLevel).child({ component: 'writer' });
const db = openDatabase(options.databasePath);
// Checkpoints run on their own thread (db/checkpointer.ts), not inside the writer's commits.
db.$client.pragma('wal_autocheckpoint = 0');
const checkpointer = startCheckpointer(
  options.databasePath,
  CHECKPOINT_INTERVAL_MS,
  (message) => logger.warn({ error: message }, 'background checkpoint failed; retrying at the next interval'),
  () => {
    // Without it the WAL would grow without bound: the writer checkpoints inside its commits again.
    logger.error('checkpointer thread ended; falling back to automatic checkpoints in the writer');
    db.$client.pragma('wal_autocheckpoint = 1000');
  },
  {
    onReset: (r) =>
      r.done
        ? logger.info({ walBytes: r.walBytes, afterBytes: r.afterBytes }, 'WAL passed its bound; truncated by a full checkpoint')
        : logger.warn({ walBytes: r.walBytes, afterBytes: r.afterBytes }, 'WAL passed its bound but readers or the writer kept the checkpoint from completing; retrying at the next interval'),
  },
);
const syncer = createWalSyncer(options.databasePath);
const writer = createInlineWriter(createIngestRepo(db.$client, ingestSettings(options.config)), systemClock, logger, options.config, {
  syncer,
  betweenTransactions: createWalGuard(db.$client, options.databasePath, (r) =>
    r.done
      ? logger.info({ walBytes: r.walBytes, afterBytes: r.afterBytes }, 'WAL passed its bound while the writer kept committing; the writer truncated it')
      : logger.warn(
          { walBytes: r.walBytes, afterBytes: r.afterBytes, ...(r.error ? { error: r.error } : {}) },
          r.error ? 'WAL passed its bound and the writer could not truncate it; retrying in a second' : 'WAL passed its bound but a reader kept the writer from truncating it; retrying in a second',
        ),
  ),
  onSyncFailure: (err) => {
    // Thrown outside any handler: the thread dies, the main thread's onCrash stops the daemon.
    setImmediate(() => {
      throw Object.assign(new Error(`WAL sync failed; stopping the writer: ${(err as Error)?.message ?? String(err)}`), { cause: err });
    });
  },
});

/**
 * Replies of one turn of the event loop go as one message: under load a group commit answers
 * dozens of submits at once, and a message per reply costs both threads more than the reply.
 */
let replies: WriterReply[] = [];
function reply(message: WriterReply): void {
  if (replies.length === 0) setImmediate(flushReplies);
  replies.push(message);
}
function flushReplies(): void {
  const batch = replies;
  replies = [];
  try {
    port!.postMessage(batch);
  } catch {
    // A value that cannot be cloned fails its own call only.
    for (const r of batch) {
      try {
        port!.postMessage([r]);
      } catch (err) {
        port!.postMessage([{ seq: r.seq, ok: false, error: { message: `reply could not be sent: ${(err as Error).message}` } }]);
      }
    }
  }
}

function fail(seq: number, err: unknown): void {
  const e = err as { message?: string; code?: unknown };
  reply({ seq, ok: false, error: { message: e?.message ?? String(err), ...(typeof e?.code === 'string' ? { code: e.code } : {}) } });
}

port.on('message', (requests: WriterRequest[]) => {
  for (const request of requests) handle(request);
});

function handle(request: WriterRequest): void {
  const { seq } = request;
  switch (request.op) {
    case 'submit': {
      const body = request.delivery.body;
      // A transferred ArrayBuffer arrives as a plain Uint8Array view.
      const delivery = { ...request.delivery, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) };
      writer.submit(delivery).then((value) => reply({ seq, ok: true, value }), (err: unknown) => fail(seq, err));
      return;
    }
    case 'replay':
      writer.replay(request.deliveryId).then((value) => reply({ seq, ok: true, value }), (err: unknown) => fail(seq, err));
      return;
    case 'applyEvents':
      writer.applyEvents(request.events, request.source).then((value) => reply({ seq, ok: true, value }), (err: unknown) => fail(seq, err));
      return;
    case 'recordActionPolls':
      writer.recordActionPolls(request.polls).then(() => reply({ seq, ok: true }), (err: unknown) => fail(seq, err));
      return;
    case 'run':
      writer.run(request.name, request.args as never).then((value) => reply({ seq, ok: true, value }), (err: unknown) => fail(seq, err));
      return;
    case 'idle':
      writer.idle().then(() => reply({ seq, ok: true }), (err: unknown) => fail(seq, err));
      return;
    case 'ping':
      writer.ping().then((value) => reply({ seq, ok: true, value }), (err: unknown) => fail(seq, err));
      return;
    case 'health':
      writer.health().then((value) => reply({ seq, ok: true, value }), (err: unknown) => fail(seq, err));
      return;
    case 'close':
      writer
        .close()
        .then(() => {
          syncer.close();
          return checkpointer.close();
        })
        .then(
        () => {
          db.$client.close();
          reply({ seq, ok: true });
        },
        (err: unknown) => fail(seq, err),
      );
      return;
  }
}

