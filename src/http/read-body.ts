/**
 * Reads a request body into memory under three bounds: a size limit, a shared byte budget
 * (reserved before a byte is kept) and a deadline. Used where bodies are read before they can be
 * authenticated (the webhook), so that slow or large uploads cost the sender, not our memory.
 */
import type { IncomingMessage } from 'node:http';
import type { Reservation } from './byte-budget.js';

/** Where the bytes come from: Node's request when served, a web stream under `app.request()`. */
export type BodySource = { incoming: IncomingMessage } | { stream: ReadableStream<Uint8Array> | null };

export interface ReadBodyOptions {
  /** More bytes than this: `too_large`. */
  maxBytes: number;
  /** Holds every byte read; bytes past what it already holds are taken before they are kept. */
  reservation: Reservation;
  /** The body must be whole within this; else `timeout`. */
  deadlineMs: number;
}

/** Why a body was not read whole; the bytes read so far are dropped. */
export type BodyFailure = 'too_large' | 'over_budget' | 'timeout';

export type BodyResult = { ok: true; body: Uint8Array } | { ok: false; failure: BodyFailure };

/**
 * Node's error for a body cut short by the client, as `IncomingMessage` raises it (`errors.ts`
 * `isClientAbort` knows it): a socket that closes before the end must not look like our failure.
 */
function clientAbort(): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

/**
 * Reads the whole body, or stops at the first bound it crosses. Rejects only when the client
 * goes away mid-body (or its stream errors); the caller releases the reservation on every path.
 */
export function readBoundedBody(source: BodySource, options: ReadBodyOptions): Promise<BodyResult> {
  return 'incoming' in source ? readIncoming(source.incoming, options) : readStream(source.stream, options);
}

/** Counts one chunk against the bounds; a failure when it crosses one. */
function admit(total: number, options: ReadBodyOptions): BodyFailure | undefined {
  if (total > options.maxBytes) return 'too_large';
  const { reservation } = options;
  if (total > reservation.bytes && !reservation.take(total - reservation.bytes)) return 'over_budget';
  return undefined;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

// Reads the Node stream by its events: no web stream is built on the hot path.
function readIncoming(incoming: IncomingMessage, options: ReadBodyOptions): Promise<BodyResult> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let settled = false;
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
      chunks.length = 0;
      settle();
    };
    const fail = (failure: BodyFailure) => {
      // Stop pulling bytes: the answer goes out with `Connection: close`, which ends the socket.
      incoming.pause();
      finish(() => resolve({ ok: false, failure }));
    };
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      const failure = admit(total, options);
      if (failure) return fail(failure);
      chunks.push(chunk);
    };
    const onEnd = () => {
      const body = concat(chunks, total);
      finish(() => resolve({ ok: true, body }));
    };
    const onError = (err: Error) => finish(() => reject(err));
    const onClose = () => {
      if (incoming.readableEnded) onEnd();
      else finish(() => reject(clientAbort()));
    };
    const timer = setTimeout(() => fail('timeout'), options.deadlineMs);
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
    if (incoming.readableEnded) onEnd();
    else if (incoming.destroyed) onClose();
  });
}

async function readStream(stream: ReadableStream<Uint8Array> | null, options: ReadBodyOptions): Promise<BodyResult> {
  if (stream === null) return { ok: true, body: new Uint8Array(0) };
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), options.deadlineMs);
  });
  const stop = (failure: BodyFailure): BodyResult => {
    reader.cancel().catch(() => undefined);
    return { ok: false, failure };
  };
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), deadline]);
      if (next === 'timeout') return stop('timeout');
      if (next.done) return { ok: true, body: concat(chunks, total) };
      total += next.value.byteLength;
      const failure = admit(total, options);
      if (failure) return stop(failure);
      chunks.push(next.value);
    }
  } finally {
    clearTimeout(timer);
  }
}
