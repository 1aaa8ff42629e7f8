import { describe, expect, it, vi } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { ConfigError, ParseError } from '../../src/domain/errors.js';
import { inferredTradeId } from '../../src/domain/types.js';
import { tradeKey } from '../../src/domain/ids.js';
import { PortfolioError } from '../../src/portfolio/errors.js';
import { LayeredMap } from '../../src/portfolio/layered-map.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC_PERP, BTC_SPOT, ETH_PERP_USDC, INSTRUMENTS, d, fill, funding, order } from './fixtures.js';

const usdt = (n: string) => [{ asset: 'USDT', free: d(n), total: d(n) }];
const str = (x: Dec) => x.toFixed();

function fresh(balance = '10000'): Portfolio {
  return Portfolio.create({ instruments: INSTRUMENTS, balances: usdt(balance) });
}

describe('Portfolio spot accounting', () => {
  it('a buy with a quote fee moves base and quote through the AccountBook', () => {
    const p = fresh('1000');
    expect(
      p.applyFill(
        fill({
          tradeId: 't1',
          exchangeOrderId: 'o1',
          symbol: 'BTC/USDT',
          side: 'buy',
          q: '0.5',
          px: '100.1',
          fee: '0.05',
        }),
      ),
    ).toEqual({ outcome: 'applied' });
    expect(str(p.balance('BTC').total)).toBe('0.5');
    expect(str(p.balance('USDT').total)).toBe('949.9');
    expect(str(p.realizedPnl)).toBe('0');
  });

  it('10,000 fills of 0.0001 sum exactly to 1', () => {
    const p = fresh('1000000');
    for (let i = 0; i < 10_000; i++) {
      p.applyFill(
        fill({
          tradeId: `t${i}`,
          exchangeOrderId: 'o1',
          symbol: 'BTC/USDT',
          side: 'buy',
          q: '0.0001',
          px: '30000.01',
          fee: '0.00000001',
          feeAsset: 'BTC',
        }),
      );
    }
    expect(str(p.balance('BTC').total)).toBe('0.9999');
    expect(str(p.balance('USDT').total)).toBe('969999.99');
    expect(str(p.appliedQuantity('BTC/USDT', 'o1'))).toBe('1');
  });
});

describe('Portfolio perpetual netting', () => {
  it('averages entry, realizes on reduce, opens the remainder at the trade price on a flip', () => {
    const p = fresh('0');
    p.applyFill(fill({ tradeId: 'a', exchangeOrderId: 'o1', symbol: BTC_PERP.symbol, side: 'buy', q: '1', px: '100' }));
    p.applyFill(fill({ tradeId: 'b', exchangeOrderId: 'o2', symbol: BTC_PERP.symbol, side: 'buy', q: '3', px: '200' }));
    expect(p.position(BTC_PERP.symbol)).toMatchObject({ quantity: d('4'), entryPrice: d('175') });
    p.applyFill(
      fill({ tradeId: 'c', exchangeOrderId: 'o3', symbol: BTC_PERP.symbol, side: 'sell', q: '5', px: '185', fee: '1' }),
    );
    expect(str(p.realizedPnl)).toBe('40');
    expect(str(p.balance('USDT').total)).toBe('39');
    expect(str(p.position(BTC_PERP.symbol).quantity)).toBe('-1');
    expect(str(p.position(BTC_PERP.symbol).entryPrice)).toBe('185');
    expect(p.positions().map((x) => x.symbol)).toEqual([BTC_PERP.symbol]);
  });

  it('a flat position is a zero position and is not listed', () => {
    const p = fresh('0');
    p.applyFill(fill({ tradeId: 'a', exchangeOrderId: 'o1', symbol: BTC_PERP.symbol, side: 'buy', q: '1', px: '100' }));
    p.applyFill(
      fill({ tradeId: 'b', exchangeOrderId: 'o2', symbol: BTC_PERP.symbol, side: 'sell', q: '1', px: '100' }),
    );
    expect(p.positions()).toEqual([]);
    expect(p.position(BTC_PERP.symbol)).toEqual({ symbol: BTC_PERP.symbol, quantity: d('0'), entryPrice: d('0') });
  });
});

