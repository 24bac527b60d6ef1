/**
 * After `sync.stop()`, nothing of enode-sync keeps its host process alive: no job, poller,
 * keep-alive or stream timer, with streams and an `events()` iterator open when it stopped. The
 * host is a child process that must exit by itself (test/support/embed-stop-probe.ts).
 */
import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';

it('a host exits by itself after stop(), with streams and an iterator open when it stopped', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/embed-stop-probe.ts'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stoppedAt = 0;
  const timer = setInterval(() => {
    if (!stoppedAt && out.includes('stopped')) stoppedAt = Date.now();
  }, 20);
  const result = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 25_000))]);
  clearInterval(timer);
  if (result === 'hung') child.kill('SIGKILL');
  expect({ result, out, err }).toMatchObject({ result: 0 });
  // Nothing keeps the loop alive once stop() resolved (sockets of the pipes to this process aside).
  expect(out.trim()).toBe('stopped []');
}, 40_000);
