import { describe, expect, it } from 'vitest';
import { versionMismatchAlert } from '../../src/alerts/facts.js';
import { foreignVersion, missingControlledFields, UNDERSTOOD_VERSION, versionLabel } from '../../src/domain/payload-version.js';
import { vehicleSnapshot } from '../support/fixtures.js';

describe('payload versions: which are understood', () => {
  it('2024-10-01 and a missing version are understood; any other is foreign', () => {
    expect(UNDERSTOOD_VERSION).toBe('2024-10-01');
    expect(foreignVersion('2024-10-01')).toBeNull();
    expect(foreignVersion(undefined)).toBeNull();
    expect(foreignVersion(null)).toBeNull();
    expect(foreignVersion('2025-06-01')).toBe('2025-06-01');
    expect(foreignVersion('2024-01-01')).toBe('2024-01-01');
  });

  it('a foreign version from a payload is kept as short, safe text', () => {
    expect(foreignVersion('v2\u0000 "x"')).toBe('v2???x?');
    const long = foreignVersion('9'.repeat(100));
    expect(long).toBe(`${'9'.repeat(40)}…`);
  });

  it('the metric label is the version when it is a date, else other', () => {
    expect(versionLabel('2025-06-01')).toBe('2025-06-01');
    expect(versionLabel('beta')).toBe('other');
    expect(versionLabel(`${'9'.repeat(40)}…`)).toBe('other');
  });
});

describe('payload versions: a complete shape', () => {
  it('a 2024-10-01 vehicle snapshot carries every controlled field', () => {
    expect(missingControlledFields('vehicle', vehicleSnapshot('v-1', 0))).toEqual([]);
  });

  it('a null value counts as present (Enode’s unknown), an absent key or an object does not', () => {
    const full = vehicleSnapshot('v-1', 0);
    expect(missingControlledFields('vehicle', { ...full, chargeState: { ...full.chargeState, maxCurrent: null } })).toEqual([]);
    const { isCharging: _dropped, ...partial } = full.chargeState;
    expect(missingControlledFields('vehicle', { ...full, chargeState: partial })).toEqual(['chargeState.isCharging']);
    expect(missingControlledFields('vehicle', { ...full, chargeState: { ...full.chargeState, isCharging: { value: true } } })).toEqual(['chargeState.isCharging']);
    expect(missingControlledFields('charger', { id: 'c-1' })).toEqual(['chargeState.isCharging', 'chargeState.maxCurrent']);
  });

  it('HVACs need mode, holdType and both setpoints; batteries operationMode; meters and inverters nothing', () => {
    expect(missingControlledFields('hvac', { thermostatState: { mode: 'HEAT', holdType: null, heatSetpoint: 20 } })).toEqual(['thermostatState.coolSetpoint']);
    expect(missingControlledFields('battery', { config: {} })).toEqual(['config.operationMode']);
    expect(missingControlledFields('battery', { config: { operationMode: 'IMPORT_FOCUS' } })).toEqual([]);
    expect(missingControlledFields('meter', { id: 'm-1' })).toEqual([]);
    expect(missingControlledFields('inverter', { id: 'i-1' })).toEqual([]);
  });
});

describe('the webhook.version_mismatch alert', () => {
  const fact = { version: '2025-06-01', seenIn: 'event' as const, event: 'user:vehicle:updated', deliveryId: 'd-1', atMs: 1 };

  it('is keyed on the watched webhook and the version, or on the version alone without a webhook id', () => {
    expect(versionMismatchAlert({ ...fact, webhookId: 'wh-1' }).dedupeKey).toBe('webhook.version_mismatch:wh-1:2025-06-01');
    expect(versionMismatchAlert({ ...fact, webhookId: null }).dedupeKey).toBe('webhook.version_mismatch:-:2025-06-01');
    // The webhook-health check of the same webhook and version names the same fact: one alert.
    const fromHealth = versionMismatchAlert({ webhookId: 'wh-1', version: '2025-06-01', seenIn: 'webhook', event: null, deliveryId: null, atMs: 2 });
    expect(fromHealth.dedupeKey).toBe(versionMismatchAlert({ ...fact, webhookId: 'wh-1' }).dedupeKey);
  });

  it('names the versions and links the delivery that carried it', () => {
    const a = versionMismatchAlert({ ...fact, webhookId: null });
    expect(a.data).toMatchObject({ webhook: { id: null }, version: '2025-06-01', understoodVersion: '2024-10-01', seenIn: 'event', links: { delivery: '/api/v1/deliveries/d-1' } });
  });
});
