/**
 * A map keyed by (symbol, id) for ids scoped per symbol (exchange order ids): one layered map per symbol, keyed by the
 * id string itself, so a write or a look-up builds no `orderIdKey` string. A load of 100k orders built (and hashed)
 * a 100k concatenated key per order, most of its order index's cost, and each key lived as long as the books (issue
 * 16). Copies (`fork`) cost O(1), as a LayeredMap's do; the first write after one forks each symbol's map (few).
 */
import { LayeredMap } from './layered-map.js';

export class ScopedIdIndex<V> {
  /** Symbol → id → value. Never holds an empty map (a symbol's last id deleted takes its map out). */
  private bySymbol: Map<string, LayeredMap<string, V>>;
  /** `bySymbol` and its maps are (or may be) read by a fork: replaced by forks of them before the first write. */
  private shared: boolean;
  private count: number;

  constructor(forkOf?: ScopedIdIndex<V>) {
    if (forkOf === undefined) {
      this.bySymbol = new Map();
      this.shared = false;
      this.count = 0;
      return;
    }
    this.bySymbol = forkOf.bySymbol;
    this.count = forkOf.count;
    this.shared = forkOf.shared = true;
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
    this.own();
    let ids = this.bySymbol.get(symbol);
    if (ids === undefined) this.bySymbol.set(symbol, (ids = new LayeredMap()));
    const size = ids.size;
    ids.set(id, value);
    this.count += ids.size - size;
    return this;
  }

  delete(symbol: string, id: string): boolean {
    if (!this.has(symbol, id)) return false;
    this.own();
    const ids = this.bySymbol.get(symbol)!;
    ids.delete(id);
    this.count--;
    if (ids.size === 0) this.bySymbol.delete(symbol);
    return true;
  }

  /** Makes the maps ours before a write: a fork still reads the ones it shares, which a fork of each leaves as they are. */
  private own(): void {
    if (!this.shared) return;
    const own = new Map<string, LayeredMap<string, V>>();
    this.bySymbol.forEach((ids, symbol) => own.set(symbol, ids.fork()));
    this.bySymbol = own;
    this.shared = false;
  }
}
