/**
 * What drift costs in reads. A quote filled within its in-flight grace is not looked at as a pair, so the cycle meets
 * its fill as drift and reads the symbol's trades from the cursor. Those trades explain it: the cycle must not also
 * read the symbol's history again `tradeLookbackMs` behind the cursor (a day of trades, on every such cycle of a
 * market maker). Drift the trades at the cursor leave unexplained still gets that read (a trade that showed late).
 */
import { describe, expect, it } from 'vitest';
import type { HistoryQuery } from '../../src/exchange/port.js';
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

/** Every trade-history read from now on (its symbol and where it started), through a QuirkyExchange. */
function recordTradeReads(w: World): { reads: { symbol: string; since: number }[]; q: QuirkyExchange } {
  const q = quirky(w);
  const reads: { symbol: string; since: number }[] = [];
  const inner = q.fetchTradesSince;
  q.fetchTradesSince = (symbol: string, query: HistoryQuery) => {
    reads.push({ symbol, since: query.since });
    return inner(symbol, query);
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
      // The USDT drift sends the cycle to every USDT instrument once, each from where its history stands (a symbol
      // never read from its lookback start); none is read twice, none behind its cursor.
      expect(reads.map((r) => r.symbol)).toContain(SPOT);
      expect(new Set(reads.map((r) => r.symbol)).size).toBe(reads.length);
      for (const r of reads)
        expect(r.since, r.symbol).toBe(before[r.symbol]?.since ?? w.clock.now() - w.config.tradeLookbackMs);
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
});