describe('Portfolio idempotence and rejection', () => {
  it('a trade id applied twice is a duplicate and changes nothing', () => {
    const p = fresh();
    const f = fill({ tradeId: 't1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '10' });
    p.applyFill(f);
    const before = p.toJSON();
    expect(p.applyFill(f)).toEqual({ outcome: 'duplicate' });
    expect(p.toJSON()).toEqual(before);
    expect(p.hasAppliedTrade({ symbol: 'BTC/USDT', tradeId: 't1' })).toBe(true);
  });

  it('a duplicate is still recognised after a restart through toJSON/fromJSON', () => {
    const p = fresh();
    const f = fill({ tradeId: 't1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '10' });
    p.applyFill(f);
    const restarted = Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())));
    expect(restarted.applyFill(f)).toEqual({ outcome: 'duplicate' });
    expect(str(restarted.balance('BTC').total)).toBe('1');
  });

  it('an overfilling fill is rejected and changes nothing', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      balances: usdt('1000'),
      orders: [
        order({ clientOrderId: 'c1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '10' }),
      ],
    });
    p.applyFill(fill({ tradeId: 't1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '0.6', px: '10' }));
    const before = JSON.stringify(p.toJSON());
    const r = p.applyFill(
      fill({ tradeId: 't2', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '0.5', px: '10' }),
    );
    expect(r).toMatchObject({ outcome: 'rejected', reason: 'overfill' });
    expect(JSON.stringify(p.toJSON())).toBe(before);
    expect(p.hasAppliedTrade({ symbol: 'BTC/USDT', tradeId: 't2' })).toBe(false);
    expect(str(p.appliedQuantity('BTC/USDT', 'o1'))).toBe('0.6');
  });

  it('an unknown instrument is rejected and changes nothing', () => {
    const p = fresh();
    const before = JSON.stringify(p.toJSON());
    expect(
      p.applyFill(fill({ tradeId: 't1', exchangeOrderId: 'o1', symbol: 'DOGE/USDT', side: 'buy', q: '1', px: '1' })),
    ).toMatchObject({ outcome: 'rejected', reason: 'unknownInstrument' });
    expect(JSON.stringify(p.toJSON())).toBe(before);
  });

  it('a fill contradicting its tracked order, or with a zero quantity, throws PortfolioError and changes nothing', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      orders: [order({ clientOrderId: 'c1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1' })],
    });
    const before = JSON.stringify(p.toJSON());
    expect(() =>
      p.applyFill(fill({ tradeId: 't1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'sell', q: '1', px: '1' })),
    ).toThrow(PortfolioError);
    expect(() =>
      p.applyFill(fill({ tradeId: 't2', exchangeOrderId: 'o9', symbol: 'BTC/USDT', side: 'buy', q: '0', px: '1' })),
    ).toThrow(PortfolioError);
    expect(JSON.stringify(p.toJSON())).toBe(before);
  });

  it('fills of an untracked order are applied without a per-order cap', () => {
    const p = fresh();
    p.applyFill(fill({ tradeId: 't1', exchangeOrderId: 'manual', symbol: 'BTC/USDT', side: 'buy', q: '5', px: '1' }));
    p.applyFill(fill({ tradeId: 't2', exchangeOrderId: 'manual', symbol: 'BTC/USDT', side: 'buy', q: '5', px: '1' }));
    expect(str(p.appliedQuantity('BTC/USDT', 'manual'))).toBe('10');
    expect(p.orders()).toEqual([]);
  });

  it('the trade-id window forgets the oldest ids first and rejects a bad size with ConfigError', () => {
    // A late-trade window of one event: the log remembers its own trades too.
    const p = Portfolio.create({ instruments: INSTRUMENTS }, { tradeIdWindow: 2, lateTradeWindow: 1 });
    for (const id of ['a', 'b', 'c'])
      p.applyFill(fill({ tradeId: id, exchangeOrderId: 'o', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '1' }));
    expect(p.preservedMetrics().appliedTrades).toEqual([tradeKey('BTC/USDT', 'b'), tradeKey('BTC/USDT', 'c')]);
    expect(p.hasAppliedTrade({ symbol: 'BTC/USDT', tradeId: 'a' })).toBe(false);
    expect(() => Portfolio.create({ instruments: INSTRUMENTS }, { tradeIdWindow: 0 })).toThrow(ConfigError);
  });
});

describe('Portfolio orders', () => {
  it('fills move filledQuantity, the exact average price, and the status to filled when complete', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      balances: usdt('100'),
      orders: [
        order({ clientOrderId: 'c1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '3', px: '20' }),
      ],
    });
    p.applyFill(
      fill({
        tradeId: 't1',
        exchangeOrderId: 'o1',
        symbol: 'BTC/USDT',
        side: 'buy',
        q: '1',
        px: '10',
        timestamp: 1_700_000_000_500,
      }),
    );
    expect(p.findOrder({ exchangeOrderId: 'o1' })).toMatchObject({
      filledQuantity: d('1'),
      averageFillPrice: d('10'),
      status: 'open',
      updatedAt: 1_700_000_000_500,
    });
    p.applyFill(fill({ tradeId: 't2', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '2', px: '13' }));
    expect(p.findOrder({ clientOrderId: 'c1' })).toMatchObject({
      filledQuantity: d('3'),
      averageFillPrice: d('12'),
      status: 'filled',
    });
    expect(p.openOrders()).toEqual([]);
  });

  it('open spot orders lock funds: free = total − locked', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      balances: [...usdt('1000'), { asset: 'BTC', free: d('2'), total: d('2') }],
      orders: [
        order({
          clientOrderId: 'b',
          exchangeOrderId: 'ob',
          symbol: 'BTC/USDT',
          side: 'buy',
          q: '2',
          px: '100',
          filledQuantity: d('0.5'),
          averageFillPrice: d('100'),
        }),
        order({ clientOrderId: 's', exchangeOrderId: 'os', symbol: 'BTC/USDT', side: 'sell', q: '1.5', px: '200' }),
        order({
          clientOrderId: 'x',
          exchangeOrderId: 'ox',
          symbol: 'BTC/USDT',
          side: 'sell',
          q: '1',
          px: '200',
          status: 'cancelled',
        }),
      ],
    });
    expect(p.balances().map((b) => [b.asset, str(b.free), str(b.total)])).toEqual([
      ['BTC', '0.5', '2'],
      ['USDT', '850', '1000'],
    ]);
    expect(str(p.balance('USDT').free)).toBe('850');
  });

  it('an acknowledgement replaces the pending order, keeping the fills it already has', () => {
    const pending = order({
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      q: '2',
      px: '10',
      status: 'pending',
    });
    const p = Portfolio.create({ instruments: INSTRUMENTS, orders: [pending] });
    // A fill naming the client id links the order to its exchange id.
    p.applyFill(
      fill({
        tradeId: 't1',
        exchangeOrderId: 'o1',
        clientOrderId: 'c1',
        symbol: 'BTC/USDT',
        side: 'buy',
        q: '1',
        px: '10',
      }),
    );
    expect(p.findOrder({ exchangeOrderId: 'o1' })).toMatchObject({ status: 'open', filledQuantity: d('1') });
    p.trackOrder({ ...pending, exchangeOrderId: 'o1', status: 'open', updatedAt: pending.updatedAt + 5 });
    expect(p.findOrder({ exchangeOrderId: 'o1' })).toMatchObject({
      status: 'open',
      filledQuantity: d('1'),
      updatedAt: pending.updatedAt + 5,
    });
    expect(p.orders()).toHaveLength(1);
  });

  it('fills applied before the acknowledgement (untracked) are counted into the order when it gets its exchange id', () => {
    const pending = order({
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      q: '2',
      px: '10',
      status: 'pending',
    });
    const p = Portfolio.create({ instruments: INSTRUMENTS, orders: [pending] });
    p.applyFill(fill({ tradeId: 't1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1.5', px: '10' }));
    p.trackOrder({ ...pending, exchangeOrderId: 'o1', status: 'open' });
    expect(str(p.appliedQuantity('BTC/USDT', 'o1'))).toBe('1.5');
    expect(
      p.applyFill(fill({ tradeId: 't2', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '10' })),
    ).toMatchObject({ outcome: 'rejected', reason: 'overfill' });
  });

  it('trackOrder refuses an exchange id owned by another client order', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      orders: [order({ clientOrderId: 'c1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1' })],
    });
    expect(() =>
      p.trackOrder(order({ clientOrderId: 'c2', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1' })),
    ).toThrow(PortfolioError);
    expect(() =>
      p.trackOrder(
        order({
          clientOrderId: 'c3',
          exchangeOrderId: 'o3',
          symbol: 'BTC/USDT',
          side: 'buy',
          q: '1',
          filledQuantity: d('2'),
        }),
      ),
    ).toThrow(ParseError);
    expect(p.orders()).toHaveLength(1);
  });

  it('closeOrder sets a terminal status and throws PortfolioError for an unknown order', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      orders: [order({ clientOrderId: 'c1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1' })],
    });
    p.closeOrder({ exchangeOrderId: 'o1' }, 'cancelled', 1_700_000_009_000);
    expect(p.findOrder({ clientOrderId: 'c1' })).toMatchObject({ status: 'cancelled', updatedAt: 1_700_000_009_000 });
    expect(() => p.closeOrder({ exchangeOrderId: 'nope' }, 'cancelled', 0)).toThrow(
      expect.objectContaining({ name: 'PortfolioError', kind: 'unknownOrder' }),
    );
  });

  it('pruneClosedOrders drops only terminal orders updated before the cut-off', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      orders: [
        order({
          clientOrderId: 'a',
          exchangeOrderId: 'oa',
          symbol: 'BTC/USDT',
          side: 'buy',
          q: '1',
          status: 'filled',
          updatedAt: 10,
        }),
        order({ clientOrderId: 'b', exchangeOrderId: 'ob', symbol: 'BTC/USDT', side: 'buy', q: '1', updatedAt: 10 }),
      ],
    });
    expect(p.pruneClosedOrders(11)).toBe(1);
    expect(p.orders().map((o) => o.clientOrderId)).toEqual(['b']);
  });

  it('foldIndexDeletions folds what a prune on a clone dropped, about its budget a call, changing neither side', () => {
    // Past SHARD_AT, so each index is 64 shards: a prune of a quarter leaves dozens of deletions in every shard.
    const n = 10_000;
    const orders = Array.from({ length: n }, (_, i) =>
      order({
        clientOrderId: `q${i}`,
        exchangeOrderId: `x${i}`,
        symbol: 'BTC/USDT',
        side: 'buy',
        q: '1',
        px: '10',
        status: 'cancelled',
        updatedAt: i,
      }),
    );
    const p = Portfolio.create({ instruments: INSTRUMENTS, orders });
    const source = JSON.stringify(p.toJSON());
    const c = p.clone();
    expect(c.pruneClosedOrders(2_500)).toBe(2_500);
    const pruned = JSON.stringify(c.toJSON());
    let folds = 0;
    const foldDeletions = LayeredMap.prototype.foldDeletions;
    const spy = vi.spyOn(LayeredMap.prototype, 'foldDeletions').mockImplementation(function (
      this: LayeredMap<unknown, unknown>,
    ) {
      const copied = foldDeletions.call(this);
      if (copied > 0) folds++;
      return copied;
    });
    let calls = 0;
    try {
      while (c.foldIndexDeletions(512)) calls++;
    } finally {
      spy.mockRestore();
    }
    // Three indexes of 64 shards of about 156 entries, a quarter of each dropped: about three shards a call.
    expect(folds).toBeGreaterThan(100);
    expect(calls).toBeGreaterThan(folds / 5);
    expect(c.foldIndexDeletions(512)).toBe(false);
    expect(JSON.stringify(c.toJSON())).toBe(pruned);
    expect(JSON.stringify(p.toJSON())).toBe(source);
    expect(c.findOrder({ clientOrderId: 'q2499' })).toBeUndefined();
    expect(c.findOrder({ symbol: 'BTC/USDT', exchangeOrderId: 'x2499' })).toBeUndefined();
    expect(c.findOrder({ symbol: 'BTC/USDT', exchangeOrderId: 'x2500' })?.clientOrderId).toBe('q2500');
    expect(c.closedOrders()).toHaveLength(n - 2_500);
    expect(p.findOrder({ symbol: 'BTC/USDT', exchangeOrderId: 'x0' })?.clientOrderId).toBe('q0');
  });
});

