import type { DeliveryRecord, DroppedEvent, TruthChange, VendorAction, WebhookStats } from './types.js';

const MAX_DELIVERY_RECORDS = 5000;

export interface TruthSnapshot {
  /** Every real change of a device's state field, oldest first, with its true cause. */
  changes: TruthChange[];
  /** Every action as it stands now (final state once resolved), by creation. */
  actions: VendorAction[];
  /** Events that were never delivered, and why. */
  droppedEvents: DroppedEvent[];
  /** Webhook POST attempts (the latest few thousand). */
  deliveries: DeliveryRecord[];
  webhookStats: WebhookStats;
}

/** The simulator's ground truth: what really happened, to compare a consumer's view against. */
export class TruthLog {
  readonly changes: TruthChange[] = [];
  private readonly actions = new Map<string, VendorAction>();
  readonly dropped: DroppedEvent[] = [];
  readonly deliveries: DeliveryRecord[] = [];
  readonly stats: WebhookStats = {
    deliveries: 0,
    failedAttempts: 0,
    eventsDelivered: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    deactivations: 0,
  };

  recordChange(change: TruthChange): void {
    this.changes.push(change);
  }

  recordAction(action: VendorAction): void {
    this.actions.set(action.id, structuredClone(action));
  }

  recordDropped(d: DroppedEvent): void {
    this.dropped.push(d);
    this.stats.dropped++;
  }

  recordDelivery(d: DeliveryRecord): void {
    this.deliveries.push(d);
    if (this.deliveries.length > MAX_DELIVERY_RECORDS) this.deliveries.splice(0, this.deliveries.length - MAX_DELIVERY_RECORDS);
    this.stats.deliveries++;
    if (d.ok) this.stats.eventsDelivered += d.events;
    else this.stats.failedAttempts++;
  }

  snapshot(): TruthSnapshot {
    return structuredClone({
      changes: this.changes,
      actions: [...this.actions.values()],
      droppedEvents: this.dropped,
      deliveries: this.deliveries,
      webhookStats: this.stats,
    });
  }
}
