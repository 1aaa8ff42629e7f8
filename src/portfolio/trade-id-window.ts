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
  /** The ids at positions `start` (inclusive) to `end` (exclusive), oldest first. */
  idsBetween(start: number, end: number): string[];
}

/**
 * A layer a window folds its ids into (and a saved window's trade keys: `AppliedTrades.parseKeys`): the list, and
 * each id's position in a map.
 */
export class ListLayer implements IdLayer {
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

  idsBetween(start: number, end: number): string[] {
    return this.order.slice(start, end);
  }
}

/**
 * The overlay a new window starts with: never written (an add to a window holding it starts a list of its own).
 * Typed mutable so the field can hold it; `add` never pushes onto it.
 */
const NO_IDS: string[] = [];
const NO_POSITIONS = new Map<string, number>();

/** Ids added since the last seal (at most), before they are sealed into a layer of their own. */
const OVERLAY_LIMIT = 1024;
/** Layers smaller than this at the newest end are merged into one once there are `MERGE_COUNT` of them. */
const MERGED_LAYER = 8192;
const MERGE_COUNT = 8;

/**
 * The last `capacity` distinct ids added, oldest evicted first. Deterministic: eviction order is insertion order,
 * and re-adding a remembered id neither moves nor duplicates it.
 *
 * The ids sit in immutable layers, oldest first, shared by forks, then in a small overlay of the window's own (ids
 * added since). Every `OVERLAY_LIMIT` adds the overlay is sealed into a new layer, and every `MERGE_COUNT` such layers
 * are merged into one of about `MERGED_LAYER` ids; evictions count off the oldest layer, dropped once all of it is
 * evicted. So an add costs O(1) amortized and at most O(MERGED_LAYER) in one call, whatever the capacity: until the
 * sixteenth speed pass the overlay was folded with every id into one new layer, a map of the whole window built in
 * one call every few hundred adds once it was full (60-110 ms at 100,000 ids, issue 16). A look-up asks each layer,
 * newest first: about twenty at 100,000 ids. A fork copies nothing until it writes (then its overlay, ≤ 1024 ids).
 */
export class IdWindow {
  /** Oldest first; never changed (a new list replaces it), so forks share it. */
  private layers: readonly IdLayer[] = [];
  /** How many ids the layers hold, evicted ones included. */
  private layered = 0;
  /** How many of the oldest layer's oldest ids this window has evicted. */
  private evicted = 0;
  /**
   * The overlay: ids added since the last seal, the first `addedLength` of `added`, each id's index in `addedAt`.
   * Shared with the forks of this window, appended to by any of them: an id beyond a window's own length is not its
   * own. A window appending where a fork already has appends an id of its own when it is the fork's next (a plan's
   * clone and the books applying the same trades in the same order share one overlay), and copies its part of the
   * overlay otherwise. Until the twenty-fourth pass a fork copied the whole overlay (up to 1,024 ids, a list and a
   * set) at its first add, and so did the window it was forked from: 250 KB a cycle applying one trade (issue 16).
   */
  private added: string[] = NO_IDS;
  private addedAt: Map<string, number> = NO_POSITIONS;
  private addedLength = 0;
  /** Ids ever added (successfully) to this window and the windows it was forked from: see `newest`. */
  private adds = 0;

  constructor(readonly capacity: number = DEFAULT_TRADE_ID_WINDOW) {
    checkWindowCapacity(capacity, 'tradeIdWindow');
  }

  /** A window holding the newest `capacity` of `ids` (given oldest first), as adding them in turn would. */
  static from(ids: Iterable<string>, capacity: number = DEFAULT_TRADE_ID_WINDOW): IdWindow {
    const w = new IdWindow(capacity);
    const all = Array.isArray(ids) ? (ids as readonly string[]) : [...ids];
    // Distinct ids (a saved window, a preserved one) make one layer as they are, in one pass: added one by one they
    // would be sealed and merged into layers as they came.
    const start = Math.max(0, all.length - capacity);
    const position = new Map<string, number>();
    for (let i = start; i < all.length; i++) position.set(all[i]!, i - start);
    if (position.size === all.length - start && (start === 0 || new Set(all).size === all.length)) {
      if (position.size > 0) w.setLayers([new ListLayer(all.slice(start), position)]);
      w.adds = all.length;
      return w;
    }
    // With repeats, where an id is skipped (or comes back once evicted) depends on the order: add them in turn.
    for (const id of all) w.add(id);
    return w;
  }

  /**
   * A window holding the newest `capacity` of the ids of `layer` (which must be distinct), as `from` their list would:
   * the window keeps the layer as its own (a layer is never changed), its oldest beyond `capacity` counted as evicted.
   */
  static ofLayer(layer: IdLayer, capacity: number = DEFAULT_TRADE_ID_WINDOW): IdWindow {
    const w = new IdWindow(capacity);
    if (layer.length > 0) w.setLayers([layer]);
    w.evicted = Math.max(0, layer.length - capacity);
    w.adds = layer.length;
    return w;
  }

