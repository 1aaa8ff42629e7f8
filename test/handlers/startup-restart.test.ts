/**
 * The startup reconciliation of a restart (persisted books) when a read lags: the plan that is carried out must not
 * reset the books to a stale view, nor leave a trade it recorded or stood in for unapplied. Found by sim seeds 1193
 * and 1273 (a deposit kept every attempt suspect, so the last one took a stale read as the truth).
 */
import { describe, expect, it } from 'vitest';
import type { Order } from '../../src/domain/types.js';
import type { ExchangeClient } from '../../src/exchange/port.js';
import { INCONSISTENT_ATTEMPTS, MAX_SUSPECT_ATTEMPTS, StartupHandler } from '../../src/handlers/startup.js';
import {
  type CycleOutcome,
  d,
  expectBooksEqual,
  persistedWorld,
  placeTracked,
  QuirkyExchange,
  quirky,
  restart,
  runtimeCycle,
  startupCycle,
  type World,
} from './world.js';

const BTC = 'BTC/USDT';

/** Boots like the engine does: the same handler, plan after plan (a step between), until one is carried out. */
async function bootUntilRebuilt(
  w: World,
  before: (attempt: number) => void = () => {},
  handler = new StartupHandler(w.config, w.memory),
): Promise<CycleOutcome[]> {
  const out: CycleOutcome[] = [];
  for (let i = 1; i <= MAX_SUSPECT_ATTEMPTS + 2; i++) {
    before(i);
    const c = await startupCycle(w, handler);
    out.push(c);
    if (c.result.rebuilt) return out;
    w.ex.step(1_000);
  }
  return out;
}

