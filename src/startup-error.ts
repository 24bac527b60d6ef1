/**
 * Errors an operator can act on at start-up (a database path that cannot be opened, a second
 * daemon on the same file). `main.ts` prints their message alone, without a stack: the message
 * names the path and the reason in plain words.
 */
export class StartupError extends Error {
  override name = 'StartupError';

  constructor(
    message: string,
    /** The file or directory concerned. */
    readonly path: string,
    /** The reason in a few plain words, for the fatal log line. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
