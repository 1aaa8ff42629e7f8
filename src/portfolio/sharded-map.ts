/**
 * A string-keyed map for a large index whose order nobody reads (the terminal orders by client id, a symbol's exchange
 * order ids): a LayeredMap's O(1) copies (`fork`), with its entries spread over `SHARDS` layered maps by a hash of the
 * key once it holds `SHARD_AT` of them.
 *
 * Why (issue 16): a layered map shared by a fork and written past its fold size copies its whole base into a new Map.
 * That copy is made a share per write, but the new Map grows by doubling, and each doubling rehashes every entry in
 * one call: with a day of cancelled quotes in the books (86,400) one such rehash held the event loop 4-8 ms, every
 * few hundred cycles of a quoting bot and several times in each prune. A shard holds a sixty-fourth of the entries,
 * so its copy and its rehashes stay well under a millisecond.
 *
 * Iteration order is deterministic (shard by shard, each in its own insertion order) but not the order of insertion:
 * use a LayeredMap where that order is read.
 */
import { shardOfKey } from '../domain/sharded-weak-map.js';
import { ITEMS_PER_STEP } from '../domain/steps.js';
import { LayeredMap } from './layered-map.js';

/** Entries at which a map is split into shards (a split is one pass over them, in one call: about half a ms). */
export const SHARD_AT = 8192;
/** Shards of a split map: 1,000,000 entries are 15,625 a shard. A power of two (`shardOf` masks). */
export const SHARDS = 64;

export class ShardedMap<V> {
  /** Below `SHARD_AT` entries (and never split): one layered map. */
  private single: LayeredMap<string, V> | undefined;
  /** Once split: the shards, by `shardOf(key)`. */
  private shards: LayeredMap<string, V>[] | undefined;
  /** The `shards` array is (or may be) read by a fork: copied before the first write. */
  private shardsShared: boolean;
  /** Per shard, whether it is ours to write since the last fork (else forked first); undefined: all are ours. */
  private owned: Uint8Array | undefined;
  private count: number;
  private readonly shardAt: number;
  /** The shard `foldDeletions` looks at first. */
  private foldFrom = 0;

  constructor(shardAt?: number);
  // `forkOf`: the map a fork shares everything with (`fork`).
  constructor(shardAt: number, forkOf: ShardedMap<V>);
  constructor(shardAt: number = SHARD_AT, forkOf?: ShardedMap<V>) {
    this.shardAt = shardAt;
    if (forkOf === undefined) {
      this.single = new LayeredMap();
      this.shards = undefined;
      this.shardsShared = false;
      this.owned = undefined;
      this.count = 0;
      return;
    }
    this.count = forkOf.count;
    this.single = forkOf.single?.fork();
    this.shards = forkOf.shards;
    this.shardsShared = false;
    this.owned = undefined;
    if (forkOf.shards === undefined) return;
    this.shardsShared = forkOf.shardsShared = true;
    // Each side's own marks: what one side forks for itself, the other still shares.
    this.owned = new Uint8Array(SHARDS);
    forkOf.owned = new Uint8Array(SHARDS);
  }

  /**
   * The map of `values`, each under `keyOf` of it (a key met again takes the later value), as steps
   * (src/domain/steps.ts), yielding every few hundred values. `values` must not change until it is done.
   */
  static *fromValuesSteps<V>(
    values: readonly V[],
    keyOf: (value: V) => string,
    shardAt?: number,
  ): Generator<void, ShardedMap<V>> {
    const m = new ShardedMap<V>(shardAt);
    for (let i = 0; i < values.length; i++) {
      if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
      const v = values[i]!;
      m.set(keyOf(v), v);
    }
    return m;
  }

