import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { createApp } from './app.js';
import type { Deps } from './deps.js';

export interface RunningServer {
  url: string;
  port: number;
  server: ServerType;
  /** Stops accepting connections and resolves when in-flight requests are done (or the deadline passes). */
  close(deadlineMs?: number): Promise<void>;
}

/** Starts the daemon's HTTP server over built deps; resolves once it listens. */
export function startServer(deps: Deps, port: number, host: string): Promise<RunningServer> {
  const app = createApp(deps);
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port, hostname: host }, (info: AddressInfo) => {
      const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      resolve({
        url: `http://${shownHost}:${info.port}`,
        port: info.port,
        server,
        close: (deadlineMs = 10_000) =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => {
              deps.logger.warn({ deadlineMs }, 'shutdown deadline passed; closing remaining connections');
              (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
              done();
            }, deadlineMs);
            timer.unref();
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
          }),
      });
    });
    server.once('error', reject);
  });
}
