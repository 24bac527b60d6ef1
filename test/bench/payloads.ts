import { createHash, createHmac } from 'node:crypto';
import { vehicleAt } from '../support/fixtures.js';

const BASE_MS = Date.parse('2026-01-01T00:00:00.000Z');

/** A deterministic UUID-shaped id: random order in the indexes, as Enode's ids are. */
export function uuidOf(text: string): string {
  const h = createHash('md5').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Realistic signed deliveries: `eventsPerDelivery` events each (70 % vehicle updates, 30 % vendor
 * action updates), distinct delivery ids, device times moving forward so that every snapshot is new.
 * Device and user ids are `<seed>-vehicle-<n>`, or with `uuidIds` UUID-shaped as Enode's are (an
 * index on them then takes its entries in random order, not in a sweep).
 */
export function makeDeliveries(count: number, secret: string, opts: { eventsPerDelivery?: number; fleet?: number; seed?: string; uuidIds?: boolean } = {}) {
  const perDelivery = opts.eventsPerDelivery ?? 10;
  const fleet = opts.fleet ?? 5_000;
  const seed = opts.seed ?? 'bench';
  const id = opts.uuidIds ? (text: string) => uuidOf(`${seed}-${text}`) : (text: string) => `${seed}-${text}`;
  const out: Array<{ id: string; body: string; signature: string }> = [];
  let n = 0;
  for (let d = 0; d < count; d++) {
    const events: unknown[] = [];
    for (let e = 0; e < perDelivery; e++, n++) {
      const atMs = BASE_MS + n * 1000;
      const v = n % fleet;
      const vehicleId = id(`vehicle-${v}`);
      const userId = id(`user-${v % 2000}`);
      if (e % 10 < 7) {
        events.push({
          event: 'user:vehicle:updated',
          createdAt: new Date(atMs + 200).toISOString(),
          version: '2024-10-01',
          user: { id: userId },
          vehicle: vehicleAt(vehicleId, atMs, { userId, charging: n % 3 === 0, batteryLevel: n % 100 }),
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
            id: id(`action-${Math.floor(n / 2)}`),
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