  /** An independent window with the same ids and capacity (shares the immutable layers; copies no overlay yet). */
  fork(): IdWindow {
    const w = new IdWindow(this.capacity);
    w.layers = this.layers;
    w.layered = this.layered;
    w.evicted = this.evicted;
    w.added = this.added;
    w.addedAt = this.addedAt;
    w.addedLength = this.addedLength;
    w.adds = this.adds;
    return w;
  }

  has(id: string): boolean {
    const own = this.addedAt.get(id);
    if (own !== undefined && own < this.addedLength) return true;
    // Newest first: an id evicted from the oldest layer may have come back in a newer one.
    const layers = this.layers;
    for (let k = layers.length - 1; k >= 0; k--) {
      const at = layers[k]!.positionOf(id);
      if (at !== undefined && (k > 0 || at >= this.evicted)) return true;
    }
    return false;
  }

  /** Remembers `id`; returns false (and changes nothing) when it was already remembered. */
  add(id: string): boolean {
    if (this.has(id)) return false;
    const at = this.addedLength;
    if (this.added === NO_IDS) {
      this.added = [];
      this.addedAt = new Map();
    } else if (at < this.added.length && this.added[at] !== id) {
      // A fork appended another id here: this window's part of the overlay becomes its own.
      this.added = this.added.slice(0, at);
      this.addedAt = new Map(this.added.map((x, i) => [x, i]));
    }
    if (at === this.added.length) {
      this.added.push(id);
      this.addedAt.set(id, at);
    }
    this.addedLength = at + 1;
    this.adds++;
    if (this.size > this.capacity) {
      // The oldest id is the oldest layer's first live one, or (with no layer left) the overlay's first.
      if (this.layers.length === 0) this.seal();
      this.evicted++;
      const oldest = this.layers[0]!;
      if (this.evicted >= oldest.length) {
        this.setLayers(this.layers.slice(1));
        this.evicted = 0;
      }
    }
    if (this.addedLength >= OVERLAY_LIMIT) this.seal();
    return true;
  }

  get size(): number {
    return this.layered - this.evicted + this.addedLength;
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
    return this.slice(this.size - n, this.size);
  }

  /** Remembered ids, oldest first. */
  toArray(): string[] {
    return this.slice(0, this.size);
  }

  /**
   * The remembered ids at positions `from` (inclusive) to `to` (exclusive), oldest first: O(to - from), so that a
   * save can write a full window a slice at a time (`toArray()` of 100,000 ids was 20 ms in one call).
   */
  slice(from: number, to: number): string[] {
    const parts: string[][] = [];
    // Positions counted from the oldest live id: the oldest layer's first `evicted` are skipped.
    let at = -this.evicted;
    for (const layer of this.layers) {
      const [start, end] = [Math.max(from - at, 0), Math.min(to - at, layer.length)];
      if (start < end) parts.push(layer.idsBetween(start, end));
      at += layer.length;
    }
    const [start, end] = [Math.max(from - at, 0), Math.min(to - at, this.addedLength)];
    if (start < end) parts.push(this.added.slice(start, end));
    return ([] as string[]).concat(...parts);
  }

  private setLayers(layers: readonly IdLayer[]): void {
    this.layers = layers;
    let n = 0;
    for (const layer of layers) n += layer.length;
    this.layered = n;
  }

  /**
   * Seals the overlay into a new layer (O(overlay)); once `MERGE_COUNT` small layers lie at the newest end, merges
   * them into one (O(their ids)). The old layers may still be read by forks: never changed, replaced.
   */
  private seal(): void {
    if (this.addedLength === 0) return;
    // A copy: forks may go on appending to the shared list, and a layer never changes.
    const ids = this.added.slice(0, this.addedLength);
    const layers = [...this.layers, new ListLayer(ids, new Map(ids.map((id, i) => [id, i])))];
    this.added = NO_IDS;
    this.addedAt = NO_POSITIONS;
    this.addedLength = 0;
    let from = layers.length;
    while (from > 0 && layers[from - 1]!.length < MERGED_LAYER) from--;
    if (layers.length - from >= MERGE_COUNT) {
      // The oldest of them keeps its evicted prefix in front: `evicted` still counts off it.
      const merged = ([] as string[]).concat(...layers.slice(from).map((layer) => layer.idsBetween(0, layer.length)));
      layers.splice(from, layers.length - from, new ListLayer(merged, new Map(merged.map((id, i) => [id, i]))));
    }
    this.setLayers(layers);
  }
}
