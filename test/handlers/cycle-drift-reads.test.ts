/**
 * What drift costs in reads. A quote filled within its in-flight grace is not looked at as a pair, so the cycle meets
 * its fill as drift: a USDT balance any USDT instrument could have moved. The likeliest symbol is read first (its
 * trades move both drifting balances) and explain it: no other USDT instrument is read, and the symbol's history is
 * not read again `tradeLookbackMs` behind the cursor (a day of trades, on every such cycle of a market maker). A drift
 * in a perpetual's settle asset alone is read as funding first. Drift left unexplained still gets every read: the
 * other symbols, then behind the cursors (a trade that showed late).
 */
import { describe, expect, it } from 'vitest';
import type { HistoryQuery } from '../../src/exchange/port.js';
import { actionsOf } from '../../src/handlers/plan.js';
import {
  d,
  expectBooksEqual,
  makeWorld,
  placeTracked,
  quirky,
  runtimeCycle,
  type QuirkyExchange,
  type World,
} from './world.js';

const SPOT = 'BTC/USDT';

const PERP = 'BTC/USDT:USDT';
/** How a funding read is listed among the trade reads. */
const FUNDING = '(funding)';

/** Every history read from now on (its symbol, or FUNDING, and where it started), through a QuirkyExchange. */
function recordTradeReads(w: World): { reads: { symbol: string; since: number }[]; q: QuirkyExchange } {
  const q = quirky(w);
  const reads: { symbol: string; since: number }[] = [];
  const trades = q.fetchTradesSince;
  q.fetchTradesSince = (symbol: string, query: HistoryQuery) => {
    reads.push({ symbol, since: query.since });
    return trades(symbol, query);
  };
  const funding = q.fetchFundingSince;
  q.fetchFundingSince = (query: HistoryQuery) => {
    reads.push({ symbol: FUNDING, since: query.since });
    return funding(query);
  };
  return { reads, q };
}

/**
 * A quote tracked as the engine tracks an acknowledgement, then filled on the exchange at its limit price (half the
 * market for a buy, twice it for a sell: it rests until `fillOrder`).
 */
async function filledQuote(w: World, clientOrderId: string, side: 'buy' | 'sell'): Promise<void> {
  const price = side === 'buy' ? w.ex.price(SPOT).div(2) : w.ex.price(SPOT).mul(2);
  const o = await placeTracked(w, { clientOrderId, symbol: SPOT, side, quantity: d('0.01'), price });
  w.ex.fillOrder({ symbol: SPOT, exchangeOrderId: o.exchangeOrderId });
}

/**
 * A round trip by hand on the perpetual at one price, the second leg the exchange's liquidation of the first: position
 * and USDT are back where they were; with fees in BNB only BNB paid the two fees (seed 140 with --fee-asset).
 */
function washOnPerp(w: World): void {
  const price = w.ex.price(PERP);
  w.ex.placeManualOrder({ symbol: PERP, side: 'sell', type: 'market', quantity: d('0.01') });
  w.ex.liquidate(PERP, price);
  w.ex.step(1_000);
}

/** A first fill, applied: the symbol's cursor moves off its lookback start. */
async function firstFill(w: World): Promise<void> {
  await filledQuote(w, 'q0', 'buy');
  w.ex.step(10_000);
  await runtimeCycle(w);
  expectBooksEqual(w);
}

