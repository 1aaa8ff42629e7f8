/**
 * Handler scenarios against the real SimulatedExchange, Portfolio and differ: one test per failure the anchors'
 * users reported, each checking that after the plan is executed our books equal the exchange's.
 */
import { describe, expect, it } from 'vitest';
import { inferredTradeId } from '../../src/domain/types.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { executePlan } from '../../src/handlers/executor.js';
import { EMPTY_CURSORS, actionsOf } from '../../src/handlers/plan.js';
import { INCONSISTENT_ATTEMPTS, StartupHandler } from '../../src/handlers/startup.js';
import {
  d,
  expectBooksEqual,
  makeWorld,
  placeTracked,
  quirky,
  restart,
  runtimeCycle,
  startupCycle,
  type World,
} from './world.js';

const PERP = 'BTC/USDT:USDT';

/** Opens a perpetual long of `qty` the way the engine would: a tracked resting order, filled, reconciled. */
async function openPerpLong(w: World, qty: string): Promise<void> {
  const o = await placeTracked(w, {
    clientOrderId: 'perp-open',
    symbol: PERP,
    side: 'buy',
    quantity: d(qty),
    price: d('29000'),
  });
  w.ex.step(10_000);
  w.ex.fillOrder({ symbol: PERP, exchangeOrderId: o.exchangeOrderId! });
  w.ex.step(10_000);
  await runtimeCycle(w);
  expect(w.portfolio.position(PERP).quantity.toFixed()).toBe(qty);
  expectBooksEqual(w);
}

function mutatingCalls(w: World, from: number): string[] {
  return w.ex
    .callLog()
    .slice(from)
    .filter((c) => c.method === 'cancelOrder' || c.method === 'placeOrder')
    .map((c) => c.method);
}

describe('a restart that replays fills counts each once', () => {
  it('replaying the journal, refetching from a lost cursor, and rebooting never apply a trade twice', async () => {
    const w = await makeWorld();
    const o = await placeTracked(w, {
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      quantity: d('1'),
      price: d('29000'),
    });
    const ref = { symbol: 'BTC/USDT', exchangeOrderId: o.exchangeOrderId! };
    w.ex.step(10_000);
    w.ex.fillOrder(ref, '0.4');
    w.ex.step(10_000);
    const first = await runtimeCycle(w);
    expect(actionsOf(first.plan, 'applyFill').map((a) => a.fill.tradeId)).toEqual(['t-1']);
    expectBooksEqual(w);

    // Crash: state reloaded, the cursor lost, and the journal's last plan replayed over the state.
    restart(w);
    w.cursors = EMPTY_CURSORS;
    const replay = await executePlan(first.plan, { exchange: w.client, portfolio: w.portfolio, cursors: w.cursors });
    expect(replay.outcomes.filter((x) => x.action.type === 'applyFill').map((x) => x.status)).toEqual(['duplicate']);
    w.portfolio = replay.portfolio;
    expectBooksEqual(w);

    // More fills: the fetch from the lookback returns t-1 again; only t-2 is planned.
    w.ex.fillOrder(ref, '0.6');
    w.ex.step(10_000);
    w.cursors = EMPTY_CURSORS;
    const second = await runtimeCycle(w);
    expect(actionsOf(second.plan, 'applyFill').map((a) => a.fill.tradeId)).toEqual(['t-2']);
    expect(w.portfolio.findOrder(ref)?.filledQuantity.toFixed()).toBe('1');
    expect(w.portfolio.findOrder(ref)?.status).toBe('filled');
    expectBooksEqual(w);

    // Reboot with the cursors lost once more: the startup plan applies nothing twice.
    restart(w);
    w.cursors = EMPTY_CURSORS;
    const boot = await startupCycle(w);
    expect(actionsOf(boot.plan, 'applyFill')).toEqual([]);
    expect(w.portfolio.findOrder(ref)?.filledQuantity.toFixed()).toBe('1');
    expect(
      w.portfolio.hasAppliedTrade({ symbol: 'BTC/USDT', tradeId: 't-1' }) &&
        w.portfolio.hasAppliedTrade({ symbol: 'BTC/USDT', tradeId: 't-2' }),
    ).toBe(true);
    expectBooksEqual(w);
  });
});

