import type { DeviceType } from '../domain/devices.js';

/** Device kinds that take vendor actions (REFERENCE §2.7–2.8). */
export type ActionTargetType = 'vehicle' | 'charger' | 'hvac' | 'battery';

// Enode pluralises irregularly (batteries), so spell every collection out.
const COLLECTIONS: Record<DeviceType, string> = {
  vehicle: 'vehicles',
  charger: 'chargers',
  hvac: 'hvacs',
  battery: 'batteries',
  inverter: 'inverters',
  meter: 'meters',
};

/** `/vehicles`, `/batteries`, … for a device type. */
export function collectionPath(type: DeviceType): string {
  return `/${COLLECTIONS[type]}`;
}

/** Escapes one path segment: ids come from outside (webhooks, admin API) and must not add segments. */
export function segment(id: string): string {
  // URLs resolve `.` and `..` even when encoded: such an id would address another Enode path.
  if (id === '' || id === '.' || id === '..') throw new RangeError(`Invalid Enode id "${id}"`);
  return encodeURIComponent(id);
}

/** `/vehicles/{id}` */
export function devicePath(type: DeviceType, id: string): string {
  return `${collectionPath(type)}/${segment(id)}`;
}

/** `/vehicles/actions/{actionId}` (REFERENCE §2.8). */
export function actionPath(type: ActionTargetType, actionId: string): string {
  return `${collectionPath(type)}/actions/${segment(actionId)}`;
}

/** `/vehicles/{id}/smart-override` (Enode 2024-10-01 has no charger smart-override path). */
export function smartOverridePath(vehicleId: string): string {
  return `${devicePath('vehicle', vehicleId)}/smart-override`;
}

/** Appends a query string, leaving out undefined values. */
export function withQuery(path: string, query: Record<string, string | number | undefined> | undefined): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const qs = params.toString();
  return qs === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${qs}`;
}
