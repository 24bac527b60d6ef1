/**
 * Closes the apps a test file forgot to close, so that each Postgres app hands its schema back
 * for the next one (see pg-app.ts) and SQLite apps stop their stores. An app made during a test
 * is closed after that test; one made while collecting or in beforeAll, after the file.
 * engine-setup.ts (a vitest setup file) drives these hooks; state is per test process, which
 * vitest gives each test file.
 */
type Close = () => Promise<void>;

const testApps = new Set<Close>();
const fileApps = new Set<Close>();
let inTest = false;

/** Registers an app's close; returns a close that forgets it and runs it once, however often called. */
export function trackApp(close: Close): Close {
  const owner = inTest ? testApps : fileApps;
  let closing: Promise<void> | undefined;
  const tracked: Close = () => {
    owner.delete(tracked);
    closing ??= close();
    return closing;
  };
  owner.add(tracked);
  return tracked;
}

export function testStarted(): void {
  inTest = true;
}

async function closeAll(apps: Set<Close>): Promise<void> {
  const errors: unknown[] = [];
  for (const close of [...apps]) await close().catch((err: unknown) => errors.push(err));
  if (errors.length > 0) throw new AggregateError(errors, 'closing the test apps failed');
}

export async function testEnded(): Promise<void> {
  inTest = false;
  await closeAll(testApps);
}

export async function fileEnded(): Promise<void> {
  await closeAll(testApps);
  await closeAll(fileApps);
}