describe('Portfolio funding', () => {
  it('adds the amount to the asset, once per id', () => {
    const p = fresh('10');
    expect(p.applyFunding(funding('f1', '-0.12345'))).toEqual({ outcome: 'applied' });
    expect(p.applyFunding(funding('f1', '-0.12345'))).toEqual({ outcome: 'duplicate' });
    expect(str(p.balance('USDT').total)).toBe('9.87655');
    const restarted = Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())));
    expect(restarted.applyFunding(funding('f1', '-0.12345'))).toEqual({ outcome: 'duplicate' });
  });

  it('rejects an unknown instrument or an asset neither settled nor held, changing nothing', () => {
    const p = fresh('10');
    const before = JSON.stringify(p.toJSON());
    expect(p.applyFunding(funding('f1', '1', 'XRP/USDT:USDT'))).toMatchObject({
      outcome: 'rejected',
      reason: 'unknownInstrument',
    });
    expect(p.applyFunding(funding('f2', '1', BTC_PERP.symbol, 'XRP'))).toMatchObject({
      outcome: 'rejected',
      reason: 'unknownAsset',
    });
    expect(JSON.stringify(p.toJSON())).toBe(before);
  });
});

describe('Portfolio equity, peak and drawdown', () => {
  const prices = (btc: string) =>
    new Map([
      [BTC_SPOT.symbol, d(btc)],
      [BTC_PERP.symbol, d(btc)],
    ]);

  it('equity = reporting balance + spot holdings at price + perp unrealized at mark', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      balances: [...usdt('1000'), { asset: 'BTC', free: d('2'), total: d('2') }],
      positions: [{ symbol: BTC_PERP.symbol, quantity: d('-1'), entryPrice: d('100') }],
    });
    expect(p.reportingAsset).toBe('USDT');
    expect(str(p.equity(prices('90')))).toBe(String(1000 + 2 * 90 + 10));
    expect(p.unpricedAssets(prices('90'))).toEqual([]);
    expect(p.unpricedAssets(new Map())).toEqual(['BTC', BTC_PERP.symbol]);
    expect(str(p.equity(new Map()))).toBe('1000');
  });

  it('markToMarket raises the peak only upward; drawdown is relative to it', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      balances: [...usdt('0'), { asset: 'BTC', free: d('1'), total: d('1') }],
    });
    expect(str(p.drawdown(prices('100')))).toBe('0');
    expect(str(p.markToMarket(prices('100')))).toBe('100');
    expect(str(p.markToMarket(prices('80')))).toBe('80');
    expect(str(p.peakEquity)).toBe('100');
    expect(str(p.drawdown(prices('80')))).toBe('0.2');
    expect(str(p.drawdown(prices('120')))).toBe('0');
  });

  it('a USDC-settled perp is converted through USDC/USDT, or listed as unpriced', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      positions: [{ symbol: ETH_PERP_USDC.symbol, quantity: d('2'), entryPrice: d('10') }],
    });
    const marks = new Map([[ETH_PERP_USDC.symbol, d('11')]]);
    expect(p.unpricedAssets(marks)).toEqual([ETH_PERP_USDC.symbol]);
    marks.set('USDC/USDT', d('0.999'));
    expect(str(p.equity(marks))).toBe('1.998');
  });

  it('without instruments a reporting asset must be given', () => {
    expect(() => Portfolio.create({ instruments: [] })).toThrow(ConfigError);
    expect(Portfolio.create({ instruments: [] }, { reportingAsset: 'EUR' }).reportingAsset).toBe('EUR');
  });
});

