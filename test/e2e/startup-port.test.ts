/** A busy port is one clear line naming PORT, exit code 1, no stack trace (issue 18). */
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { E2E_ADMIN, E2E_SECRET, removeDir, tempDir } from '../support/daemon.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

async function occupy(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => server.close());
  return (server.address() as { port: number }).port;
}

it('serve on a port another process holds: one line on stderr naming PORT and the port, exit 1', async () => {
  const port = await occupy();
  const dir = tempDir('enode-sync-port-');
  cleanup.push(() => removeDir(dir));
  const r = runCli(['serve'], { PORT: String(port), HOST: '127.0.0.1', DATABASE_PATH: join(dir, 'db.sqlite'), ENODE_WEBHOOK_SECRET: E2E_SECRET, ADMIN_TOKEN: E2E_ADMIN, LOG_LEVEL: 'info' });
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toEqual([`enode-sync serve: PORT ${port} is already in use on 127.0.0.1: stop the other process or set PORT to a free port`]);
  // The log has the fatal line as data, without a stack either.
  const fatal = r.stdout.split('\n').filter((l) => l.includes('"level":"fatal"'));
  expect(fatal).toHaveLength(1);
  expect(fatal[0]).toContain(`PORT ${port}`);
  expect(r.stdout).not.toMatch(/\n\s+at |"stack"/);
});
