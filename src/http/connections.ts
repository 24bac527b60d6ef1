/**
 * Keeps an HTTP server answering under connection floods and lets it stop without cutting
 * requests short. Node's own `maxConnections` refuses every new connection once the cap is
 * reached, so a flood of half-sent requests would lock out `/healthz` and Enode alike until the
 * header timeout clears it. Here, a new connection past the cap closes the oldest connection that
 * has no request in flight (half-sent headers, idle keep-alive) instead: an attacker has to keep
 * finishing requests to hold a slot, and a client that sends its request at once is served.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionGuardOptions {
  /** Open connections kept at most; past it the oldest without a request in flight is closed. */
  maxConnections: number;
  /** Called each time a connection is closed to make room (to log in aggregate). */
  onEvict?: () => void;
}

export interface ConnectionGuard {
  /** Connections open now. */
  readonly size: number;
  /** Requests being answered now. */
  readonly inFlight: number;
  /**
   * Starts a graceful stop: connections with no request in flight are closed now; those with one
   * get their answer with `Connection: close` and are closed after it; new ones are refused.
   */
  drain(): void;
}

interface Tracked {
  inFlight: number;
  response: ServerResponse | undefined;
  /** The request in flight, to tell one still waiting for its body. */
  request: IncomingMessage | undefined;
}

/**
 * Hard cap handed to Node above ours: evicted sockets leave its count only on their `close`
 * event, so a burst of connections in one tick may briefly run past our cap.
 */
const NODE_CAP_FACTOR = 2;

/** Tracks every connection of `server` (call before it accepts any) and enforces the cap. */
export function guardConnections(server: Server, options: ConnectionGuardOptions): ConnectionGuard {
  const tracked = new Map<Socket, Tracked>();
  let draining = false;
  let inFlight = 0;
  server.maxConnections = options.maxConnections * NODE_CAP_FACTOR;

  const evict = (socket: Socket) => {
    tracked.delete(socket);
    socket.destroy();
    options.onEvict?.();
  };
  /** Makes room for `newcomer`: the oldest idle or half-sent connection, else the oldest request still waiting for its body. */
  const evictOne = (newcomer: Socket) => {
    // Map order is connection order: the first without a request in flight is the oldest.
    for (const [socket, state] of tracked) {
      if (state.inFlight === 0 && socket !== newcomer) return evict(socket);
    }
    // All busy: headers sent whole, then a body that never comes must not hold a slot until its
    // deadline while a new connection (a /healthz probe, Enode) is turned away.
    for (const [socket, state] of tracked) {
      if (state.request && !state.request.complete && !state.response?.headersSent) return evict(socket);
    }
    return undefined;
  };

  server.on('connection', (socket: Socket) => {
    if (draining) {
      socket.destroy();
      return;
    }
    tracked.set(socket, { inFlight: 0, response: undefined, request: undefined });
    socket.once('close', () => tracked.delete(socket));
    if (tracked.size > options.maxConnections) evictOne(socket);
  });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const state = tracked.get(socket);
    if (!state) return;
    state.inFlight += 1;
    state.response = res;
    state.request = req;
    inFlight += 1;
    if (draining) res.shouldKeepAlive = false;
    res.once('close', () => {
      state.inFlight -= 1;
      inFlight -= 1;
      if (state.response === res) {
        state.response = undefined;
        state.request = undefined;
      }
      // Answered during a stop: nothing more will be read from this connection.
      if (draining && state.inFlight === 0) socket.destroySoon();
    });
  });

  return {
    get size() {
      return tracked.size;
    },
    get inFlight() {
      return inFlight;
    },
    drain() {
      draining = true;
      for (const [socket, state] of tracked) {
        if (state.inFlight === 0) {
          tracked.delete(socket);
          socket.destroy();
        } else if (state.response && !state.response.headersSent) {
          state.response.shouldKeepAlive = false;
        }
      }
    },
  };
}