  /** An independent map with the same entries. O(1): both sides share what they hold now. */
  fork(): ShardedMap<V> {
    return new ShardedMap(this.shardAt, this);
  }

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return this.single !== undefined ? this.single.get(key) : this.shards![shardOf(key)]!.get(key);
  }

  has(key: string): boolean {
    return this.single !== undefined ? this.single.has(key) : this.shards![shardOf(key)]!.has(key);
  }

  set(key: string, value: V): this {
    const map = this.writable(key);
    const size = map.size;
    map.set(key, value);
    this.count += map.size - size;
    if (this.single !== undefined && this.count >= this.shardAt) this.split();
    return this;
  }

  delete(key: string): boolean {
    if (!this.has(key)) return false;
    this.writable(key).delete(key);
    this.count--;
    return true;
  }

  /**
   * Calls `fn` with each value, in `valueList()`'s order, as steps (src/domain/steps.ts). Once split, a yield after each
   * shard (a sixty-fourth of the entries) and none within one: a shard is walked by `forEach`, which makes no garbage,
   * where a generator's walk made an iteration result per entry (a prune walks a day of terminal orders every cycle
   * until it is done: 86,400 of them, 6.8 MB a cycle, most of what those cycles allocated; a load walks every order).
   * Below `SHARD_AT`, through the map's iterator, a yield every `ITEMS_PER_STEP` entries. The shards walked are the
   * ones held when it starts; the map must not change until it is done.
   */
  *forEachSteps(fn: (value: V) => void): Generator<void, void> {
    if (this.single !== undefined) {
      let k = 0;
      for (const v of this.single.values()) {
        fn(v);
        if (++k % ITEMS_PER_STEP === 0) yield;
      }
      return;
    }
    for (const shard of this.shards!) {
      shard.forEach((v) => fn(v));
      yield;
    }
  }

  /** The values as an array, shard by shard. */
  valueList(): V[] {
    if (this.single !== undefined) return this.single.valueList();
    const out: V[] = [];
    for (const shard of this.shards!) shard.forEach((v) => out.push(v));
    return out;
  }

  /**
   * `valueList()` as steps (src/domain/steps.ts), a yield after each shard: at a first boot's compaction 100,000 orders
   * listed in one call took 10 ms. The map must not change until it is done.
   */
  *valueListSteps(): Generator<void, V[]> {
    if (this.single !== undefined) return this.single.valueList();
    const out: V[] = [];
    for (const shard of this.shards!) {
      shard.forEach((v) => out.push(v));
      yield;
    }
    return out;
  }

  /** How many entries each shard holds (one figure before the split): how evenly the keys spread. */
  shardSizes(): number[] {
    return this.single !== undefined ? [this.single.size] : this.shards!.map((m) => m.size);
  }

  /** Deleted keys held in the top layers of the maps (`foldDeletions` folds them). */
  get deletions(): number {
    if (this.single !== undefined) return this.single.deletions;
    let n = 0;
    for (const shard of this.shards!) n += shard.deletions;
    return n;
  }

  /** Whether a map holds enough deletions for `foldDeletions` to fold it (`LayeredMap.deletionsDue`). */
  get deletionsDue(): boolean {
    if (this.single !== undefined) return this.single.deletionsDue;
    for (const shard of this.shards!) if (shard.deletionsDue) return true;
    return false;
  }

  /**
   * Folds the deletions held by one map of ours (`LayeredMap.foldDeletions`), the first shard holding enough of them
   * (`deletionsDue`) from where the last call stopped: what a prune left in the shards' top layers, a shard a call, so
   * that the copies spread over the cycles after it. Returns about how many entries it copied (0: none was due).
   */
  foldDeletions(): number {
    if (this.single !== undefined) return this.single.foldDeletions();
    const shards = this.shards!;
    for (let i = 0; i < SHARDS; i++) {
      const k = (this.foldFrom + i) & (SHARDS - 1);
      if (!shards[k]!.deletionsDue) continue;
      this.foldFrom = k;
      return this.writableShard(k).foldDeletions();
    }
    return 0;
  }

  /** The map `key` is written in, made ours to write (a fork of the one a fork may read). */
  private writable(key: string): LayeredMap<string, V> {
    return this.single ?? this.writableShard(shardOf(key));
  }

  /** Shard `k`, made ours to write (a fork of the one a fork may read). */
  private writableShard(k: number): LayeredMap<string, V> {
    if (this.shardsShared) {
      this.shards = this.shards!.slice();
      this.shardsShared = false;
    }
    const shards = this.shards!;
    if (this.owned !== undefined && this.owned[k] === 0) {
      this.owned[k] = 1;
      shards[k] = shards[k]!.fork();
    }
    return shards[k]!;
  }

  /** Spreads the entries over `SHARDS` new maps of our own (the single map may still be read by a fork). */
  private split(): void {
    const shards = Array.from({ length: SHARDS }, () => new LayeredMap<string, V>());
    this.single!.forEach((v, k) => shards[shardOf(k)]!.set(k, v));
    this.single = undefined;
    this.shards = shards;
    this.shardsShared = false;
    this.owned = undefined;
  }
}

/** The shard of `key`: FNV-1a over its characters, mixed so that ids differing only in their last digit spread. */
function shardOf(key: string): number {
  return shardOfKey(key, SHARDS);
}
