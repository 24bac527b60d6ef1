import { createHmac } from 'node:crypto';

const BASE_MS = Date.parse('2026-01-01T00:00:00.000Z');

function vehicle(id: string, userId: string, atMs: number, charging: boolean, level: number) {
  const at = new Date(atMs).toISOString();
  return {
    id,
    userId,
    vendor: 'VOLKSWAGEN',
    lastSeen: at,
    isReachable: true,
    information: { vin: `WVW${id.slice(-10)}`, brand: 'Volkswagen', model: 'ID.4', year: 2023, displayName: 'Family car' },
    chargeState: {
      batteryLevel: level,
      range: level * 4,
      isPluggedIn: true,
      isCharging: charging,
      isFullyCharged: false,
      batteryCapacity: 77,
      chargeLimit: 80,
      chargeRate: charging ? 11 : null,
      chargeTimeRemaining: charging ? 95 : null,
      lastUpdated: at,
      maxCurrent: 16,
      powerDeliveryState: charging ? 'PLUGGED_IN:CHARGING' : 'PLUGGED_IN:STOPPED',
    },
    smartChargingPolicy: { isEnabled: false, deadline: null, minimumChargeLimit: 0 },
    odometer: { distance: 12345, lastUpdated: at },
    capabilities: {
      information: { isCapable: true, interventionIds: [] },
      chargeState: { isCapable: true, interventionIds: [] },
      location: { isCapable: true, interventionIds: [] },
      odometer: { isCapable: true, interventionIds: [] },
      setMaxCurrent: { isCapable: false, interventionIds: ['4eaeb363-296d-4ccc-a973-7805e6f400bd'] },
      startCharging: { isCapable: true, interventionIds: [] },
      stopCharging: { isCapable: true, interventionIds: [] },
      smartCharging: { isCapable: true, interventionIds: [] },
    },
    scopes: ['vehicle:read:data', 'vehicle:read:location', 'vehicle:control:charging'],
    location: { id: null, longitude: 10.7522, latitude: 59.9139, lastUpdated: at },
  };
}

/**
 * Realistic signed deliveries: `eventsPerDelivery` events each (70 % vehicle updates, 30 % vendor
 * action updates), distinct delivery ids, device times moving forward so that every snapshot is new.
 */
export function makeDeliveries(count: number, secret: string, opts: { eventsPerDelivery?: number; fleet?: number; seed?: string } = {}) {
  const perDelivery = opts.eventsPerDelivery ?? 10;
  const fleet = opts.fleet ?? 5_000;
  const seed = opts.seed ?? 'bench';
  const out: Array<{ id: string; body: string; signature: string }> = [];
  let n = 0;
  for (let d = 0; d < count; d++) {
    const events: unknown[] = [];
    for (let e = 0; e < perDelivery; e++, n++) {
      const atMs = BASE_MS + n * 1000;
      const v = n % fleet;
      const vehicleId = `${seed}-vehicle-${v}`;
      const userId = `${seed}-user-${v % 2000}`;
      if (e % 10 < 7) {
        events.push({
          event: 'user:vehicle:updated',
          createdAt: new Date(atMs + 200).toISOString(),
          version: '2024-10-01',
          user: { id: userId },
          vehicle: vehicle(vehicleId, userId, atMs, n % 3 === 0, n % 100),
          updatedFields: ['chargeState.batteryLevel', 'chargeState.lastUpdated'],
        });
      } else {
        const state = n % 2 === 0 ? 'PENDING' : 'CONFIRMED';
        events.push({
          event: 'user:vendor-action:updated',
          createdAt: new Date(atMs + 200).toISOString(),
          version: '2024-10-01',
          user: { id: userId },
          vendorAction: {
            id: `${seed}-action-${Math.floor(n / 2)}`,
            userId,
            createdAt: new Date(atMs - 5000).toISOString(),
            updatedAt: new Date(atMs).toISOString(),
            completedAt: state === 'PENDING' ? null : new Date(atMs).toISOString(),
            state,
            targetId: vehicleId,
            targetType: 'vehicle',
            kind: 'START',
            failureReason: null,
          },
          updatedFields: ['state'],
        });
      }
    }
    const body = JSON.stringify(events);
    out.push({ id: `${seed}-delivery-${d}`, body, signature: `sha1=${createHmac('sha1', secret).update(body).digest('hex')}` });
  }
  return out;
}
