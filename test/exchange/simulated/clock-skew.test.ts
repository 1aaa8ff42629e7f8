/**
 * SkewedClockExchange: an exchange whose clock is not ours. Every time it reports is the wrapped client's plus the
 * skew, every time it is given is read on its clock, and answers keep their identity (the differ's memo relies on it).
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../../src/domain/decimal.js';
import type { ExecutionEvent } from '../../../src/exchange/port.js';
import { SkewedClockExchange } from '../../../src/exchange/simulated/clock-skew.js';
import { SimulatedExchange } from '../../../src/exchange/simulated/exchange.js';
import { VirtualTimeline } from '../../../src/streams/virtual-time.js';

const T0 = 1_700_000_000_000;
const PERP = 'BTC/USDT:USDT';

function world(skewMs: number) {
  const tl = new VirtualTimeline(T0);
  const sim = new SimulatedExchange({
    seed: 5,
    volatilityBps: 0,
    partialFillProbability: 0,
    fundingIntervalMs: 60_000,
    clock: tl.clock,
    stream: { latencyMs: 0, scheduler: tl.scheduler },
  });
  return { tl, sim, ex: new SkewedClockExchange(sim, skewMs) };
}

const market = (clientOrderId: string, symbol = 'BTC/USDT') =>
  ({ clientOrderId, symbol, side: 'buy', type: 'market', quantity: new Dec('0.01') }) as const;

describe('SkewedClockExchange', () => {
  it.each([-750, 750])(
    'reports orders and trades %i ms off the wrapped clock, and reads `since` on its own',
    async (skew) => {
      const { tl, sim, ex } = world(skew);
      await tl.advanceBy(1_000);
      const placed = await ex.placeOrder(market('a'));
      const truth = sim.truth();
      const order = truth.orders.find((o) => o.clientOrderId === 'a')!;
      expect([placed.createdAt, placed.updatedAt]).toEqual([order.createdAt + skew, order.updatedAt + skew]);
      const trade = truth.trades[0]!;
      const page = await ex.fetchTradesSince('BTC/USDT', { since: trade.timestamp + skew });
      expect(page.items.map((f) => f.timestamp)).toEqual([trade.timestamp + skew]);
      // One millisecond later on the exchange's clock: the trade is before it.
      expect((await ex.fetchTradesSince('BTC/USDT', { since: trade.timestamp + skew + 1 })).items).toEqual([]);
      expect((await ex.fetchOrderTrades('BTC/USDT', order.exchangeOrderId!)).map((f) => f.timestamp)).toEqual([
        trade.timestamp + skew,
      ]);
      const fetched = await ex.fetchOrder({ symbol: 'BTC/USDT', exchangeOrderId: order.exchangeOrderId! });
      expect(fetched.updatedAt).toBe(order.updatedAt + skew);
      // Amounts, ids and everything else pass through as they are.
      expect({ ...page.items[0]!, timestamp: 0 }).toEqual({ ...trade, timestamp: 0 });
    },
  );

  it('hands out the same object for the same answer of the wrapped client (orders and trades)', async () => {
    const { sim, ex } = world(300);
    await sim.placeOrder({
      clientOrderId: 'r',
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.01'),
      price: new Dec('1000'),
    });
    const [a] = await ex.fetchOpenOrders();
    const [b] = await ex.fetchOpenOrders();
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(Object.isFrozen((await sim.fetchOpenOrders())[0]));
  });

  it('reads an expiry it is given on its clock, and reports it on its clock', async () => {
    const { sim, ex } = world(-2_000);
    const at = T0 + 10_000;
    const placed = await ex.placeOrder({
      clientOrderId: 'g',
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.01'),
      price: new Dec('1000'),
      timeInForce: 'GTD',
      expiresAt: at,
    });
    expect(placed.expiresAt).toBe(at);
    // On the wrapped clock the order expires at `at + 2000`.
    expect(sim.truth().orders[0]!.expiresAt).toBe(at + 2_000);
  });

  it('stamps funding payments and the execution stream on its clock', async () => {
    const { tl, sim, ex } = world(1_234);
    const events: ExecutionEvent[] = [];
    const sub = ex.executionEvents!().subscribe((e) => events.push(e));
    await tl.advanceBy(1);
    await ex.placeOrder(market('p', PERP));
    sim.setFundingRate(PERP, '0.0001');
    await tl.advanceBy(60_000);
    await tl.advanceBy(1);
    sub.unsubscribe();
    const truth = sim.truth();
    const funding = (await ex.fetchFundingSince({ since: 0 })).items;
    expect(funding.map((p) => p.timestamp)).toEqual(truth.funding.map((p) => p.timestamp + 1_234));
    const streamed = events.flatMap((e) => (e.type === 'trade' ? [e.fill.timestamp] : []));
    expect(streamed).toEqual(truth.trades.map((f) => f.timestamp + 1_234));
    const updates = events.flatMap((e) => (e.type === 'order' ? [e.order.updatedAt] : []));
    expect(updates.length).toBeGreaterThan(0);
    for (const u of updates) expect(truth.orders.some((o) => o.updatedAt + 1_234 === u)).toBe(true);
  });

  it('reads its server time on its clock', async () => {
    const { tl, ex } = world(-4_321);
    await tl.advanceBy(10);
    expect(await ex.fetchServerTime!()).toBe(T0 + 10 - 4_321);
  });

  it('offers the optional capabilities exactly when the wrapped client does, and refuses a fractional skew', () => {
    const { sim, ex } = world(1);
    expect(typeof ex.fetchClosedOrders).toBe(typeof sim.fetchClosedOrders);
    expect(typeof ex.fetchTickers).toBe(typeof sim.fetchTickers);
    expect(typeof ex.fetchServerTime).toBe(typeof sim.fetchServerTime);
    const bare = new SkewedClockExchange({ ...sim, id: 'bare', fetchServerTime: undefined } as never, 1);
    expect('fetchServerTime' in bare).toBe(false);
    expect(() => new SkewedClockExchange(sim, 0.5)).toThrow(RangeError);
  });
});
