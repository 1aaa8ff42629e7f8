/**
 * `ShardedWeakMap`: a WeakMap spread over shards by a string its keys name. Under random sets, deletes and reads of
 * objects, it answers as one WeakMap does; and it spreads sequential ids over its shards (`shardOfKey`).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShardedWeakMap, WEAK_SHARDS, shardOfKey } from '../../src/domain/sharded-weak-map.js';

interface Entry {
  readonly id: string;
}

describe('ShardedWeakMap', () => {
  it('answers as a WeakMap under random sets, deletes and reads, keys sharing an id included', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom('set' as const, 'delete' as const, 'has' as const),
            key: fc.nat(29),
            value: fc.integer(),
          }),
          { maxLength: 80 },
        ),
        (ops) => {
          // Thirty objects over ten ids: distinct keys in one shard are distinct entries.
          const keys: Entry[] = Array.from({ length: 30 }, (_, k) => ({ id: `c-${k % 10}` }));
          const map = new ShardedWeakMap<Entry, number>((e) => e.id);
          const model = new WeakMap<Entry, number>();
          for (const o of ops) {
            const key = keys[o.key]!;
            if (o.kind === 'set') {
              expect(map.set(key, o.value)).toBe(map);
              model.set(key, o.value);
            } else if (o.kind === 'delete') expect(map.delete(key)).toBe(model.delete(key));
            else expect(map.has(key)).toBe(model.has(key));
            for (const k of keys) expect(map.get(k)).toBe(model.get(k));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('spreads sequential ids over its shards', () => {
    for (const idOf of [(i: number) => `tsr-${i.toString(36)}`, (i: number) => String(7_000_000_000 + i)]) {
      const counts = new Array<number>(WEAK_SHARDS).fill(0);
      for (let i = 0; i < 64_000; i++) counts[shardOfKey(idOf(i), WEAK_SHARDS)]!++;
      // An even share is 1,000: none holds more than 1.5 times that.
      expect(Math.max(...counts)).toBeLessThan(1_500);
      expect(Math.min(...counts)).toBeGreaterThan(500);
    }
  });
});
