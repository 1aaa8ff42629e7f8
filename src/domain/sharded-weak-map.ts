/**
 * A WeakMap spread over `WEAK_SHARDS` WeakMaps by a hash of a string each key names (`keyOf`): what a WeakMap
 * holding a large book's entries needs to grow without a stall. A JS WeakMap (as a Map) grows by doubling, and each
 * doubling rehashes every entry in one call: the memo of tracked orders' texts, filled by a first boot's compaction of
 * 100,000 orders, held the event loop 5, 9 and 17 ms at its doublings (issue 16). A shard holds a sixty-fourth.
 */
export class ShardedWeakMap<K extends object, V> {
  private readonly shards: WeakMap<K, V>[] = Array.from({ length: WEAK_SHARDS }, () => new WeakMap<K, V>());

  /** `keyOf(key)` must be the same string for as long as the key is in the map (an id of an immutable object). */
  constructor(private readonly keyOf: (key: K) => string) {}

  get(key: K): V | undefined {
    return this.shards[shardOfKey(this.keyOf(key), WEAK_SHARDS)]!.get(key);
  }

  has(key: K): boolean {
    return this.shards[shardOfKey(this.keyOf(key), WEAK_SHARDS)]!.has(key);
  }

  set(key: K, value: V): this {
    this.shards[shardOfKey(this.keyOf(key), WEAK_SHARDS)]!.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.shards[shardOfKey(this.keyOf(key), WEAK_SHARDS)]!.delete(key);
  }
}

/** Shards of a `ShardedWeakMap`. A power of two (`shardOfKey` masks). */
export const WEAK_SHARDS = 64;

/** Which of `shards` (a power of two) a string key goes to: FNV-1a of its UTF-16 units, then mixed. */
export function shardOfKey(key: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x45d9f3b);
  h ^= h >>> 16;
  return h & (shards - 1);
}