describe('a synthetic fill id is the same on every run', () => {
  async function run(): Promise<{ ids: string[]; w: World; xid: string }> {
    const w = await makeWorld();
    const q = quirky(w);
    const o = await placeTracked(w, {
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      quantity: d('1'),
      price: d('29000'),
    });
    w.ex.step(10_000);
    q.hideTradesOf.add(o.exchangeOrderId!);
    w.ex.fillOrder({ symbol: 'BTC/USDT', exchangeOrderId: o.exchangeOrderId! }, '0.3');
    w.ex.step(10_000);
    const c = await runtimeCycle(w);
    q.hideTradesOf.clear();
    return { ids: actionsOf(c.plan, 'applyFill').map((a) => a.fill.tradeId), w, xid: o.exchangeOrderId! };
  }

  it('derives the id from (order id, cumulative filled quantity), identically across runs and restarts', async () => {
    const a = await run();
    const b = await run();
    expect(a.ids).toEqual([inferredTradeId('BTC/USDT', a.xid, d('0.3'))]);
    expect(b.ids).toEqual(a.ids);

    // Replanned after a restart (as if the plan's execution was lost): the same id, and the portfolio says duplicate.
    const w = a.w;
    const before = w.portfolio.appliedQuantity('BTC/USDT', a.xid).toFixed();
    restart(w);
    const q = quirky(w);
    q.hideTradesOf.add(a.xid);
    const again = await runtimeCycle(w);
    expect(actionsOf(again.plan, 'applyFill').map((x) => x.fill.tradeId)).toEqual([]);
    expect(w.portfolio.appliedQuantity('BTC/USDT', a.xid).toFixed()).toBe(before);
  });

  it('is replaced by the real trade when it shows up, so the order counts once and the fee is booked', async () => {
    const { w, xid } = await run();
    expect(w.portfolio.appliedQuantity('BTC/USDT', xid).toFixed()).toBe('0.3');
    // The inferred fill had no fee: the quote balance drifts by exactly the fee, beyond tolerance.
    const c = await runtimeCycle(w);
    const fills = c.result.outcomes.filter((x) => x.action.type === 'applyFill');
    expect(fills.map((x) => x.status)).toEqual(['done']);
    expect(fills[0]!.detail).toContain('replaced inferred');
    expect(w.portfolio.appliedQuantity('BTC/USDT', xid).toFixed()).toBe('0.3');
    expectBooksEqual(w);
  });
});

describe('a warm restart never flattens a live position', () => {
  it('keeps the position the exchange holds, placing and cancelling nothing', async () => {
    const w = await makeWorld();
    await openPerpLong(w, '0.5');
    const peak = w.portfolio.markToMarket(new Map([[PERP, d('31000')]]));
    restart(w);
    const from = w.ex.callLog().length;
    const boot = await startupCycle(w);
    expect(boot.result.rebuilt).toBe(true);
    expect(w.portfolio.position(PERP).quantity.toFixed()).toBe('0.5');
    expect(w.portfolio.peakEquity.toFixed()).toBe(peak.toFixed());
    expect(mutatingCalls(w, from)).toEqual([]);
    expectBooksEqual(w);
    // And the runtime cycles that follow leave it alone too.
    for (let i = 0; i < 4; i++) {
      w.ex.step(1_000);
      const c = await runtimeCycle(w);
      expect(c.plan.actions).toEqual([]);
    }
    expect(w.portfolio.position(PERP).quantity.toFixed()).toBe('0.5');
  });

  it('restores a position the state file had lost, rather than treating the exchange as flat', async () => {
    const w = await makeWorld();
    await openPerpLong(w, '0.5');
    w.portfolio = Portfolio.create({ instruments: w.portfolio.instruments(), balances: w.portfolio.balances() });
    // Books missing a position no trade explains look like a stale read at first: retried, then the exchange's word.
    const handler = new StartupHandler(w.config, w.memory);
    for (let i = 1; i < INCONSISTENT_ATTEMPTS; i++) expect((await startupCycle(w, handler)).result.rebuilt).toBe(false);
    expect((await startupCycle(w, handler)).result.rebuilt).toBe(true);
    expect(w.portfolio.position(PERP).quantity.toFixed()).toBe('0.5');
    expectBooksEqual(w);
  });
});

