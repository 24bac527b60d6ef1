import { existsSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { IngestRepo } from '../../db/ingest-repo.js';
import type { WalSyncer } from '../../db/wal-sync.js';
import { applyEvent } from '../../ingest/apply.js';
import { isStorageError, replayDelivery, type DeliveryOutcome, type ReceivedDelivery } from '../../ingest/deliveries.js';
import type { Logger } from '../../logger.js';
import type { ActionPoll, ApplyHealth, EventApplyResult, Store } from '../port.js';
import { Ingestor } from './ingestor.js';
import { procedures, type ProcedureArgs, type ProcedureName, type ProcedureResult } from './procedures.js';

/**
 * The SQLite store: one writer of the database. Everything that changes state goes through it, so
 * SQLite never has two writers competing for its lock, and group commit sees every write. The
 * writer runs inline (`:memory:`, tests, one-shot CLI commands) or on a thread of its own.
 */
interface Writer extends Omit<Store, 'engine' | 'reconcile' | 'prune' | 'alerts' | 'subscriptions' | 'recordCommand' | 'revokeUiSession' | 'setFindingState' | 'appliedEventCounts' | 'leases' | 'transactionRetries'> {
  /** Runs a named procedure (procedures.ts) on the writer's connection. */
  run<K extends ProcedureName>(name: K, args: ProcedureArgs<K>): Promise<ProcedureResult<K>>;
}

/** The Store port over a writer: each typed write becomes its named procedure. */
function asStore(w: Writer): Store {
  return {
    engine: 'sqlite',
    submit: (d) => w.submit(d),
    idle: () => w.idle(),
    replay: (id) => w.replay(id),
    applyEvents: (events, source) => w.applyEvents(events, source),
    recordActionPolls: (polls) => w.recordActionPolls(polls),
    reconcile: (args = {}) => w.run('reconcile', args),
    prune: (args) => w.run('prune', args),
    alerts: {
      claim: (args) => w.run('alertClaim', args),
      record: (args) => w.run('alertRecord', args),
      retry: (args) => w.run('alertRetry', args),
      raise: (alert) => w.run('alertRaise', alert),
      retireSinks: (args) => w.run('alertRetireSinks', args),
    },
    subscriptions: {
      create: (args) => w.run('subscriptionCreate', args),
      update: (args) => w.run('subscriptionUpdate', args),
      remove: (args) => w.run('subscriptionRemove', args),
      rotate: (args) => w.run('subscriptionRotate', args),
      targets: () => w.run('subscriptionTargets', {}),
      fanOut: (args) => w.run('subscriptionFanOut', args),
      claim: (args) => w.run('subscriptionClaim', args),
      record: (args) => w.run('subscriptionRecord', args),
      retry: (args) => w.run('subscriptionRetry', args),
      replay: (args) => w.run('subscriptionReplay', args),
    },
    recordCommand: (record) => w.run('recordCommand', record),
    revokeUiSession: (args) => w.run('revokeUiSession', args),
    setFindingState: (change) => w.run('findingState', change),
    leases: {
      acquire: (args) => w.run('leaseAcquire', args),
      release: (args) => w.run('leaseRelease', args),
    },
    appliedEventCounts: () => w.run('appliedEventCounts', {}),
    transactionRetries: () => ({}),
    ping: () => w.ping(),
    health: () => w.health(),
    close: () => w.close(),
  };
}

/**
 * A probe within this long of the last successful one reuses it: an unauthenticated /readyz
 * flood must not turn into one fsync per request.
 */
export const PROBE_REUSE_MS = 1_000;

/** Applies events one savepoint each; facts from polls are derived (re-polled if lost), the gateway's are not. */
function applyObserved(repo: IngestRepo, events: unknown[], source: 'poll' | 'gateway', receivedAt: number): EventApplyResult[] {
  const run = () =>
    events.map((event): EventApplyResult => {
      try {
        return repo.transaction(() => applyEvent(repo, event, { source, deliveryId: null, receivedAt }));
      } catch (err) {
        if (isStorageError(err)) throw err;
        return { event: String((event as { event?: unknown } | null)?.event ?? 'unknown'), error: (err as Error).message };
      }
    });
  return source === 'gateway' ? repo.transaction(run) : repo.derivedTransaction(run);
}

/** How store commits reach the disk: each by its own fsync (default), or by a WAL syncer beside the writer. */
export interface StoreDurability {
  syncer: WalSyncer;
  /** A sync failed: the writer must stop (see db/wal-sync.ts). */
  onSyncFailure: (err: unknown) => void;
  /** Run between the writer's transactions: keeps the WAL bounded under a backlog (db/checkpointer.ts). */
  betweenTransactions?: () => void;
}

/**
 * Writer on the calling thread: for `:memory:` databases, tests and one-shot CLI commands; the
 * writer thread runs one too, with a WAL syncer.
 */
export function createInlineStore(repo: IngestRepo, clock: Clock, logger: Logger, config: Config, durability?: StoreDurability): Store {
  return asStore(createInlineWriter(repo, clock, logger, config, durability));
}

/** The writer the worker thread runs (writer-worker.ts), and the inline store's. */
export function createInlineWriter(repo: IngestRepo, clock: Clock, logger: Logger, config: Config, durability?: StoreDurability): Writer {
  const ingestor = new Ingestor(repo, clock, logger, durability ?? {});
  const context = { repo, clock, logger, config, applyBacklog: () => ingestor.backlog() };
  let probe: Database.Statement<[number]> | undefined;
  let lastProbeMs = Number.NEGATIVE_INFINITY;
  let probeError: unknown;
  return {
    run: async (name, args) => (await procedures[name](context, args as never)) as ProcedureResult<typeof name>,
    submit: (d) => ingestor.submit(d),
    idle: () => ingestor.idle(),
    applyEvents: async (events, source) => applyObserved(repo, events, source, clock.now().getTime()),
    recordActionPolls: async (polls) =>
      repo.derivedTransaction(() => {
        for (const p of polls) repo.recordActionPoll(p.id, p.polledAt, p.upstream);
      }),
    replay: async (id) => replayDelivery(repo, id, clock.now().getTime(), logger),
    ping: async () => {
      const nowMs = clock.now().getTime();
      if (Math.abs(nowMs - lastProbeMs) >= PROBE_REUSE_MS) {
        // A write that commits, not `BEGIN IMMEDIATE; ROLLBACK`: a read-only file, a full disk
        // or corrupt pages fail here, as they fail for the deliveries. Its outcome, success or
        // failure, stands for PROBE_REUSE_MS: a flood of probes costs neither fsyncs nor retries.
        lastProbeMs = nowMs;
        probeError = undefined;
        try {
          probe ??= repo.sqlite.prepare<[number]>('INSERT INTO health_probe (id, at_ms) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms');
          probe.run(nowMs);
        } catch (err) {
          probeError = err;
        }
      }
      if (probeError !== undefined) throw probeError;
      return ingestor.health(nowMs);
    },
    health: async () => ingestor.health(),
    close: () => ingestor.close(),
  };
}

/** Messages between the main thread and the writer thread. */
export type WriterRequest =
  | { seq: number; op: 'submit'; delivery: ReceivedDelivery }
  | { seq: number; op: 'replay'; deliveryId: string }
  | { seq: number; op: 'ping' }
  | { seq: number; op: 'health' }
  | { seq: number; op: 'idle' }
  | { seq: number; op: 'applyEvents'; events: unknown[]; source: 'poll' | 'gateway' }
  | { seq: number; op: 'recordActionPolls'; polls: ActionPoll[] }
  | { seq: number; op: 'run'; name: ProcedureName; args: unknown }
  | { seq: number; op: 'close' };

type WithoutSeq<T> = T extends unknown ? Omit<T, 'seq'> : never;

export type WriterReply = { seq: number; ok: true; value?: unknown } | { seq: number; ok: false; error: { message: string; code?: string } };

export interface WorkerWriterOptions {
  databasePath: string;
  logLevel: string;
  /** The daemon's configuration (procedures read their settings from it). */
  config: Config;
}

function startWorker(workerData: WorkerWriterOptions): Worker {
  // Built code runs dist/store/sqlite/writer-worker.js. Tests and `tsx` run the .ts source; a worker
  // does not inherit the main thread's tsx loader, so a bootstrap registers it first.
  const js = new URL('./writer-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData });
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const ts = new URL('./writer-worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(ts)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/**
 * Writer in a worker thread with its own connection: HTTP, signature checks and reads stay on
 * the main thread while parsing, applying and committing run on the second core.
 */
export async function createWorkerStore(
  options: WorkerWriterOptions,
  logger: Logger,
  /** Called once if the thread dies: the daemon cannot store anything after that. */
  onCrash: (err: Error) => void = () => {},
): Promise<Store> {
  const worker = startWorker(options);
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  let seq = 0;
  let failed: Error | undefined;

  let closing = false;
  const failAll = (err: Error) => {
    if (!failed && !closing) onCrash(err);
    failed = err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  // Both directions batch what one turn of the event loop produced (see writer-worker.ts).
  worker.on('message', (replies: WriterReply[]) => {
    for (const reply of replies) {
      const p = pending.get(reply.seq);
      if (!p) continue;
      pending.delete(reply.seq);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    }
  });
  worker.on('error', (err) => {
    logger.fatal({ err }, 'writer thread crashed');
    failAll(err);
  });
  worker.on('exit', (code) => {
    if (code !== 0 || pending.size > 0) failAll(failed ?? new Error(`writer thread exited with code ${code}`));
  });

  let outbox: Array<{ request: WriterRequest; transfer: ArrayBuffer[] }> = [];
  const flushOutbox = () => {
    const batch = outbox;
    outbox = [];
    if (failed) return;
    try {
      worker.postMessage(
        batch.map((b) => b.request),
        batch.flatMap((b) => b.transfer),
      );
    } catch {
      // One request that cannot be sent (not cloneable) fails alone, as it would unbatched.
      for (const { request, transfer } of batch) {
        try {
          worker.postMessage([request], transfer);
        } catch (err) {
          pending.get(request.seq)?.reject(err);
          pending.delete(request.seq);
        }
      }
    }
  };
  const call = <T>(request: WithoutSeq<WriterRequest>, transfer: ArrayBuffer[] = []): Promise<T> => {
    if (failed) return Promise.reject(failed);
    return new Promise<T>((resolve, reject) => {
      const s = ++seq;
      pending.set(s, { resolve: resolve as (v: unknown) => void, reject });
      if (outbox.length === 0) setImmediate(flushOutbox);
      outbox.push({ request: { ...request, seq: s } as WriterRequest, transfer });
    });
  };

  await call<ApplyHealth>({ op: 'ping' });
  return asStore({
    submit: (delivery) => {
      const body = delivery.body;
      // Hand the bytes over without copying when the buffer is exclusively ours.
      const transferable = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
      return call<DeliveryOutcome>({ op: 'submit', delivery }, transferable ? [body.buffer as ArrayBuffer] : []);
    },
    replay: (deliveryId) => call<DeliveryOutcome | undefined>({ op: 'replay', deliveryId }),
    ping: () => call<ApplyHealth>({ op: 'ping' }),
    health: () => call<ApplyHealth>({ op: 'health' }),
    idle: () => call<void>({ op: 'idle' }),
    applyEvents: (events, source) => call<EventApplyResult[]>({ op: 'applyEvents', events, source }),
    recordActionPolls: (polls) => call<void>({ op: 'recordActionPolls', polls }),
    run: (name, args) => call({ op: 'run', name, args }),
    close: async () => {
      if (failed) return;
      closing = true;
      await call<void>({ op: 'close' });
      await worker.terminate();
    },
  });
}
