/**
 * A set that may answer "maybe" for a key it never saw, and never "no" for one it did: a Bloom
 * filter that grows by adding filters twice the size of the last (a scalable Bloom filter), so
 * that it needs no size up front. Each filter answers "maybe" wrongly for under 1 % of keys once
 * full; a few filters hold millions of keys (four for a million), so a few percent at most.
 *
 * The intake journal (intake-journal.ts) keeps the ids and body hashes of every stored delivery in
 * one, so that a delivery it has never seen (nearly all of them) is known new without a lookup on
 * the writer thread; a "maybe" is looked up. Deletions (retention) are not removed: a deleted
 * delivery's keys cost a lookup, never a wrong answer. About 1.2 bytes a key.
 */
/** Hash functions per filter: optimal for 1 % at 10 bits a key (k = -log2 0.01 ≈ 6.6). */
const K = 7;
const BITS_PER_KEY = 10;
const FIRST_CAPACITY = 131_072;

interface Layer {
  bits: Uint32Array;
  /** Number of bits, a power of two. */
  size: number;
  capacity: number;
  count: number;
}

function layer(capacity: number): Layer {
  let size = 1024;
  while (size < capacity * BITS_PER_KEY) size *= 2;
  return { bits: new Uint32Array(size / 32), size, capacity, count: 0 };
}

/** Two independent 32-bit FNV-1a hashes of the string's UTF-16 code units (seeded apart). */
function hashes(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x9e3779b9;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  // Final mixing (murmur3's fmix32), so that keys differing in their last characters spread.
  a ^= a >>> 16;
  a = Math.imul(a, 0x85ebca6b);
  a ^= a >>> 13;
  a = Math.imul(a, 0xc2b2ae35);
  a ^= a >>> 16;
  b ^= b >>> 16;
  b = Math.imul(b, 0x85ebca6b);
  b ^= b >>> 13;
  return [a >>> 0, (b | 1) >>> 0];
}

export class SeenFilter {
  private layers: Layer[] = [layer(FIRST_CAPACITY)];

  add(key: string): void {
    let top = this.layers[this.layers.length - 1]!;
    if (top.count >= top.capacity) {
      top = layer(top.capacity * 2);
      this.layers.push(top);
    }
    const [h1, h2] = hashes(key);
    const mask = top.size - 1;
    for (let i = 0; i < K; i++) {
      const bit = (h1 + Math.imul(i, h2)) & mask;
      top.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    top.count++;
  }

  /** False only for a key never added. */
  mightHave(key: string): boolean {
    const [h1, h2] = hashes(key);
    for (const l of this.layers) {
      const mask = l.size - 1;
      let all = true;
      for (let i = 0; i < K && all; i++) {
        const bit = (h1 + Math.imul(i, h2)) & mask;
        all = (l.bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
      }
      if (all) return true;
    }
    return false;
  }

  /** Keys added, and the bytes the filter holds. */
  stats(): { keys: number; bytes: number; layers: number } {
    return { keys: this.layers.reduce((n, l) => n + l.count, 0), bytes: this.layers.reduce((n, l) => n + l.bits.byteLength, 0), layers: this.layers.length };
  }
}
