import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runSteps } from '../../src/domain/steps.js';
import { ShardedMap } from '../../src/portfolio/sharded-map.js';
import { drainSteps } from '../support/steps.js';

type Op =
  | { readonly kind: 'set'; readonly at: number; readonly key: number; readonly value: number }
  | { readonly kind: 'delete'; readonly at: number; readonly key: number }
  | { readonly kind: 'fork'; readonly at: number }
  | { readonly kind: 'foldDeletions'; readonly at: number }
  | { readonly kind: 'from'; readonly at: number; readonly values: readonly number[] };

const KEYS = 48;
const keyOf = (k: number): string => `id-${k}`;
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      at: fc.nat(5),
      key: fc.nat(KEYS - 1),
      value: fc.integer(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), at: fc.nat(5), key: fc.nat(KEYS - 1) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fork' as const), at: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('foldDeletions' as const), at: fc.nat(5) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('from' as const),
      at: fc.nat(5),
      values: fc.array(fc.integer({ min: -1_000, max: 1_000 }), { maxLength: 40 }),
    }),
  },
);
/** The key `fromValuesSteps` files a value under: few keys, so that values meet under one. */
const keyOfValue = (v: number): string => keyOf(Math.abs(v) % KEYS);

/** Every read, against a plain Map: each key's value, the size, and the values as a multiset (their order is not one). */
function expectSame(map: ShardedMap<number>, model: Map<string, number>): void {
  expect(map.size).toBe(model.size);
  for (let k = 0; k < KEYS; k++) {
    expect(map.get(keyOf(k))).toBe(model.get(keyOf(k)));
    expect(map.has(keyOf(k))).toBe(model.has(keyOf(k)));
  }
  const sorted = (xs: Iterable<number>): number[] => [...xs].sort((a, b) => a - b);
  expect(sorted(map.valueList())).toEqual(sorted(model.values()));
  // In steps: the same list, in the same order, a step per shard once split.
  const { value, yields } = drainSteps(map.valueListSteps());
  expect(value).toEqual(map.valueList());
  expect(yields).toBe(map.shardSizes().length === 1 ? 0 : map.shardSizes().length);
  // Walked in steps: the same values in the same order, a yield per shard once split.
  const walked: number[] = [];
  const walk = drainSteps(map.forEachSteps((v) => walked.push(v)));
  expect(walked).toEqual(value);
  if (map.shardSizes().length > 1) expect(walk.yields).toBe(yields);
}

describe('ShardedMap', () => {
  it('equals a Map under random sets, deletes, forks, folds of deletions and rebuilds (fromValuesSteps), split into shards or not, every fork independent', () => {
    let split = 0;
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 20, maxLength: 200, size: 'max' }),
        fc.integer({ min: 2, max: 24 }),
        (ops, shardAt) => {
          const maps = [new ShardedMap<number>(shardAt)];
          const models = [new Map<string, number>()];
          for (const o of ops) {
            const k = o.at % maps.length;
            const map = maps[k]!;
            const model = models[k]!;
            if (o.kind === 'set') {
              map.set(keyOf(o.key), o.value);
              model.set(keyOf(o.key), o.value);
            } else if (o.kind === 'delete') {
              expect(map.delete(keyOf(o.key))).toBe(model.delete(keyOf(o.key)));
            } else if (o.kind === 'fork') {
              maps.push(map.fork());
              models.push(new Map(model));
            } else if (o.kind === 'foldDeletions') {
              // Only the representation changes: what a fork sharing the folded shard reads too.
              const before = map.deletions;
              const due = map.deletionsDue;
              const copied = map.foldDeletions();
              expect(copied > 0).toBe(due);
              if (due) expect(map.deletions).toBeLessThan(before);
            } else {
              // A map built again whole, in place of one that forks may share.
              maps[k] = runSteps(ShardedMap.fromValuesSteps(o.values, keyOfValue, shardAt));
              models[k] = new Map(o.values.map((v) => [keyOfValue(v), v]));
            }
            // A read between writes, of one map at random: reads change nothing another map holds.
            const r = (o.at * 7) % maps.length;
            expect(maps[r]!.get(keyOf(o.at))).toBe(models[r]!.get(keyOf(o.at)));
            expect(maps[r]!.size).toBe(models[r]!.size);
          }
          maps.forEach((map, k) => expectSame(map, models[k]!));
          if (models.some((m) => m.size >= shardAt)) split++;
        },
      ),
      { numRuns: 400 },
    );
    expect(split).toBeGreaterThan(100);
  });

  it('spreads ids over its shards: sequential exchange ids and client ids alike', () => {
    for (const idOf of [(i: number) => String(7_000_000_000 + i), (i: number) => `bench-closed-${i}`]) {
      const map = new ShardedMap<number>();
      for (let i = 0; i < 64_000; i++) map.set(idOf(i), i);
      const sizes = map.shardSizes();
      expect(sizes.length).toBe(64);
      // An even share is 1,000: none holds more than 1.5 times that.
      expect(Math.max(...sizes)).toBeLessThan(1_500);
      expect(map.size).toBe(64_000);
    }
  });
});
