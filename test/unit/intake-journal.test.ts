import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkBody, type DeliveryOutcome, type ReceivedDelivery } from '../../src/ingest/deliveries.js';
import { silentLogger } from '../../src/logger.js';
import type { DeliveryHead, StoredDeliveryHead } from '../../src/store/funnel.js';
import { openIntakeJournal, openJournaledIntake, type JournaledIntakeOptions } from '../../src/store/sqlite/intake-journal.js';
import { captureLogs } from '../support/logs.js';

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'intake-journal-'));
  path = join(dir, 'db.sqlite-intake');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function delivery(headerId: string | null, text: string, receivedAt = 1_000): ReceivedDelivery & { checked: NonNullable<ReceivedDelivery['checked']> } {
  const body = new TextEncoder().encode(text);
  return { headerId, receivedAt, headers: { 'content-type': 'application/json', 'x-enode-delivery': headerId ?? '' }, body, checked: checkBody(body) };
}

const text = (d: ReceivedDelivery) => new TextDecoder().decode(d.body);

/** What SQLite would hold: a fake of the writer's store and the main thread's lookups over it. */
function fakeDatabase() {
  const rows = new Map<string, DeliveryHead>();
  const stores: ReceivedDelivery[] = [];
  let failNext = 0;
  let hold: Promise<void> | undefined;
  const byBody = (sha: string): StoredDeliveryHead | undefined => {
    for (const [id, head] of rows) if (head.bodySha256 === sha) return { id, ...head };
    return undefined;
  };
  const lookups: string[][] = [];
  const lookup: JournaledIntakeOptions['lookup'] = async (ids, sha) => {
    lookups.push(ids);
    return { byId: ids.map((id) => rows.get(id) ?? null), byBody: byBody(sha) ?? null };
  };
  const store = async (d: ReceivedDelivery): Promise<DeliveryOutcome> => {
    // Copied before any await: the real store hands the bytes to the writer thread.
    const copy = { ...d, body: new Uint8Array(d.body) };
    stores.push(copy);
    if (hold) await hold;
    if (failNext > 0) {
      failNext--;
      throw new Error('SQLITE_FULL: database or disk is full');
    }
    const sha = d.checked!.bodySha256;
    const id = d.headerId ?? `sha256-${sha}`;
    const existing = rows.get(id) ?? byBody(sha);
    if (!existing) rows.set(id, { status: 'pending', error: null, eventCount: 1, bodySha256: sha });
    return { deliveryId: id, status: 'pending', duplicate: existing !== undefined, error: null, eventCount: 1 };
  };
  return {
    rows,
    stores,
    lookups,
    keys: () => [...rows].flatMap(([id, head]) => [id, head.bodySha256]),
    lookup,
    store,
    failNext: (n: number) => (failNext = n),
    /** Stores wait until the returned function is called. */
    holdStores: () => {
      let release!: () => void;
      hold = new Promise((r) => (release = r));
      return () => {
        hold = undefined;
        release();
      };
    },
  };
}

describe('intake journal file', () => {
  it('reads back every whole frame in order, with its head, and cuts a torn tail', async () => {
    const first = await openIntakeJournal(path, async () => {});
    const a = delivery('a', '[{"event":"user:vehicle:updated","n":1}]');
    const b = delivery(null, '[{"event":"user:vehicle:updated","n":2}]', 2_000);
    await first.journal.append(a).durable;
    const atB = first.journal.append(b);
    await atB.durable;
    first.journal.close();
    const whole = statSync(path).size;
    // A crash in the middle of a third frame's write.
    appendFileSync(path, Buffer.from([0, 0, 0, 40, 0, 0, 0, 9, 1, 2]));

    const seen: ReceivedDelivery[] = [];
    const second = await openIntakeJournal(path, async (d) => void seen.push(d));
    expect(second.recovered).toBe(2);
    expect(second.cutBytes).toBe(10);
    expect(statSync(path).size).toBe(whole);
    expect(seen.map((d) => [d.headerId, d.receivedAt, text(d), d.checked])).toEqual([
      ['a', 1_000, text(a), a.checked],
      [null, 2_000, text(b), b.checked],
    ]);
    expect(seen[0]!.headers).toEqual(a.headers);
    expect(second.journal.frameAt(atB.position)?.headerId).toBeNull();
    second.journal.close();
  });

  it('stops at a frame whose bytes changed (CRC), keeping the frames before it', async () => {
    const first = await openIntakeJournal(path, async () => {});
    await first.journal.append(delivery('a', '[{"event":"x"}]')).durable;
    const second = first.journal.append(delivery('b', '[{"event":"y"}]'));
    await second.durable;
    first.journal.close();
    const bytes = readFileSync(path);
    bytes[bytes.length - 3]! ^= 0xff;
    writeFileSync(path, bytes);

    const seen: string[] = [];
    const reopened = await openIntakeJournal(path, async (d) => void seen.push(d.headerId!));
    expect(seen).toEqual(['a']);
    expect(reopened.cutBytes).toBe(bytes.length - second.position);
    reopened.journal.close();
  });

  it('appends after a truncation from the start of the file', async () => {
    const { journal } = await openIntakeJournal(path, async () => {});
    await journal.append(delivery('a', '[{"event":"x"}]')).durable;
    journal.truncate(0);
    expect(statSync(path).size).toBe(0);
    const again = journal.append(delivery('b', '[{"event":"y"}]'));
    expect(again.position).toBe(0);
    await again.durable;
    expect(journal.frameAt(0)?.headerId).toBe('b');
    journal.close();
  });
});

