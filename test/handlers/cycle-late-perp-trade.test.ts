/**
 * A perpetual's trade that shows late, behind a later trade of the same perpetual that crossed zero (the shape of sim
 * seed 36504): the exchange applied a manual buy and then, in the same millisecond, a strategy buy that closed the
 * rest of the short and flipped long. Our books got the strategy's trade first (its fill count inferred, then its
 * trade; or its trade at once) and the manual one cycles later, found behind the symbol's cursor. Netted in arrival
 * order, the strategy's trade would close the whole short at its price and the manual one only add to the long:
 * realized PnL and entry price off. The books net at the exchange's position instead and equal the exchange's.
 */
import { describe, expect, it } from 'vitest';
import { d, expectBooksEqual, makeWorld, placeTracked, quirky, runtimeCycle } from './world.js';

const PERP = 'BTC/USDT:USDT';

describe.each([
  { how: 'its trade showing at once', inferFirst: false },
  { how: 'its fill count showing first (an inferred fill its trade replaces)', inferFirst: true },
])(
  'a strategy trade that flipped a short, $how, then the earlier manual trade of its millisecond',
  ({ inferFirst }) => {
    it("nets the manual trade before it: books, entry price and realized PnL are the exchange's", async () => {
      // Per-symbol integer ids (Binance's), fees on both sides.
      const w = await makeWorld({}, { ids: 'perSymbol', feeRates: { maker: '0.0002', taker: '0.0005' } });
      const q = quirky(w);
      // Short 1 @ 31000.
      const short = await placeTracked(w, {
        clientOrderId: 'c0',
        symbol: PERP,
        side: 'sell',
        quantity: d('1'),
        price: d('40000'),
      });
      w.ex.fillOrder({ symbol: PERP, exchangeOrderId: short.exchangeOrderId }, '1', '31000');
      w.ex.step(5_000);
      await runtimeCycle(w);
      expectBooksEqual(w);

      const flip = await placeTracked(w, {
        clientOrderId: 'c1',
        symbol: PERP,
        side: 'buy',
        quantity: d('1.5'),
        price: d('20000'),
      });
      w.ex.step(5_000);
      await runtimeCycle(w);
      // One millisecond: a manual market buy of 0.1 (trade n), then the strategy's buy of 1.5 @ 29500 (trade n + 1),
      // which closes the remaining 0.9 and opens long 0.6 @ 29500.
      const manual = w.ex.placeManualOrder({ symbol: PERP, side: 'buy', type: 'market', quantity: d('0.1') });
      const late = (await w.ex.fetchOrderTrades(PERP, manual.exchangeOrderId!))[0]!;
      const ours = w.ex.fillOrder({ symbol: PERP, exchangeOrderId: flip.exchangeOrderId }, '1.5', '29500');
      expect([late.timestamp === ours.timestamp, Number(ours.tradeId) - Number(late.tradeId)]).toEqual([true, 1]);
      expect(
        w.ex
          .truth()
          .positions.find((p) => p.symbol === PERP)
          ?.entryPrice.toFixed(),
      ).toBe('29500');

      q.hideTradesOf.add(manual.exchangeOrderId!);
      if (inferFirst) {
        q.hideTradesOf.add(flip.exchangeOrderId!);
        w.ex.step(5_000);
        await runtimeCycle(w);
        expect(w.portfolio.standingInferredFills().map((f) => f.exchangeOrderId)).toEqual([flip.exchangeOrderId]);
        q.hideTradesOf.delete(flip.exchangeOrderId!);
      }
      w.ex.step(5_000);
      await runtimeCycle(w);
      expect(w.portfolio.hasAppliedTrade(ours)).toBe(true);
      expect(w.portfolio.standingInferredFills()).toEqual([]);
      expect(w.portfolio.hasAppliedTrade(late)).toBe(false);

      // The manual trade shows now, behind the cursor its successor moved: the drift sends the cycle back for it.
      q.hideTradesOf.delete(manual.exchangeOrderId!);
      for (let i = 0; i < 3 && !w.portfolio.hasAppliedTrade(late); i++) {
        w.ex.step(5_000);
        await runtimeCycle(w);
      }
      expect(w.portfolio.hasAppliedTrade(late)).toBe(true);
      expect(w.portfolio.position(PERP).entryPrice.toFixed()).toBe('29500');
      expectBooksEqual(w);
      // Realized PnL: the short's entry minus each closing price, over what each closed (0.1 at the manual price, 0.9 at 29500).
      expect(w.portfolio.realizedPnl.toFixed()).toBe(
        d('31000').minus(late.price).times('0.1').plus(d('1500').times('0.9')).toFixed(),
      );
    });
  },
);
