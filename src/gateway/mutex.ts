/**
 * A keyed async mutex: calls with the same key run one after another, in arrival order; other
 * keys run freely. The gateway holds a device's key from reading the guards' inputs until Enode's
 * answer and the command log are stored, so two concurrent identical commands cannot both reach
 * Enode (the second sees the first's PENDING action and collapses). In-process only: several
 * daemon instances sending commands would need a lock in the database.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier call with this key has settled; resolves or rejects as `fn` does. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => done);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      // The last one out removes the key, so the map holds only keys in use.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with a call running or waiting (for tests and diagnostics). */
  get size(): number {
    return this.tails.size;
  }
}
