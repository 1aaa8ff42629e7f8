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
 * Immutable once built: ids in insertion order and each id's position. Shared by forks of a window. A window's own
 * layers are lists with a map; a layer parsed from a file may index its ids another way (see applied-trades.ts).
 */
export interface IdLayer {
  /** How many ids it holds (0 for an empty layer). */
  readonly length: number;
  /** The position of `id` (0: the oldest), undefined when the layer does not hold it. */
  positionOf(id: string): number | undefined;
  /** The ids from position `start` on, oldest first. */
  idsFrom(start: number): string[];
}

/** A layer a window folds its ids into: the list, and each id's position in a map. */
class ListLayer implements IdLayer {
  constructor(
    private readonly order: readonly string[],
    private readonly position: ReadonlyMap<string, number>,
  ) {}

  get length(): number {
    return this.order.length;
  }

  positionOf(id: string): number | undefined {
    return this.position.get(id);
  }

  idsFrom(start: number): string[] {
    return this.order.slice(start);
  }
}

/** The layer and the overlay set a new window starts with: never written (a layer is immutable; see `overlayShared`). */
const EMPTY_LAYER: IdLayer = new ListLayer([], new Map());
const NO_IDS = new Set<never>();

/** Ids added since the last flatten (and ids evicted from the shared layer) before they are folded into a new layer. */
const OVERLAY_LIMIT = 1024;

/**
 * The last `capacity` distinct ids added, oldest evicted first. Deterministic: eviction order is insertion order,
 * and re-adding a remembered id neither moves nor duplicates it.
 *
 * `fork()` is cheap whatever the size: the bulk of the ids sits in an immutable shared layer, and each window keeps
 * only its own small overlay (ids added since, how many of the layer's oldest it has evicted). The overlay is folded
 * into a fresh layer every `OVERLAY_LIMIT` changes, so an add costs O(1) amortized and a fork at most O(1024).
 */
export class IdWindow {
  private layer: IdLayer = EMPTY_LAYER;
  /** How many of the layer's oldest ids this window has evicted. */
  private evicted = 0;
  private added: string[] = [];
  private addedSet: Set<string> = NO_IDS;
  /**
   * `added` and `addedSet` are (or may be) read by a fork, or are the shared empty set: copied before the first write.
   * A fork then copies no overlay (issue 16: the Portfolio forks two windows per clone, several clones per cycle).
   */
  private overlayShared = true;
  /** Ids ever added (successfully) to this window and the windows it was forked from: see `newest`. */
  private adds = 0;

  constructor(readonly capacity: number = DEFAULT_TRADE_ID_WINDOW) {
    checkWindowCapacity(capacity, 'tradeIdWindow');
  }

  /** A window holding the newest `capacity` of `ids` (given oldest first), as adding them in turn would. */
  static from(ids: Iterable<string>, capacity: number = DEFAULT_TRADE_ID_WINDOW): IdWindow {
    const w = new IdWindow(capacity);
    const all = Array.isArray(ids) ? (ids as readonly string[]) : [...ids];
    // Distinct ids (a saved window, a preserved one) make the layer as they are, in one pass: added one by one they
    // would be folded into a new layer every OVERLAY_LIMIT ids, O(n²) for a full window (seconds at 100 000).
    const start = Math.max(0, all.length - capacity);
    const position = new Map<string, number>();
    for (let i = start; i < all.length; i++) position.set(all[i]!, i - start);
    if (position.size === all.length - start && (start === 0 || new Set(all).size === all.length)) {
      w.layer = new ListLayer(all.slice(start), position);
      w.adds = all.length;
      return w;
    }
    // With repeats, where an id is skipped (or comes back once evicted) depends on the order: add them in turn.
    for (const id of all) w.add(id);
    w.flatten();
    return w;
  }

  /**
   * A window holding the newest `capacity` of the ids of `layer` (which must be distinct), as `from` their list would:
   * the window keeps the layer as its own (a layer is never changed), its oldest beyond `capacity` counted as evicted.
   */
  static ofLayer(layer: IdLayer, capacity: number = DEFAULT_TRADE_ID_WINDOW): IdWindow {
    const w = new IdWindow(capacity);
    w.layer = layer;
    w.evicted = Math.max(0, layer.length - capacity);
    w.adds = layer.length;
    return w;
  }

  /** An independent window with the same ids and capacity (shares the immutable layer; copies the overlay). */
  fork(): IdWindow {
    const w = new IdWindow(this.capacity);
    w.layer = this.layer;
    w.evicted = this.evicted;
    w.added = this.added;
    w.addedSet = this.addedSet;
    this.overlayShared = true;
    w.adds = this.adds;
    return w;
  }

  has(id: string): boolean {
    if (this.addedSet.has(id)) return true;
    const at = this.layer.positionOf(id);
    return at !== undefined && at >= this.evicted;
  }

  /** Remembers `id`; returns false (and changes nothing) when it was already remembered. */
  add(id: string): boolean {
    if (this.has(id)) return false;
    if (this.overlayShared) {
      this.added = [...this.added];
      this.addedSet = new Set(this.addedSet);
      this.overlayShared = false;
    }
    this.added.push(id);
    this.addedSet.add(id);
    this.adds++;
    if (this.size > this.capacity) {
      // The oldest id is the layer's first live one, or (once the layer is used up) the overlay's first.
      if (this.evicted >= this.layer.length) this.flatten();
      this.evicted++;
    }
    if (this.added.length + this.evicted > OVERLAY_LIMIT) this.flatten();
    return true;
  }

  get size(): number {
    return this.layer.length - this.evicted + this.added.length;
  }

  /**
   * How many ids were ever added (re-adding a remembered id does not count). The difference of two readings is how
   * many of the newest ids arrived in between: an incremental save writes only those (`newest`).
   */
  get addCount(): number {
    return this.adds;
  }

  /** The newest `count` remembered ids, oldest first (all of them when `count` ≥ size): O(count), not O(size). */
  newest(count: number): string[] {
    const n = Math.min(Math.max(0, count), this.size);
    if (n <= this.added.length) return this.added.slice(this.added.length - n);
    const fromLayer = n - this.added.length;
    return this.layer.idsFrom(this.layer.length - fromLayer).concat(this.added);
  }

  /** Remembered ids, oldest first. */
  toArray(): string[] {
    return this.layer.idsFrom(this.evicted).concat(this.added);
  }

  /** Folds the overlay into a new shared layer (the old one may still be used by forks). */
  private flatten(): void {
    const order = this.toArray();
    this.layer = new ListLayer(order, new Map(order.map((id, i) => [id, i])));
    this.evicted = 0;
    this.added = [];
    this.addedSet = NO_IDS;
    this.overlayShared = true;
  }
}
