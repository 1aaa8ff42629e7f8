/**
 * A trade history lagging through a boot (the `lagTrades` fault the simulator's worlds draw): the startup takes the
 * exchange's fill count with an inferred fill after repeated attempts, its hard reset takes the balances, and the
 * real trade shows only later, stamped before that reset's snapshot. It must take the inferred quantity's place:
 * books unchanged, the order's count and final status the exchange's, the trade recorded (sim seeds 30308, 30421).
 * Likewise a strategy cancel answered with fills the books do not hold yet, whose trade then lags (sim seed 62062).
 * Likewise a submission whose trade lagged through the boot and that the strategy cancels afterwards (sim seed 44365).
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../src/domain/decimal.js';
import type { Fill, Order } from '../src/domain/types.js';
import type { HistoryQuery, Page, PlaceOrderRequest } from '../src/exchange/port.js';
import { InMemoryStateStore } from '../src/store/memory.js';
import {
  BTC,
  boot,
  crash,
  cycles,
  expectBooksEqual,
  limitOrder,
  makeEngine,
  makeMarket,
  overriding,
  type EngineRun,
  type Market,
} from './support/engine-world.js';

/** An engine with fees, running, whose limit buy c1 (1 BTC at 29 000) rests on the book. */
async function restingBuy(): Promise<{ m: Market; store: InMemoryStateStore; first: EngineRun; ack: Order }> {
  const m = makeMarket({ feeRates: { maker: '0.001', taker: '0.001' } });
  const store = new InMemoryStateStore();
  const first = makeEngine(m, { store });
  await boot(m, first);
  const ack = await first.engine.placeOrder(limitOrder('c1', BTC, 'buy', '1', '29000'));
  await cycles(m, 1);
  return { m, store, first, ack };
}

describe('a trade lagging through a boot that inferred its fill', () => {
  it("is recorded when it shows, standing for the inferred quantity: count, status and books stay the exchange's", async () => {
    const { m, store, first, ack } = await restingBuy();
    const reopened = crash(first, store);
    // While the engine is down the order fills 0.6; its trade then stays out of trade reads for 40 s.
    const trade = m.ex.fillOrder({ symbol: BTC, exchangeOrderId: ack.exchangeOrderId }, '0.6');
    await m.tl.advanceBy(1_000);
    m.ex.injectFault({ method: 'fetchTradesSince', kind: 'lagTrades', lagMs: 40_000, symbols: [BTC], times: 1 });

    const second = makeEngine(m, { store: reopened });
    // The startup retries while the trades disagree with the fill count, then takes the count (an inferred fill).
    await boot(m, second, 30_000);
    expect(second.engine.status().phase).toBe('running');
    const p = (): typeof second.engine.portfolio => second.engine.portfolio;
    expect(p().findOrder({ clientOrderId: 'c1' })?.filledQuantity).toEqual(new Dec('0.6'));
    expect(p().hasAppliedTrade(trade)).toBe(false);
    expectBooksEqual(p(), m.ex);

    // The exchange cancels the rest; the lag ends; the trade is found (by its order, behind the cursor).
    await m.ex.cancelOrder({ symbol: BTC, exchangeOrderId: ack.exchangeOrderId });
    await cycles(m, 12);
    expect(m.ex.tradesLagging()).toBe(false);
    expect(p().hasAppliedTrade(trade)).toBe(true);
    expect(p().findOrder({ clientOrderId: 'c1' })).toMatchObject({
      status: 'cancelled',
      filledQuantity: new Dec('0.6'),
    });
    expect(p().standingInferredFills()).toEqual([]);
    expect(p().reflectedUnexplained()).toEqual([]);
    expectBooksEqual(p(), m.ex);
    expect(second.engine.status().phase).toBe('running');
  });
});

