import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { JOURNAL_SIZE_LIMIT_BYTES } from './open.js';

/**
 * Once the WAL file passes this size, the checkpointer forces a TRUNCATE checkpoint. PASSIVE
 * checkpoints alone let the WAL grow without bound under a sustained burst (3.9 GB was seen):
 * the writer keeps appending, a PASSIVE run never catches up with the end of the log, and SQLite
 * restarts the log from its beginning only after a checkpoint that did.
 */
export const WAL_RESET_BYTES = 64 * 1024 * 1024;
/**
 * How long a forcing checkpoint waits for the writer's transaction and for readers before giving
 * up: while it waits it holds the write lock, so the wait stays short (acknowledgements wait
 * behind it). After a give-up the next try waits WAL_RESET_RETRY_MS: a long reader must not turn
 * the checkpointer into a second writer that starves the real one.
 */
const WAL_RESET_BUSY_MS = 100;
const WAL_RESET_RETRY_MS = 1_000;

// Plain CommonJS on purpose: it runs as an eval'd worker, the same from src/ (tsx) and dist/.
const CHECKPOINTER_SOURCE = `
const { statSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driverPath);
const db = new Database(workerData.databasePath);
db.pragma('busy_timeout = ' + workerData.resetBusyMs);
db.pragma('synchronous = FULL');
db.pragma('journal_size_limit = ' + workerData.journalSizeLimit);
const walPath = workerData.databasePath + '-wal';
parentPort.postMessage({ ready: true });
function walBytes() {
  try { return statSync(walPath).size; } catch { return 0; }
}
let nextResetAt = 0;
const timer = setInterval(() => {
  try {
    // PASSIVE never waits for or blocks the writer; what is not copied now is copied next time.
    const [p] = db.pragma('wal_checkpoint(PASSIVE)');
    const before = walBytes();
    // Only once PASSIVE has copied every frame (no reader holds an old snapshot) is forcing
    // cheap: the rest is the writer's current transaction. TRUNCATE then restarts the log and
    // shrinks the file to zero.
    if (before > workerData.walResetBytes && p.log === p.checkpointed && Date.now() >= nextResetAt) {
      const [r] = db.pragma('wal_checkpoint(TRUNCATE)');
      if (r.busy !== 0) nextResetAt = Date.now() + workerData.resetRetryMs;
      parentPort.postMessage({ reset: { walBytes: before, done: r.busy === 0, afterBytes: walBytes() } });
    }
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message) });
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  try { db.pragma('wal_checkpoint(PASSIVE)'); } finally { db.close(); }
  parentPort.postMessage({ closed: true });
});
`;

export interface Checkpointer {
  /** Settles once the thread has opened its connection and runs its interval. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** A forcing checkpoint's result: the WAL size that triggered it, whether it completed, the size after. */
export interface WalReset {
  walBytes: number;
  done: boolean;
  afterBytes: number;
  /** Why it failed, when it failed with an error (the writer's guard; retried a second later). */
  error?: string;
}

export interface CheckpointerOptions {
  /** WAL size that triggers a TRUNCATE checkpoint (default WAL_RESET_BYTES). */
  walResetBytes?: number;
  /** Called after each forcing checkpoint (for the log). */
  onReset?: (reset: WalReset) => void;
}

/**
 * Runs WAL checkpoints on a thread of their own, so that copying WAL frames into the database
 * file (and its fsync) never happens inside the writer's commits. The writer's connection turns
 * `wal_autocheckpoint` off when this runs. Bounds the WAL file: past `walResetBytes` a
 * TRUNCATE checkpoint shrinks it to zero.
 */
export function startCheckpointer(
  databasePath: string,
  intervalMs: number,
  onError: (message: string) => void,
  /** Called if the thread ends without being closed: the writer must checkpoint itself again. */
  onDeath: () => void,
  options: CheckpointerOptions = {},
): Checkpointer {
  const driverPath = createRequire(import.meta.url).resolve('better-sqlite3');
  const workerData = {
    databasePath,
    intervalMs,
    driverPath,
    walResetBytes: options.walResetBytes ?? WAL_RESET_BYTES,
    resetBusyMs: WAL_RESET_BUSY_MS,
    resetRetryMs: WAL_RESET_RETRY_MS,
    journalSizeLimit: JOURNAL_SIZE_LIMIT_BYTES,
  };
  const worker = new Worker(CHECKPOINTER_SOURCE, { eval: true, workerData });
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  worker.on('message', (m: { ready?: boolean; error?: string; reset?: WalReset }) => {
    if (m.ready) markReady();
    if (m.error) onError(m.error);
    if (m.reset) options.onReset?.(m.reset);
  });
  worker.on('error', (err) => onError(err.message));
  let closing = false;
  worker.on('exit', () => {
    if (!closing) onDeath();
  });
  // A thread that dies before it is ready settles `ready` too (onDeath reports it).
  worker.once('exit', () => markReady());
  return {
    ready,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        // The `closed` reply, not any message: a reset or error report may still be on its way.
        worker.on('message', (m: { closed?: boolean }) => {
          if (m.closed) void worker.terminate().then(() => resolve());
        });
        worker.once('exit', () => resolve());
        worker.postMessage({ op: 'close' });
      }),
  };
}

