/** Formatting shared by the dashboard's pages (pure, no I/O). */

/** `2026-03-01 10:05:00 UTC`-style text of an epoch-ms time, or an em dash when unknown. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** The same for an ISO string as Enode sends it. */
export function formatIso(iso: string | null | undefined): string {
  if (!iso) return '—';
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso : formatTime(ms);
}

/** "5 min ago", "3 h ago", "2 d ago" — coarse on purpose. */
export function formatAge(ms: number | null | undefined, nowMs: number): string {
  if (ms === null || ms === undefined) return 'never';
  const s = Math.round((nowMs - ms) / 1000);
  if (s < 0) return 'in the future';
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** A controlled value as a short label: booleans as yes/no, null as "unknown", objects as JSON. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return 'unknown';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number' || typeof v === 'string') return String(v);
  return JSON.stringify(v);
}

/** `charging=yes, maxCurrent=16` for a controlled-state object. */
export function formatControlled(controlled: unknown): string {
  if (controlled === null || typeof controlled !== 'object') return '—';
  const parts = Object.entries(controlled as Record<string, unknown>).map(([k, v]) => `${k}=${formatValue(v)}`);
  return parts.length > 0 ? parts.join(', ') : '—';
}

/** Enode's other levels of control, as a transition's explanation names them. */
const AUTOMATION_WORDS: Record<string, string> = {
  enode_schedule: 'Enode schedule',
  smart_charging_plan: 'smart charging plan',
  smart_override: 'smart override',
};

/** What a transition's explanation says, in words. */
export function describeExplanation(explanation: unknown, status: string, findingId: string | null): string {
  const e = (explanation ?? {}) as { kind?: unknown; actionId?: unknown; cause?: unknown; deviceProblem?: unknown; controlId?: unknown };
  if (e.kind === 'own_action') return `explained by own action ${String(e.actionId)}`;
  if (e.kind === 'automation') return `explained by own automation: ${AUTOMATION_WORDS[String(e.cause)] ?? String(e.cause)}${e.controlId ? ` ${String(e.controlId)}` : ''}${e.actionId ? ` (action ${String(e.actionId)})` : ''}`;
  if (e.kind === 'natural') return `explained by a natural cause: ${String(e.cause).replace(/_/g, ' ')}${e.deviceProblem === true ? ' (device problem)' : ''}`;
  if (status === 'waiting') return 'unexplained so far: waiting for the grace period';
  if (status === 'finding') return `unexplained: interference finding${findingId ? ` ${findingId}` : ''}`;
  return 'unexplained';
}
