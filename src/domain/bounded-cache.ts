/**
 * A memo map kept bounded the simple way: emptied whole when it is full, before the next entry goes in. The caches
 * that use it (amounts shared among orders, id-key prefixes per symbol) hold values that are cheap to make again, so
 * starting over costs a few misses, and no entry is ever older than the last `limit` distinct keys.
 */
export function withRoom<K, V>(cache: Map<K, V>, limit: number): Map<K, V> {
  if (cache.size >= limit) cache.clear();
  return cache;
}
