/**
 * Ghosts settled from the exchange's closed-order lists (`ExchangeClient.fetchClosedOrders`): one read per symbol
 * instead of one targeted query per ghost, each ghost closed only on the list's record of that very order; a ghost
 * the list leaves out keeps the targeted path (and "not found" its confirmations); trades of a listed order are
 * applied once, through the fill path.
 */
import { describe, expect, it } from 'vitest';
import type { Order } from '../../src/domain/types.js';
import type { ExchangeClient } from '../../src/exchange/port.js';
import { actionsOf } from '../../src/handlers/plan.js';
import { d, expectBooksEqual, makeWorld, placeTracked, QuirkyExchange, runtimeCycle, type World } from './world.js';

const PERP = 'BTC/USDT:USDT';
const SYMBOLS = ['BTC/USDT', 'ETH/USDT', PERP] as const;

/** A QuirkyExchange that has closed-order lists, which can leave some orders out (a list that lags or purges). */
class ListingExchange extends QuirkyExchange {
  readonly hideFromList = new Set<string>();
  fetchClosedOrders: NonNullable<ExchangeClient['fetchClosedOrders']> = async (symbol, q) => {
    const page = await this.inner.fetchClosedOrders(symbol, q);
    return { ...page, items: page.items.filter((o) => !this.hideFromList.has(o.exchangeOrderId!)) };
  };
}

function listing(w: World): ListingExchange {
  const x = new ListingExchange(w.ex);
  w.reader = x;
  w.client = x;
  return x;
}

async function ghosts(w: World, n: number, symbols: readonly string[]): Promise<Order[]> {
  const out: Order[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await placeTracked(w, {
        clientOrderId: `g${i}`,
        symbol: symbols[i % symbols.length]!,
        side: 'buy',
        quantity: d('0.01'),
        price: d('1000'),
      }),
    );
    w.ex.step(1);
  }
  w.ex.step(10_000);
  return out;
}

