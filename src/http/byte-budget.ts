/**
 * A process-wide budget of bytes held for request bodies that are not verified yet. Anyone can
 * send a webhook body; only its signature, checked once the body is whole, says it came from
 * Enode. Without a budget, many slow uploads each hold up to the body limit in memory at once.
 */

/** Bytes one request holds against a budget; `release` gives them all back (safe to call twice). */
export interface Reservation {
  /** Bytes held by this reservation now. */
  readonly bytes: number;
  /** Takes `bytes` more from the budget; false (and nothing taken) when they do not fit. */
  take(bytes: number): boolean;
  /** Gives every byte held back to the budget. */
  release(): void;
}

export interface ByteBudget {
  readonly limitBytes: number;
  /** Bytes held by every open reservation together. */
  readonly heldBytes: number;
  /** Opens an empty reservation. */
  open(): Reservation;
}

/** Creates a budget of `limitBytes`; reservations past it are refused, never queued. */
export function createByteBudget(limitBytes: number): ByteBudget {
  let held = 0;
  return {
    limitBytes,
    get heldBytes() {
      return held;
    },
    open(): Reservation {
      let mine = 0;
      return {
        get bytes() {
          return mine;
        },
        take(bytes) {
          if (bytes < 0 || held + bytes > limitBytes) return false;
          held += bytes;
          mine += bytes;
          return true;
        },
        release() {
          held -= mine;
          mine = 0;
        },
      };
    },
  };
}
