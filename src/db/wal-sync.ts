import { closeSync, fdatasync, fstatSync, openSync, statSync } from 'node:fs';

/**
 * Group commit with the fsync beside the writer, not on it (issue 19).
 *
 * With `synchronous=FULL` every store commit waits for its fsync on the writer thread (about
 * 1.1 ms for a group of 16 deliveries on the reference machine): nothing else is stored meanwhile.
 * Instead the writer commits stores without a sync (`synchronous=NORMAL`: the WAL frames are
 * written to the file, i.e. to the kernel's page cache, before COMMIT returns) and asks this
 * syncer for an `fdatasync` of the WAL file, which runs on libuv's thread pool while the writer
 * stores the next group. A delivery is acknowledged only after a sync that *started after its
 * commit* has completed, so "acknowledged ⇒ on disk" holds exactly as before: on Linux an fsync
 * flushes the file (the inode), whichever descriptor wrote it. A WAL replayed after a crash is a
 * prefix of the commits, so derived state never outlives the deliveries it came from.
 *
 * A failed sync is not retried: after a failed fsync the kernel may have dropped the dirty pages
 * and report the next fsync as a success ("fsyncgate"), while SQLite already shows the commit to
 * every reader. The writer must stop (the daemon exits; what is on disk is the truth at restart),
 * as PostgreSQL does.
 */
export interface WalSyncer {
  /** Resolves once a sync that started after this call has completed; rejects when it failed. */
  sync(): Promise<void>;
  /** Syncs started since creation (for the log and tests). */
  readonly syncs: number;
  close(): void;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The `fdatasync` used by the syncer; replaceable in tests to inject a failure. */
export type DataSync = (fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => void;

/**
 * Creates the syncer of the WAL of `databasePath` (a file database in WAL mode). The WAL file is
 * opened on the first sync (SQLite creates it with the first write) and again if SQLite ever
 * replaced it (a different inode at the path); then the database file is synced too, since what
 * the old WAL held was checkpointed into it.
 */
export function createWalSyncer(databasePath: string, dataSync: DataSync = fdatasync): WalSyncer {
  const walPath = `${databasePath}-wal`;
  let walFd: number | undefined;
  let walIno: number | undefined;
  /** Waiters of the sync in flight, and of the one that starts when it ends. */
  let inFlight: Waiter[] | null = null;
  let next: Waiter[] = [];
  let syncs = 0;
  let closed = false;

  /** Descriptors to sync now: the WAL (reopened when replaced), and the database after a replacement. */
  const targets = (): { fds: number[]; close: number[] } => {
    let ino: number | undefined;
    try {
      ino = statSync(walPath).ino;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (ino !== undefined && ino === walIno && walFd !== undefined) return { fds: [walFd], close: [] };
    // First sync, or the WAL was removed or replaced: its frames were checkpointed into the database.
    const stale = walFd;
    walFd = ino === undefined ? undefined : openSync(walPath, 'r');
    walIno = walFd === undefined ? undefined : fstatSync(walFd).ino;
    const dbFd = openSync(databasePath, 'r');
    return { fds: walFd === undefined ? [dbFd] : [walFd, dbFd], close: stale === undefined ? [dbFd] : [dbFd, stale] };
  };

  const start = (waiters: Waiter[]): void => {
    inFlight = waiters;
    syncs++;
    let plan: { fds: number[]; close: number[] };
    try {
      plan = targets();
    } catch (err) {
      finish(err);
      return;
    }
    let remaining = plan.fds.length;
    let failure: unknown = null;
    for (const fd of plan.fds) {
      dataSync(fd, (err) => {
        failure ??= err;
        if (--remaining > 0) return;
        for (const fd of plan.close) closeSync(fd);
        finish(failure);
      });
    }
  };

  const finish = (err: unknown): void => {
    const done = inFlight ?? [];
    inFlight = null;
    for (const w of done) {
      if (err) w.reject(err);
      else w.resolve();
    }
    if (next.length > 0 && !closed) {
      const waiters = next;
      next = [];
      start(waiters);
    } else if (closed) {
      closeWal();
    }
  };

  const closeWal = (): void => {
    if (walFd !== undefined) closeSync(walFd);
    walFd = undefined;
    walIno = undefined;
  };

  return {
    sync() {
      if (closed) return Promise.reject(new Error('WAL syncer is closed'));
      return new Promise<void>((resolve, reject) => {
        // A sync already in flight may have started before the caller's commit: wait for the next.
        if (inFlight) next.push({ resolve, reject });
        else start([{ resolve, reject }]);
      });
    },
    get syncs() {
      return syncs;
    },
    close() {
      closed = true;
      for (const w of next) w.reject(new Error('WAL syncer is closed'));
      next = [];
      // A sync in flight keeps its descriptor until it completes (finish closes it then).
      if (inFlight === null) closeWal();
    },
  };
}