describe('report-only mode changes nothing', () => {
  it('plans cancels, fills and closes, yet the exchange, the portfolio and the cursors are untouched', async () => {
    const w = await makeWorld({ reportOnly: true, zombiePolicy: { default: 'cancel' } });
    const o = await placeTracked(w, {
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      quantity: d('0.5'),
      price: d('29000'),
    });
    w.ex.step(10_000);
    w.ex.placeManualOrder({ symbol: 'ETH/USDT', side: 'sell', type: 'limit', quantity: d('1'), price: d('2500') });
    w.ex.fillOrder({ symbol: 'BTC/USDT', exchangeOrderId: o.exchangeOrderId! });
    w.ex.step(10_000);

    const truth = JSON.stringify(w.ex.truth());
    const portfolio = JSON.stringify(w.portfolio.toJSON());
    const cursors = JSON.stringify(w.cursors);
    const from = w.ex.callLog().length;

    const c = await runtimeCycle(w);
    expect(c.plan.mode).toBe('reportOnly');
    expect(actionsOf(c.plan, 'cancelOrder')).toHaveLength(1);
    expect(actionsOf(c.plan, 'applyFill')).toHaveLength(1);
    expect(actionsOf(c.plan, 'closeOrder')).toHaveLength(1);
    expect(c.result.executed).toBe(false);
    expect(c.result.outcomes.every((x) => x.status === 'skipped')).toBe(true);
    for (let i = 0; i < 3; i++) await runtimeCycle(w);
    const boot = await startupCycle(w);
    expect(actionsOf(boot.plan, 'rebuildPortfolio')).toHaveLength(1);

    expect(JSON.stringify(w.ex.truth())).toBe(truth);
    expect(JSON.stringify(w.portfolio.toJSON())).toBe(portfolio);
    expect(JSON.stringify(w.cursors)).toBe(cursors);
    expect(mutatingCalls(w, from)).toEqual([]);
  });
});

describe('a network error is never evidence of a ghost', () => {
  it.each(['network', 'timeout', 'rateLimit', 'unavailable'] as const)(
    'a %s error on the targeted query pauses the cycle and closes nothing',
    async (kind) => {
      const w = await makeWorld();
      const o = await placeTracked(w, {
        clientOrderId: 'c1',
        symbol: 'BTC/USDT',
        side: 'buy',
        quantity: d('0.5'),
        price: d('29000'),
      });
      const ref = { symbol: 'BTC/USDT', exchangeOrderId: o.exchangeOrderId! };
      w.ex.step(10_000);
      w.ex.cancelByExchange(ref);
      w.ex.step(10_000);
      const before = JSON.stringify(w.portfolio.toJSON());
      w.ex.injectFault({ method: 'fetchOrder', kind, times: 1 });
      const c = await runtimeCycle(w);
      expect(c.plan.outcome).toBe('unreachable');
      expect(c.plan.error?.kind).toBe(kind);
      expect(c.plan.actions).toEqual([]);
      expect(c.result.executed).toBe(false);
      expect(JSON.stringify(w.portfolio.toJSON())).toBe(before);
      // Reachable again: the query answers "cancelled", and only now is it closed.
      const next = await runtimeCycle(w);
      expect(actionsOf(next.plan, 'closeOrder').map((a) => [a.status, a.cause])).toEqual([
        ['cancelled', 'finalStatusQueried'],
      ]);
      expect(w.portfolio.findOrder(ref)?.status).toBe('cancelled');
    },
  );

  it('a retryable error between two not-found answers starts the confirmation over', async () => {
    const w = await makeWorld({ notFoundConfirmations: 2 });
    const q = quirky(w);
    const o = await placeTracked(w, {
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      quantity: d('0.5'),
      price: d('29000'),
    });
    const xid = o.exchangeOrderId!;
    w.ex.step(10_000);
    q.hideOpen.add(xid);
    q.notFound.add(xid);

    const c1 = await runtimeCycle(w);
    expect(c1.plan.deferred).toMatchObject([{ why: 'confirmation', notFound: 1 }]);
    w.ex.injectFault({ method: 'fetchOrder', kind: 'network', times: 1 });
    expect((await runtimeCycle(w)).plan.outcome).toBe('unreachable');
    const c3 = await runtimeCycle(w);
    expect(actionsOf(c3.plan, 'closeOrder')).toEqual([]);
    expect(c3.plan.deferred).toMatchObject([{ why: 'confirmation', notFound: 1 }]);
    expect(w.portfolio.findOrder({ exchangeOrderId: xid })?.status).toBe('open');
    const c4 = await runtimeCycle(w);
    expect(actionsOf(c4.plan, 'closeOrder').map((a) => [a.status, a.cause])).toEqual([
      ['cancelled', 'notFoundConfirmed'],
    ]);
  });
});

