/**
 * `enode-sync demo` as a new user runs it (issue 18): real time, so the device pages show
 * transitions with their explanations and at least one finding within 90 s, never "in the
 * future"; a readable console; a second run starts fresh unless --keep-data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, waitHealthy } from '../support/process.js';

const ADMIN = 'demo-e2e-admin-token-5d1e0c7a9b';
const LOADER = pathToFileURL(resolve('node_modules/tsx/dist/loader.mjs')).href;
const MAIN = resolve('src/main.ts');
const cwd = mkdtempSync(join(tmpdir(), 'enode-sync-demo-'));
const running: ChildProcess[] = [];
afterAll(() => {
  for (const c of running) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(cwd, { recursive: true, force: true });
});

interface DemoProc {
  url: string;
  output(): string;
  stop(): Promise<number | null>;
}

/** The demo from source in `cwd` (its default database is ./data/demo.db there), on a free port. */
async function startDemo(args: string[] = []): Promise<DemoProc> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', LOADER, MAIN, 'demo', ...args], {
    cwd,
    // tsx reads the project's tsconfig (the dashboard's JSX settings) though the working directory is elsewhere.
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', ADMIN_TOKEN: ADMIN, TSX_TSCONFIG_PATH: resolve('tsconfig.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(`${url}/readyz`, 60_000);
  // The banner follows readiness by a moment.
  await expect.poll(() => out, { timeout: 10_000 }).toContain('Ctrl-C stops.');
  return {
    url,
    output: () => out,
    stop: () =>
      new Promise((done) => {
        if (child.exitCode !== null) return done(child.exitCode);
        child.once('exit', (code) => done(code));
        child.kill('SIGINT');
      }),
  };
}

const api = async <T>(url: string, path: string): Promise<T> => {
  const res = await fetch(`${url}/api/v1${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
};
const page = async (url: string, path: string, log: () => string) => {
  const res = await fetch(`${url}/ui${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const text = await res.text();
  expect(res.status, `${path}: ${text.slice(0, 500)}\n${log().slice(-3000)}`).toBe(200);
  return text;
};

interface Finding {
  id: string;
  deviceId: string;
  observedAt: string;
  detectedAt: string;
}
interface Transition {
  status: string;
  explanation: { kind?: string } | null;
  findingId: string | null;
}
interface Entry {
  type: string;
  at: string;
  transitions?: Transition[];
}

/** Devices whose timeline holds a transition explained by an own action or a natural cause. */
async function explainedDevices(url: string): Promise<string[]> {
  const devices = (await api<{ data: Array<{ id: string }> }>(url, '/devices?limit=100')).data;
  const found: string[] = [];
  for (const d of devices) {
    const entries = (await api<{ data: Entry[] }>(url, `/devices/${encodeURIComponent(d.id)}/timeline?limit=500`)).data;
    if (entries.some((e) => e.transitions?.some((t) => t.status === 'explained' && (t.explanation?.kind === 'own_action' || t.explanation?.kind === 'natural')))) found.push(d.id);
  }
  return found;
}

describe('enode-sync demo', () => {
  it('shows transitions with explanations and a finding within 90 s, all at real times, then a second run starts fresh', async () => {
    const demo = await startDemo();
    const upAt = Date.now();
    const deadline = upAt + 90_000;
    let findings: Finding[] = [];
    let explained: string[] = [];
    while (Date.now() < deadline && (findings.length === 0 || explained.length === 0)) {
      await new Promise((r) => setTimeout(r, 3_000));
      findings = (await api<{ data: Finding[] }>(demo.url, '/interference')).data;
      if (explained.length === 0) explained = await explainedDevices(demo.url);
    }
    expect(findings.length, `no finding within 90 s:\n${demo.output()}`).toBeGreaterThan(0);
    expect(explained.length, 'no explained transition within 90 s').toBeGreaterThan(0);

    // Real time: nothing observed after it was detected, nothing stamped ahead of now.
    const now = Date.now();
    for (const f of findings) {
      expect(Date.parse(f.observedAt)).toBeLessThanOrEqual(Date.parse(f.detectedAt));
      expect(Date.parse(f.observedAt)).toBeLessThanOrEqual(now + 2_000);
    }

    // The device pages, logged in with the demo's admin token: the finding, and an explanation.
    const finding = findings[0] as Finding;
    const findingPage = await page(demo.url, `/devices/${encodeURIComponent(finding.deviceId)}`, demo.output);
    expect(findingPage).toContain(finding.id);
    expect(findingPage).not.toContain('in the future');
    const explainedPage = await page(demo.url, `/devices/${encodeURIComponent(explained[0] as string)}`, demo.output);
    expect(explainedPage).toMatch(/explained by (own action|a natural cause)/);
    expect(explainedPage).not.toContain('in the future');

    // The console: the real time scale, one line per finding, no JSON warnings or stack traces.
    const out = demo.output();
    expect(out).toContain('Time: real time (1 simulated second = 1 second)');
    expect(out).toContain('started fresh in ./data/demo.db');
    expect(out).toMatch(/FINDING +(UNEXPECTED_CHANGE|ACTION_OVERRIDDEN|ACTION_CONFLICT) on \w+ /);
    expect(out).toMatch(/command +.* → (sent|refused)/);
    expect(out).not.toMatch(/"level":"(warn|error)"/);
    expect(out).not.toMatch(/\n\s+at /);
    expect(await demo.stop()).toBe(0);

    // A second run deletes the first one's database: no finding carried over.
    const second = await startDemo();
    expect(second.output()).toContain("started fresh: deleted the previous demo's ./data/demo.db (keep it with --keep-data)");
    const carried = (await api<{ data: Finding[] }>(second.url, '/interference')).data.filter((f) => findings.some((g) => g.id === f.id));
    expect(carried).toEqual([]);
    expect(await second.stop()).toBe(0);

    // --keep-data keeps it.
    const third = await startDemo(['--keep-data']);
    expect(third.output()).toContain('kept the data of earlier runs in ./data/demo.db (--keep-data)');
    expect((await api<{ data: unknown[] }>(third.url, '/devices?limit=100')).data.length).toBeGreaterThan(0);
    expect(await third.stop()).toBe(0);
  }, 300_000);
});
