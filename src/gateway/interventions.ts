import type { Clock } from '../clock.js';
import type { EnodeApi } from '../enode/client.js';
import { segment } from '../enode/paths.js';
import type { Logger } from '../logger.js';

/** An intervention's resolution text (REFERENCE §3.6), as shown beside a capability refusal. */
export interface InterventionText {
  id: string;
  title: string | null;
  description: string | null;
  access: string | null;
  agent: string | null;
}

export interface InterventionLookupOptions {
  clock: Clock;
  logger: Logger;
  /** How long a fetched text (or a failure) is reused, ms (default 1 h). */
  ttlMs?: number;
  /** How long a refusal waits for the texts before answering without them, ms (default 2 000). */
  waitMs?: number;
  /** At most this many ids are looked up per refusal (default 5). */
  maxIds?: number;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function parse(id: string, body: unknown): InterventionText | null {
  if (body === null || typeof body !== 'object') return null;
  const r = (body as Record<string, unknown>)['resolution'];
  const res = r !== null && typeof r === 'object' ? (r as Record<string, unknown>) : {};
  return { id, title: str(res['title']), description: str(res['description']), access: str(res['access']), agent: str(res['agent']) };
}

/**
 * Best-effort texts for intervention ids (`GET /interventions/{id}`): cached, bounded in number and
 * in waiting time, failures logged at debug and left out. A refusal never fails for want of them.
 */
export function createInterventionLookup(o: InterventionLookupOptions) {
  const ttlMs = o.ttlMs ?? 60 * 60_000;
  const waitMs = o.waitMs ?? 2_000;
  const maxIds = o.maxIds ?? 5;
  const cache = new Map<string, { atMs: number; value: Promise<InterventionText | null> }>();

  const one = (enode: EnodeApi, id: string): Promise<InterventionText | null> => {
    const nowMs = o.clock.now().getTime();
    const hit = cache.get(id);
    if (hit && nowMs - hit.atMs < ttlMs) return hit.value;
    const value = enode.request<unknown>('GET', `/interventions/${segment(id)}`).then(
      (body) => parse(id, body),
      (err: unknown) => {
        o.logger.debug({ err, interventionId: id }, 'intervention text not available');
        return null;
      },
    );
    cache.set(id, { atMs: nowMs, value });
    return value;
  };

  return async (enode: EnodeApi, ids: readonly string[]): Promise<InterventionText[]> => {
    if (ids.length === 0) return [];
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), waitMs);
      timer.unref();
    });
    try {
      const all = Promise.all(ids.slice(0, maxIds).map((id) => one(enode, id)));
      const texts = await Promise.race([all, timeout]);
      return (texts ?? []).filter((t): t is InterventionText => t !== null);
    } finally {
      clearTimeout(timer);
    }
  };
}

export type InterventionLookup = ReturnType<typeof createInterventionLookup>;
