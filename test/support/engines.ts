/** Engine-specific parts of a test file that otherwise runs on both engines (vitest.config.ts BOTH_ENGINES). */
import { describe, it } from 'vitest';
import { testEngine } from './fixtures.js';

/**
 * `describe` on one engine only. On the other the suite is listed as skipped, its title saying
 * why (a reason is required: a test that silently runs on one engine hides a gap).
 */
export function describeOn(engine: 'sqlite' | 'postgres', reason: string, name: string, fn: () => void): void {
  if (testEngine() === engine) describe(name, fn);
  else describe.skip(`${name} [${engine} only: ${reason}]`, fn);
}

/** `it` on one engine only; on the other it is listed as skipped, its title saying why. */
export function itOn(engine: 'sqlite' | 'postgres', reason: string, name: string, fn: () => Promise<void> | void): void {
  if (testEngine() === engine) it(name, fn);
  else it.skip(`${name} [${engine} only: ${reason}]`, fn);
}
