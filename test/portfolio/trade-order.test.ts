/** compareTradeStamps: the exchange order of one symbol's trades, as far as their stamps tell it. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareTradeStamps } from '../../src/portfolio/trade-order.js';

const at = (timestamp: number, tradeId: string) => ({ timestamp, tradeId });

describe('compareTradeStamps', () => {
  it('orders by timestamp first, whatever the ids', () => {
    expect(compareTradeStamps(at(1, '99'), at(2, '1'))).toBeLessThan(0);
    expect(compareTradeStamps(at(2, 'a'), at(1, 'b'))).toBeGreaterThan(0);
  });

  it('orders plain integer ids of one millisecond numerically, of any length, leading zeros aside', () => {
    expect(compareTradeStamps(at(1, '9'), at(1, '10'))).toBeLessThan(0);
    expect(compareTradeStamps(at(1, '100'), at(1, '99'))).toBeGreaterThan(0);
    expect(
      compareTradeStamps(at(1, '123456789012345678901234567890'), at(1, '123456789012345678901234567891')),
    ).toBeLessThan(0);
    expect(compareTradeStamps(at(1, '007'), at(1, '7'))).toBe(0);
  });

  it('ties ids that are not both plain integers (UUIDs, prefixes): arrival order decides', () => {
    expect(compareTradeStamps(at(1, 't-9'), at(1, 't-10'))).toBe(0);
    expect(compareTradeStamps(at(1, '9'), at(1, 'a1b2'))).toBe(0);
    expect(compareTradeStamps(at(1, '-1'), at(1, '2'))).toBe(0);
  });

  it('agrees with BigInt order on integer ids', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.bigInt({ min: 0n, max: 10n ** 30n }), (a, b) => {
        const c = compareTradeStamps(at(5, a.toString()), at(5, b.toString()));
        expect(Math.sign(c)).toBe(a < b ? -1 : a > b ? 1 : 0);
      }),
    );
  });
});
