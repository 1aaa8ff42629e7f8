import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { orderIdKey } from '../../src/domain/ids.js';
import { ScopedIdIndex } from '../../src/portfolio/scoped-id-index.js';

type Op =
  | { readonly kind: 'set'; readonly at: number; readonly symbol: string; readonly id: string; readonly value: number }
  | { readonly kind: 'delete'; readonly at: number; readonly symbol: string; readonly id: string }
  | { readonly kind: 'fork'; readonly at: number }
  | { readonly kind: 'foldDeletions'; readonly at: number };

// Ids repeat across symbols (per-symbol sequences), and a symbol may hold the other's `symbol:id` text.
const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'BTC/USDT:USDT', 'X'] as const;
const IDS = ['1', '2', '3', '10', 'USDT:1'] as const;
const symbol = fc.constantFrom(...SYMBOLS);
const id = fc.constantFrom(...IDS);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(7), symbol, id, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(7), symbol, id }),
  fc.record({ kind: fc.constant('fork' as const), at: fc.nat(7) }),
  fc.record({ kind: fc.constant('foldDeletions' as const), at: fc.nat(7) }),
);

/** Every read the Portfolio makes, against the map by `orderIdKey` it replaced. */
function expectSame(index: ScopedIdIndex<number>, model: Map<string, number>): void {
  expect(index.size).toBe(model.size);
  for (const s of SYMBOLS)
    for (const i of IDS) {
      expect(index.get(s, i)).toBe(model.get(orderIdKey(s, i)));
      expect(index.has(s, i)).toBe(model.has(orderIdKey(s, i)));
    }
}

describe('ScopedIdIndex', () => {
  it('equals a Map by orderIdKey under random sets, deletes, forks and folds of deletions, every fork independent', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const indexes = [new ScopedIdIndex<number>()];
        const models = [new Map<string, number>()];
        for (const o of ops) {
          const k = o.at % indexes.length;
          const index = indexes[k]!;
          const model = models[k]!;
          if (o.kind === 'set') {
            index.set(o.symbol, o.id, o.value);
            model.set(orderIdKey(o.symbol, o.id), o.value);
          } else if (o.kind === 'delete') {
            expect(index.delete(o.symbol, o.id)).toBe(model.delete(orderIdKey(o.symbol, o.id)));
          } else if (o.kind === 'foldDeletions') {
            index.foldDeletions();
          } else {
            indexes.push(index.fork());
            models.push(new Map(model));
          }
        }
        indexes.forEach((index, k) => expectSame(index, models[k]!));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps one exchange id on two symbols apart', () => {
    const index = new ScopedIdIndex<string>();
    index.set('BTC/USDT', '7', 'a').set('ETH/USDT', '7', 'b');
    const fork = index.fork();
    fork.delete('BTC/USDT', '7');
    expect([index.get('BTC/USDT', '7'), index.get('ETH/USDT', '7'), index.size]).toEqual(['a', 'b', 2]);
    expect([fork.get('BTC/USDT', '7'), fork.get('ETH/USDT', '7'), fork.size]).toEqual([undefined, 'b', 1]);
  });
});