describe('Portfolio.fromExchangeState', () => {
  it('takes balances, positions and orders from the exchange and keeps the preserved metrics', () => {
    const p = fresh('100');
    p.applyFill(
      fill({ tradeId: 't1', exchangeOrderId: 'o1', symbol: BTC_PERP.symbol, side: 'buy', q: '1', px: '100' }),
    );
    p.applyFill(
      fill({ tradeId: 't2', exchangeOrderId: 'o2', symbol: BTC_PERP.symbol, side: 'sell', q: '1', px: '150' }),
    );
    p.applyFunding(funding('f1', '1'));
    p.markToMarket(new Map());
    const preserved = p.preservedMetrics();
    const reset = Portfolio.fromExchangeState(
      {
        instruments: INSTRUMENTS,
        balances: usdt('140'),
        positions: [],
        orders: [
          order({ clientOrderId: 'z', exchangeOrderId: 'oz', symbol: 'BTC/USDT', side: 'sell', q: '1', px: '1' }),
        ],
      },
      preserved,
    );
    expect(str(reset.peakEquity)).toBe('151');
    expect(str(reset.realizedPnl)).toBe('50');
    expect(str(reset.balance('USDT').total)).toBe('140');
    expect(
      reset.applyFill(
        fill({ tradeId: 't2', exchangeOrderId: 'o2', symbol: BTC_PERP.symbol, side: 'sell', q: '1', px: '150' }),
      ),
    ).toEqual({ outcome: 'duplicate' });
    expect(reset.applyFunding(funding('f1', '1'))).toEqual({ outcome: 'duplicate' });
    expect(reset.openOrders().map((o) => o.clientOrderId)).toEqual(['z']);
  });

  it('refuses duplicate balances or orders with ParseError', () => {
    const none = { peakEquity: d('0'), realizedPnl: d('0'), appliedTrades: [], appliedFundingIds: [] };
    expect(() =>
      Portfolio.fromExchangeState(
        { instruments: INSTRUMENTS, balances: [...usdt('1'), ...usdt('2')], positions: [], orders: [] },
        none,
      ),
    ).toThrow(ParseError);
    const o = order({ clientOrderId: 'c', exchangeOrderId: 'o', symbol: 'BTC/USDT', side: 'buy', q: '1' });
    expect(() =>
      Portfolio.fromExchangeState({ instruments: INSTRUMENTS, balances: [], positions: [], orders: [o, o] }, none),
    ).toThrow(ParseError);
  });
});

