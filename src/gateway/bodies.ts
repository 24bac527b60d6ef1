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
}

const boolFlag = (description: string) => z.enum(['true', 'false'], { error: 'true or false' }).optional().openapi({ description });

/** `?override=` and `?supersede=` (`true` or `false`). */
export const flagsQuery = z.object({
  override: boolFlag('`true`: send even past the daily command limit of the device (default `false`)'),
  supersede: boolFlag('`false`: refuse (409 ACTION_PENDING) instead of letting Enode cancel a different PENDING action of the device (default `true`)'),
});

/** The flags of a validated `flagsQuery`. */
export function toFlags(query: z.infer<typeof flagsQuery>): CommandFlags {
  return { override: query.override === 'true', supersede: query.supersede !== 'false' };
}
