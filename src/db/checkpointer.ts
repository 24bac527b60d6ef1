import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// Plain CommonJS on purpose: it runs as an eval'd worker, the same from src/ (tsx) and dist/.
const CHECKPOINTER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driverPath);
const db = new Database(workerData.databasePath);
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = FULL');
const timer = setInterval(() => {
  try {
    // PASSIVE never waits for or blocks the writer; what is not copied now is copied next time.
    db.pragma('wal_checkpoint(PASSIVE)');
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
  close(): Promise<void>;
}

/**
 * Runs WAL checkpoints on a thread of their own, so that copying WAL frames into the database
 * file (and its fsync) never happens inside the writer's commits. The writer's connection turns
 * `wal_autocheckpoint` off when this runs.
 */
export function startCheckpointer(
  databasePath: string,
  intervalMs: number,
  onError: (message: string) => void,
  /** Called if the thread ends without being closed: the writer must checkpoint itself again. */
  onDeath: () => void,
): Checkpointer {
  const driverPath = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(CHECKPOINTER_SOURCE, { eval: true, workerData: { databasePath, intervalMs, driverPath } });
  worker.on('message', (m: { error?: string }) => {
    if (m.error) onError(m.error);
  });
  worker.on('error', (err) => onError(err.message));
  let closing = false;
  worker.on('exit', () => {
    if (!closing) onDeath();
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        worker.once('message', () => void worker.terminate().then(() => resolve()));
        worker.once('exit', () => resolve());
        worker.postMessage({ op: 'close' });
      }),
  };
}
