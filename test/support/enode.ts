import type { Clock } from '../../src/clock.js';
import { createEnodeClient, type EnodeClient } from '../../src/enode/index.js';
import { silentLogger, type Logger } from '../../src/logger.js';

/** An Enode client for the simulator's default credentials; retries without real waiting. */
export function makeEnodeClient(o: { baseUrl: string; clock: Clock; fetch: (url: string, init?: RequestInit) => Promise<Response>; logger?: Logger }): EnodeClient {
  return createEnodeClient({
    apiUrl: o.baseUrl,
    oauthUrl: `${o.baseUrl}/oauth2/token`,
    clientId: 'enode-sim-client',
    clientSecret: 'enode-sim-secret',
    clock: o.clock,
    logger: o.logger ?? silentLogger(),
    fetch: o.fetch as typeof fetch,
    sleep: async () => {},
  });
}
