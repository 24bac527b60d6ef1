import { describe, expect, it } from 'vitest';
import { devicePath, segment } from '../../../src/enode/paths.js';

describe('Enode paths', () => {
  it('encodes ids as one path segment', () => {
    expect(segment('a/b?c')).toBe('a%2Fb%3Fc');
    expect(devicePath('vehicle', 'v 1')).toBe('/vehicles/v%201');
  });

  it('refuses ids that would address another path (. and .. resolve even when encoded)', () => {
    for (const id of ['', '.', '..']) expect(() => segment(id)).toThrow(RangeError);
  });
});
