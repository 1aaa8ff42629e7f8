/**
 * Ids scoped the way exchanges scope them (issue 13, points 1 and 2), against the real SimulatedExchange numbering ids
 * like Binance: order and trade ids per symbol from 1, funding payment ids from the same integers. Equal ids of two
 * symbols are two orders or two trades; a funding payment is never taken for a trade that shares its id; and a trade
 * that shows late, behind the symbol's trade cursor, still replaces the fill inferred for it.
 */
import { describe, expect, it } from 'vitest';
import { tradeKey } from '../../src/domain/ids.js';
import { actionsOf } from '../../src/handlers/plan.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC_PERP, BTC_SPOT, INSTRUMENTS, d as dd, fill, funding, order } from '../portfolio/fixtures.js';
import { d, expectBooksEqual, makeWorld, placeTracked, quirky, runtimeCycle } from './world.js';

const BTC = 'BTC/USDT';
const ETH = 'ETH/USDT';
const PERP = 'BTC/USDT:USDT';

describe('Portfolio: ids per symbol, funding ids apart', () => {
  it('trade 7 on two symbols is two trades, order 1001 on two symbols two orders, and both survive a restart', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      balances: [{ asset: 'USDT', total: dd('100000'), free: dd('100000') }],
    });
    p.trackOrder(
      order({
        clientOrderId: 'a',
        exchangeOrderId: '1001',
        symbol: BTC_SPOT.symbol,
        side: 'buy',
        status: 'open',
        q: '1',
      }),
    );
    p.trackOrder(
      order({
        clientOrderId: 'b',
        exchangeOrderId: '1001',
        symbol: BTC_PERP.symbol,
        side: 'buy',
        status: 'open',
        q: '1',
      }),
    );
    expect(
      p.applyFill(
        fill({
          tradeId: '7',
          exchangeOrderId: '1001',
          clientOrderId: 'a',
          symbol: BTC_SPOT.symbol,
          side: 'buy',
          q: '0.5',
          px: '100',
        }),
      ).outcome,
    ).toBe('applied');
    expect(
      p.applyFill(
        fill({
          tradeId: '7',
          exchangeOrderId: '1001',
          clientOrderId: 'b',
          symbol: BTC_PERP.symbol,
          side: 'buy',
          q: '0.25',
          px: '100',
        }),
      ).outcome,
    ).toBe('applied');
    expect(p.applyFunding(funding('7', '-3')).outcome).toBe('applied');
    const again = Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())));
    expect(again.findOrder({ symbol: BTC_SPOT.symbol, exchangeOrderId: '1001' })?.filledQuantity.toFixed()).toBe('0.5');
    expect(again.findOrder({ symbol: BTC_PERP.symbol, exchangeOrderId: '1001' })?.filledQuantity.toFixed()).toBe(
      '0.25',
    );
    expect(
      again.hasAppliedTrade({ symbol: BTC_SPOT.symbol, tradeId: '7' }) &&
        again.hasAppliedTrade({ symbol: BTC_PERP.symbol, tradeId: '7' }),
    ).toBe(true);
    expect(again.hasAppliedTrade({ symbol: 'ETH/USDT', tradeId: '7' })).toBe(false);
    expect(again.hasAppliedFunding('7')).toBe(true);
    // Without its symbol, an id tracked on two symbols is refused rather than guessed.
    expect(() => again.findOrder({ exchangeOrderId: '1001' })).toThrow(/give the symbol/);
    expect(again.preservedMetrics().appliedTrades).toEqual([
      tradeKey(BTC_SPOT.symbol, '7'),
      tradeKey(BTC_PERP.symbol, '7'),
    ]);
  });
});

