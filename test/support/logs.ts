import { createLogger, type Logger } from '../../src/logger.js';

/** A real pino logger whose JSON lines land, parsed and synchronously, in `lines`. */
export function captureLogs(level = 'info'): { lines: Array<Record<string, unknown>>; logger: Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger(level, {
    write: (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { lines, logger };
}
