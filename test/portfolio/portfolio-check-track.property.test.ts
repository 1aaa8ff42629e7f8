/**
 * `Portfolio.checkTrackOrder(o)` throws exactly what `trackOrder(o)` throws on a copy of the books (error class, code
 * and message), nothing when it would succeed, and changes nothing: the engine checks an acknowledgement or a stream
 * update with it before journaling, instead of trying it on a clone (which copies the order maps: O(n)).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Order } from '../../src/domain/types.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC_SPOT, ETH_SPOT, INSTRUMENTS, d, fill, order } from './fixtures.js';

const SYMBOLS = [BTC_SPOT.symbol, ETH_SPOT.symbol] as const;

function books(): Portfolio {
  const p = Portfolio.create({
    instruments: INSTRUMENTS,
    balances: ['BTC', 'ETH', 'USDT'].map((asset) => ({ asset, free: d('1000000'), total: d('1000000') })),
    orders: [
      order({ clientOrderId: 'c0', exchangeOrderId: '0', symbol: BTC_SPOT.symbol, side: 'buy', q: '2', px: '5' }),
      order({ clientOrderId: 'c1', symbol: ETH_SPOT.symbol, side: 'sell', q: '3', px: '7', status: 'pending' }),
      order({ clientOrderId: 'c2', exchangeOrderId: '2', symbol: ETH_SPOT.symbol, side: 'buy', q: '1', px: '6' }),
    ],
  });
  // Fills of a tracked order, and of exchange order 9, not tracked (yet).
  p.applyFill(fill({ tradeId: 't0', exchangeOrderId: '0', symbol: BTC_SPOT.symbol, side: 'buy', q: '1.5', px: '5' }));
  p.applyFill(fill({ tradeId: 't9', exchangeOrderId: '9', symbol: ETH_SPOT.symbol, side: 'sell', q: '0.5', px: '7' }));
  return p;
}

const arbOrder: fc.Arbitrary<Order> = fc
  .record({
    client: fc.constantFrom('c0', 'c1', 'c2', 'new'),
    exchange: fc.option(fc.constantFrom('0', '2', '9', '11'), { nil: undefined }),
    symbol: fc.constantFrom(...SYMBOLS),
    q: fc.constantFrom('0.5', '1', '1.5', '2', '4'),
    filled: fc.constantFrom('0', '0.5', '1.5', '5'),
    status: fc.constantFrom('open', 'pending', 'cancelled', 'filled') as fc.Arbitrary<Order['status']>,
  })
  .map(({ client, exchange, symbol, q, filled, status }) => ({
    ...order({ clientOrderId: client, symbol, side: 'buy', q, px: '5', status }),
    ...(exchange !== undefined && { exchangeOrderId: exchange }),
    filledQuantity: d(filled),
  }));

function outcome(f: () => void): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    const err = e as Error & { code?: string };
    return `${err.constructor.name} ${err.code ?? ''} ${err.message}`;
  }
}

describe('Portfolio.checkTrackOrder', () => {
  it('throws what trackOrder throws on a copy, and changes nothing', () => {
    let refused = 0;
    fc.assert(
      fc.property(fc.array(arbOrder, { minLength: 1, maxLength: 4 }), (orders) => {
        const p = books();
        for (const o of orders) {
          const stamp = p.changeStamp;
          const text = JSON.stringify(p.toJSON());
          const checked = outcome(() => p.checkTrackOrder(o));
          expect(p.changeStamp).toBe(stamp);
          expect(JSON.stringify(p.toJSON())).toBe(text);
          expect(checked).toBe(outcome(() => p.clone().trackOrder(o)));
          if (checked === 'ok') p.trackOrder(o);
          else refused++;
        }
      }),
      { numRuns: 300, seed: 1616 },
    );
    // The generator reaches the refusals, not only the successes.
    expect(refused).toBeGreaterThan(50);
  });
});