/** A world whose books, cursors and memory were persisted by a first boot and a runtime cycle. */
describe('startup reconciliation of a restart, with lagging reads', () => {
  it('a deposit that keeps every attempt suspect does not let a stale balances read through on the last one (the fill it misses is kept)', async () => {
    const w = await persistedWorld();
    const o = await placeTracked(w, {
      clientOrderId: 'b1',
      symbol: BTC,
      side: 'buy',
      quantity: d('0.1'),
      price: d('29000'),
    });
    w.ex.step(1_000);
    await runtimeCycle(w);
    // Down: a deposit (drift no trade explains, on every attempt), then our order fills.
    w.ex.deposit('USDT', '100');
    w.ex.step(5_000);
    w.ex.fillOrder({ symbol: BTC, exchangeOrderId: o.exchangeOrderId! });
    w.ex.step(5_000);
    restart(w);
    // The last attempt of the run reads balances from a replica 10 s behind: after the deposit, before the fill.
    const boots = await bootUntilRebuilt(w, (i) => {
      if (i === INCONSISTENT_ATTEMPTS)
        w.ex.injectFault({ method: 'fetchBalances', kind: 'stale', staleMs: 10_000, times: 2 });
    });
    expect(boots.at(-1)!.result.rebuilt).toBe(true);
    // The bought BTC is in the books (a reset to the stale read would have lost it, its trade recorded as applied).
    expectBooksEqual(w);
    expect(boots.slice(0, INCONSISTENT_ATTEMPTS).every((b) => b.plan.outcome === 'unreachable')).toBe(true);
    expect(boots[INCONSISTENT_ATTEMPTS - 1]!.plan.error?.message).toContain('seen 1 of');
    w.ex.step(1_000);
    expect((await runtimeCycle(w)).plan.actions).toEqual([]);
    expectBooksEqual(w);
  });

  it('an order filled while the trades read lags is retried at boot, not settled by an inferred fill whose real trade would never be applied', async () => {
    // No fees: the inferred fill then moves the books exactly as the real trade, so no projection shows the lag.
    const w = await persistedWorld({}, { feeRates: { maker: '0', taker: '0' } });
    const o = await placeTracked(w, {
      clientOrderId: 'b2',
      symbol: BTC,
      side: 'buy',
      quantity: d('0.2'),
      price: d('29000'),
    });
    w.ex.step(1_000);
    await runtimeCycle(w);
    w.ex.fillOrder({ symbol: BTC, exchangeOrderId: o.exchangeOrderId! });
    w.ex.step(5_000);
    restart(w);
    // The trade history has not caught up with the order for the first two attempts.
    const q = new QuirkyExchange(w.ex);
    w.reader = q;
    w.client = q;
    q.hideTradesOf.add(o.exchangeOrderId!);
    const boots = await bootUntilRebuilt(w, (i) => {
      if (i === 3) q.hideTradesOf.clear();
    });
    const real = w.ex.truth().trades.filter((t) => t.symbol === o.symbol && t.exchangeOrderId === o.exchangeOrderId);
    expect(real).toHaveLength(1);
    for (let i = 0; i < 2; i++) {
      w.ex.step(1_000);
      await runtimeCycle(w);
    }
    expect(w.portfolio.hasAppliedTrade(real[0]!)).toBe(true);
    expect(w.portfolio.standingInferredFills()).toEqual([]);
    expectBooksEqual(w);
    expect(boots).toHaveLength(3);
    expect(boots[0]!.plan.outcome).toBe('unreachable');
    expect(boots[0]!.plan.error?.message).toContain(`order ${o.exchangeOrderId} shows more filled than its trades`);
  });

  it('a second read still listing an order we track that the snapshot no longer shows is refused as stale', async () => {
    const w = await persistedWorld();
    const o = await placeTracked(w, {
      clientOrderId: 'b3',
      symbol: BTC,
      side: 'buy',
      quantity: d('0.1'),
      price: d('29000'),
    });
    w.ex.step(1_000);
    await runtimeCycle(w);
    const before = await w.ex.fetchOpenOrders();
    expect(before.map((x) => x.exchangeOrderId)).toContain(o.exchangeOrderId);
    w.ex.fillOrder({ symbol: BTC, exchangeOrderId: o.exchangeOrderId! });
    w.ex.step(5_000);
    restart(w);
    // The handler's confirming read (through `reader`) answers once from a replica that has not seen the fill.
    let stale = 1;
    const lagging: ExchangeClient = {
      ...new QuirkyExchange(w.ex),
      fetchOpenOrders: async (symbols): Promise<readonly Order[]> =>
        stale-- > 0 ? before : w.ex.fetchOpenOrders(symbols),
    };
    w.reader = lagging;
    const boots = await bootUntilRebuilt(w);
    expect(boots).toHaveLength(2);
    expect(boots[0]!.plan.outcome).toBe('unreachable');
    expect(boots[0]!.plan.error?.message).toContain(
      `startup reads disagree (open order ${o.exchangeOrderId}: none then open`,
    );
    expect(boots[1]!.result.rebuilt).toBe(true);
    expectBooksEqual(w);
  });

  it('a disagreement that changes on every attempt is not taken on the INCONSISTENT_ATTEMPTS-th, yet boots after MAX_SUSPECT_ATTEMPTS', async () => {
    const w = await persistedWorld();
    restart(w);
    // A deposit between every two attempts: the drift is never the same twice.
    const boots = await bootUntilRebuilt(w, () => {
      w.ex.deposit('USDT', '1');
    });
    expect(boots).toHaveLength(MAX_SUSPECT_ATTEMPTS);
    expect(boots.at(-1)!.result.rebuilt).toBe(true);
    expectBooksEqual(w);
  });
});

