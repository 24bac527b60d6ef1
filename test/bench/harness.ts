export { freePort, startProcess, waitHealthy, type Proc } from '../support/process.js';
import type { EventEmitter } from 'node:events';
import autocannon from 'autocannon';

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

/** Sends each body once, in order, over `connections` connections; returns throughput and latency. */
export async function sendAll(
  url: string,
  deliveries: Array<{ id: string; body: string; signature: string }>,
  connections: number,
  /** Fixed offered load in requests/s; omitted: as fast as the server answers. */
  overallRate?: number,
): Promise<LoadResult> {
  let next = 0;
  const started = process.hrtime.bigint();
  let lastResponse = started;
  const run = autocannon({
    url,
    connections,
    pipelining: 1,
    amount: deliveries.length,
    timeout: 10,
    ...(overallRate ? { overallRate } : {}),
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          const d = deliveries[next++ % deliveries.length]!;
          return {
            ...req,
            headers: { 'content-type': 'application/json', 'x-enode-delivery': d.id, 'x-enode-signature': d.signature },
            body: d.body,
          };
        },
      },
    ],
    // Without a callback autocannon returns its tracker: an event emitter that is also a promise.
  }) as unknown as Promise<autocannon.Result> & EventEmitter;
  // autocannon reports only at its 1 s sample tick, so its own duration is rounded up to that
  // tick: the time of the last response is what the throughput is measured to.
  run.on('response', () => {
    lastResponse = process.hrtime.bigint();
  });
  const result = await run;
  const seconds = Number(lastResponse - started) / 1e9;
  const requests = result.requests.total;
  return {
    requests,
    seconds,
    rps: requests / seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}