describe('intake journal: two files in turn', () => {
  it('turns to the other file once the active one is full and the other empty, and reads both back, oldest first', async () => {
    const { journal } = await openIntakeJournal(path, async () => {}, undefined, 1);
    const a = journal.append(delivery('a', '[{"event":"x"}]', 1_000));
    await a.durable;
    const b = journal.append(delivery('b', '[{"event":"x"}]', 2_000));
    await b.durable;
    const c = journal.append(delivery('c', '[{"event":"x"}]', 3_000));
    await c.durable;
    expect([a, b, c].map((x) => journal.fileOf(x.position))).toEqual([0, 1, 1]);
    // The first file's frames are stored: emptied; the next append turns back to it.
    journal.truncate(0);
    const d = journal.append(delivery('d', '[{"event":"x"}]', 4_000));
    await d.durable;
    expect(journal.fileOf(d.position)).toBe(0);
    expect(journal.frameAt(c.position)?.headerId).toBe('c');
    journal.close();
    expect(statSync(path).size).toBeGreaterThan(0);
    expect(statSync(`${path}-1`).size).toBeGreaterThan(0);

    const seen: string[] = [];
    const reopened = await openIntakeJournal(path, async (x) => void seen.push(x.headerId!));
    expect(seen).toEqual(['b', 'c', 'd']);
    reopened.journal.close();
  });

  it('empties the file it left once all its frames are stored, while the other keeps taking deliveries', async () => {
    const db = fakeDatabase();
    const intake = await openJournaledIntake({ journalPath: path, lookup: db.lookup, store: db.store, storedKeys: () => db.keys(), logger: silentLogger(), onFailure: () => {}, rotateBytes: 1 });
    await intake.submit(delivery('r-1', '[{"event":"x","n":1}]'));
    await intake.stored();
    const release = db.holdStores();
    // The first file holds r-1 (stored); r-2 goes to the second, which turns the first out.
    await intake.submit(delivery('r-2', '[{"event":"x","n":2}]'));
    expect(statSync(path).size).toBe(0);
    expect(statSync(`${path}-1`).size).toBeGreaterThan(0);
    release();
    await intake.stored();
    await intake.close();
    expect(statSync(`${path}-1`).size).toBe(0);
    expect(db.stores.map((d) => d.headerId)).toEqual(['r-1', 'r-2']);
  });
});