describe('Portfolio inferred fills', () => {
  const withOrder = (q = '1') =>
    Portfolio.create({
      instruments: INSTRUMENTS,
      balances: usdt('1000'),
      orders: [
        order({ clientOrderId: 'c1', exchangeOrderId: 'o1', symbol: BTC_PERP.symbol, side: 'buy', q, px: '100' }),
      ],
    });
  const inferred = (cum: string, q: string, px = '100') =>
    fill({
      tradeId: inferredTradeId(BTC_PERP.symbol, 'o1', d(cum)),
      exchangeOrderId: 'o1',
      symbol: BTC_PERP.symbol,
      side: 'buy',
      q,
      px,
      inferred: true,
    });
  const real = (id: string, q: string, px: string) =>
    fill({ tradeId: id, exchangeOrderId: 'o1', symbol: BTC_PERP.symbol, side: 'buy', q, px });

  it('a real trade replaces the inferred fill: the books equal the real trades alone', () => {
    const p = withOrder();
    expect(p.applyFill(inferred('0.5', '0.5'))).toEqual({ outcome: 'applied' });
    expect(p.applyFill(real('r1', '0.5', '101'))).toEqual({
      outcome: 'replacedInferred',
      replaced: [inferredTradeId(BTC_PERP.symbol, 'o1', d('0.5'))],
    });
    const only = withOrder();
    only.applyFill(real('r1', '0.5', '101'));
    expect(p.positions()).toEqual(only.positions());
    expect(p.balances()).toEqual(only.balances());
    expect(p.orders()).toEqual(only.orders());
    expect(p.standingInferredFills()).toEqual([]);
  });

  it('a replayed inferred fill (same id) after restart is a duplicate', () => {
    const p = withOrder();
    p.applyFill(inferred('0.5', '0.5'));
    const restarted = Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())));
    expect(restarted.applyFill(inferred('0.5', '0.5'))).toEqual({ outcome: 'duplicate' });
    expect(restarted.standingInferredFills()).toHaveLength(1);
  });

  it('inferred quantity that real trades do not cover stays (shrunk)', () => {
    const p = withOrder();
    p.applyFill(inferred('0.8', '0.8'));
    p.applyFill(real('r1', '0.3', '99'));
    expect(str(p.appliedQuantity(BTC_PERP.symbol, 'o1'))).toBe('0.8');
    expect(p.standingInferredFills().map((f) => str(f.quantity))).toEqual(['0.5']);
    expect(str(p.position(BTC_PERP.symbol).quantity)).toBe('0.8');
  });

  it('replace first, then cap: a real trade larger than the inferred fill is capped on the net addition only', () => {
    const p = withOrder('1');
    p.applyFill(inferred('0.6', '0.6'));
    // 0.6 inferred stands; a real 0.9 replaces the 0.6 and adds 0.3: 0.9 ≤ 1, accepted.
    expect(p.applyFill(real('r1', '0.9', '100'))).toMatchObject({ outcome: 'replacedInferred' });
    expect(str(p.appliedQuantity(BTC_PERP.symbol, 'o1'))).toBe('0.9');
    const before = JSON.stringify(p.toJSON());
    expect(p.applyFill(real('r2', '0.2', '100'))).toMatchObject({ outcome: 'rejected', reason: 'overfill' });
    expect(JSON.stringify(p.toJSON())).toBe(before);
  });

  it('a real trade of another order does not replace anything; interleaved trades stay in arrival order', () => {
    const p = withOrder('2');
    p.applyFill(inferred('1', '1', '100'));
    p.applyFill(
      fill({ tradeId: 'x1', exchangeOrderId: 'other', symbol: BTC_PERP.symbol, side: 'sell', q: '0.5', px: '120' }),
    );
    expect(p.applyFill(real('r1', '1', '110'))).toMatchObject({ outcome: 'replacedInferred' });
    const only = withOrder('2');
    only.applyFill(
      fill({ tradeId: 'x1', exchangeOrderId: 'other', symbol: BTC_PERP.symbol, side: 'sell', q: '0.5', px: '120' }),
    );
    only.applyFill(real('r1', '1', '110'));
    expect(p.positions()).toEqual(only.positions());
    expect(p.balances()).toEqual(only.balances());
    expect(str(p.realizedPnl)).toBe(str(only.realizedPnl));
  });

  it('a real trade replaces the inferred fill that stands for its time: a later one first, not the oldest (sim seed 71463)', () => {
    // A short of 1 at 120; the order's first 0.5 (trade a, at t1, price 100) and next 1 (trades b and c, at t2 and t3,
    // price 110) are seen as inferred fills stamped t1 and t3 (the exchange's update times, priced as the trades were);
    // b and c show first, a still lags.
    const t1 = 1_700_000_001_000;
    const [t2, t3] = [t1 + 1_000, t1 + 2_000];
    const stamped = (f: ReturnType<typeof fill>, timestamp: number) => ({ ...f, timestamp });
    const short = stamped(
      fill({ tradeId: 's', exchangeOrderId: 'm', symbol: BTC_PERP.symbol, side: 'sell', q: '1', px: '120' }),
      t1 - 1,
    );
    const p = withOrder('2');
    p.applyFill(short);
    p.applyFill(stamped(inferred('0.5', '0.5', '100'), t1));
    p.applyFill(stamped(inferred('1.5', '1', '110'), t3));
    p.applyFill(stamped(real('b', '0.4', '110'), t2));
    p.applyFill(stamped(real('c', '0.6', '110'), t3));
    // The one left standing is a's stand-in (t1), so the short is closed at a's price first, as on the exchange:
    // realized 10 + 4 + 1. Taking the oldest first left the t3 one standing, after b and c: 4 + 6.
    expect(p.standingInferredFills().map((f) => [f.timestamp, str(f.quantity)])).toEqual([[t1, '0.5']]);
    const only = withOrder('2');
    only.applyFill(short);
    for (const [id, q, px, t] of [
      ['a', '0.5', '100', t1],
      ['b', '0.4', '110', t2],
      ['c', '0.6', '110', t3],
    ] as const)
      only.applyFill(stamped(real(id, q, px), t));
    expect(str(p.realizedPnl)).toBe('15');
    expect(str(only.realizedPnl)).toBe('15');
    expect(p.positions()).toEqual(only.positions());
    // And once a shows, the books are the real trades alone.
    p.applyFill(stamped(real('a', '0.5', '100'), t1));
    expect(p.standingInferredFills()).toEqual([]);
    expect(str(p.realizedPnl)).toBe('15');
    expect(p.positions()).toEqual(only.positions());
    expect(p.balances()).toEqual(only.balances());
  });

  it('an inferred fill is settled (made permanent) once its symbol logged more fills than the replay window', () => {
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances: usdt('1000') }, { inferredReplayWindow: 3 });
    p.applyFill(
      fill({
        tradeId: inferredTradeId(BTC_PERP.symbol, 'o1', d('1')),
        exchangeOrderId: 'o1',
        symbol: BTC_PERP.symbol,
        side: 'buy',
        q: '1',
        px: '100',
        inferred: true,
      }),
    );
    for (const id of ['a', 'b', 'c'])
      p.applyFill(fill({ tradeId: id, exchangeOrderId: 'm', symbol: BTC_PERP.symbol, side: 'buy', q: '1', px: '100' }));
    expect(p.standingInferredFills()).toEqual([]);
    expect(p.toJSON().replayLog).toEqual([]);
    expect(str(p.position(BTC_PERP.symbol).quantity)).toBe('4');
    expect(
      p.applyFill(
        fill({ tradeId: 'r1', exchangeOrderId: 'o1', symbol: BTC_PERP.symbol, side: 'buy', q: '1', px: '100' }),
      ),
    ).toEqual({ outcome: 'applied' });
  });
});

