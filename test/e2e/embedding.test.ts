/**
 * The published package, as a host service gets it: the library is compiled (into a staging copy,
 * so the repository's dist/ is left alone), packed with `npm pack`, installed from the tarball into
 * a fresh project, and used there by a host script — a Hono app serving `sync.fetch` under /enode
 * over real HTTP, receiving a signed webhook and reading its event from `sync.events()` — and by a
 * TypeScript consumer that the repository's tsc type-checks against the shipped declarations.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../support/daemon.js';
import { vehicleEvent } from '../support/fixtures.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

const SECRET = 'host-webhook-secret-0123456789abcdef';
const ADMIN_TOKEN = 'host-admin-token-0123456789abcdef012345';
/** npm's words for "the registry could not be reached": then the test is skipped, not failed. */
const OFFLINE = /ENOTFOUND|EAI_AGAIN|ENETUNREACH|ECONNREFUSED|ETIMEDOUT|ECONNRESET|ENOTCACHED|network|offline/i;

const work = tempDir('enode-sync-pack-');
afterAll(() => removeDir(work));

function run(command: string, args: string[], cwd: string, timeoutMs: number, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 });
  if (r.error) throw new Error(`${command} ${args.join(' ')}: ${r.error.message}`);
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Compiles src/ into a staging copy of the package and packs it; the tarball's path. */
function pack(): string {
  const stage = join(work, 'package');
  mkdirSync(stage);
  for (const f of ['package.json', 'README.md', 'drizzle', 'drizzle-pg']) cpSync(join(REPO, f), join(stage, f), { recursive: true });
  ok(run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(stage, 'dist')], REPO, 150_000), 'tsc build');
  ok(run('npm', ['pack', '--pack-destination', work, '--silent'], stage, 60_000), 'npm pack');
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack wrote no tarball');
  return join(work, tarball);
}

/** A fresh project with the tarball installed; undefined (with the reason) when the registry cannot be reached. */
function installHost(tarball: string): { dir: string } | { skip: string } {
  const dir = join(work, 'host');
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'enode-sync-host', private: true, type: 'module' }));
  const extras = [`hono@${pkg.dependencies['hono']}`, `@hono/node-server@${pkg.dependencies['@hono/node-server']}`, `@types/node@${pkg.devDependencies['@types/node']}`];
  // From npm's cache when it has the packages (the repository's install filled it). Scripts are
  // off: better-sqlite3's native build would take minutes, so the repository's build of the same
  // version is copied in below.
  const r = run('npm', ['install', tarball, ...extras, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], dir, 150_000);
  if (r.status !== 0) {
    if (OFFLINE.test(r.stderr)) return { skip: `npm install could not reach the registry for packages missing from the cache: ${r.stderr.split('\n').find((l) => OFFLINE.test(l))}` };
    ok(r, 'npm install');
  }
  const addon = join(dir, 'node_modules/better-sqlite3');
  expect(JSON.parse(readFileSync(join(addon, 'package.json'), 'utf8')).version).toBe(pkg.dependencies['better-sqlite3']);
  cpSync(join(REPO, 'node_modules/better-sqlite3/build'), join(addon, 'build'), { recursive: true });
  return { dir };
}

/** The host service: a Hono app with enode-sync mounted under /enode, served over HTTP on loopback. */
const HOST_SCRIPT = `
import { readFileSync } from 'node:fs';
import { createHmac, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Hono } from 'hono';
import { serve } from '@hono/node-server';
import { createEnodeSync } from 'enode-sync';

const [dir, secret, token] = process.argv.slice(2);
const sync = await createEnodeSync({ databasePath: join(dir, 'host.db'), enodeWebhookSecret: secret, adminToken: token, retentionDays: 7 });
const app = new Hono();
app.get('/', (c) => c.text('the host service'));
app.mount('/enode', sync.fetch);
sync.start();
const server = await new Promise((ok) => { const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => ok({ s, port: info.port })); });
const base = 'http://127.0.0.1:' + server.port;

const body = readFileSync(join(dir, 'webhook.json'), 'utf8');
const signature = 'sha1=' + createHmac('sha1', secret).update(body).digest('hex');
const webhook = await fetch(base + '/enode/webhooks/enode', {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-enode-signature': signature, 'x-enode-delivery': randomUUID() },
  body,
});
const unsigned = await fetch(base + '/enode/webhooks/enode', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
let event;
for await (const e of sync.events({ types: ['device.*'] })) {
  event = e;
  break;
}
const feed = await fetch(base + '/enode/api/v1/events', { headers: { authorization: 'Bearer ' + token } });
const host = await fetch(base + '/');
await sync.stop();
server.s.close();
console.log(JSON.stringify({
  webhook: webhook.status,
  unsigned: unsigned.status,
  event,
  feed: await feed.json(),
  host: await host.text(),
  signalListeners: process.listenerCount('SIGTERM') + process.listenerCount('SIGINT'),
}));
`;

