/**
 * What receivers get: the Standard Webhooks body `{ type, timestamp, data }` and a readable Slack
 * message, built from a stored alert. Pure: the same alert always gives the same bytes, so a
 * retry resends exactly what was signed before (with a fresh signature timestamp).
 */
import { MAX_JSON_DEPTH, valueNestingExceeds } from '../domain/json-depth.js';
import type { ClaimedAlertAttempt } from '../store/port.js';

/** A stored alert, parsed. */
export interface AlertMessage {
  id: string;
  type: string;
  createdAtMs: number;
  deviceId: string | null;
  userId: string | null;
  data: Record<string, unknown>;
}

/** The Standard Webhooks payload: `timestamp` is when the fact was recorded (ISO 8601). */
export interface WebhookPayload {
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

/** An alert whose payload cannot be built: sending it again would fail the same way. */
export class UnsendableAlertError extends Error {
  override name = 'UnsendableAlertError';
}

/**
 * Parses a claimed delivery's alert. Throws UnsendableAlertError when its data nests deeper than
 * MAX_JSON_DEPTH (raised before ingest limited nesting): no sink could serialise it.
 */
export function toAlertMessage(c: ClaimedAlertAttempt): AlertMessage {
  let data: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(c.data);
    data = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { value: parsed };
  } catch {
    data = {};
  }
  if (valueNestingExceeds(data, MAX_JSON_DEPTH)) {
    throw new UnsendableAlertError(`alert data nests deeper than ${MAX_JSON_DEPTH} levels; no payload can be built from it`);
  }
  return { id: c.alertId, type: c.type, createdAtMs: c.createdAtMs, deviceId: c.deviceId, userId: c.userId, data };
}

/** Makes `data.links` absolute under `publicUrl` (relative API paths are stored). */
export function absoluteLinks(links: unknown, publicUrl: string | undefined): Record<string, unknown> {
  if (links === null || typeof links !== 'object' || Array.isArray(links)) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(links)) {
    out[k] = publicUrl && typeof v === 'string' && v.startsWith('/') ? `${publicUrl}${v}` : v;
  }
  return out;
}

/**
 * The payload of an alert: its data with absolute links (when PUBLIC_URL is set) and a `user`
 * object whenever the alert concerns a user, so that every type carries who it is about.
 */
export function webhookPayload(alert: AlertMessage, publicUrl: string | undefined): WebhookPayload {
  const data: Record<string, unknown> = { ...alert.data };
  if (alert.userId !== null && data.user === undefined) data.user = { id: alert.userId };
  data.links = absoluteLinks(alert.data.links, publicUrl);
  return { type: alert.type, timestamp: new Date(alert.createdAtMs).toISOString(), data };
}

// ── Slack ──

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string => (v === null || v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));
const MAX_DETAIL_CHARS = 500;

/** Slack mrkdwn treats `&`, `<` and `>` as control characters. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
function clip(text: string): string {
  return text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}…` : text;
}
const code = (v: unknown) => `\`${esc(str(v))}\``;

/**
 * What a finding changed: every field of its `fields` (one change may move several, an HVAC hold
 * its mode, hold type and setpoints), else its one `field` (alerts stored before `fields`).
 */
function changedFields(f: Obj): string {
  const listed = Array.isArray(f.fields) ? f.fields.map(obj).filter((c) => c.field !== undefined) : [];
  if (listed.length <= 1) {
    const c = listed[0] ?? f;
    return `${code(c.field)} changed ${code(c.from)} → ${code(c.to)}`;
  }
  return `${listed.length} fields changed: ${listed.map((c) => `${code(c.field)} ${code(c.from)} → ${code(c.to)}`).join(', ')}`;
}

/** A headline and a detail line for each alert type (mrkdwn, escaped). */
export function summarize(p: WebhookPayload): { title: string; detail: string } {
  const d = p.data;
  const device = obj(d.device);
  const user = obj(d.user);
  const on = device.id !== undefined ? ` on ${esc(str(device.type))} ${code(device.id)}` : '';
  const who = user.id !== undefined ? ` (user ${code(user.id)})` : '';
  switch (p.type) {
    case 'interference.detected': {
      const f = obj(d.finding);
      return {
        title: `:warning: Interference${on}${who}`,
        detail: `${esc(str(f.kind))}: ${changedFields(f)} at ${esc(str(f.observedAt))}${f.actionId ? `; our action ${code(f.actionId)}` : ''}`,
      };
    }
    case 'action.failed':
    case 'action.cancelled': {
      const a = obj(d.action);
      const reason = obj(a.failureReason);
      const why = a.failureReason ? `: ${esc(str(reason.type))}${reason.detail ? ` — ${esc(clip(str(reason.detail)))}` : ''}` : '';
      const emoji = p.type === 'action.failed' ? ':x:' : ':no_entry_sign:';
      return { title: `${emoji} Action ${esc(str(a.state))}${on}${who}`, detail: `${esc(str(a.kind))} action ${code(a.id)}${why}` };
    }
    case 'credentials.invalidated':
      return { title: `:closed_lock_with_key: Credentials invalidated${who}`, detail: `Vendor ${esc(str(d.vendor))}: the user must relink the account before devices can be read or controlled.` };
    case 'webhook.inactive':
    case 'webhook.reactivated': {
      const w = obj(d.webhook);
      const title = p.type === 'webhook.inactive' ? ':rotating_light: Enode webhook INACTIVE' : ':white_check_mark: Enode webhook reactivated';
      return { title, detail: `Webhook ${code(w.id)}, last successful delivery ${esc(str(w.lastSuccess))}. ${esc(str(d.note))}` };
    }
    case 'delivery.failed': {
      const del = obj(d.delivery);
      return { title: ':inbox_tray: Webhook delivery could not be applied', detail: `Delivery ${code(del.id)}: ${esc(clip(str(del.error)))}. Replay it after a fix.` };
    }
    case 'device.fault': {
      const fault = obj(d.fault);
      return { title: `:electric_plug: Device fault${on}${who}`, detail: `Power delivery ${code(fault.powerDeliveryState)} at ${esc(str(fault.observedAt))}` };
    }
    default:
      return { title: `Alert ${esc(p.type)}${on}${who}`, detail: esc(clip(JSON.stringify(d))) };
  }
}

/** The Slack incoming-webhook body: `text` (notifications, fallbacks) and simple blocks. */
export function slackMessage(alertId: string, p: WebhookPayload): { text: string; blocks: Obj[] } {
  const { title, detail } = summarize(p);
  const links = Object.entries(obj(p.data.links))
    .filter((e): e is [string, string] => typeof e[1] === 'string' && /^https?:\/\//.test(e[1]))
    .map(([name, url]) => `<${url}|${esc(name)}>`);
  const context = [`${esc(p.type)}`, esc(p.timestamp), `id ${code(alertId)}`, ...links].join(' · ');
  return {
    text: `${title}: ${detail}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${title}*\n${detail}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
    ],
  };
}
