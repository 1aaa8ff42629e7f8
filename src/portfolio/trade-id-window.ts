/**
 * A bounded, insertion-ordered set of ids: the memory the Portfolio uses to recognise a trade (or funding payment)
 * it has already applied, including across restarts (the window is persisted).
 *
 * Safety: an id that has been evicted is forgotten, so a replay of a trade OLDER than the window would be applied
 * a second time. The engine's trade cursor must therefore never go back further than the window covers: with the
 * default of 100 000 ids, re-fetching history is safe as long as fewer than 100 000 trades were applied since the
 * oldest trade the fetch can return.
 */
import { ConfigError } from '../domain/errors.js';

/** Default number of ids remembered per window (trade ids and funding ids each). */
export const DEFAULT_TRADE_ID_WINDOW = 100_000;

/** Throws ConfigError unless `capacity` is a positive safe integer. */
export function checkWindowCapacity(capacity: number, path: string): number {
  if (!Number.isSafeInteger(capacity) || capacity < 1) {
    throw new ConfigError([{ path, message: `must be a positive integer, got ${String(capacity)}` }]);
  }
  return capacity;
}

/**
 * The last `capacity` distinct ids added, oldest evicted first. Deterministic: eviction order is insertion order,
 * and re-adding a remembered id neither moves nor duplicates it.
 */
export class IdWindow {
  // A Set iterates in insertion order, which is exactly the eviction order we want.
  private readonly ids = new Set<string>();

  constructor(readonly capacity: number = DEFAULT_TRADE_ID_WINDOW) {
    checkWindowCapacity(capacity, 'tradeIdWindow');
  }

  /** A window holding the newest `capacity` of `ids` (given oldest first). */
  static from(ids: Iterable<string>, capacity: number = DEFAULT_TRADE_ID_WINDOW): IdWindow {
    const w = new IdWindow(capacity);
    for (const id of ids) w.add(id);
    return w;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Remembers `id`; returns false (and changes nothing) when it was already remembered. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
    return true;
  }

  get size(): number {
    return this.ids.size;
  }

  /** Remembered ids, oldest first. */
  toArray(): string[] {
    return [...this.ids];
  }
}