describe('Portfolio.clone', () => {
  it('is independent of the original', () => {
    const p = fresh();
    const c = p.clone();
    c.applyFill(fill({ tradeId: 't1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '10' }));
    expect(p.hasAppliedTrade({ symbol: 'BTC/USDT', tradeId: 't1' })).toBe(false);
    expect(str(p.balance('USDT').total)).toBe('10000');
    expect(new Dec(c.balance('USDT').total).toFixed()).toBe('9990');
  });

  it('shares nothing mutable: closing, tracking, filling or pruning on either side leaves the other as it was', () => {
    const p = fresh();
    p.trackOrder({
      ...order({ clientOrderId: 'c1', symbol: 'BTC/USDT', side: 'buy', q: '2', px: '10' }),
      exchangeOrderId: 'x1',
    });
    p.trackOrder({
      ...order({ clientOrderId: 'c2', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '10' }),
      exchangeOrderId: 'x2',
    });
    const before = JSON.stringify(p.toJSON());
    const c = p.clone();
    c.closeOrder({ clientOrderId: 'c1' }, 'cancelled', 1_700_000_000_001);
    c.applyFill(fill({ tradeId: 't1', exchangeOrderId: 'x2', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '10' }));
    c.applyFill(fill({ tradeId: 't2', exchangeOrderId: 'manual', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '10' }));
    c.trackOrder(order({ clientOrderId: 'c3', symbol: 'BTC/USDT', side: 'sell', q: '1', px: '20' }));
    c.pruneClosedOrders(Number.MAX_SAFE_INTEGER);
    expect(JSON.stringify(p.toJSON())).toBe(before);
    expect(p.orders().map((o) => `${o.clientOrderId}:${o.status}`)).toEqual(['c1:open', 'c2:open']);
    // And the other way round: the original changing after the clone leaves the clone alone.
    const c2 = p.clone();
    const snapshot = JSON.stringify(c2.toJSON());
    p.closeOrder({ clientOrderId: 'c2' }, 'cancelled', 1_700_000_000_001);
    p.applyFill(fill({ tradeId: 't9', exchangeOrderId: 'x1', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '10' }));
    expect(JSON.stringify(c2.toJSON())).toBe(snapshot);
    expect(c2.liveState().balances).toEqual(Portfolio.fromJSON(JSON.parse(snapshot)).liveState().balances);
  });

  it('keeps the change stamp of its source until either changes; a duplicate or rejected fill changes nothing', () => {
    const p = fresh();
    const c = p.clone();
    expect(c.changeStamp).toBe(p.changeStamp);
    const stamp = p.changeStamp;
    c.applyFill(fill({ tradeId: 't1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '10' }));
    expect(c.changeStamp).not.toBe(stamp);
    expect(p.changeStamp).toBe(stamp);
    const after = c.changeStamp;
    expect(
      c.applyFill(fill({ tradeId: 't1', exchangeOrderId: 'o1', symbol: 'BTC/USDT', side: 'buy', q: '1', px: '10' }))
        .outcome,
    ).toBe('duplicate');
    expect(
      c.applyFill(fill({ tradeId: 't2', exchangeOrderId: 'o1', symbol: 'XYZ/USDT', side: 'buy', q: '1', px: '10' }))
        .outcome,
    ).toBe('rejected');
    expect(c.pruneClosedOrders(0)).toBe(0);
    expect(c.changeStamp).toBe(after);
    // A new peak equity is a change (it is persisted); marking the same equity again is not.
    c.markToMarket(new Map());
    expect(c.changeStamp).not.toBe(after);
    const marked = c.changeStamp;
    c.markToMarket(new Map());
    expect(c.changeStamp).toBe(marked);
  });
});