describe('a strategy cancel answered with more filled than the books hold (sim seed 62062)', () => {
  it('leaves the order open until its fills are in: its lagging trade is applied once, through a boot that reset the books', async () => {
    const { m, store, first, ack } = await restingBuy();
    // It fills 0.4 and the strategy cancels the rest before any cycle saw the fill; from the next trade read on, its
    // trade lags for 60 s, while a later trade of the symbol (a manual order) shows and takes the cursor past it.
    const trade = m.ex.fillOrder({ symbol: BTC, exchangeOrderId: ack.exchangeOrderId }, '0.4');
    const after = await first.engine.cancelOrder({ symbol: BTC, clientOrderId: 'c1' });
    expect(after).toMatchObject({ status: 'cancelled', filledQuantity: new Dec('0.4') });
    // Closed here, it would be in no report: nothing would look for its trade once the cursor had passed it.
    expect(first.engine.portfolio.findOrder({ clientOrderId: 'c1' })).toMatchObject({
      status: 'open',
      filledQuantity: new Dec('0'),
    });
    m.ex.injectFault({ method: 'fetchTradesSince', kind: 'lagTrades', lagMs: 60_000, symbols: [BTC], times: 1 });
    await cycles(m, 1);
    m.ex.placeManualOrder({ symbol: BTC, side: 'sell', type: 'market', quantity: new Dec('0.1') });
    await cycles(m, 1);
    // The exchange's count is in the books at once (inferred until the trade shows): nothing is left unexplained.
    expect(first.engine.portfolio.findOrder({ clientOrderId: 'c1' })).toMatchObject({
      status: 'cancelled',
      filledQuantity: new Dec('0.4'),
    });
    expect(first.engine.status().phase).toBe('running');

    // A restart while the trade still lags: the boot resets the books to the snapshot.
    const second = makeEngine(m, { store: crash(first, store) });
    await boot(m, second, 30_000);
    await cycles(m, 12);
    expect(m.ex.tradesLagging()).toBe(false);
    const p = second.engine.portfolio;
    expect(p.hasAppliedTrade(trade)).toBe(true);
    expect(p.findOrder({ clientOrderId: 'c1' })).toMatchObject({ status: 'cancelled', filledQuantity: new Dec('0.4') });
    expect(p.standingInferredFills()).toEqual([]);
    expectBooksEqual(p, m.ex);
  });
});

describe('an order placed just before a crash, filled at once, its trade lagging through the boot', () => {
  it('cancelled by the strategy after the boot (the exchange answers "filled"), it still gets its trade: count, status and books the exchange\'s (sim seed 44365)', async () => {
    const m = makeMarket({ feeRates: { maker: '0.001', taker: '0.001' } });
    const store = new InMemoryStateStore();
    // The placing call never answers: the process dies while it waits, after the order reached the exchange.
    const hanging = overriding(m.ex, {
      placeOrder: async (req: PlaceOrderRequest): Promise<never> => {
        await m.ex.placeOrder(req);
        return new Promise<never>(() => undefined);
      },
    });
    const first = makeEngine(m, { store, exchange: hanging });
    await boot(m, first);
    await cycles(m, 1);
    void first.engine.placeOrder(limitOrder('x', BTC, 'buy', '0.1', '31000'));
    await m.tl.advanceBy(0);
    const placed = m.ex.truth().orders.find((o) => o.clientOrderId === 'x');
    expect([placed?.status, placed?.filledQuantity.toFixed()]).toEqual(['filled', '0.1']);
    const reopened = crash(first, store);
    const [trade] = await m.ex.fetchOrderTrades(BTC, placed!.exchangeOrderId!);

    // Its trade stays out of every trade read through the boot: the startup retries, then takes the snapshot.
    let hidden = true;
    const visible = (f: Fill): boolean => !hidden || f.clientOrderId !== 'x';
    const lagging = overriding(m.ex, {
      fetchTradesSince: async (symbol: string, query: HistoryQuery): Promise<Page<Fill>> => {
        const page = await m.ex.fetchTradesSince(symbol, query);
        return { ...page, items: page.items.filter(visible) };
      },
      fetchOrderTrades: async (symbol: string, id: string): Promise<readonly Fill[]> =>
        (await m.ex.fetchOrderTrades(symbol, id)).filter(visible),
    });
    const second = makeEngine(m, { store: reopened, exchange: lagging });
    void second.engine.start();
    for (let n = 0; second.engine.status().phase !== 'running'; n++) {
      expect(n).toBeLessThan(300);
      await m.tl.advanceBy(100);
    }
    const p = (): typeof second.engine.portfolio => second.engine.portfolio;
    expectBooksEqual(p(), m.ex);
    hidden = false;
    // The first runtime cycle found the submission by client id (filled: left open, to be settled as a ghost); before
    // the next one, the strategy cancels it and the exchange answers "filled".
    const found = p().findOrder({ clientOrderId: 'x' });
    expect([found?.status, found?.filledQuantity.toFixed()]).toEqual(['open', '0']);
    expect(p().findOrder({ clientOrderId: 'x' })?.exchangeOrderId).toBe(placed!.exchangeOrderId);
    expect((await second.engine.cancelOrder({ symbol: BTC, clientOrderId: 'x' })).status).toBe('filled');
    await cycles(m, 4);
    const x = p().findOrder({ clientOrderId: 'x' });
    expect([x?.status, x?.filledQuantity.toFixed()]).toEqual(['filled', '0.1']);
    // The trade took the place of the quantity the reset counted: the average is its price, not counted twice (60000).
    expect(x?.averageFillPrice?.toFixed()).toBe(trade!.price.toFixed());
    expect(p().hasAppliedTrade(trade!)).toBe(true);
    expect(p().reflectedUnexplained()).toEqual([]);
    expectBooksEqual(p(), m.ex);
  });
});
