import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireInstanceLock, InstanceLockedError } from '../../src/db/instance-lock.js';
import { clearDemoDatabase, isDemoDatabase, refusedDemoFlag } from '../../src/demo.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function cwd(): string {
  const d = mkdtempSync(join(tmpdir(), 'enode-sync-demo-data-'));
  dirs.push(d);
  mkdirSync(join(d, 'data'));
  return d;
}

describe('the demo starts fresh only on its own database', () => {
  it('deletes ./data/demo.db with its -wal and -shm, and nothing else in the directory', () => {
    const d = cwd();
    for (const f of ['demo.db', 'demo.db-wal', 'demo.db-shm', 'enode-sync.db', 'demo.db.bak']) writeFileSync(join(d, 'data', f), 'x');
    expect(clearDemoDatabase('./data/demo.db', d)).toBe(true);
    expect(readdirSync(join(d, 'data')).filter((f) => !f.endsWith('.lock')).sort()).toEqual(['demo.db.bak', 'enode-sync.db']);
    expect(clearDemoDatabase('data/demo.db', d)).toBe(false);
  });

  it('knows the default however it is spelled, and refuses any other path', () => {
    const d = cwd();
    expect(isDemoDatabase('./data/demo.db', d)).toBe(true);
    expect(isDemoDatabase(join(d, 'data', 'demo.db'), d)).toBe(true);
    expect(isDemoDatabase('./data/../data/demo.db', d)).toBe(true);
    expect(isDemoDatabase('./data/enode-sync.db', d)).toBe(false);
    writeFileSync(join(d, 'data', 'enode-sync.db'), 'precious');
    expect(() => clearDemoDatabase('./data/enode-sync.db', d)).toThrow(/refusing to delete/);
    expect(existsSync(join(d, 'data', 'enode-sync.db'))).toBe(true);
  });

  it('never deletes the database of a demo still running on it', () => {
    const d = cwd();
    const path = join(d, 'data', 'demo.db');
    writeFileSync(path, 'x');
    const lock = acquireInstanceLock(path, 'demo');
    try {
      expect(() => clearDemoDatabase('./data/demo.db', d)).toThrow(InstanceLockedError);
      expect(existsSync(path)).toBe(true);
    } finally {
      lock?.release();
    }
  });
});

describe('the demo keeps its clock real', () => {
  it('refuses another time scale or start time, from flags or SIM_ variables', () => {
    expect(refusedDemoFlag(['--time-scale', '60'], {})).toMatch(/real time .*got 60/);
    expect(refusedDemoFlag(['--time-scale=10'], {})).toMatch(/got 10/);
    expect(refusedDemoFlag([], { SIM_TIME_SCALE: '60' })).toMatch(/got 60/);
    expect(refusedDemoFlag(['--start-time', '2025-01-01T00:00:00Z'], {})).toMatch(/--start-time/);
    expect(refusedDemoFlag(['--time-scale', '1', '--seed', '7'], {})).toBeUndefined();
    expect(refusedDemoFlag(['--seed', '7'], {})).toBeUndefined();
  });
});
