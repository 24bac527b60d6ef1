/**
 * Request bodies of the command routes: exactly Enode's (openapi 2024-10-01, REFERENCE §2.7),
 * unknown fields refused as Enode refuses them (`additionalProperties: false`). Failures are 400s
 * naming the field.
 */
import { z } from 'zod';
import { BATTERY_OPERATION_MODES } from '../enode/types.js';
import { AppError } from '../errors.js';

const setpoint = z.number().finite();

export const chargingBody = z.strictObject({ action: z.enum(['START', 'STOP']) });
export const maxCurrentBody = z.strictObject({ maxCurrent: z.number().finite().positive() });
export const permanentHoldBody = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('HEAT'), heatSetpoint: setpoint }),
  z.strictObject({ mode: z.literal('COOL'), coolSetpoint: setpoint }),
  z.strictObject({ mode: z.literal('AUTO'), heatSetpoint: setpoint, coolSetpoint: setpoint }),
  z.strictObject({ mode: z.literal('OFF') }),
]);
export const operationModeBody = z.strictObject({ operationMode: z.enum(BATTERY_OPERATION_MODES) });

const idParam = z.string().min(1).max(200);

/** A path id: 1 to 200 characters. */
export function parseId(raw: string | undefined, what: string): string {
  const parsed = idParam.safeParse(raw);
  if (!parsed.success) throw new AppError('BAD_REQUEST', `Invalid ${what} id: 1 to 200 characters`);
  return parsed.data;
}

/** Parses a JSON body (raw text) with `schema`; a 400 names the first bad field. */
export function parseBody<S extends z.ZodType>(schema: S, text: string): z.infer<S> {
  let value: unknown;
  try {
    value = text.trim() === '' ? undefined : JSON.parse(text);
  } catch {
    throw new AppError('BAD_REQUEST', 'The request body is not valid JSON');
  }
  if (value === undefined) throw new AppError('BAD_REQUEST', 'A JSON request body is required');
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (!issue) throw new AppError('BAD_REQUEST', 'Invalid request body');
  const unknownKeys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const field = unknownKeys[0] ?? issue.path.map(String).join('.');
  if (field === '') throw new AppError('BAD_REQUEST', `Invalid request body: ${issue.message}`, { field: null });
  const message = unknownKeys.length > 0 ? `unknown field (Enode accepts no other)` : issue.message;
  throw new AppError('BAD_REQUEST', `Invalid body field "${field}": ${message}`, { field });
}

export interface CommandFlags {
  /** `?override=true`: send even past the daily command limit. */
  override: boolean;
  /** `?supersede=false`: refuse instead of letting Enode cancel a different PENDING action. */
  supersede: boolean;
}

const boolFlag = z.enum(['true', 'false']).optional();
const flagsQuery = z.object({ override: boolFlag, supersede: boolFlag });

/** Reads `?override=` and `?supersede=` (`true` or `false`); other values are a 400 naming the parameter. */
export function parseFlags(query: Record<string, string>): CommandFlags {
  const parsed = flagsQuery.safeParse(query);
  if (!parsed.success) {
    const name = String(parsed.error.issues[0]?.path[0] ?? '');
    throw new AppError('BAD_REQUEST', `Invalid query parameter "${name}": true or false`, { field: name });
  }
  return { override: parsed.data.override === 'true', supersede: parsed.data.supersede !== 'false' };
}
