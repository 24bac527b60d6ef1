/**
 * Request schemas of the command routes. Bodies are exactly Enode's (openapi 2024-10-01,
 * REFERENCE §2.7), unknown fields refused as Enode refuses them (`additionalProperties: false`).
 * The routes (src/gateway/routes.ts) validate with them and the OpenAPI document shows them;
 * failures are 400s naming the field (src/api/openapi.ts `validationError`).
 */
import { z } from '@hono/zod-openapi';
import { BATTERY_OPERATION_MODES } from '../enode/types.js';

const setpoint = z.number().finite().openapi({ description: '°C' });

export const chargingBody = z.strictObject({ action: z.enum(['START', 'STOP']) }).openapi('ChargingBody');
export const maxCurrentBody = z.strictObject({ maxCurrent: z.number().finite().positive().openapi({ description: 'Amperes' }) }).openapi('MaxCurrentBody');
export const permanentHoldBody = z
  .discriminatedUnion('mode', [
    z.strictObject({ mode: z.literal('HEAT'), heatSetpoint: setpoint }),
    z.strictObject({ mode: z.literal('COOL'), coolSetpoint: setpoint }),
    z.strictObject({ mode: z.literal('AUTO'), heatSetpoint: setpoint, coolSetpoint: setpoint }),
    z.strictObject({ mode: z.literal('OFF') }),
  ])
  .openapi('PermanentHoldBody');
export const operationModeBody = z.strictObject({ operationMode: z.enum(BATTERY_OPERATION_MODES) }).openapi('OperationModeBody');

export interface CommandFlags {
  /** `?override=true`: send even past the daily command limit. */
  override: boolean;
  /** `?supersede=false`: refuse instead of letting Enode cancel a different PENDING action. */
  supersede: boolean;
  /** `?force=true`: send although an Enode schedule or smart charging plan controls the device. */
  force: boolean;
}

const boolFlag = (description: string) => z.enum(['true', 'false'], { error: 'true or false' }).optional().openapi({ description });

const overrideFlag = boolFlag('`true`: send even past the daily command limit of the device (default `false`)');

/** `?override=`, `?supersede=` and `?force=` (`true` or `false`). */
export const flagsQuery = z.object({
  override: overrideFlag,
  supersede: boolFlag('`false`: refuse (409 ACTION_PENDING) instead of letting Enode cancel a different PENDING action of the device (default `true`)'),
  force: boolFlag(
    '`true`: send although an active Enode schedule or smart charging plan controls the device (otherwise 409 CONTROLLED_BY_SCHEDULE / CONTROLLED_BY_SMART_CHARGING; Enode may still refuse it) (default `false`)',
  ),
});

/** `?override=` alone: the smart override's only flag (it is the way past a schedule or plan, and Enode decides on PENDING actions). */
export const overrideQuery = z.object({ override: overrideFlag });

/** The flags of a validated `flagsQuery` (or `overrideQuery`). */
export function toFlags(query: { override?: 'true' | 'false' | undefined; supersede?: 'true' | 'false' | undefined; force?: 'true' | 'false' | undefined }): CommandFlags {
  return { override: query.override === 'true', supersede: query.supersede !== 'false', force: query.force === 'true' };
}