describe('acknowledging through the journal', () => {
  it('answers a new delivery once its frame is synced, stores it once, and empties the journal once it is stored', async () => {
    const db = fakeDatabase();
    const intake = await openJournaledIntake({ journalPath: path, lookup: db.lookup, store: db.store, storedKeys: () => db.keys(), logger: silentLogger(), onFailure: () => {} });
    const release = db.holdStores();
    const outcome = await intake.submit(delivery('d-1', '[{"event":"x"}]'));
    expect(outcome).toMatchObject({ deliveryId: 'd-1', status: 'pending', duplicate: false, eventCount: 1 });
    // Acknowledged while the writer has not stored it: the journal holds it.
    expect(db.rows.size).toBe(0);
    expect(statSync(path).size).toBeGreaterThan(0);
    release();
    await intake.stored();
    expect([...db.rows.keys()]).toEqual(['d-1']);
    expect(db.stores).toHaveLength(1);
    await intake.close();
    expect(statSync(path).size).toBe(0);
  });

  it('answers only once an fdatasync that began after the append has completed, one sync for the appends made while one ran', async () => {
    const db = fakeDatabase();
    const syncs: Array<() => void> = [];
    const syncFile = ((fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void syncs.push(() => done(null))) as unknown as typeof import('node:fs').fdatasync;
    const intake = await openJournaledIntake({ journalPath: path, lookup: db.lookup, store: db.store, storedKeys: () => db.keys(), logger: silentLogger(), onFailure: () => {}, syncFile });
    const answered: string[] = [];
    const submit = (id: string) => intake.submit(delivery(id, `[{"event":"x","id":"${id}"}]`)).then((o) => void answered.push(o.deliveryId));
    const a = submit('a');
    await new Promise((r) => setTimeout(r, 20));
    expect(syncs).toHaveLength(1);
    // Appended while a's sync runs: waits for the next one.
    const b = submit('b');
    const c = submit('c');
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toEqual([]);
    syncs[0]!();
    await a;
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toEqual(['a']);
    expect(syncs).toHaveLength(2);
    syncs[1]!();
    await Promise.all([b, c]);
    expect(answered).toEqual(['a', 'b', 'c']);
    await intake.stored();
    await intake.close();
  });

  it('answers duplicates as the writer will: of a delivery still in the journal, of a stored one, and a reused id with new bytes under a derived id', async () => {
    const db = fakeDatabase();
    const intake = await openJournaledIntake({ journalPath: path, lookup: db.lookup, store: db.store, storedKeys: () => db.keys(), logger: silentLogger(), onFailure: () => {} });
    const release = db.holdStores();
    await intake.submit(delivery('d-1', '[{"event":"x"}]'));
    // Not stored yet: found in the journal's index, by id and by body.
    expect(await intake.submit(delivery('d-1', '[{"event":"x"}]'))).toMatchObject({ deliveryId: 'd-1', duplicate: true, status: 'pending' });
    expect(await intake.submit(delivery('other-id', '[{"event":"x"}]'))).toMatchObject({ deliveryId: 'd-1', duplicate: true });
    expect(await intake.submit(delivery(null, '[{"event":"x"}]'))).toMatchObject({ deliveryId: 'd-1', duplicate: true });
    // Same id, other bytes: new data under a derived id.
    const reused = await intake.submit(delivery('d-1', '[{"event":"z"}]'));
    expect(reused.duplicate).toBe(false);
    expect(reused.deliveryId).toMatch(/^d-1~[0-9a-f]{16}$/);
    release();
    await intake.stored();
    expect(db.stores.map((d) => d.headerId)).toEqual(['d-1', 'd-1']);
    // Stored: found by the lookups.
    db.rows.set('d-1', { ...db.rows.get('d-1')!, status: 'applied' });
    expect(await intake.submit(delivery('d-1', '[{"event":"x"}]'))).toMatchObject({ deliveryId: 'd-1', duplicate: true, status: 'applied' });
    expect(db.stores).toHaveLength(2);
    await intake.close();
  });

  it('stores again from the journal when the writer failed to, and logs the failure once', async () => {
    const db = fakeDatabase();
    const logs = captureLogs();
    const intake = await openJournaledIntake({ journalPath: path, lookup: db.lookup, store: db.store, storedKeys: () => db.keys(), logger: logs.logger, onFailure: () => {} });
    db.failNext(2);
    const d = delivery('d-1', '[{"event":"x","n":42}]');
    expect(await intake.submit(d)).toMatchObject({ duplicate: false });
    await intake.stored();
    expect(db.stores.map(text)).toEqual(Array(3).fill('[{"event":"x","n":42}]'));
    expect([...db.rows.keys()]).toEqual(['d-1']);
    expect(logs.lines.filter((e) => String(e.msg).startsWith('intake journal: could not store'))).toHaveLength(1);
    expect(logs.lines.filter((e) => e.msg === 'intake journal: storing deliveries works again')).toHaveLength(1);
    await intake.close();
    expect(statSync(path).size).toBe(0);
  }, 10_000);

  it('stores what a stopped process acknowledged and did not store, in order, before it answers anything', async () => {
    const crashed = fakeDatabase();
    crashed.holdStores();
    const first = await openJournaledIntake({ journalPath: path, lookup: crashed.lookup, store: crashed.store, storedKeys: () => crashed.keys(), logger: silentLogger(), onFailure: () => {} });
    for (const n of [1, 2, 3]) await first.submit(delivery(`d-${n}`, `[{"event":"x","n":${n}}]`));
    // The process dies here: nothing was stored, the journal holds all three.
    appendFileSync(path, Buffer.from([0, 0, 0, 7]));

    const db = fakeDatabase();
    db.rows.set('d-1', { status: 'applied', error: null, eventCount: 1, bodySha256: checkBody(new TextEncoder().encode('[{"event":"x","n":1}]')).bodySha256 });
    const logs = captureLogs();
    const second = await openJournaledIntake({ journalPath: path, lookup: db.lookup, store: db.store, storedKeys: () => db.keys(), logger: logs.logger, onFailure: () => {} });
    expect(db.stores.map((d) => d.headerId)).toEqual(['d-1', 'd-2', 'd-3']);
    expect([...db.rows.keys()].sort()).toEqual(['d-1', 'd-2', 'd-3']);
    expect(db.rows.get('d-1')!.status).toBe('applied');
    expect(statSync(path).size).toBe(0);
    expect(logs.lines.find((e) => String(e.msg).includes('stored the deliveries acknowledged before the last stop'))).toMatchObject({ deliveries: 3 });
    expect(logs.lines.find((e) => String(e.msg).includes('cut a torn tail'))).toMatchObject({ bytes: 4 });
    await second.close();
  });
});
