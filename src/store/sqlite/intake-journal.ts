import { closeSync, fdatasync, fstatSync, ftruncateSync, openSync, readSync, writev } from 'node:fs';
import { crc32 } from 'node:zlib';
import { checkBody, derivedDeliveryId, storeDelivery, type BodyCheck, type DeliveryOutcome, type ReceivedDelivery } from '../../ingest/deliveries.js';
import type { Logger } from '../../logger.js';
import { SeenFilter } from './seen-filter.js';
import type { DeliveryHead, NewDelivery, StoredDeliveryHead } from '../funnel.js';

/**
 * The SQLite daemon's intake journal (issue 19): an append-only file beside the database
 * (`<database>-intake`) where a verified delivery is made durable before it is acknowledged.
 *
 * Why: acknowledging after the writer thread had stored the delivery in SQLite put the writer's
 * insert, its commit and a sync of the WAL's larger pages on every acknowledgement's path, and
 * behind any apply slice the writer was running. Here the HTTP thread appends the bytes and one
 * `fdatasync` (on libuv's pool) covers every frame appended before it began (group commit);
 * the writer stores the delivery in SQLite moments later, off the acknowledgement's path.
 *
 * The promise is unchanged: acknowledged ⇒ on disk. A frame leaves the journal (the file is
 * truncated) only once every frame in it is stored in SQLite and that store's WAL is synced. After
 * a crash the frames still in the file are stored again at start, before anything is served;
 * storing is idempotent (a delivery already stored is a duplicate), so a frame stored twice is
 * stored once. A frame torn by the crash (never acknowledged: its sync never completed) fails its
 * length or CRC check and is cut off with everything after it.
 *
 * Frame: 4 bytes head length, 4 bytes body length, 4 bytes CRC-32 of head and body (all
 * big-endian), the head (JSON: header id, receive time, stored headers, the route's body check),
 * the body's bytes.
 */
export const INTAKE_JOURNAL_SUFFIX = '-intake';

const PREFIX_BYTES = 12;
/** Larger than any head the route writes (headers are allow-listed, each bounded by Node's header limit). */
const MAX_HEAD_BYTES = 1024 * 1024;
/** Larger than any body the route accepts (WEBHOOK_BODY_LIMIT_BYTES is validated far below this). */
const MAX_BODY_BYTES = 1024 * 1024 * 1024;
/** Buffers per `writev` call (Linux takes at most 1,024; a frame is three). */
const WRITE_SLICE = 512;

interface FrameHead {
  headerId: string | null;
  receivedAt: number;
  headers: Record<string, string>;
  checked: BodyCheck;
}

/** The bytes of one frame, ready for one `writev`. */
export function encodeFrame(d: ReceivedDelivery & { checked: BodyCheck }): Buffer[] {
  const head = Buffer.from(JSON.stringify({ headerId: d.headerId, receivedAt: d.receivedAt, headers: d.headers, checked: d.checked } satisfies FrameHead));
  const body = Buffer.from(d.body.buffer, d.body.byteOffset, d.body.byteLength);
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  prefix.writeUInt32BE(head.byteLength, 0);
  prefix.writeUInt32BE(body.byteLength, 4);
  prefix.writeUInt32BE(crc32(body, crc32(head)), 8);
  return [prefix, head, body];
}

