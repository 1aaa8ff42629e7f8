import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareFills, compareTradeIds, orderIdKey, splitScopedKey, tradeKey } from '../../src/domain/ids.js';

const sign = (n: number): number => Math.sign(n);
const id = fc.oneof(
  fc.bigInt({ min: 0n, max: 10n ** 30n }).map((n) => n.toString()),
  fc
    .tuple(
      fc.constantFrom('t-', 'T', 'fill_', ''),
      fc.bigInt({ min: 0n, max: 10n ** 20n }),
      fc.constantFrom('', '-a', '-b'),
    )
    .map(([p, n, s]) => `${p}${n}${s}`),
  fc.string({ maxLength: 8 }),
);

describe('compareTradeIds', () => {
  it('orders the numbers inside ids numerically: t-9 before t-10, 99 before 100', () => {
    expect(['t-10', 't-9', 't-100', 't-1'].sort(compareTradeIds)).toEqual(['t-1', 't-9', 't-10', 't-100']);
    expect(['100', '99', '1000000000000000000001', '1000000000000000000000'].sort(compareTradeIds)).toEqual([
      '99',
      '100',
      '1000000000000000000000',
      '1000000000000000000001',
    ]);
  });

  it('integer ids of any length compare as the integers (beyond 2^53, no JS number involved)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 40n }), fc.bigInt({ min: 0n, max: 10n ** 40n }), (a, b) => {
        expect(sign(compareTradeIds(a.toString(), b.toString()))).toBe(a < b ? -1 : a > b ? 1 : 0);
      }),
    );
  });

  it('is a total order: antisymmetric, zero only for equal strings, transitive', () => {
    fc.assert(
      fc.property(id, id, id, (a, b, c) => {
        expect(sign(compareTradeIds(a, b)) + sign(compareTradeIds(b, a))).toBe(0);
        expect(compareTradeIds(a, b) === 0).toBe(a === b);
        if (compareTradeIds(a, b) <= 0 && compareTradeIds(b, c) <= 0)
          expect(compareTradeIds(a, c)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('leading zeros do not change the numeric order, and still give a deterministic tiebreak', () => {
    expect(sign(compareTradeIds('t-009', 't-10'))).toBe(-1);
    expect(sign(compareTradeIds('t-09', 't-9'))).not.toBe(0);
  });
});

describe('compareFills', () => {
  it('orders by timestamp, then symbol, then trade id as numbers', () => {
    const f = (timestamp: number, symbol: string, tradeId: string) => ({ timestamp, symbol, tradeId });
    const sorted = [f(2, 'A', 't-1'), f(1, 'B', 't-10'), f(1, 'B', 't-9'), f(1, 'A', 't-11')].sort(compareFills);
    expect(sorted.map((x) => `${x.timestamp} ${x.symbol} ${x.tradeId}`)).toEqual([
      '1 A t-11',
      '1 B t-9',
      '1 B t-10',
      '2 A t-1',
    ]);
  });
});

describe('scoped keys', () => {
  it('are `<symbol length>:<symbol>:<id>` for any symbol and id, however many symbols were seen before', () => {
    // Past the kept prefixes (1024 symbols), so the prefix memo is cleared and built again on the way.
    const symbols = Array.from({ length: 2_500 }, (_, i) => (i % 3 === 0 ? `S${i}/USDT:USDT` : `S${i}/USDT`));
    for (const symbol of [...symbols, ...symbols.slice(0, 10), 'BTC/USDT:USDT', ':', '']) {
      expect(orderIdKey(symbol, '42')).toBe(`${symbol.length}:${symbol}:42`);
      expect(tradeKey(symbol, 'a:b')).toBe(`${symbol.length}:${symbol}:a:b`);
    }
  });
  it('read back as the pair they were made of', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), id, (symbol, x) => {
        expect(splitScopedKey(orderIdKey(symbol, x))).toEqual({ symbol, id: x });
      }),
      { numRuns: 500 },
    );
  });
});
