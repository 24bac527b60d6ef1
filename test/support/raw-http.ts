/**
 * Raw HTTP/1.1 over TCP, for tests of the connection edge: half-sent requests, keep-alive
 * connections, answers read byte by byte. 127.0.0.1 only.
 */
import { connect, type Socket } from 'node:net';

/** A connected socket that remembers what it received and how it ended. */
export interface RawConnection {
  socket: Socket;
  /** Everything received so far (latin1). */
  received(): string;
  /** True once the server closed (or reset) the connection. */
  closed(): boolean;
  /** The error the socket ended with (e.g. ECONNRESET), if any. */
  error(): Error | undefined;
  /** Resolves with the next whole answer (status, lowercase headers, body by Content-Length). */
  nextResponse(timeoutMs?: number): Promise<RawResponse>;
  /** Resolves once the connection is closed. */
  whenClosed(timeoutMs?: number): Promise<void>;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Opens a TCP connection to 127.0.0.1:`port`. */
export function openRaw(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let consumed = 0;
    let isClosed = false;
    let failure: Error | undefined;
    const waiters = new Set<() => void>();
    const wake = () => {
      for (const w of [...waiters]) w();
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      wake();
    });
    socket.on('error', (err) => {
      failure = err;
    });
    socket.on('close', () => {
      isClosed = true;
      wake();
    });
    const wait = <T>(check: () => T | undefined, timeoutMs: number, what: string) =>
      new Promise<T>((done, fail) => {
        const attempt = () => {
          const found = check();
          if (found !== undefined) {
            cleanup();
            done(found);
          } else if (isClosed) {
            cleanup();
            fail(new Error(`connection closed before ${what} (${failure?.message ?? 'no error'}; received ${JSON.stringify(data.slice(consumed, consumed + 200))})`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          fail(new Error(`no ${what} within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(attempt);
        };
        waiters.add(attempt);
        attempt();
      });
    const conn: RawConnection = {
      socket,
      received: () => data,
      closed: () => isClosed,
      error: () => failure,
      nextResponse: (timeoutMs = 10_000) =>
        wait(
          () => {
            const rest = data.slice(consumed);
            const end = rest.indexOf('\r\n\r\n');
            if (end < 0) return undefined;
            const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
            const headers: Record<string, string> = {};
            for (const line of lines) {
              const colon = line.indexOf(':');
              headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
            }
            const length = Number(headers['content-length'] ?? 0);
            if (rest.length < end + 4 + length) return undefined;
            consumed += end + 4 + length;
            return { status: Number(statusLine.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + length) };
          },
          timeoutMs,
          'a whole answer',
        ),
      whenClosed: (timeoutMs = 10_000) =>
        isClosed
          ? Promise.resolve()
          : new Promise<void>((done, fail) => {
              const timer = setTimeout(() => fail(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
              socket.once('close', () => {
                clearTimeout(timer);
                done();
              });
            }),
    };
    socket.once('connect', () => resolve(conn));
    socket.once('error', reject);
  });
}

/** Request head text (Host and the given headers); the body is sent separately. */
export function requestHead(method: string, path: string, headers: Record<string, string> = {}): string {
  const lines = Object.entries({ Host: '127.0.0.1', ...headers }).map(([k, v]) => `${k}: ${v}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}
