/**
 * A map keyed by (symbol, id) for ids scoped per symbol (exchange order ids): one map per symbol (a ShardedMap: its
 * order is never read), keyed by the id string itself, so a write or a look-up builds no `orderIdKey` string. A load
 * of 100k orders built (and hashed) a 100k concatenated key per order, most of its order index's cost, and each key
 * lived as long as the books (issue 16). Copies (`fork`) cost O(1), as a LayeredMap's do; a write after one forks only
 * its own symbol's map.
 */
import { ShardedMap } from './sharded-map.js';

export class ScopedIdIndex<V> {
  /** Symbol → id → value. Never holds an empty map (a symbol's last id deleted takes its map out). */
  private bySymbol: Map<string, ShardedMap<V>>;
  /** `bySymbol` is (or may be) read by a fork: copied before the first write. */
  private shared: boolean;
  /**
   * The symbols whose map is ours to write since the last fork (each other's a fork may read: forked before a write
   * to it); undefined when every map is ours (never forked).
   */
  private owned: Set<string> | undefined;
  private count: number;
  /** Where `foldDeletions` starts among the symbols (in `bySymbol`'s order). */
  private foldFrom = 0;

  constructor(forkOf?: ScopedIdIndex<V>) {
    if (forkOf === undefined) {
      this.bySymbol = new Map();
      this.shared = false;
      this.owned = undefined;
      this.count = 0;
      return;
    }
    this.bySymbol = forkOf.bySymbol;
    this.count = forkOf.count;
    this.shared = forkOf.shared = true;
    // Each side's own set: what one side forks for itself, the other still shares.
    this.owned = new Set();
    forkOf.owned = new Set();
  }

  /** An independent index with the same entries. O(1): both sides share what they hold now. */
  fork(): ScopedIdIndex<V> {
    return new ScopedIdIndex(this);
  }

  get size(): number {
    return this.count;
  }

  get(symbol: string, id: string): V | undefined {
    return this.bySymbol.get(symbol)?.get(id);
  }

  has(symbol: string, id: string): boolean {
    return this.bySymbol.get(symbol)?.has(id) === true;
  }

  set(symbol: string, id: string, value: V): this {
    let ids = this.own(symbol);
    if (ids === undefined) this.bySymbol.set(symbol, (ids = new ShardedMap()));
    const size = ids.size;
    ids.set(id, value);
    this.count += ids.size - size;
    return this;
  }

  delete(symbol: string, id: string): boolean {
    if (!this.has(symbol, id)) return false;
    const ids = this.own(symbol)!;
    ids.delete(id);
    this.count--;
    if (ids.size === 0) this.bySymbol.delete(symbol);
    return true;
  }

  /**
   * Folds the deletions held by one map of one symbol (`ShardedMap.foldDeletions`), symbols in turn from where the
   * last call stopped. Returns about how many entries it copied (0: none was due).
   */
  foldDeletions(): number {
    const symbols = [...this.bySymbol.keys()];
    for (let i = 0; i < symbols.length; i++) {
      const at = (this.foldFrom + i) % symbols.length;
      if (!this.bySymbol.get(symbols[at]!)!.deletionsDue) continue;
      this.foldFrom = at;
      return this.own(symbols[at]!)!.foldDeletions();
    }
    return 0;
  }

  /** `symbol`'s map made ours to write (a fork of the one a fork may read), if there is one. */
  private own(symbol: string): ShardedMap<V> | undefined {
    if (this.shared) {
      this.bySymbol = new Map(this.bySymbol);
      this.shared = false;
    }
    const ids = this.bySymbol.get(symbol);
    if (this.owned === undefined || this.owned.has(symbol)) return ids;
    // A map made from now on is ours too.
    this.owned.add(symbol);
    if (ids === undefined) return undefined;
    const own = ids.fork();
    this.bySymbol.set(symbol, own);
    return own;
  }
}