describe('cycles on an exchange that numbers ids per symbol (as Binance does)', () => {
  it('orders 1 and trades 1 of two symbols are all applied; the books equal the exchange', async () => {
    const w = await makeWorld({}, { ids: 'perSymbol' });
    const btc = await placeTracked(w, {
      clientOrderId: 'b1',
      symbol: BTC,
      side: 'buy',
      quantity: d('0.1'),
      price: d('29000'),
    });
    const eth = await placeTracked(w, {
      clientOrderId: 'e1',
      symbol: ETH,
      side: 'buy',
      quantity: d('1'),
      price: d('1900'),
    });
    expect([btc.exchangeOrderId, eth.exchangeOrderId]).toEqual(['1', '1']);
    w.ex.fillOrder({ symbol: BTC, exchangeOrderId: '1' });
    w.ex.fillOrder({ symbol: ETH, exchangeOrderId: '1' });
    w.ex.step(1_000);
    const c = await runtimeCycle(w);
    expect(actionsOf(c.plan, 'applyFill').map((a) => [a.fill.symbol, a.fill.tradeId, a.cause])).toEqual([
      [BTC, '1', 'missedTrade'],
      [ETH, '1', 'missedTrade'],
    ]);
    expect(w.portfolio.findOrder({ clientOrderId: 'b1' })?.status).toBe('filled');
    expect(w.portfolio.findOrder({ clientOrderId: 'e1' })?.status).toBe('filled');
    expectBooksEqual(w);
  });

  it('a funding payment whose id equals an applied trade id is applied, not skipped (books off by the payment)', async () => {
    const w = await makeWorld({}, { ids: 'perSymbol', fundingIntervalMs: 60_000, maxFundingRate: '0.001' });
    await placeTracked(w, { clientOrderId: 'p1', symbol: PERP, side: 'buy', quantity: d('0.5'), price: d('29000') });
    w.ex.fillOrder({ symbol: PERP, exchangeOrderId: '1' });
    w.ex.step(1_000);
    await runtimeCycle(w);
    expect(w.portfolio.hasAppliedTrade({ symbol: PERP, tradeId: '1' })).toBe(true);
    w.ex.step(60_000);
    const truth = w.ex.truth();
    expect(truth.funding.map((f) => f.id)).toEqual(['1']);
    const c = await runtimeCycle(w);
    expect(actionsOf(c.plan, 'applyFunding').map((a) => a.payment.id)).toEqual(['1']);
    expect(w.portfolio.hasAppliedFunding('1')).toBe(true);
    expectBooksEqual(w);
  });
});

describe('a late trade behind the cursor', () => {
  it('replaces the standing inferred fill of its order once it shows, although later trades moved the cursor past it', async () => {
    const w = await makeWorld({}, { ids: 'perSymbol' });
    const q = quirky(w);
    const a = await placeTracked(w, {
      clientOrderId: 'a',
      symbol: BTC,
      side: 'buy',
      quantity: d('1'),
      price: d('29000'),
    });
    const b = await placeTracked(w, {
      clientOrderId: 'b',
      symbol: BTC,
      side: 'buy',
      quantity: d('0.2'),
      price: d('29000'),
    });
    w.ex.step(10_000);
    // a's fill count shows, its trade does not (a lagging trade history): an inferred fill, without the fee.
    q.hideTradesOf.add(a.exchangeOrderId!);
    w.ex.fillOrder({ symbol: BTC, exchangeOrderId: a.exchangeOrderId }, '0.3');
    w.ex.step(10_000);
    await runtimeCycle(w);
    expect(w.portfolio.standingInferredFills().map((f) => f.quantity.toFixed())).toEqual(['0.3']);
    // A later trade of another order on the same symbol moves the cursor past a's trade.
    w.ex.fillOrder({ symbol: BTC, exchangeOrderId: b.exchangeOrderId });
    w.ex.step(10_000);
    await runtimeCycle(w);
    expect(w.cursors.trades[BTC]!.since).toBeGreaterThan(
      w.ex.truth().trades.find((t) => t.exchangeOrderId === a.exchangeOrderId)!.timestamp,
    );
    // Now a's trade shows: behind the cursor, found by order, and it takes the inferred fill's place (fee included).
    q.hideTradesOf.clear();
    w.ex.step(10_000);
    const c = await runtimeCycle(w);
    expect(
      c.result.outcomes
        .filter((x) => x.action.type === 'applyFill')
        .map((x) => x.detail?.startsWith('replaced inferred')),
    ).toEqual([true]);
    expect(w.portfolio.standingInferredFills()).toEqual([]);
    expect(w.portfolio.hasAppliedTrade({ symbol: BTC, tradeId: '1' })).toBe(true);
    expectBooksEqual(w);
  });
});
