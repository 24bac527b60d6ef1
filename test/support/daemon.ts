import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signEnodeBody } from '../../src/ingest/signature.js';
import { freePort, startProcess, waitHealthy, type Proc } from './process.js';

export const E2E_SECRET = 'e2e-webhook-secret';
export const E2E_ADMIN = 'e2e-admin-token-0123456789';

/**
 * A daemon run from source (`node --import tsx src/main.ts serve`) on a file database in `dir`, or
 * on Postgres when `env` has DATABASE_URL (test/support/engines-e2e.ts makes one per test).
 */
export interface Daemon {
  url: string;
  dir: string;
  /** The SQLite file (unused when the daemon runs on Postgres). */
  dbPath: string;
  proc: Proc;
  logs(): string;
}

export function tempDir(prefix = 'enode-sync-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startDaemon(dir: string, env: Record<string, string> = {}): Promise<Daemon> {
  const port = await freePort();
  const dbPath = join(dir, 'enode-sync.db');
  const logPath = join(dir, `daemon-${port}.log`);
  // With DATABASE_URL the SQLite path is left out rather than ignored, so the log has no warning about it.
  const database: Record<string, string> = env.DATABASE_URL ? {} : { DATABASE_PATH: dbPath };
  const proc = startProcess(
    process.execPath,
    ['--import', 'tsx', 'src/main.ts', 'serve'],
    { PORT: String(port), HOST: '127.0.0.1', ...database, ENODE_WEBHOOK_SECRET: E2E_SECRET, ADMIN_TOKEN: E2E_ADMIN, LOG_LEVEL: 'info', ...env },
    openSync(logPath, 'a'),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(`${url}/readyz`, 30_000);
  return { url, dir, dbPath, proc, logs: () => readFileSync(logPath, 'utf8') };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** POSTs a signed delivery to a running daemon. */
export function deliver(url: string, deliveryId: string, events: unknown[]): Promise<Response> {
  const body = JSON.stringify(events);
  return fetch(`${url}/webhooks/enode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-enode-delivery': deliveryId, 'x-enode-signature': signEnodeBody(body, E2E_SECRET) },
    body,
  });
}

export function adminGet(url: string, path: string): Promise<Response> {
  return fetch(`${url}/api/v1${path}`, { headers: { authorization: `Bearer ${E2E_ADMIN}` } });
}

/** Every item of a paged admin list (`?after=` cursors, 500 per page). */
export async function allPages<T>(url: string, path: string): Promise<T[]> {
  const out: T[] = [];
  let after: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const body = (await (await adminGet(url, `${path}${sep}limit=500${after ? `&after=${after}` : ''}`)).json()) as { data: T[]; pagination: { after: string | null } };
    out.push(...body.data);
    after = body.pagination.after;
  } while (after);
  return out;
}

/** Resolves once no stored delivery is waiting to be applied (applying follows the acknowledgement). */
export async function waitApplied(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (((await (await adminGet(url, '/deliveries?status=pending&limit=1')).json()) as { data: unknown[] }).data.length > 0) {
    if (Date.now() > deadline) throw new Error('deliveries still pending');
    await new Promise((r) => setTimeout(r, 50));
  }
}
