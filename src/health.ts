/**
 * `GET /readyz`: ready means migrations applied, a real write committed (the writer upserts the
 * `health_probe` row) and the apply loop not stalled. The Docker HEALTHCHECK and orchestrators
 * probe it; `GET /healthz` only says the process answers.
 */
import type { Context } from 'hono';
import type { Deps } from './deps.js';
import { errorBody } from './errors.js';
import { createAggregateLog, type AggregateLog } from './http/aggregate-log.js';

/** Where readiness failures are logged: anyone may probe /readyz, so repeats are counted, not written each time. */
type ProblemLog = (message: string, fields: Record<string, unknown>) => void;

/** What keeps the daemon from being ready, in words safe to show an unauthenticated caller. */
export async function readinessProblems(deps: Pick<Deps, 'read' | 'store' | 'clock'>, logProblem: ProblemLog): Promise<string[]> {
  const problems: string[] = [];
  try {
    const { applied, expected } = await deps.read.migrations();
    if (applied < expected) problems.push(`migrations pending: ${applied} of ${expected} applied; run "enode-sync migrate"`);
  } catch (err) {
    logProblem('readiness check: database not readable', { err });
    problems.push('database not readable (see the log)');
  }
  try {
    const health = await deps.store.ping();
    if (health.applyStalled && health.applyFailingSinceMs !== null) {
      const seconds = Math.round((deps.clock.now().getTime() - health.applyFailingSinceMs) / 1000);
      logProblem('readiness check: applying stored deliveries keeps failing', { error: health.lastApplyError, backlog: health.backlog });
      problems.push(`applying stored deliveries has failed for ${seconds} s (${health.backlog} waiting; see the log)`);
    }
  } catch (err) {
    // The detail goes to the log, not to whoever probes /readyz.
    logProblem('readiness check: database not writable', { err });
    problems.push('database not writable (see the log)');
  }
  return problems;
}

/** The /readyz handler: 200 `{status: "ready"}`, or 503 naming what is wrong. */
export function readyzHandler(deps: Deps) {
  // The first failure of each kind in a minute is logged with its detail, the rest as a count.
  const logs = new Map<string, AggregateLog>();
  const logProblem: ProblemLog = (message, fields) => {
    let log = logs.get(message);
    if (!log) logs.set(message, (log = createAggregateLog({ logger: deps.logger, clock: deps.clock, message })));
    log.record('readyz', fields);
  };
  return async (c: Context) => {
    const problems = await readinessProblems(deps, logProblem);
    if (problems.length > 0) {
      return c.json({ ...errorBody('SERVICE_UNAVAILABLE', problems.join('; '), c.get('requestId')), status: 'unavailable' }, 503);
    }
    return c.json({ status: 'ready' });
  };
}
