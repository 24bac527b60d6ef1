/**
 * One line that says what an event is about, for the events page. The live tail's script
 * (events-script.ts) builds the same line in the browser for rows it adds; a unit test holds
 * the two to the same output.
 */

/** The envelope fields a summary reads (`GET /api/v1/events` shape). */
export interface SummarizedEvent {
  type: string;
  data: Record<string, unknown>;
}

/** Changed paths shown before "+N more". */
export const SUMMARY_PATHS = 4;
/** Longest summary, in characters; the expanded JSON has the rest. */
export const SUMMARY_MAX = 160;

const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);

/** The first detail an alert's payload carries, in the order an on-call engineer wants it. */
function alertDetail(d: Record<string, unknown>): string | undefined {
  return (
    text(obj(d['finding'])['kind']) ??
    text(obj(d['fault'])['powerDeliveryState']) ??
    text(obj(d['action'])['failureReason']) ??
    text(obj(obj(d['action'])['failureReason'])['type']) ??
    text(obj(d['action'])['state']) ??
    text(obj(d['delivery'])['error']) ??
    text(obj(d['apply'])['error']) ??
    text(obj(d['webhook'])['id']) ??
    text(d['vendor'])
  );
}

function longSummary(e: SummarizedEvent): string {
  const d = e.data;
  switch (e.type) {
    case 'device.discovered':
      return 'first seen';
    case 'device.deleted':
      return 'deleted';
    case 'device.updated': {
      const changes = Array.isArray(d['changes']) ? (d['changes'] as unknown[]) : [];
      const paths = changes.map((c) => text(obj(c)['path']) ?? '(whole device)');
      const more = paths.length > SUMMARY_PATHS ? ` +${paths.length - SUMMARY_PATHS} more` : '';
      return paths.length === 0 ? 'changed' : `${paths.slice(0, SUMMARY_PATHS).join(', ')}${more}`;
    }
    case 'action.updated': {
      const a = obj(d['action']);
      return `${text(a['kind']) ?? 'action'}: ${text(d['previousState']) ?? 'new'} → ${text(a['state']) ?? '?'}`;
    }
    case 'command.sent':
    case 'command.refused': {
      const c = obj(d['command']);
      return `${text(c['command']) ?? 'command'} ${e.type === 'command.sent' ? 'sent' : 'refused'}${text(c['error']) ? `: ${text(c['error'])}` : ''}`;
    }
    case 'interference.acknowledged':
    case 'interference.resolved': {
      const f = obj(d['finding']);
      return `${text(f['kind']) ?? 'finding'} ${text(d['state']) ?? '?'}${text(d['note']) ? `: ${text(d['note'])}` : ''}`;
    }
    default: {
      const detail = alertDetail(d);
      return `alert ${e.type}${detail ? `: ${detail}` : ''}`;
    }
  }
}

/** The summary of an event, at most SUMMARY_MAX characters. */
export function summarizeEvent(e: SummarizedEvent): string {
  const s = longSummary(e);
  return s.length > SUMMARY_MAX ? `${s.slice(0, SUMMARY_MAX - 1)}…` : s;
}