/**
 * Past this size the writer checkpoints the WAL itself, between its transactions. The
 * checkpointer thread resets the WAL only after a PASSIVE run has caught up with its end, which
 * never happens while the writer commits back to back (applying a backlog): the WAL then grew to
 * 3.3 GB applying a 2.6 GB backlog, and every page read searched its whole index.
 */
export const WAL_WRITER_RESET_BYTES = 2 * WAL_RESET_BYTES;
/** How often the writer looks at the WAL's size (a stat), and how long it waits after readers kept a reset from completing. */
const WAL_GUARD_CHECK_MS = 100;
const WAL_GUARD_RETRY_MS = 1_000;

/** What the writer's connection needs for its own resets. */
interface WriterConnection {
  pragma(source: string, options?: { simple?: boolean }): unknown;
}

/**
 * The writer's half of the WAL bound: called between transactions (never inside one), it runs a
 * TRUNCATE checkpoint on the writer's own connection once the WAL passes `resetBytes`. With no
 * other writer to wait for, it completes unless a reader holds an old snapshot (then it gives up
 * after WAL_RESET_BUSY_MS and tries again a second later); most frames were already copied by the
 * checkpointer thread's PASSIVE runs, so it copies what remains, syncs and truncates.
 */
export function createWalGuard(
  connection: WriterConnection,
  databasePath: string,
  onReset: (reset: WalReset) => void,
  resetBytes: number = WAL_WRITER_RESET_BYTES,
): () => void {
  const walPath = `${databasePath}-wal`;
  const walBytes = () => {
    try {
      return statSync(walPath).size;
    } catch {
      return 0;
    }
  };
  let nextCheckAt = 0;
  return () => {
    const now = performance.now();
    if (now < nextCheckAt) return;
    nextCheckAt = now + WAL_GUARD_CHECK_MS;
    const before = walBytes();
    if (before <= resetBytes) return;
    let done = false;
    let error: string | undefined;
    try {
      const busyMs = connection.pragma('busy_timeout', { simple: true }) as number;
      connection.pragma(`busy_timeout = ${WAL_RESET_BUSY_MS}`);
      try {
        const [r] = connection.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
        done = r?.busy === 0;
      } finally {
        connection.pragma(`busy_timeout = ${busyMs}`);
      }
    } catch (err) {
      // An I/O error here is not the writer's to die of: the stores and applies report their own.
      error = err instanceof Error ? err.message : String(err);
    }
    if (!done) nextCheckAt = now + WAL_GUARD_RETRY_MS;
    onReset({ walBytes: before, done, afterBytes: walBytes(), ...(error === undefined ? {} : { error }) });
  };
}
