/**
 * Payload versions (README "Payload versions"). Enode formats a webhook's events in the webhook's
 * pinned `apiVersion` (else the client's default) and stamps each event with `version`. This
 * build understands one version; an event of another is applied only where its shape is
 * complete, so a partial snapshot never replaces a full one. Pure rules; the funnel
 * (ingest/apply.ts) and the webhook-health job apply them.
 */

/** The Enode API version whose payloads this build understands. */
export const UNDERSTOOD_VERSION = '2024-10-01';

/** The longest version text kept in an alert or a metric label (the value comes from a payload). */
const MAX_VERSION_TEXT = 40;

/**
 * The version of an event this build does not understand, as safe text (at most 40 characters of
 * letters, digits and `.-_:`; anything else becomes `?`), or null when it is understood. A
 * missing version (payloads from before Enode stamped one, hand-written test bodies) counts as
 * understood: nothing says it is another one, and refusing it would stop ingest for no cause.
 */
export function foreignVersion(version: unknown): string | null {
  if (version === undefined || version === null || version === UNDERSTOOD_VERSION) return null;
  const text = typeof version === 'string' ? version : JSON.stringify(version);
  const safe = text.slice(0, MAX_VERSION_TEXT).replace(/[^A-Za-z0-9._:-]/g, '?');
  return text.length > MAX_VERSION_TEXT ? `${safe}…` : safe;
}

/** The metric label of a foreign version: a date-shaped version as it is, anything else `other`. */
export function versionLabel(version: string): string {
  return /^\d{4}-\d{2}-\d{2}$/.test(version) ? version : 'other';
}

/** Where each controlled field of a device type lives in an Enode snapshot (DESIGN.md "controlled state"). */
const CONTROLLED_PATHS: Readonly<Record<string, ReadonlyArray<readonly [string, string]>>> = {
  vehicle: [
    ['chargeState', 'isCharging'],
    ['chargeState', 'maxCurrent'],
  ],
  charger: [
    ['chargeState', 'isCharging'],
    ['chargeState', 'maxCurrent'],
  ],
  hvac: [
    ['thermostatState', 'mode'],
    ['thermostatState', 'holdType'],
    ['thermostatState', 'heatSetpoint'],
    ['thermostatState', 'coolSetpoint'],
  ],
  battery: [['config', 'operationMode']],
};

/**
 * The controlled fields a device snapshot lacks (as `section.field`): a field is there when its
 * key is present with a scalar or null (Enode's "unknown"). Empty for a complete snapshot, and
 * always for types without controlled fields (inverters, meters).
 */
export function missingControlledFields(type: string, snapshot: Record<string, unknown>): string[] {
  const missing: string[] = [];
  for (const [section, key] of CONTROLLED_PATHS[type] ?? []) {
    const s = snapshot[section];
    const obj = s !== null && typeof s === 'object' && !Array.isArray(s) ? (s as Record<string, unknown>) : undefined;
    const v = obj && Object.hasOwn(obj, key) ? obj[key] : undefined;
    const present = v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
    if (!present) missing.push(`${section}.${key}`);
  }
  return missing;
}
