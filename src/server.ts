import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createApp } from './app.js';
import type { Config } from './config.js';
import type { Deps } from './deps.js';
import { createAggregateLog } from './http/aggregate-log.js';
import { guardConnections } from './http/connections.js';
import { StartupError } from './startup-error.js';

export interface RunningServer {
  url: string;
  port: number;
  server: ServerType;
  /**
   * Stops accepting connections, closes idle ones, lets requests in flight get their answer (with
   * `Connection: close`), and resolves once every connection is gone or the deadline passed.
   */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * How often Node looks for requests past `headersTimeout`/`requestTimeout`. Its default (30 s)
 * lets a half-sent request live up to 30 s past its timeout.
 */
const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;

/** Node's timeouts of the HTTP edge from `config.http` (README "Security"). */
export function serverOptions(http: Config['http']) {
  const requestTimeout = http.requestTimeoutSeconds * 1000;
  return {
    // Node refuses a headers timeout longer than the request timeout.
    headersTimeout: Math.min(http.headersTimeoutSeconds * 1000, requestTimeout),
    requestTimeout,
    keepAliveTimeout: http.keepAliveTimeoutSeconds * 1000,
    connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS,
  };
}

/** Starts the daemon's HTTP server over built deps; resolves once it listens. */
export function startServer(deps: Deps, port: number, host: string): Promise<RunningServer> {
  const app = createApp(deps);
  const options = serverOptions(deps.config.http);
  const evictions = createAggregateLog({ logger: deps.logger, clock: deps.clock, message: 'connection limit reached: closed the oldest idle or half-sent connection' });
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port, hostname: host, serverOptions: options }, (info: AddressInfo) => {
      const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      resolve({
        url: `http://${shownHost}:${info.port}`,
        port: info.port,
        server,
        close: (deadlineMs = 10_000) =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => {
              deps.logger.warn({ deadlineMs, inFlight: connections.inFlight }, 'shutdown deadline passed; closing remaining connections');
              server.closeAllConnections();
              evictions.stop();
              done();
            }, deadlineMs);
            timer.unref();
            server.close(() => {
              clearTimeout(timer);
              evictions.stop();
              done();
            });
            connections.drain();
          }),
      });
    }) as Server;
    // Not in serverOptions: Node 20's createServer does not read it there.
    server.keepAliveTimeout = options.keepAliveTimeout;
    const connections = guardConnections(server, {
      maxConnections: deps.config.http.maxConnections,
      onEvict: () => evictions.record('connections', { maxConnections: deps.config.http.maxConnections }),
    });
    server.once('error', (err) => reject(listenError(err, port, host)));
  });
}

/**
 * A listen failure an operator can fix — the port taken, or not allowed — as a StartupError that
 * names PORT (main.ts prints it as one line, exit 1, no stack); anything else as it is.
 */
export function listenError(err: unknown, port: number, host: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  const where = `${host}:${port}`;
  if (code === 'EADDRINUSE') {
    const reason = 'the port is already in use by another process';
    return new StartupError(`PORT ${port} is already in use on ${host}: stop the other process or set PORT to a free port`, where, reason, { cause: err });
  }
  if (code === 'EACCES') {
    const reason = 'permission denied (ports below 1024 need privileges)';
    return new StartupError(`PORT ${port} on ${host} cannot be used: ${reason}; set PORT to 1024 or above`, where, reason, { cause: err });
  }
  if (code === 'EADDRNOTAVAIL') {
    const reason = 'this machine has no such address';
    return new StartupError(`HOST ${host} cannot be listened on: ${reason}; set HOST to one of its addresses or 0.0.0.0`, where, reason, { cause: err });
  }
  return err;
}
