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
 * A failed sync is final: after a failed fsync the kernel may have dropped the dirty pages and
 * report the next fsync as a success ("fsyncgate"), while SQLite already shows the commit to every
 * reader, and a WAL replayed after a crash stops at the first lost frame. So every sync after the
 * first failure fails with it, those in flight and those asked for later, and the writer must
 * stop (the daemon exits; what is on disk is the truth at restart), as PostgreSQL does.
 */
export interface WalSyncer {
  /** Syncs that may be in flight at once (the writer commits at most this many groups ahead). */
  readonly maxInFlight: number;
  /** Resolves once a sync that started after this call has completed; rejects when it failed. */
  sync(): Promise<void>;
  /** Syncs started since creation (for the log and tests). */
  readonly syncs: number;
  close(): void;
}

/**
 * Syncs in flight at once by default. One: each sync covers the group committed while the last
 * one ran, as a commit's own fsync did, so groups stay large (a commit of 1 delivery costs the
 * writer about 150 µs, of 16 about 60 µs). Two or three in flight measured no better on the
 * reference machine's virtual disk (fdatasync p50 2–3 ms under a burst), within its noise.
 */
export const WAL_SYNCS_IN_FLIGHT = 1;

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
export function createWalSyncer(databasePath: string, dataSync: DataSync = fdatasync, maxInFlight: number = WAL_SYNCS_IN_FLIGHT): WalSyncer {
  const walPath = `${databasePath}-wal`;
  let walFd: number | undefined;
  let walIno: number | undefined;
  /** Syncs in flight; callers past maxInFlight wait for the next one to start. */
  let inFlight = 0;
  let next: Waiter[] = [];
  /** Descriptors of a replaced WAL, closed once no sync is in flight. */
  let retired: number[] = [];
  let syncs = 0;
  let closed = false;
  /** The first failure: final. Every sync after it fails with it, even one the kernel reports as done. */
  let failed: unknown = null;

  /** Descriptors to sync now (the WAL, reopened when replaced, and then the database too), and those to close after. */
  const targets = (): { fds: number[]; close: number[] } => {
    let ino: number | undefined;
    try {
      ino = statSync(walPath).ino;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (ino !== undefined && ino === walIno && walFd !== undefined) return { fds: [walFd], close: [] };
    // First sync, or the WAL was removed or replaced: its frames were checkpointed into the database.
    if (walFd !== undefined) retired.push(walFd);
    walFd = ino === undefined ? undefined : openSync(walPath, 'r');
    walIno = walFd === undefined ? undefined : fstatSync(walFd).ino;
    const dbFd = openSync(databasePath, 'r');
    return { fds: walFd === undefined ? [dbFd] : [walFd, dbFd], close: [dbFd] };
  };

  const start = (waiters: Waiter[]): void => {
    inFlight++;
    syncs++;
    let plan: { fds: number[]; close: number[] };
    try {
      plan = targets();
    } catch (err) {
      finish(waiters, err);
      return;
    }
    let remaining = plan.fds.length;
    let failure: unknown = null;
    for (const fd of plan.fds) {
      dataSync(fd, (err) => {
        failure ??= err;
        if (--remaining > 0) return;
        for (const fd of plan.close) closeSync(fd);
        finish(waiters, failure);
      });
    }
  };

  const finish = (waiters: Waiter[], err: unknown): void => {
    inFlight--;
    if (err && failed === null) failed = err;
    for (const w of waiters) {
      if (failed !== null) w.reject(failed);
      else w.resolve();
    }
    if (failed !== null) {
      for (const w of next.splice(0)) w.reject(failed);
    } else if (next.length > 0 && !closed) {
      const waiting = next;
      next = [];
      start(waiting);
    }
    if (inFlight === 0) {
      for (const fd of retired.splice(0)) closeSync(fd);
      if (closed) closeWal();
    }
  };

  const closeWal = (): void => {
    if (walFd !== undefined) closeSync(walFd);
    walFd = undefined;
    walIno = undefined;
  };

  return {
    maxInFlight,
    sync() {
      if (failed !== null) return Promise.reject(failed);
      if (closed) return Promise.reject(new Error('WAL syncer is closed'));
      return new Promise<void>((resolve, reject) => {
        // A sync already in flight may have started before the caller's commit: never join it.
        if (inFlight < maxInFlight) start([{ resolve, reject }]);
        else next.push({ resolve, reject });
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
      if (inFlight === 0) closeWal();
    },
  };
}