describe('an order that "reappears" after one not-found is not closed', () => {
  it('the not-found streak ends when the order shows up again, and starts from zero next time', async () => {
    const w = await makeWorld({ notFoundConfirmations: 2 });
    const q = quirky(w);
    const o = await placeTracked(w, {
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      quantity: d('0.5'),
      price: d('29000'),
    });
    const xid = o.exchangeOrderId!;
    w.ex.step(10_000);
    q.hideOpen.add(xid);
    q.notFound.add(xid);
    const c1 = await runtimeCycle(w);
    expect(c1.report.ghosts).toHaveLength(1);
    expect(actionsOf(c1.plan, 'closeOrder')).toEqual([]);

    q.hideOpen.delete(xid); // back in the open-order list
    const c2 = await runtimeCycle(w);
    expect(c2.report.matched).toHaveLength(1);
    expect(w.memory.ghosts.size).toBe(0);

    q.hideOpen.add(xid);
    const c3 = await runtimeCycle(w);
    expect(actionsOf(c3.plan, 'closeOrder')).toEqual([]);
    expect(c3.plan.deferred).toMatchObject([{ why: 'confirmation', notFound: 1 }]);
    expect(w.portfolio.findOrder({ exchangeOrderId: xid })?.status).toBe('open');
    expect(w.ex.truth().orders.find((x) => x.exchangeOrderId === xid)?.status).toBe('open');
  });

  it('a ghost the targeted query finds open is kept open', async () => {
    const w = await makeWorld();
    const q = quirky(w);
    const o = await placeTracked(w, {
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      quantity: d('0.5'),
      price: d('29000'),
    });
    w.ex.step(10_000);
    q.hideOpen.add(o.exchangeOrderId!);
    const c = await runtimeCycle(w);
    expect(c.plan.queriesUsed).toBe(1);
    expect(actionsOf(c.plan, 'closeOrder')).toEqual([]);
    expect(w.portfolio.findOrder({ exchangeOrderId: o.exchangeOrderId! })?.status).toBe('open');
  });
});

describe('fills made while the engine was down are recovered', () => {
  async function downtime(): Promise<{ w: World; xids: string[] }> {
    const w = await makeWorld();
    const o1 = await placeTracked(w, {
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      quantity: d('0.5'),
      price: d('29000'),
    });
    const o2 = await placeTracked(w, {
      clientOrderId: 'c2',
      symbol: PERP,
      side: 'buy',
      quantity: d('1'),
      price: d('29500'),
    });
    const o3 = await placeTracked(w, {
      clientOrderId: 'c3',
      symbol: 'ETH/USDT',
      side: 'sell',
      quantity: d('2'),
      price: d('2100'),
    });
    w.ex.step(10_000);
    expect((await runtimeCycle(w)).plan.actions).toEqual([]);
    const ref = (o: typeof o1) => ({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId! });
    // The engine is away: one order fills, one fills in part, one fills in part and is cancelled by the exchange.
    w.ex.fillOrder(ref(o1));
    w.ex.step(5_000);
    w.ex.fillOrder(ref(o2), '0.4');
    w.ex.fillOrder(ref(o3), '0.5');
    w.ex.step(5_000);
    w.ex.cancelByExchange(ref(o3));
    w.ex.step(60_000);
    return { w, xids: [o1, o2, o3].map((o) => o.exchangeOrderId!) };
  }

  it('after a restart: ghosts closed with their final status and fills, books reset to the exchange', async () => {
    const { w, xids } = await downtime();
    restart(w);
    const boot = await startupCycle(w);
    const [x1, x2, x3] = xids as [string, string, string];
    expect(w.portfolio.findOrder({ exchangeOrderId: x1 })).toMatchObject({ status: 'filled' });
    expect(w.portfolio.findOrder({ exchangeOrderId: x1 })?.filledQuantity.toFixed()).toBe('0.5');
    expect(w.portfolio.findOrder({ exchangeOrderId: x2 })).toMatchObject({ status: 'open' });
    expect(w.portfolio.findOrder({ exchangeOrderId: x2 })?.filledQuantity.toFixed()).toBe('0.4');
    expect(w.portfolio.findOrder({ exchangeOrderId: x3 })).toMatchObject({ status: 'cancelled' });
    expect(w.portfolio.findOrder({ exchangeOrderId: x3 })?.filledQuantity.toFixed()).toBe('0.5');
    for (const t of w.ex.truth().trades) expect(w.portfolio.hasAppliedTrade(t)).toBe(true);
    expect(boot.plan.requestsUsed).toBe(1 + 3 + 1 + 3); // instruments + trades of 3 symbols + one targeted query (c3) + the confirming snapshot read
    expectBooksEqual(w);
    // Nothing is applied a second time by the runtime handler afterwards.
    const c = await runtimeCycle(w);
    expect(c.plan.actions).toEqual([]);
    expectBooksEqual(w);
  });

  it('after a network partition (no restart): the runtime handler repairs by fills, without a reset', async () => {
    const { w, xids } = await downtime();
    const c = await runtimeCycle(w);
    expect(actionsOf(c.plan, 'rebuildPortfolio')).toEqual([]);
    expect(
      actionsOf(c.plan, 'applyFill')
        .map((a) => a.fill.tradeId)
        .sort(),
    ).toEqual(['t-1', 't-2', 't-3']);
    expect(actionsOf(c.plan, 'closeOrder').map((a) => a.status)).toEqual(['filled', 'cancelled']);
    expect(w.portfolio.findOrder({ exchangeOrderId: xids[1]! })?.filledQuantity.toFixed()).toBe('0.4');
    expectBooksEqual(w);
  });
});

