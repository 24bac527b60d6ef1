/**
 * A Server-Sent Events reader for tests: parses a response body into frames (`id`, `event`,
 * `data`) and comment lines, and waits for them with a deadline, so that a stream that stays
 * silent fails the test with what it did receive rather than hanging it.
 */

export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  /** The text of comment lines (`: …`), without the colon and the space. */
  comments: string[];
}

export interface SseReader {
  /** The next frame (comment-only ones included), or undefined when the stream ended. */
  next(timeoutMs?: number): Promise<SseFrame | undefined>;
  /** The next `n` frames that carry an event (comments skipped), failing after `timeoutMs`. */
  events(n: number, timeoutMs?: number): Promise<SseFrame[]>;
  /** Frames until one matches, failing after `timeoutMs`. */
  until(match: (f: SseFrame) => boolean, timeoutMs?: number): Promise<SseFrame[]>;
  /** The client leaves: the body is cancelled. */
  close(): Promise<void>;
}

function parseFrame(text: string): SseFrame {
  const frame: SseFrame = { comments: [] };
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) frame.comments.push(line.slice(1).trimStart());
    else {
      const at = line.indexOf(':');
      const field = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
      if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
      else if (field === 'id' || field === 'event') frame[field] = value;
    }
  }
  return frame;
}

export function sseReader(body: ReadableStream<Uint8Array>): SseReader {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let ended = false;
  const seen: SseFrame[] = [];

  async function next(timeoutMs = 5_000): Promise<SseFrame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const frame = parseFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        seen.push(frame);
        return frame;
      }
      if (ended) return undefined;
      const left = deadline - Date.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), Math.max(0, left))));
      const chunk = await Promise.race([reader.read(), timeout]);
      clearTimeout(timer);
      if (chunk === 'timeout') throw new Error(`no SSE frame within ${timeoutMs} ms; received so far: ${JSON.stringify(seen)}`);
      if (chunk.done) ended = true;
      else buffer += decoder.decode(chunk.value, { stream: true });
    }
  }

  async function until(match: (f: SseFrame) => boolean, timeoutMs = 5_000): Promise<SseFrame[]> {
    const deadline = Date.now() + timeoutMs;
    const out: SseFrame[] = [];
    for (;;) {
      const f = await next(Math.max(1, deadline - Date.now()));
      if (f === undefined) throw new Error(`the stream ended before the frame expected; received: ${JSON.stringify(out)}`);
      out.push(f);
      if (match(f)) return out;
    }
  }

  return {
    next,
    until,
    async events(n, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      const out: SseFrame[] = [];
      while (out.length < n) {
        const f = await next(Math.max(1, deadline - Date.now()));
        if (f === undefined) throw new Error(`the stream ended after ${out.length} of ${n} events: ${JSON.stringify(out)}`);
        if (f.event !== undefined) out.push(f);
      }
      return out;
    },
    async close() {
      await reader.cancel().catch(() => {});
    },
  };
}
