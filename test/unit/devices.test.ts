import { describe, expect, it } from 'vitest';
import { compareSnapshotKeys, controlledState, deviceTimeMs } from '../../src/domain/devices.js';

describe('controlledState', () => {
  it('watches charging and maxCurrent of vehicles and chargers', () => {
    const snap = { chargeState: { isCharging: true, maxCurrent: 16, batteryLevel: 40 } };
    expect(controlledState('vehicle', snap)).toEqual({ charging: true, maxCurrent: 16 });
    expect(controlledState('charger', snap)).toEqual({ charging: true, maxCurrent: 16 });
  });

  it('watches mode, hold and setpoints of HVACs', () => {
    const snap = { thermostatState: { mode: 'HEAT', holdType: 'PERMANENT', heatSetpoint: 21, coolSetpoint: null } };
    expect(controlledState('hvac', snap)).toEqual({ hvacMode: 'HEAT', holdType: 'PERMANENT', heatSetpoint: 21, coolSetpoint: null });
  });

  it('watches the operation mode of batteries', () => {
    expect(controlledState('battery', { config: { operationMode: 'IMPORT_FOCUS' } })).toEqual({ operationMode: 'IMPORT_FOCUS' });
  });

  it('gives nulls, not a crash, for a discovered device whose state sections are null', () => {
    expect(controlledState('vehicle', { chargeState: null })).toEqual({ charging: null, maxCurrent: null });
    expect(controlledState('hvac', {})).toEqual({ hvacMode: null, holdType: null, heatSetpoint: null, coolSetpoint: null });
  });

  it('counts a watched field holding an object or array as unknown (null): only scalars are states', () => {
    const snap = { chargeState: { isCharging: { d: [{ d: true }] }, maxCurrent: [16] } };
    expect(controlledState('vehicle', snap)).toEqual({ charging: null, maxCurrent: null });
  });

  it('watches nothing on read-only inverters and meters', () => {
    expect(controlledState('inverter', { productionState: { isProducing: true } })).toEqual({});
  });
});

describe('deviceTimeMs', () => {
  it('takes the newest of lastSeen and the sections’ lastUpdated', () => {
    const snap = {
      lastSeen: '2026-01-01T00:00:00Z',
      chargeState: { lastUpdated: '2026-01-01T00:05:00Z' },
      location: { lastUpdated: '2026-01-01T00:03:00Z' },
    };
    expect(deviceTimeMs(snap)).toBe(Date.parse('2026-01-01T00:05:00Z'));
  });

  it('is 0 when the snapshot carries no usable time', () => {
    expect(deviceTimeMs({ lastSeen: null, chargeState: { lastUpdated: 'garbage' } })).toBe(0);
  });
});

describe('compareSnapshotKeys', () => {
  it('orders state over a bare :discovered, then by device time, then event time, then hash', () => {
    expect(compareSnapshotKeys({ atMs: 1, rank: 1, eventAtMs: 0, hash: 'a' }, { atMs: 2, rank: 0, eventAtMs: 9, hash: 'z' })).toBeGreaterThan(0);
    expect(compareSnapshotKeys({ atMs: 2, rank: 1, eventAtMs: 0, hash: 'a' }, { atMs: 1, rank: 1, eventAtMs: 9, hash: 'z' })).toBeGreaterThan(0);
    expect(compareSnapshotKeys({ atMs: 2, rank: 0, eventAtMs: 0, hash: 'a' }, { atMs: 1, rank: 0, eventAtMs: 9, hash: 'z' })).toBeGreaterThan(0);
    expect(compareSnapshotKeys({ atMs: 1, rank: 1, eventAtMs: 2, hash: 'a' }, { atMs: 1, rank: 1, eventAtMs: 1, hash: 'z' })).toBeGreaterThan(0);
    expect(compareSnapshotKeys({ atMs: 1, rank: 1, eventAtMs: 1, hash: 'b' }, { atMs: 1, rank: 1, eventAtMs: 1, hash: 'a' })).toBeGreaterThan(0);
    expect(compareSnapshotKeys({ atMs: 1, rank: 1, eventAtMs: 1, hash: 'a' }, { atMs: 1, rank: 1, eventAtMs: 1, hash: 'a' })).toBe(0);
  });
});