describe('startup reconciliation of a restart, with a trade behind its symbol cursor', () => {
  it('a ghost closed on "not found" whose trade showed late, behind a later trade of its symbol, gets that trade at boot (sim seed 33220)', async () => {
    const w = await persistedWorld({ notFoundConfirmations: 2 });
    const q = quirky(w);
    const a = await placeTracked(w, {
      clientOrderId: 'g1',
      symbol: BTC,
      side: 'buy',
      quantity: d('0.1'),
      price: d('29000'),
    });
    const b = await placeTracked(w, {
      clientOrderId: 'g2',
      symbol: BTC,
      side: 'buy',
      quantity: d('0.1'),
      price: d('29000'),
    });
    w.ex.step(1_000);
    await runtimeCycle(w);
    // a fills while the trade history holds its trade back, and the exchange answers "not found" for it (a purged or
    // lagging index) until it is closed by that guess; then b fills, and its trade moves BTC's cursor past a's.
    q.hideTradesOf.add(a.exchangeOrderId!);
    q.notFound.add(a.exchangeOrderId!);
    w.ex.fillOrder({ symbol: BTC, exchangeOrderId: a.exchangeOrderId! });
    for (let i = 0; i < 6 && w.portfolio.findOrder({ clientOrderId: 'g1' })?.status === 'open'; i++) {
      w.ex.step(1_000);
      await runtimeCycle(w);
    }
    expect(w.portfolio.findOrder({ clientOrderId: 'g1' })?.status).toBe('cancelled');
    w.ex.step(1_000);
    w.ex.fillOrder({ symbol: BTC, exchangeOrderId: b.exchangeOrderId! });
    w.ex.step(1_000);
    await runtimeCycle(w);
    const tradeOf = (o: Order) => w.ex.truth().trades.find((t) => t.exchangeOrderId === o.exchangeOrderId)!;
    expect(w.cursors.trades[BTC]!.since).toBeGreaterThan(tradeOf(a).timestamp);
    // Down before a runtime cycle saw the trade; it shows now, behind the cursor.
    restart(w);
    q.hideTradesOf.clear();
    q.notFound.clear();
    w.ex.step(1_000);
    const boots = await bootUntilRebuilt(w);
    expect(w.portfolio.hasAppliedTrade(tradeOf(a))).toBe(true);
    expect(w.portfolio.findOrder({ clientOrderId: 'g1' })?.status).toBe('filled');
    expectBooksEqual(w);
    // Found on the first attempt: the books plus the trades agree with the snapshot, nothing to retry.
    expect(boots.map((x) => x.plan.outcome)).toEqual(['ready']);
  });
});

describe('startup reconciliation of a restart: the orders the books keep', () => {
  it("an open order the exchange shows changed is tracked from now on as the snapshot's own order object, as an unchanged one is", async () => {
    const w = await persistedWorld();
    const changed = await placeTracked(w, {
      clientOrderId: 'p1',
      symbol: BTC,
      side: 'buy',
      quantity: d('0.1'),
      price: d('29000'),
    });
    await placeTracked(w, { clientOrderId: 'p2', symbol: BTC, side: 'buy', quantity: d('0.1'), price: d('28000') });
    w.ex.step(1_000);
    await runtimeCycle(w);
    // Down: p1 fills in part (the exchange's copy of it now differs from ours); p2 rests as it was.
    w.ex.fillOrder({ symbol: BTC, exchangeOrderId: changed.exchangeOrderId! }, '0.04');
    w.ex.step(5_000);
    restart(w);
    const [boot] = await bootUntilRebuilt(w);
    expect(boot!.result.rebuilt).toBe(true);
    const rebuild = boot!.plan.actions.find((a) => a.type === 'rebuildPortfolio')!;
    for (const id of ['p1', 'p2']) {
      const snapshotOrder = boot!.report.matched.find((m) => m.local.clientOrderId === id)!.exchange;
      // Not a copy of it: the books share the snapshot's order rather than hold a second one.
      expect(rebuild.orderUpdates.find((o) => o.clientOrderId === id)).toBe(snapshotOrder);
      expect(w.portfolio.holds(snapshotOrder)).toBe(true);
    }
    expect(w.portfolio.findOrder({ clientOrderId: 'p1' })?.filledQuantity.toFixed()).toBe('0.04');
    expectBooksEqual(w);
  });
});
