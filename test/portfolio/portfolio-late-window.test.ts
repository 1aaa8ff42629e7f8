/**
 * The late-trade window of the Portfolio: where a late perpetual trade nets, what happens to one older than the
 * window, how ids that do not tell order are treated, and that the window survives a restart and a clone.
 */
import { describe, expect, it } from 'vitest';
import type { Fill } from '../../src/domain/types.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC_PERP, BTC_SPOT, ETH_PERP_USDC, INSTRUMENTS, d, fill, funding } from './fixtures.js';

const T = 1_700_000_000_000;
const P = BTC_PERP.symbol;
const usdt = [{ asset: 'USDT', free: d('100000'), total: d('100000') }];

/** Perp trade `id` of an order nobody tracks. */
const perp = (id: string, side: 'buy' | 'sell', q: string, px: string, ms = 0): Fill =>
  fill({ tradeId: id, exchangeOrderId: `x${id}`, symbol: P, side, q, px, timestamp: T + ms });

const books = (p: Portfolio) => ({
  usdt: p.balance('USDT').total.toFixed(),
  position: `${p.position(P).quantity.toFixed()}@${p.position(P).entryPrice.toFixed()}`,
  realized: p.realizedPnl.toFixed(),
});

/** Short 1 @ 31000, then the exchange's order: buy 0.1 @ 30000 (id 11), buy 1.5 @ 29500 (id 12), same millisecond. */
const SHORT = perp('10', 'sell', '1', '31000');
const FIRST = perp('11', 'buy', '0.1', '30000', 5);
const SECOND = perp('12', 'buy', '1.5', '29500', 5);

function inExchangeOrder(): Portfolio {
  const p = Portfolio.create({ instruments: INSTRUMENTS, balances: usdt });
  for (const f of [SHORT, FIRST, SECOND]) p.applyFill(f);
  return p;
}

describe('a late perpetual trade', () => {
  it('nets before the later trade of its millisecond (integer ids): the books are the exchange order’s', () => {
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances: usdt });
    for (const f of [SHORT, SECOND]) p.applyFill(f);
    expect(p.applyFill(FIRST)).toEqual({ outcome: 'applied' });
    expect(books(p)).toEqual(books(inExchangeOrder()));
    expect(books(p)).toEqual({ usdt: '101450', position: '0.6@29500', realized: '1450' });
  });

  it('older than the window (a later trade of its perpetual settled): appended, netted in arrival order, flagged', () => {
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances: usdt }, { lateTradeWindow: 1 });
    for (const f of [SHORT, SECOND]) p.applyFill(f);
    // Funding and spot trades never enter the log; a fill of another perpetual does, and pushes SECOND out.
    p.applyFunding(funding('f1', '-1'));
    p.applyFill(
      fill({ tradeId: '1', exchangeOrderId: 'e', symbol: ETH_PERP_USDC.symbol, side: 'buy', q: '1', px: '2000' }),
    );
    // SECOND is settled now (the window holds the other perpetual's fill only): FIRST cannot go before it.
    expect(p.applyFill(FIRST)).toEqual({ outcome: 'applied', outOfOrder: true });
    expect(books(p)).toEqual({
      usdt: '101499',
      position: '0.6@29583.33333333333333333333333333333333333333333333',
      realized: '1500',
    });
    // Spot trades and later perpetual trades are never out of order.
    const spot = fill({
      tradeId: '1',
      exchangeOrderId: 's',
      symbol: BTC_SPOT.symbol,
      side: 'buy',
      q: '0.1',
      px: '30000',
    });
    expect(p.applyFill(spot)).toEqual({ outcome: 'applied' });
    expect(p.applyFill(perp('13', 'sell', '0.6', '29000', 9))).toEqual({ outcome: 'applied' });
  });

  it('a clone keeps the window; the persisted books fold it in (it lives in memory), so a restore nets an earlier trade after them, flagged', () => {
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances: usdt });
    for (const f of [SHORT, SECOND]) p.applyFill(f);
    const copy = p.clone();
    // Written as main wrote books with no standing inferred fill: balances and positions ARE the books, no log.
    const json = JSON.parse(JSON.stringify(p.toJSON())) as ReturnType<Portfolio['toJSON']>;
    expect(json.replayLog).toEqual([]);
    expect(json.positions).toEqual([{ symbol: P, quantity: '0.5', entryPrice: '29500' }]);
    expect(json.settledPerpTrades).toEqual([{ symbol: P, timestamp: T + 5, tradeId: '12' }]);
    const restored = Portfolio.fromJSON(json);
    expect(books(restored)).toEqual(books(p));
    // The clone re-folds; the restored books cannot, and say so (the engine's boot resets the books anyway).
    expect(copy.applyFill(FIRST)).toEqual({ outcome: 'applied' });
    expect(books(copy)).toEqual(books(inExchangeOrder()));
    expect(restored.applyFill(FIRST)).toEqual({ outcome: 'applied', outOfOrder: true });
    // A later trade after a restore is in order, and later ones nest in its window again.
    expect(restored.applyFill(perp('14', 'sell', '0.1', '29900', 50))).toEqual({ outcome: 'applied' });
    expect(restored.applyFill(perp('13', 'sell', '0.1', '29800', 50))).toEqual({ outcome: 'applied' });
    expect(restored.position(P).quantity.toFixed()).toBe('0.4');
  });

  it('ids that are not plain integers tie within a millisecond: arrival order stands', () => {
    const a = fill({ tradeId: 'b-2', exchangeOrderId: 'x1', symbol: P, side: 'sell', q: '1', px: '100', timestamp: T });
    const b = fill({ tradeId: 'a-1', exchangeOrderId: 'x2', symbol: P, side: 'buy', q: '2', px: '90', timestamp: T });
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances: usdt });
    p.applyFill(a);
    p.applyFill(b);
    // In arrival order: short 1 @ 100, then buy 2 @ 90 closes it (+10) and opens long 1 @ 90.
    expect(books(p)).toEqual({ usdt: '100010', position: '1@90', realized: '10' });
  });
});