describe('a liquidation done by the exchange is noticed within one cycle', () => {
  it('the liquidation trade is fetched and booked in the next cycle; no liquidate-only needed', async () => {
    const w = await makeWorld();
    await openPerpLong(w, '0.5');
    w.ex.step(1_000);
    w.ex.liquidate(PERP, '25000');
    w.ex.step(1_000);
    const c = await runtimeCycle(w);
    const fills = actionsOf(c.plan, 'applyFill');
    expect(fills.map((a) => [a.cause, a.fill.clientOrderId])).toEqual([['untrackedTrade', 'liquidation-1']]);
    expect(w.portfolio.position(PERP).quantity.isZero()).toBe(true);
    expect(actionsOf(c.plan, 'enterLiquidateOnly')).toEqual([]);
    expectBooksEqual(w);
  });
});

describe('balances short of the position within tolerance are not drift', () => {
  async function shortBy(
    amount: string,
    cycles: number,
  ): Promise<{ liquidateAt: number | undefined; requests: number[] }> {
    const w = await makeWorld({ driftCyclesBeforeLiquidateOnly: 3 });
    const exchange = await w.ex.fetchBalances();
    // Our books hold slightly more BTC than the exchange: the exchange is "short" by `amount`.
    w.portfolio = Portfolio.create({
      instruments: w.portfolio.instruments(),
      balances: exchange.map((b) =>
        b.asset === 'BTC' ? { ...b, total: b.total.plus(amount), free: b.free.plus(amount) } : b,
      ),
    });
    let liquidateAt: number | undefined;
    const requests: number[] = [];
    for (let i = 1; i <= cycles; i++) {
      w.ex.step(1_000);
      const c = await runtimeCycle(w);
      requests.push(c.plan.requestsUsed);
      if (liquidateAt === undefined && c.result.enterLiquidateOnly) liquidateAt = i;
    }
    return { liquidateAt, requests };
  }

  it('a shortfall within tolerance is looked into once, then costs nothing, and never counts', async () => {
    const r = await shortBy('0.000000005', 6);
    expect(r.liquidateAt).toBeUndefined();
    // Its symbol's trades, then the two other symbols' (less BTC could be a fee a venue charged in it on theirs).
    expect(r.requests).toEqual([3, 0, 0, 0, 0, 0]);
  });

  it('the same shortfall beyond tolerance, unexplained, enters liquidate-only on the Nth cycle', async () => {
    const r = await shortBy('0.001', 6);
    expect(r.liquidateAt).toBe(3);
  });
});
