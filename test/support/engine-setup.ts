/**
 * Setup file of both vitest projects (vitest.config.ts). On every engine it closes the apps a
 * test left open (app-lifecycle.ts). On Postgres (TEST_ENGINE=postgres) it also skips every test,
 * with the reason printed, when no Postgres answers (under CI=true that throws instead: see
 * postgres.ts), and drops the file's schemas at the end.
 */
import { afterAll, afterEach, beforeEach } from 'vitest';
import { fileEnded, testEnded, testStarted } from './app-lifecycle.js';
import { testEngine } from './fixtures.js';

const postgres = testEngine() === 'postgres';
let skipReason: string | undefined;

if (postgres) {
  const { postgresAvailable } = await import('./postgres.js');
  const a = postgresAvailable();
  if ('skip' in a) {
    skipReason = `TEST_ENGINE=postgres, but Postgres tests are skipped: ${a.skip}`;
    console.warn(skipReason);
  }
}

beforeEach((ctx) => {
  if (skipReason !== undefined) ctx.skip(skipReason);
  testStarted();
});

afterEach(testEnded);

afterAll(async () => {
  await fileEnded();
  if (postgres && skipReason === undefined) {
    const { dropTestSchemas } = await import('./pg-app.js');
    await dropTestSchemas();
  }
}, 60_000);
