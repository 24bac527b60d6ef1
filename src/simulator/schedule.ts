import type { HvacCategory, ModeTarget } from './types.js';

/** What an HVAC's own (vendor-side) schedule asks for at a sim time: day and night programmes. */
export function scheduledTarget(category: HvacCategory, atMs: number): ModeTarget {
  const hour = new Date(atMs).getUTCHours();
  const day = hour >= 6 && hour < 22;
  switch (category) {
    case 'COOLING':
      return day ? { mode: 'COOL', coolSetpoint: 24, holdType: 'PERMANENT' } : { mode: 'OFF', holdType: 'PERMANENT' };
    case 'HEAT_PUMP':
      return day
        ? { mode: 'AUTO', heatSetpoint: 20, coolSetpoint: 25, holdType: 'PERMANENT' }
        : { mode: 'AUTO', heatSetpoint: 17, coolSetpoint: 27, holdType: 'PERMANENT' };
    case 'HEATING':
    case 'AGGREGATOR':
      return { mode: 'HEAT', heatSetpoint: day ? 21 : 17, holdType: 'PERMANENT' };
  }
}
