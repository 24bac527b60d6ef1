import { spawnSync } from 'node:child_process';

/** Runs `enode-sync <args>` from source (tsx) to completion; bounded by `timeoutMs`. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
    timeout: timeoutMs,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
