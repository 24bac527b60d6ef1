/** The shapes of the commands the gateway sends through Enode (the guards in guards.ts judge them). */

export type ChargeKind = 'START' | 'STOP';

/** Body of `POST /hvacs/{id}/permanent-hold` (REFERENCE §2.7). */
export type PermanentHold =
  | { mode: 'HEAT'; heatSetpoint: number }
  | { mode: 'COOL'; coolSetpoint: number }
  | { mode: 'AUTO'; heatSetpoint: number; coolSetpoint: number }
  | { mode: 'OFF' };

export const BATTERY_OPERATION_MODES = ['IMPORT_FOCUS', 'EXPORT_FOCUS', 'TIME_OF_USE', 'SELF_RELIANCE', 'IDLE'] as const;
export type BatteryOperationMode = (typeof BATTERY_OPERATION_MODES)[number];