/** Reads exactly `length` bytes at `position`, or fewer at the end of the file. */
function readAt(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** The frame at `offset`, or undefined when none is whole there (the end, or a torn or corrupt tail). */
export function readFrame(fd: number, offset: number): { delivery: ReceivedDelivery & { checked: BodyCheck }; bytes: number } | undefined {
  const prefix = readAt(fd, PREFIX_BYTES, offset);
  if (prefix.byteLength < PREFIX_BYTES) return undefined;
  const headBytes = prefix.readUInt32BE(0);
  const bodyBytes = prefix.readUInt32BE(4);
  if (headBytes === 0 || headBytes > MAX_HEAD_BYTES || bodyBytes > MAX_BODY_BYTES) return undefined;
  const rest = readAt(fd, headBytes + bodyBytes, offset + PREFIX_BYTES);
  if (rest.byteLength < headBytes + bodyBytes) return undefined;
  const head = rest.subarray(0, headBytes);
  const body = rest.subarray(headBytes);
  if (crc32(body, crc32(head)) !== prefix.readUInt32BE(8)) return undefined;
  let parsed: FrameHead;
  try {
    parsed = JSON.parse(head.toString('utf8')) as FrameHead;
  } catch {
    return undefined;
  }
  // The body gets a buffer of its own, so that it can be handed to the writer thread without a copy.
  const own = new Uint8Array(body.byteLength);
  own.set(body);
  return {
    delivery: { headerId: parsed.headerId, receivedAt: parsed.receivedAt, headers: parsed.headers, body: own, checked: parsed.checked },
    bytes: PREFIX_BYTES + headBytes + bodyBytes,
  };
}

export interface IntakeJournal {
  /**
   * Appends a delivery's frame at the returned position (throws once the journal has failed). The
   * frame is written with the others of its round, and `durable` resolves once an fdatasync that
   * began after the append has completed; it rejects when that write or sync failed (nothing is
   * promised then). The body's bytes must stay as they are until then.
   */
  append(delivery: ReceivedDelivery & { checked: BodyCheck }): { position: number; durable: Promise<void> };
  /** The frame at a position appended (and durable) since its file's last truncation, to store it again after a failure. */
  frameAt(position: number): (ReceivedDelivery & { checked: BodyCheck }) | undefined;
  /** Which of the two files a position is in. */
  fileOf(position: number): 0 | 1;
  /** The file appends go to. */
  activeFile(): 0 | 1;
  /**
   * Empties a file. Only when every frame in it is stored in SQLite and that store is synced;
   * refused (a no-op) while a round writes to it or frames wait to be written to it.
   */
  truncate(file: 0 | 1): void;
  /** Bytes in a file. */
  size(file: 0 | 1): number;
  /** Set once an append or a sync failed: the journal takes nothing more. */
  failure(): Error | undefined;
  close(): void;
}

/** Past this many bytes the active file hands over to the other one, once that one is empty. */
export const ROTATE_BYTES = 64 * 1024 * 1024;
/** A position is file × 2^46 + offset (2^46 bytes, 64 TiB, is far more than a file ever holds). */
const FILE_SPAN = 2 ** 46;

/** The journal's two files: `<path>` and `<path>-1`. */
export function journalFiles(path: string): [string, string] {
  return [path, `${path}-1`];
}

interface JournalFile {
  fd: number;
  size: number;
}

/**
 * Opens the journal at `path` (two files, created if missing: appends go to one until it holds
 * ROTATE_BYTES, then to the other once that one is emptied, so that a long burst never needs more
 * than about twice that while the writer keeps up) and reads back the frames a previous process
 * left, oldest file first, for `recover` to store (awaited one at a time, so memory holds one
 * frame). A torn or corrupt tail is cut off. The files are then empty only once `truncate` runs.
 */
export async function openIntakeJournal(
  path: string,
  recover: (delivery: ReceivedDelivery & { checked: BodyCheck }) => Promise<void>,
  /** How the files are synced: `fs.fdatasync` (a test may watch it). */
  syncFile: typeof fdatasync = fdatasync,
  /** ROTATE_BYTES (a test may shorten it). */
  rotateBytes = ROTATE_BYTES,
): Promise<{ journal: IntakeJournal; recovered: number; cutBytes: number }> {
  const files: JournalFile[] = [];
  try {
    for (const name of journalFiles(path)) {
      const fd = openSync(name, 'a+');
      files.push({ fd, size: fstatSync(fd).size });
    }
  } catch (err) {
    for (const f of files) closeSync(f.fd);
    throw err;
  }
  let recovered = 0;
  let cutBytes = 0;
  try {
    // The file whose first frame is older goes first: the order the deliveries arrived in.
    const firstAt = (f: JournalFile) => readFrame(f.fd, 0)?.delivery.receivedAt ?? Number.POSITIVE_INFINITY;
    const order = firstAt(files[1]!) < firstAt(files[0]!) ? [1, 0] : [0, 1];
    for (const i of order) {
      const f = files[i]!;
      let offset = 0;
      for (;;) {
        const frame = readFrame(f.fd, offset);
        if (!frame) break;
        await recover(frame.delivery);
        recovered++;
        offset += frame.bytes;
      }
      if (f.size > offset) {
        // Never acknowledged (its sync did not complete before the crash): nothing to keep.
        cutBytes += f.size - offset;
        ftruncateSync(f.fd, offset);
        f.size = offset;
      }
    }
  } catch (err) {
    for (const f of files) closeSync(f.fd);
    throw err;
  }

  let active: 0 | 1 = files[0]!.size === 0 || files[1]!.size !== 0 ? 0 : 1;
  let failed: Error | undefined;
  const failWith = (what: string, err: NodeJS.ErrnoException) => {
    failed ??= Object.assign(new Error(`intake journal ${path}: ${what} failed: ${err.message}`), { code: err.code });
  };
  // Frames appended since the last round began (all to the active file), and who waits for them.
  let queued: Buffer[] = [];
  let queuedBytes = 0;
  let waiting: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  /** The file a round in flight writes to, or null. */
  let writing: 0 | 1 | null = null;
  /** Writes `buffers` (in slices the kernel takes in one call) at the end of the file, then calls `done`. */
  const writeAll = (fd: number, buffers: Buffer[], from: number, done: (err: NodeJS.ErrnoException | null) => void) => {
    if (from >= buffers.length) return done(null);
    const slice = buffers.slice(from, from + WRITE_SLICE);
    const bytes = slice.reduce((n, b) => n + b.byteLength, 0);
    writev(fd, slice, (err, written) => {
      if (err) return done(err);
      // A short write would leave a partial frame that every later frame sits behind.
      if (written !== bytes) return done(Object.assign(new Error(`short write: ${written} of ${bytes} bytes`), { code: 'EIO' }));
      writeAll(fd, buffers, from + WRITE_SLICE, done);
    });
  };
  /**
   * One round: every frame appended since the last round began is written (on libuv's pool, off
   * the HTTP thread) and synced; then their appends are answered. Frames appended meanwhile wait
   * for the next round, so an answer always follows a sync that began after its append.
   */
  const round = () => {
    if (writing !== null || waiting.length === 0) return;
    const file = active;
    writing = file;
    const { fd } = files[file]!;
    const buffers = queued;
    const batch = waiting;
    queued = [];
    queuedBytes = 0;
    waiting = [];
    const finish = () => {
      writing = null;
      for (const w of batch) {
        if (failed) w.reject(failed);
        else w.resolve();
      }
      if (failed) {
        for (const w of waiting) w.reject(failed);
        waiting = [];
        return;
      }
      round();
    };
    writeAll(fd, buffers, 0, (err) => {
      if (err) {
        failWith('append', err);
        return finish();
      }
      syncFile(fd, (syncErr) => {
        // After a failed fsync the kernel may have dropped the pages: nothing since can be promised.
        if (syncErr) failWith('fdatasync', syncErr);
        finish();
      });
    });
  };

  const journal: IntakeJournal = {
    append(delivery) {
      if (failed) throw failed;
      // Hand over to the other file when it is empty, between rounds' frames (queued all go to one file).
      const other = (1 - active) as 0 | 1;
      if (files[active]!.size >= rotateBytes && files[other]!.size === 0 && queuedBytes === 0 && writing !== other) active = other;
      const f = files[active]!;
      const frame = encodeFrame(delivery);
      const position = active * FILE_SPAN + f.size;
      for (const b of frame) {
        queued.push(b);
        queuedBytes += b.byteLength;
        f.size += b.byteLength;
      }
      const durable = new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
      round();
      return { position, durable };
    },
    frameAt(position) {
      const file = journal.fileOf(position);
      return readFrame(files[file]!.fd, position - file * FILE_SPAN)?.delivery;
    },
    fileOf: (position) => (position >= FILE_SPAN ? 1 : 0),
    activeFile: () => active,
    truncate(file) {
      const f = files[file]!;
      // Not under a round in flight, nor with frames waiting for one: they would land at offsets nobody expects.
      if (f.size === 0 || failed || writing === file || (file === active && queuedBytes > 0)) return;
      ftruncateSync(f.fd, 0);
      f.size = 0;
    },
    size: (file) => files[file]!.size,
    failure: () => failed,
    close() {
      for (const f of files) closeSync(f.fd);
    },
  };
  return { journal, recovered, cutBytes };
}

/**
 * Deliveries acknowledged and not yet stored in SQLite past this: submissions answer 503 (the
 * writer is stuck, or far behind). About 300 bytes of memory each; their bytes are on disk.
 */
export const MAX_UNSTORED = 100_000;
/** After the journal empties of unstored frames, it is truncated this much later (or at once past TRUNCATE_AT_BYTES). */
const TRUNCATE_AFTER_MS = 1_000;
const TRUNCATE_AT_BYTES = 16 * 1024 * 1024;
/** A store that failed (a storage error on the writer) is tried again this much later, from the journal. */
const RESTORE_RETRY_MS = 1_000;

/** Heads of the deliveries stored under the ids asked for (in order; null: none), and the first stored with the body. */
export interface DeliveryLookup {
  byId: Array<DeliveryHead | null>;
  byBody: StoredDeliveryHead | null;
}

const NONE_STORED: DeliveryLookup = { byId: [null, null], byBody: null };

/**
 * Acknowledged deliveries go to the writer as their frames become durable, at most STORE_WINDOW
 * awaiting their store at once (memory stays bounded whatever the writer's pace).
 *
 * Measured and dropped (BENCHMARKS.md, issue 19): holding them in the journal while a burst lasts,
 * so that the writer stayed idle beside the acknowledgements, acknowledged about 30 % more a
 * second but applied about 10 % less: the stores the writer did beside the burst on the second
 * core then came after it. Issue 16 wants neither figure to fall.
 */
const STORE_WINDOW = 256;

interface Unstored {
  id: string;
  /** The journal file its frame is in. */
  file: 0 | 1;
  head: DeliveryHead;
  /** Settles once the frame is synced (or its sync failed). */
  durable: Promise<void>;
  /** Settles once the writer has stored it and synced that store (or storing gave up at close). */
  stored: Promise<void>;
  settle: () => void;
}

export interface JournaledIntakeOptions {
  journalPath: string;
  /** What SQLite already holds under these ids and this body (on the writer: procedures.ts `deliveryLookup`). */
  lookup: (ids: string[], bodySha256: string) => Promise<DeliveryLookup>;
  /** The ids and body hashes of the deliveries stored (read once, at start): who may need a lookup. */
  storedKeys: () => Iterable<string>;
  /** Stores a delivery on the writer; resolves once that store is synced (the writer's WAL syncer). */
  store: (delivery: ReceivedDelivery) => Promise<DeliveryOutcome>;
  logger: Logger;
  /** The journal failed (append or fdatasync): nothing can be acknowledged any more. Called once. */
  onFailure: (err: Error) => void;
  /** How the journal is synced: `fs.fdatasync` (a test may watch it). */
  syncFile?: typeof fdatasync;
  /** When the journal turns to its other file: ROTATE_BYTES (a test may shorten it). */
  rotateBytes?: number;
}

export interface JournaledIntake {
  submit(delivery: ReceivedDelivery): Promise<DeliveryOutcome>;
  /** Resolves once every delivery acknowledged so far is stored in SQLite. */
  stored(): Promise<void>;
  /** Waits for the stores in flight, truncates the journal when all are stored, closes it. */
  close(): Promise<void>;
}

/**
 * Acknowledging through the journal. `submit` decides what the writer will decide (new, duplicate
 * of a stored delivery, duplicate of one still in the journal, a reused id stored under a derived
 * id) with the same `storeDelivery`, over the deliveries SQLite holds and those appended and not
 * yet stored; a new one is appended, handed to the writer, and answered once its frame is synced.
 * Only this thread appends, and the writer stores in the order given, so the writer's decision is
 * the one answered. Frames left by a previous process are stored before this resolves.
 */
export async function openJournaledIntake(o: JournaledIntakeOptions): Promise<JournaledIntake> {
  const { logger } = o;
  // Recovery: frames stored in windows of RECOVERY_WINDOW (each store waits for a WAL sync).
  const RECOVERY_WINDOW = 256;
  let window: Array<Promise<unknown>> = [];
  const opened = await openIntakeJournal(o.journalPath, async (delivery) => {
    window.push(o.store(delivery));
    if (window.length >= RECOVERY_WINDOW) {
      await Promise.all(window);
      window = [];
    }
  }, o.syncFile, o.rotateBytes);
  await Promise.all(window);
  const { journal } = opened;
  if (opened.cutBytes > 0) {
    logger.warn({ journal: o.journalPath, bytes: opened.cutBytes }, 'intake journal: cut a torn tail (a frame whose sync never completed, so never acknowledged)');
  }
  if (opened.recovered > 0) {
    logger.info({ journal: o.journalPath, deliveries: opened.recovered }, 'intake journal: stored the deliveries acknowledged before the last stop');
  }
  journal.truncate(0);
  journal.truncate(1);
  // After recovery: what it stored is among the keys.
  const seen = new SeenFilter();
  for (const key of o.storedKeys()) seen.add(key);

  const byId = new Map<string, Unstored>();
  const bySha = new Map<string, Unstored>();
  /** Unstored frames in each file: a file is emptied once it holds none. */
  const unstoredIn = [0, 0];
  let lastFile = journal.activeFile();
  let truncateTimer: NodeJS.Timeout | undefined;
  let failureReported = false;
  let storeFailing = false;
  let closing = false;

  const fail = (err: Error) => {
    if (failureReported) return;
    failureReported = true;
    o.onFailure(err);
  };
  /**
   * Empties a file whose frames are all stored: the other file at once (appends went on in the
   * active one); the active one at once past TRUNCATE_AT_BYTES, else after TRUNCATE_AFTER_MS
   * (between two deliveries of a trickle it would be emptied again and again).
   */
  const maybeTruncate = (file: 0 | 1) => {
    if (unstoredIn[file]! > 0 || journal.failure()) return;
    if (file !== journal.activeFile() || journal.size(file) >= TRUNCATE_AT_BYTES) {
      journal.truncate(file);
      return;
    }
    if (truncateTimer || journal.size(file) === 0) return;
    truncateTimer = setTimeout(() => {
      truncateTimer = undefined;
      for (const f of [0, 1] as const) if (unstoredIn[f] === 0) journal.truncate(f);
    }, TRUNCATE_AFTER_MS);
    truncateTimer.unref();
  };
  const release = (entry: Unstored) => {
    if (byId.get(entry.id) === entry) byId.delete(entry.id);
    if (bySha.get(entry.head.bodySha256) === entry) bySha.delete(entry.head.bodySha256);
    unstoredIn[entry.file]!--;
    maybeTruncate(entry.file);
  };
  /** Stores the frame on the writer; on a storage error, again from the journal a second later, until it is stored or we stop. */
  const storeFrame = (entry: Unstored, delivery: ReceivedDelivery, position: number): Promise<void> =>
    o
      .store(delivery)
      .then(
      () => {
        if (storeFailing) logger.info({ deliveryId: entry.id }, 'intake journal: storing deliveries works again');
        storeFailing = false;
        release(entry);
      },
      async (err: unknown) => {
        if (!storeFailing) logger.error({ err, deliveryId: entry.id }, 'intake journal: could not store an acknowledged delivery; it stays in the journal and is tried again');
        storeFailing = true;
        for (;;) {
          await new Promise((r) => setTimeout(r, RESTORE_RETRY_MS));
          // Closing, or the journal failed: the frame stays in the file and is stored at the next start.
          if (closing || journal.failure()) return;
          const again = journal.frameAt(position);
          if (!again) continue;
          try {
            await o.store(again);
            logger.info({ deliveryId: entry.id }, 'intake journal: storing deliveries works again');
            storeFailing = false;
            release(entry);
            return;
          } catch {
            // Still failing: the first error was logged.
          }
        }
      },
    )
      .finally(() => entry.settle());

  let ready: Array<{ entry: Unstored; position: number; delivery: ReceivedDelivery }> = [];
  let draining = false;
  /** Stores what is ready, a window at a time, oldest first. */
  const drain = async () => {
    if (draining) return;
    draining = true;
    try {
      while (ready.length > 0) {
        const window = ready.splice(0, STORE_WINDOW);
        await Promise.all(window.map(({ entry, position, delivery }) => storeFrame(entry, delivery, position)));
      }
    } finally {
      draining = false;
    }
  };
  const queueStore = (entry: Unstored, position: number, delivery: ReceivedDelivery) => {
    ready.push({ entry, position, delivery });
    void drain();
  };

  return {
    async submit(delivery) {
      const failure = journal.failure();
      if (failure) throw failure;
      if (closing) throw new Error('intake journal closed');
      if (byId.size >= MAX_UNSTORED) throw new Error(`${byId.size} acknowledged deliveries are not stored in the database yet; refusing more until the writer catches up`);
      const checked = delivery.checked ?? checkBody(delivery.body);
      const received = { ...delivery, checked };
      // Every id storeDelivery may look at: the delivery's own, and the one it would derive.
      const sha = checked.bodySha256;
      const ownId = delivery.headerId ?? `sha256-${sha}`;
      const ids = [ownId, derivedDeliveryId(ownId, sha)];
      // A delivery whose id and body were never stored needs no lookup (nearly all of them).
      const found = seen.mightHave(ownId) || seen.mightHave(sha) ? await o.lookup(ids, sha) : NONE_STORED;
      const storedHeads = new Map(ids.map((id, i) => [id, found.byId[i] ?? undefined]));
      let inserted: NewDelivery | undefined;
      // Decided in one synchronous step after the lookup: what was appended meanwhile is in the maps.
      const { outcome } = storeDelivery(
        {
          findDelivery: (id) => {
            if (!storedHeads.has(id)) throw new Error(`intake journal: delivery id ${id} was not looked up`);
            return byId.get(id)?.head ?? storedHeads.get(id);
          },
          findDeliveryByBody: (bodySha256) => {
            const unstored = bySha.get(bodySha256);
            return unstored ? { id: unstored.id, ...unstored.head } : (found.byBody ?? undefined);
          },
          insertDelivery: (row) => {
            inserted = row;
            return true;
          },
        },
        received,
      );
      if (!inserted) {
        // A duplicate. Of one still in the journal: answered once that one is on disk.
        const original = bySha.get(checked.bodySha256) ?? byId.get(outcome.deliveryId);
        if (original) await original.durable;
        return outcome;
      }
      let appended: { position: number; durable: Promise<void> };
      try {
        appended = journal.append(received);
      } catch (err) {
        fail(err as Error);
        throw err;
      }
      seen.add(inserted.id);
      seen.add(inserted.bodySha256);
      let settle!: () => void;
      const entry: Unstored = {
        id: inserted.id,
        file: journal.fileOf(appended.position),
        head: { status: inserted.status, error: inserted.error, eventCount: inserted.eventCount, bodySha256: inserted.bodySha256 },
        durable: appended.durable.catch(() => {}),
        stored: new Promise<void>((r) => (settle = r)),
        settle: () => settle(),
      };
      byId.set(entry.id, entry);
      bySha.set(entry.head.bodySha256, entry);
      unstoredIn[entry.file]!++;
      if (entry.file !== lastFile) {
        // The journal turned to its other file: the one it left is emptied once all of it is stored.
        const left = lastFile;
        lastFile = entry.file;
        maybeTruncate(left);
      }
      if (truncateTimer) {
        clearTimeout(truncateTimer);
        truncateTimer = undefined;
      }
      try {
        await appended.durable;
      } catch (err) {
        // Not promised, so not acknowledged (503: Enode sends it again); the daemon stops. Should
        // its frame have reached the file, the next start stores it, and the resend is a duplicate.
        release(entry);
        entry.settle();
        fail(err as Error);
        throw err;
      }
      // To the writer only now: until its round has written it, the frame's bytes must stay ours.
      queueStore(entry, appended.position, received);
      return outcome;
    },
    async stored() {
      while (byId.size > 0) {
        await Promise.all([...byId.values()].map((e) => e.stored));
      }
    },
    async close() {
      closing = true;
      if (truncateTimer) clearTimeout(truncateTimer);
      await Promise.all([...byId.values()].map((e) => e.stored));
      if (byId.size === 0) {
        journal.truncate(0);
        journal.truncate(1);
      }
      journal.close();
    },
  };
}
