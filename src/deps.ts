import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { createIngestRepo, type IngestRepo } from './db/ingest-repo.js';
import type { Db } from './db/open.js';
import { createReadRepo, type ReadRepo } from './db/read-repo.js';
import { createInlineWriter, type Writer } from './ingest/writer.js';
import type { Logger } from './logger.js';

/** Everything the app, jobs and CLI commands need, built once and passed down. */
export interface Deps {
  config: Config;
  db: Db;
  logger: Logger;
  clock: Clock;
  repos: { ingest: IngestRepo; read: ReadRepo };
  /** The single writer: a worker thread for file databases, inline for `:memory:` and tests. */
  writer: Writer;
}

/** Wires the repositories and the writer over an open, migrated database. */
export function createDeps(base: { config: Config; db: Db; logger: Logger; clock: Clock }, writer?: Writer): Deps {
  const ingest = createIngestRepo(base.db.$client);
  return {
    ...base,
    repos: { ingest, read: createReadRepo(base.db) },
    writer: writer ?? createInlineWriter(ingest, base.clock, base.logger.child({ component: 'writer' }), base.config),
  };
}
