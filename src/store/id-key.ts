/**
 * An id's key in the event log's filter indexes on SQLite (`events.device_key` and `user_key`):
 * a 48-bit hash of the id, made signed so that SQLite stores it in 6 bytes. An index entry is then
 * about 10 bytes where a 36-character id made it about 45, so the indexes stay in the page cache
 * as the log grows, and an event's insert no longer reads pages from disk to place two random keys.
 *
 * Two ids may share a key (rarely: about one pair among 20 million ids), so a read matches the id
 * as well as the key (store/events-read.ts). Every event row stores the key and the migration that
 * added the columns computes it (db/migrate.ts): this function must never change.
 */
const TWO_32 = 4_294_967_296;
const TWO_47 = 140_737_488_355_328;

/** The final mix of MurmurHash3: every input bit moves every output bit. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function idKey(id: string): number {
  // Two FNV-1a passes with different primes; 48 bits of the pair make the key.
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return (mix32(b) & 0xffff) * TWO_32 + mix32(a) - TWO_47;
}

/** The key of an id that may be absent (an event without a device or a user has none). */
export function idKeyOrNull(id: string | null): number | null {
  return id === null ? null : idKey(id);
}

/** The SQL function the migration that added the keys calls (the same function, from SQLite). */
export const ID_KEY_SQL_FUNCTION = 'enode_sync_id_key';
