/**
 * presentEvent (src/events/present.ts): events written by an older version read as today's schema
 * describes them — a finding logged before `fields` existed gets its one field.
 */
import { describe, expect, it } from 'vitest';
import { presentEvent } from '../../src/events/present.js';
import { InterferenceDetectedDataSchema } from '../../src/events/schemas.js';

const finding = {
  id: 'f1',
  deviceId: 'v1',
  deviceType: 'vehicle',
  userId: 'u1',
  kind: 'UNEXPECTED_CHANGE',
  field: 'charging',
  from: false,
  to: true,
  observedAt: '2026-01-01T00:00:00.000Z',
  detectedAt: '2026-01-01T00:01:00.000Z',
  actionId: null,
};
const stored = (data: unknown) => ({ position: 7, type: 'interference.detected', occurredAtMs: 0, recordedAtMs: 0, deviceId: 'v1', userId: 'u1', data: JSON.stringify(data) });
const device = { id: 'v1', type: 'vehicle', userId: 'u1' };
const links = { finding: '/api/v1/interference/f1', timeline: '/api/v1/devices/v1/timeline' };

describe('presentEvent', () => {
  it('gives a finding logged before `fields` its one field, so it parses with the schema of today', () => {
    const shown = presentEvent(stored({ finding, device, links }));
    expect((shown.data['finding'] as { fields: unknown }).fields).toEqual([{ field: 'charging', from: false, to: true }]);
    expect(InterferenceDetectedDataSchema.safeParse(shown.data).success).toBe(true);
  });

  it('an old ACTION_CONFLICT (no field) gets an empty list; a finding with `fields` is left as it is', () => {
    const conflict = presentEvent(stored({ finding: { ...finding, kind: 'ACTION_CONFLICT', field: null }, device, links }));
    expect((conflict.data['finding'] as { fields: unknown }).fields).toEqual([]);
    const fields = [
      { field: 'hvacMode', from: 'HEAT', to: 'COOL' },
      { field: 'coolSetpoint', from: null, to: 21 },
    ];
    const today = presentEvent(stored({ finding: { ...finding, field: 'hvacMode', fields }, device, links }));
    expect((today.data['finding'] as { fields: unknown }).fields).toEqual(fields);
  });
});
