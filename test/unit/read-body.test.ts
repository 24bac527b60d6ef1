import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isClientAbort } from '../../src/errors.js';
import { createByteBudget } from '../../src/http/byte-budget.js';
import { readBoundedBody } from '../../src/http/read-body.js';

/** A Node readable standing in for IncomingMessage; the test pushes chunks by hand. */
function fakeIncoming() {
  const stream = new Readable({ read() {} });
  return { stream, incoming: stream as unknown as IncomingMessage };
}

const bytes = (n: number) => Buffer.alloc(n, 0x61);

afterEach(() => {
  vi.useRealTimers();
});

describe('createByteBudget', () => {
  it('refuses a reservation past the limit, takes nothing then, and gives everything back on release (twice is harmless)', () => {
    const budget = createByteBudget(100);
    const a = budget.open();
    const b = budget.open();
    expect(a.take(60)).toBe(true);
    expect(b.take(41)).toBe(false);
    expect(b.bytes).toBe(0);
    expect(b.take(40)).toBe(true);
    expect(budget.heldBytes).toBe(100);
    a.release();
    a.release();
    expect(budget.heldBytes).toBe(40);
    expect(b.take(60)).toBe(true);
    expect(b.bytes).toBe(100);
    b.release();
    expect(budget.heldBytes).toBe(0);
  });
});

describe('readBoundedBody from a Node request', () => {
  it('returns the bytes whole and holds them in the reservation', async () => {
    const budget = createByteBudget(1_000);
    const reservation = budget.open();
    const { stream, incoming } = fakeIncoming();
    const reading = readBoundedBody({ incoming }, { maxBytes: 500, reservation, deadlineMs: 1_000 });
    stream.push(bytes(200));
    stream.push(bytes(100));
    stream.push(null);
    const result = await reading;
    expect(result.ok && result.body.byteLength).toBe(300);
    expect(budget.heldBytes).toBe(300);
  });

  it('stops at the byte that crosses the size limit: too_large', async () => {
    const reservation = createByteBudget(10_000).open();
    const { stream, incoming } = fakeIncoming();
    const reading = readBoundedBody({ incoming }, { maxBytes: 250, reservation, deadlineMs: 1_000 });
    stream.push(bytes(200));
    stream.push(bytes(51));
    expect(await reading).toEqual({ ok: false, failure: 'too_large' });
  });

  it('stops when the next chunk does not fit in the shared budget: over_budget', async () => {
    const budget = createByteBudget(300);
    const other = budget.open();
    other.take(200);
    const reservation = budget.open();
    const { stream, incoming } = fakeIncoming();
    const reading = readBoundedBody({ incoming }, { maxBytes: 1_000, reservation, deadlineMs: 1_000 });
    stream.push(bytes(100));
    stream.push(bytes(1));
    expect(await reading).toEqual({ ok: false, failure: 'over_budget' });
    expect(reservation.bytes).toBe(100);
  });

  it('counts only bytes past what is already reserved (the declared Content-Length)', async () => {
    const budget = createByteBudget(300);
    const reservation = budget.open();
    reservation.take(300);
    const { stream, incoming } = fakeIncoming();
    const reading = readBoundedBody({ incoming }, { maxBytes: 1_000, reservation, deadlineMs: 1_000 });
    stream.push(bytes(300));
    stream.push(null);
    expect((await reading).ok).toBe(true);
    expect(budget.heldBytes).toBe(300);
  });

  it('gives up at the deadline: timeout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const reservation = createByteBudget(1_000).open();
    const { stream, incoming } = fakeIncoming();
    const reading = readBoundedBody({ incoming }, { maxBytes: 1_000, reservation, deadlineMs: 2_000 });
    stream.push(bytes(10));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await reading).toEqual({ ok: false, failure: 'timeout' });
  });

  it('rejects with the client-abort error when the request closes before its end', async () => {
    const reservation = createByteBudget(1_000).open();
    const { stream, incoming } = fakeIncoming();
    const reading = readBoundedBody({ incoming }, { maxBytes: 1_000, reservation, deadlineMs: 1_000 });
    stream.push(bytes(10));
    stream.destroy();
    const err = await reading.catch((e: unknown) => e);
    expect(isClientAbort(err)).toBe(true);
  });
});

describe('readBoundedBody from a web stream (app.request)', () => {
  it('reads an absent body as empty and a present one whole', async () => {
    const reservation = createByteBudget(1_000).open();
    expect(await readBoundedBody({ stream: null }, { maxBytes: 10, reservation, deadlineMs: 1_000 })).toEqual({ ok: true, body: new Uint8Array(0) });
    const result = await readBoundedBody({ stream: new Blob(['abc', 'def']).stream() }, { maxBytes: 10, reservation, deadlineMs: 1_000 });
    expect(result.ok && Buffer.from(result.body).toString()).toBe('abcdef');
  });
});