describe('ghosts settled from closed-order lists', () => {
  it('G cancelled ghosts (no trades) on S symbols settle in one cycle with 3 + 2S requests, beyond the query budget', async () => {
    const w = await makeWorld({ maxQueriesPerCycle: 2 });
    const gs = await ghosts(w, 30, SYMBOLS);
    for (const g of gs) w.ex.cancelByExchange({ symbol: g.symbol, exchangeOrderId: g.exchangeOrderId! });
    w.ex.step(1_000);
    const from = w.ex.callLog().length;
    const c = await runtimeCycle(w);
    const calls = w.ex
      .callLog()
      .slice(from)
      .map((x) => x.method);
    // The snapshot's three reads, then per symbol its trades and its closed orders; no targeted query.
    expect(calls).toHaveLength(3 + 2 * SYMBOLS.length);
    expect(calls.filter((m) => m === 'fetchClosedOrders')).toHaveLength(SYMBOLS.length);
    expect(calls.filter((m) => m === 'fetchOrder')).toHaveLength(0);
    expect(c.plan.queriesUsed).toBe(0);
    expect(c.plan.deferred).toEqual([]);
    const closes = actionsOf(c.plan, 'closeOrder');
    expect(closes).toHaveLength(30);
    expect(new Set(closes.map((a) => `${a.cause} ${a.status}`))).toEqual(new Set(['finalStatusQueried cancelled']));
    expect(w.portfolio.openOrders()).toEqual([]);
    expectBooksEqual(w);
  });

  it('a single ghost on a symbol keeps its targeted query (a list would cost as much and carry more)', async () => {
    const w = await makeWorld();
    const [g] = await ghosts(w, 1, ['BTC/USDT']);
    w.ex.cancelByExchange({ symbol: g!.symbol, exchangeOrderId: g!.exchangeOrderId! });
    w.ex.step(1_000);
    const c = await runtimeCycle(w);
    expect(c.plan.queriesUsed).toBe(1);
    expect(w.runtime.stats().lastRequestsByMethod).toEqual({ fetchTradesSince: 1, fetchOrder: 1 });
    expect(actionsOf(c.plan, 'closeOrder').map((a) => a.status)).toEqual(['cancelled']);
  });

  it('a ghost the list leaves out keeps the targeted path: closed on its own answer, and "not found" is not final by itself', async () => {
    const w = await makeWorld();
    const x = listing(w);
    const gs = await ghosts(w, 4, ['BTC/USDT']);
    for (const g of gs) w.ex.cancelByExchange({ symbol: g.symbol, exchangeOrderId: g.exchangeOrderId! });
    w.ex.step(1_000);
    const [listed1, listed2, answered, missing] = gs as [Order, Order, Order, Order];
    x.hideFromList.add(answered.exchangeOrderId!).add(missing.exchangeOrderId!);
    x.notFound.add(missing.exchangeOrderId!);
    const c = await runtimeCycle(w);
    expect(c.plan.queriesUsed).toBe(2);
    expect(w.runtime.stats().lastRequestsByMethod).toEqual({
      fetchTradesSince: 1,
      fetchClosedOrders: 1,
      fetchOrder: 2,
    });
    const closed = actionsOf(c.plan, 'closeOrder').map((a) => a.ref.clientOrderId);
    expect(closed.sort()).toEqual([listed1.clientOrderId, listed2.clientOrderId, answered.clientOrderId].sort());
    expect(c.plan.deferred.map((q) => [q.ref.clientOrderId, q.why])).toEqual([[missing.clientOrderId, 'confirmation']]);
    expect(w.portfolio.findOrder({ symbol: missing.symbol, exchangeOrderId: missing.exchangeOrderId })?.status).toBe(
      'open',
    );
    // Only after `notFoundConfirmations` not-found answers in a row is it closed.
    let cycles = 1;
    while (w.portfolio.openOrders().length > 0 && cycles < 10) {
      await runtimeCycle(w);
      cycles++;
    }
    expect(cycles).toBe(w.config.notFoundConfirmations);
    expect(w.portfolio.findOrder({ symbol: missing.symbol, exchangeOrderId: missing.exchangeOrderId })?.status).toBe(
      'cancelled',
    );
  });

  it('a listed order with trades goes through the fill path exactly once', async () => {
    const w = await makeWorld();
    const gs = await ghosts(w, 4, ['ETH/USDT']);
    const [full, ...partial] = gs as [Order, ...Order[]];
    w.ex.fillOrder({ symbol: full.symbol, exchangeOrderId: full.exchangeOrderId! });
    for (const g of partial) {
      w.ex.fillOrder({ symbol: g.symbol, exchangeOrderId: g.exchangeOrderId! }, '0.004');
      w.ex.cancelByExchange({ symbol: g.symbol, exchangeOrderId: g.exchangeOrderId! });
    }
    w.ex.step(1_000);
    const c = await runtimeCycle(w);
    expect(w.runtime.stats().lastRequestsByMethod).toEqual({ fetchTradesSince: 1, fetchClosedOrders: 1 });
    const tradeIds = w.ex.truth().trades.map((t) => t.tradeId);
    expect(
      actionsOf(c.plan, 'applyFill')
        .map((a) => a.fill.tradeId)
        .sort(),
    ).toEqual([...tradeIds].sort());
    expect(actionsOf(c.plan, 'applyFill').every((a) => !a.fill.inferred)).toBe(true);
    const closes = actionsOf(c.plan, 'closeOrder').map((a) => [a.ref.clientOrderId, a.cause, a.status]);
    expect(closes).toEqual(
      expect.arrayContaining([
        [full.clientOrderId, 'filledByTrades', 'filled'],
        ...partial.map((g) => [g.clientOrderId, 'finalStatusQueried', 'cancelled']),
      ]),
    );
    for (const g of partial)
      expect(
        w.portfolio.findOrder({ symbol: g.symbol, exchangeOrderId: g.exchangeOrderId })?.filledQuantity.toFixed(),
      ).toBe('0.004');
    expectBooksEqual(w);
    // Nothing is applied again: the next cycle finds no ghost and no trade to apply.
    const next = await runtimeCycle(w);
    expect(actionsOf(next.plan, 'applyFill')).toEqual([]);
    expect(next.report.ghosts).toEqual([]);
    expectBooksEqual(w);
  });
});