describe('drift and the trade history', () => {
  it('a quote filled within its grace reads its trades once, from the cursor, never a day behind it', async () => {
    const w = await makeWorld({ inFlightGraceMs: 5_000 });
    const { reads } = recordTradeReads(w);
    await firstFill(w);
    const cursor = w.cursors.trades[SPOT]!.since;

    for (let k = 1; k <= 5; k++) {
      // The next quote, filled at once: still within its grace when the cycle reads.
      await filledQuote(w, `q${k}`, k % 2 === 0 ? 'buy' : 'sell');
      w.ex.step(1_000);
      reads.length = 0;
      const before = w.cursors.trades;
      const c = await runtimeCycle(w);
      expect(c.report.balanceDrifts.some((x) => x.beyondTolerance)).toBe(true);
      // BTC and USDT drift: BTC/USDT's trades could explain both, the other USDT instruments one. Read once, from
      // its cursor; nothing else.
      expect(reads).toEqual([{ symbol: SPOT, since: before[SPOT]!.since }]);
      expect(w.cursors.trades[SPOT]!.since).toBeGreaterThan(cursor);
      expectBooksEqual(w);
    }
  });

  it('drift the trades at the cursor leave unexplained still reads behind it, and finds the late trade', async () => {
    const w = await makeWorld({ inFlightGraceMs: 5_000 });
    const { reads, q } = recordTradeReads(w);
    await firstFill(w);
    // A manual buy whose trade does not show yet (a lagging history), then our quote's fill, which moves the cursor past it.
    const manual = w.ex.placeManualOrder({ symbol: SPOT, side: 'buy', type: 'market', quantity: d('0.02') });
    q.hideTradesOf.add(manual.exchangeOrderId!);
    w.ex.step(1_000);
    await filledQuote(w, 'q1', 'sell');
    w.ex.step(1_000);
    await runtimeCycle(w);
    const cursor = w.cursors.trades[SPOT]!.since;
    const late = (await w.ex.fetchOrderTrades(SPOT, manual.exchangeOrderId!))[0]!;
    expect(late.timestamp).toBeLessThan(cursor);
    expect(w.portfolio.hasAppliedTrade(late)).toBe(false);

    q.hideTradesOf.clear();
    w.ex.step(1_000);
    reads.length = 0;
    await runtimeCycle(w);
    expect(reads.some((r) => r.symbol === SPOT && r.since < cursor)).toBe(true);
    expect(w.portfolio.hasAppliedTrade(late)).toBe(true);
    expectBooksEqual(w);
  });

  it('a late trade past the first page behind the cursor is found with a budget of one page: the last minute first, then the rest a page a cycle', async () => {
    const w = await makeWorld({ inFlightGraceMs: 5_000, maxHistoryPagesPerCycle: 1 });
    const { reads, q } = recordTradeReads(w);
    // 120 trades by hand, 10 s apart (more than a page of 100 behind the cursor), read in as the cursor moves.
    for (let k = 0; k < 120; k++) {
      w.ex.placeManualOrder({ symbol: SPOT, side: k % 2 === 0 ? 'buy' : 'sell', type: 'market', quantity: d('0.001') });
      w.ex.step(10_000);
    }
    await runtimeCycle(w);
    await runtimeCycle(w);
    expectBooksEqual(w);
    // One more, lagging: a later trade moves the cursor past it while it does not show.
    const late = w.ex.placeManualOrder({ symbol: SPOT, side: 'buy', type: 'market', quantity: d('0.02') });
    q.hideTradesOf.add(late.exchangeOrderId!);
    w.ex.step(1_000);
    w.ex.placeManualOrder({ symbol: SPOT, side: 'sell', type: 'market', quantity: d('0.001') });
    w.ex.step(1_000);
    await runtimeCycle(w);
    const cursor = w.cursors.trades[SPOT]!.since;
    q.hideTradesOf.clear();
    w.ex.step(1_000);
    reads.length = 0;
    const c = await runtimeCycle(w);
    // Read from the cursor, then from a minute behind it (not from a day behind, whose first page ends 20 trades short).
    expect(reads.filter((r) => r.symbol === SPOT).map((r) => r.since - cursor)).toEqual([0, -60_000]);
    expect(actionsOf(c.plan, 'applyFill').map((a) => a.fill.exchangeOrderId)).toEqual([late.exchangeOrderId]);
    expectBooksEqual(w);
  });

  it('a funding payment alone is read as funding, no trade history; a USDT drift funding leaves is read on every USDT symbol', async () => {
    const w = await makeWorld({ inFlightGraceMs: 5_000 });
    // A perpetual position, so that funding is paid on it.
    const o = await placeTracked(w, {
      clientOrderId: 'p0',
      symbol: PERP,
      side: 'buy',
      quantity: d('1'),
      price: w.ex.price(PERP).div(2),
    });
    w.ex.fillOrder({ symbol: PERP, exchangeOrderId: o.exchangeOrderId });
    w.ex.setFundingRate(PERP, '0.0001');
    w.ex.step(10_000);
    await runtimeCycle(w);
    expectBooksEqual(w);
    const { reads } = recordTradeReads(w);

    w.ex.step(w.ex.nextFundingTime() - w.clock.now() + 1_000);
    const c = await runtimeCycle(w);
    expect(c.report.balanceDrifts.map((x) => x.asset)).toEqual(['USDT']);
    expect(reads.map((r) => r.symbol)).toEqual([FUNDING]);
    expectBooksEqual(w);

    // A round trip by hand on the perpetual: the position is back where it was, USDT moved by its fees. Funding
    // explains none of it: then every USDT instrument is read, and the trades are found.
    w.ex.setFundingRate(PERP, '0');
    w.ex.placeManualOrder({ symbol: PERP, side: 'buy', type: 'market', quantity: d('0.5') });
    w.ex.placeManualOrder({ symbol: PERP, side: 'sell', type: 'market', quantity: d('0.5') });
    w.ex.step(1_000);
    reads.length = 0;
    const trip = await runtimeCycle(w);
    expect(trip.report.positionDrifts).toEqual([]);
    // Funding first, then the symbols one drift each could explain, in code-point order.
    expect(reads.map((r) => r.symbol)).toEqual([FUNDING, 'BTC/USDT', PERP, 'ETH/USDT']);
    expectBooksEqual(w);
  });

  it('a drift only in an asset no instrument trades (fees charged in BNB) reads every symbol, and finds the trades', async () => {
    const w = await makeWorld(
      { inFlightGraceMs: 5_000 },
      {
        balances: { USDT: '100000', BTC: '2', ETH: '20', BNB: '1' },
        feeAsset: { asset: 'BNB', prices: { USDT: '600' } },
      },
    );
    const { reads } = recordTradeReads(w);
    washOnPerp(w);
    const c = await runtimeCycle(w);
    expect(c.report.positionDrifts).toEqual([]);
    expect(c.report.balanceDrifts.map((x) => x.asset)).toEqual(['BNB']);
    // BNB could have moved on a trade of any symbol: every one is read, in code-point order.
    expect(reads.map((r) => r.symbol)).toEqual(['BTC/USDT', PERP, 'ETH/USDT']);
    expect(c.result.portfolio.balance('BNB').total.lt(1)).toBe(true);
    expectBooksEqual(w);
  });

  it('a shortfall in a fee asset some instrument trades reads its own symbols first, then the others', async () => {
    const w = await makeWorld(
      { inFlightGraceMs: 5_000 },
      {
        instruments: [
          { symbol: 'BNB/USDT', kind: 'spot', base: 'BNB', quote: 'USDT', settle: 'USDT' },
          { symbol: SPOT, kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' },
          { symbol: PERP, kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' },
        ],
        initialPrices: { 'BNB/USDT': '600' },
        balances: { USDT: '100000', BTC: '2', BNB: '1' },
        feeAsset: { asset: 'BNB', prices: { USDT: '600' } },
      },
    );
    const { reads } = recordTradeReads(w);
    // The same wash, in a world that trades BNB/USDT too (seed 23's shape).
    washOnPerp(w);
    const c = await runtimeCycle(w);
    expect(c.report.balanceDrifts.map((x) => x.asset)).toEqual(['BNB']);
    expect(reads.map((r) => r.symbol)).toEqual(['BNB/USDT', SPOT, PERP]);
    expect(actionsOf(c.plan, 'applyFill').map((a) => a.fill.symbol)).toEqual([PERP, PERP]);
    expectBooksEqual(w);
    // More BNB on the exchange than in the books is no fee: a deposit reads BNB/USDT alone.
    w.ex.deposit('BNB', '0.5');
    w.ex.step(1_000);
    reads.length = 0;
    await runtimeCycle(w);
    expect(reads.map((r) => r.symbol)).toEqual(['BNB/USDT']);
  });
});
