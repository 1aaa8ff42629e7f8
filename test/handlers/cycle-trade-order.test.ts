/**
 * runCycle applies the trades of one millisecond in the exchange's order. Perpetual netting is order dependent
 * (average entry price, realized PnL on a flip), and trade ids are numbers: t-9 happened before t-10, which sorts
 * first as a string (found by the simulation, seed 80).
 */
import { describe, expect, it } from 'vitest';
import { d, expectBooksEqual, makeWorld, placeTracked, runtimeCycle } from './world.js';

const PERP = 'BTC/USDT:USDT';

describe('trades of one millisecond', () => {
  it("t-9 is applied before t-10: a flip then a flip back leaves the exchange's entry price and realized PnL", async () => {
    const w = await makeWorld({}, { feeRates: { maker: '0', taker: '0' } });
    // Long 8 @ 29000, in eight trades t-1..t-8.
    const base = await placeTracked(w, {
      clientOrderId: 'c0',
      symbol: PERP,
      side: 'buy',
      quantity: d('8'),
      price: d('20000'),
    });
    for (let i = 0; i < 8; i++) w.ex.fillOrder({ symbol: PERP, exchangeOrderId: base.exchangeOrderId }, '1', '29000');
    w.ex.step(10_000);
    await runtimeCycle(w);
    expectBooksEqual(w);

    // Resting orders far from the market, filled by hand in one millisecond.
    const sell = await placeTracked(w, {
      clientOrderId: 'c1',
      symbol: PERP,
      side: 'sell',
      quantity: d('10'),
      price: d('40000'),
    });
    const buy = await placeTracked(w, {
      clientOrderId: 'c2',
      symbol: PERP,
      side: 'buy',
      quantity: d('10'),
      price: d('20000'),
    });
    w.ex.step(10_000);
    const first = w.ex.fillOrder({ symbol: PERP, exchangeOrderId: sell.exchangeOrderId }, '10', '30000');
    const second = w.ex.fillOrder({ symbol: PERP, exchangeOrderId: buy.exchangeOrderId }, '10', '31000');
    expect([first.tradeId, second.tradeId, first.timestamp === second.timestamp]).toEqual(['t-9', 't-10', true]);
    w.ex.step(10_000);

    const c = await runtimeCycle(w);
    expect(
      c.result.outcomes
        .filter((o) => o.action.type === 'applyFill')
        .map((o) => (o.action.type === 'applyFill' ? o.action.fill.tradeId : '')),
    ).toEqual(['t-9', 't-10']);
    // Sell 10 @ 30000 flips to short 2 @ 30000; buy 10 @ 31000 flips back to long 8 @ 31000 (the other order: long 8 @ 30111.1…).
    expect(w.portfolio.position(PERP).entryPrice.toFixed()).toBe('31000');
    expectBooksEqual(w);
  });
});