/** A TypeScript consumer: what it may write compiles, what it may not is refused. */
const CONSUMER = `
import { Hono } from 'hono';
import { ConfigError, createEnodeSync, EventCursorExpiredError, type EnodeSyncEvent, type EnodeSyncOptions } from 'enode-sync';

const options: EnodeSyncOptions = {
  databasePath: './data/enode.db',
  enodeWebhookSecret: ['current-secret-0123456789', 'previous-secret-0123456789'],
  adminToken: 'an-admin-token-0123456789abcdef',
  retentionDays: 30,
  trustProxy: true,
  pollIntervalSeconds: '60',
  enodeEnv: 'production',
};

/** What a consumer does with an event: the payload's type follows from the event's type. */
export function describe(e: EnodeSyncEvent): string {
  switch (e.type) {
    case 'device.discovered':
    case 'device.updated':
    case 'device.deleted':
      return e.data.device.id + ' ' + e.data.changes.map((c) => c.path + ':' + String(c.to)).join(',');
    case 'action.updated':
      return e.data.action.state + ' from ' + (e.data.previousState ?? 'nothing');
    case 'command.sent':
    case 'command.refused':
      return e.data.command.command;
    case 'interference.acknowledged':
    case 'interference.resolved':
      return e.data.finding.id + ' ' + e.data.state + ' from ' + e.data.previousState;
    default:
      return e.type + ' ' + JSON.stringify(e.data.links ?? {});
  }
}

export async function main(): Promise<void> {
  let sync;
  try {
    sync = await createEnodeSync({ ...options, logger: undefined });
  } catch (err) {
    if (err instanceof ConfigError) console.error(err.problems.join('; '));
    throw err;
  }
  const app = new Hono();
  app.mount('/enode', sync.fetch);
  sync.start();
  try {
    for await (const e of sync.events({ after: 'ev1_00000000000', types: ['device.*', 'action.updated'] })) {
      const cursor: string = e.id;
      console.log(cursor, describe(e));
    }
  } catch (err) {
    if (err instanceof EventCursorExpiredError) console.log(err.oldestCursor);
  }
  await sync.stop();
}

// @ts-expect-error options are the environment's variables in camelCase: a typo is refused
const typo: EnodeSyncOptions = { databasePth: './x.db' };
// @ts-expect-error a number option takes a number or its text, not an object
const wrongType: EnodeSyncOptions = { retentionDays: { days: 3 } };
// @ts-expect-error an enum option takes one of its values
const wrongEnv: EnodeSyncOptions = { enodeEnv: 7 };
export { typo, wrongType, wrongEnv };
`;

describe('the packed library in a host service', () => {
  it('installs from its tarball, serves a webhook inside a host Hono app, yields the event, and type-checks a consumer', async (ctx) => {
    const tarball = pack();
    const contents = ok(run('tar', ['-tzf', tarball], work, 30_000), 'tar');
    expect(contents).toContain('package/dist/index.js');
    expect(contents).toContain('package/dist/index.d.ts');
    expect(contents).toContain('package/dist/store/sqlite/writer-worker.js');
    expect(contents).toContain('package/drizzle/');
    expect(contents).not.toContain('package/src/');
    expect(contents).not.toContain('package/test/');

    const host = installHost(tarball);
    if ('skip' in host) {
      console.warn(`embedding e2e skipped: ${host.skip}`);
      ctx.skip(host.skip);
      return;
    }
    const db = join(host.dir, 'db');
    mkdirSync(db);
    writeFileSync(join(db, 'webhook.json'), JSON.stringify([vehicleEvent('v-host', 1, { batteryLevel: 61 }, 'discovered')]));
    writeFileSync(join(host.dir, 'host.mjs'), HOST_SCRIPT);
    // Variables that would break the configuration, or switch the engine, if the library read them.
    const poison = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', ENODE_WEBHOOK_SECRET: 'x', ADMIN_TOKEN: 'short', PORT: 'no', LOG_LEVEL: 'loud' };
    const out = ok(run(process.execPath, ['host.mjs', db, SECRET, ADMIN_TOKEN], host.dir, 60_000, poison), 'host script');
    const result = JSON.parse(out.trim().split('\n').pop() as string);
    expect(result.webhook).toBe(200);
    expect(result.unsigned).toBe(401);
    expect(result.event).toMatchObject({ type: 'device.discovered', deviceId: 'v-host', data: { device: { id: 'v-host', vendor: 'TESLA' } } });
    expect(result.event.id).toMatch(/^ev1_/);
    expect(result.feed.data[0]).toEqual(result.event);
    expect(result.host).toBe('the host service');
    expect(result.signalListeners).toBe(0);

    writeFileSync(join(host.dir, 'consumer.ts'), CONSUMER);
    writeFileSync(
      join(host.dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', lib: ['ES2023'], module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], skipLibCheck: false },
        files: ['consumer.ts'],
      }),
    );
    // skipLibCheck off: the shipped declarations themselves (and what they import) must check too.
    const tsc = run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], host.dir, 90_000);
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
    expect(existsSync(join(host.dir, 'node_modules/enode-sync/dist/index.d.ts'))).toBe(true);
  }, 300_000);
});
