/**
 * The startup reconciliation under stale reads (a lagging replica answering from an earlier state, with no marker):
 * the hard reset must not take a stale snapshot as the truth while recording the trades it fetched as applied.
 * Handler level on a SimulatedExchange with injected `stale` faults, plus one engine-level boot.
 */
import { describe, expect, it } from 'vitest';
import { ExchangeError } from '../../src/domain/errors.js';
import type { Order } from '../../src/domain/types.js';
import { orderIdKey } from '../../src/domain/ids.js';
import type { ExchangeClient } from '../../src/exchange/port.js';
import { actionsOf } from '../../src/handlers/plan.js';
import {
  INCONSISTENT_ATTEMPTS,
  StartupHandler,
  snapshotDifference,
  snapshotDifferenceSteps,
} from '../../src/handlers/startup.js';
import { ITEMS_PER_STEP } from '../../src/domain/steps.js';
import { drainSteps } from '../support/steps.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import {
  boot,
  cycles,
  expectBooksEqual as expectEngineBooksEqual,
  makeEngine,
  makeMarket,
  stop,
} from '../support/engine-world.js';
import {
  type CycleOutcome,
  d,
  expectBooksEqual,
  makeWorld,
  persistedWorld,
  placeTracked,
  QuirkyExchange,
  restart,
  runtimeCycle,
  startupCycle,
  type World,
} from './world.js';

const PERP = 'BTC/USDT:USDT';
const BTC = 'BTC/USDT';

/** Boots like the engine does: the same handler, plan after plan, until one is carried out (bounded). */
async function bootUntilRebuilt(w: World, handler = new StartupHandler(w.config, w.memory)): Promise<CycleOutcome[]> {
  const out: CycleOutcome[] = [];
  for (let i = 0; i < INCONSISTENT_ATTEMPTS + 2; i++) {
    const c = await startupCycle(w, handler);
    out.push(c);
    if (c.result.rebuilt) return out;
    w.ex.step(1_000);
  }
  return out;
}

/** Places our resting perpetual buy of 1 at 29,000 and lets a runtime cycle see it acknowledged; its reference. */
async function restingPerpBuy(w: World, clientOrderId: string): Promise<{ symbol: string; exchangeOrderId: string }> {
  const o = await placeTracked(w, { clientOrderId, symbol: PERP, side: 'buy', quantity: d('1'), price: d('29000') });
  const ref = { symbol: PERP, exchangeOrderId: o.exchangeOrderId! };
  w.ex.step(2_000);
  await runtimeCycle(w);
  return ref;
}

/**
 * From now on the exchange's open-order list shows `filled` for this order, whatever its trades say: its own
 * inconsistency, not a lag (no later read catches up).
 */
function showFilledAs(w: World, exchangeOrderId: string, filled: string): void {
  const q = new QuirkyExchange(w.ex);
  const lying: ExchangeClient = {
    ...q,
    fetchOpenOrders: async (symbols) =>
      (await q.fetchOpenOrders(symbols)).map((x): Order =>
        x.exchangeOrderId === exchangeOrderId ? { ...x, filledQuantity: d(filled) } : x,
      ),
  };
  w.reader = lying;
  w.client = lying;
}

/** A plan's accounting errors as [cause, exchange id, applied, exchange's filled]. */
function accountingErrors(plan: CycleOutcome['plan']): (string | undefined)[][] {
  return actionsOf(plan, 'accountingError').map((e) => [
    e.cause,
    e.ref.exchangeOrderId,
    e.applied.toFixed(),
    e.exchangeFilled.toFixed(),
  ]);
}

/** A world whose books, cursors and memory were persisted by a first boot and a runtime cycle. */
describe('startup reconciliation with stale reads', () => {
  it('a positions read stale on both reads does not reset the books to it: the trades it misses are not lost', async () => {
    const w = await persistedWorld();
    // While the engine is down, a perpetual order of ours fills: a position the stale replica has not seen yet.
    const o = await placeTracked(w, {
      clientOrderId: 'p1',
      symbol: PERP,
      side: 'buy',
      quantity: d('0.5'),
      price: d('29000'),
    });
    w.ex.step(10_000);
    w.ex.fillOrder({ symbol: PERP, exchangeOrderId: o.exchangeOrderId! });
    w.ex.step(5_000);
    restart(w);
    // Both position reads of the first attempt answer from before the fill.
    w.ex.injectFault({ method: 'fetchPositions', kind: 'stale', staleMs: 8_000, times: 2 });
    const boots = await bootUntilRebuilt(w);
    const first = boots[0]!;
    expect(first.plan.outcome).toBe('unreachable');
    expect(first.plan.error).toBeInstanceOf(ExchangeError);
    expect(first.plan.error?.retryable).toBe(true);
    expect(first.plan.error?.message).toContain(`position ${PERP}`);
    expect(first.plan.actions).toEqual([]);
    expect(boots.at(-1)!.result.rebuilt).toBe(true);
    expect(w.portfolio.position(PERP).quantity.toFixed()).toBe('0.5');
    expectBooksEqual(w);
    // Nothing is left for the runtime handler to repair.
    w.ex.step(1_000);
    expect((await runtimeCycle(w)).plan.actions).toEqual([]);
    expectBooksEqual(w);
  });

  it('a balances read stale once (fresh store, no books to compare with) is caught by the confirming read', async () => {
    const w = await makeWorld();
    // A spot order of ours fills; the state file is then lost (fresh store: empty books, no cursors).
    w.ex.step(2_000);
    expect(
      (await w.ex.placeOrder({ clientOrderId: 'b1', symbol: BTC, side: 'buy', type: 'market', quantity: d('0.1') }))
        .status,
    ).toBe('filled');
    w.ex.step(3_000);
    w.portfolio = Portfolio.create({ instruments: w.portfolio.instruments() });
    w.ex.injectFault({ method: 'fetchBalances', kind: 'stale', staleMs: 4_000, times: 1 });
    const boots = await bootUntilRebuilt(w);
    expect(boots[0]!.plan.outcome).toBe('unreachable');
    expect(boots[0]!.plan.error?.message).toMatch(/startup reads disagree \(balance (BTC|USDT)/);
    expect(boots).toHaveLength(2);
    expectBooksEqual(w);
  });

  it('an open-order list stale on both reads does not reset an order to an old filled quantity a later fill count counts again', async () => {
    const w = await persistedWorld();
    const ref = await restingPerpBuy(w, 'o1');
    // Down: two partial fills; the stale replica has seen only the first.
    w.ex.fillOrder(ref, '0.4');
    w.ex.step(10_000);
    w.ex.fillOrder(ref, '0.3');
    w.ex.step(5_000);
    restart(w);
    w.ex.injectFault({ method: 'fetchOpenOrders', kind: 'stale', staleMs: 7_000, times: 2 });
    const boots = await bootUntilRebuilt(w);
    expect(boots[0]!.plan.outcome).toBe('unreachable');
    expect(boots[0]!.plan.error?.message).toContain(
      `open order ${ref.exchangeOrderId} shows 0.4 filled but its trades add up to 0.7`,
    );
    expect(boots.at(-1)!.result.rebuilt).toBe(true);
    expect(w.portfolio.findOrder(ref)?.filledQuantity.toFixed()).toBe('0.7');
    // The rest fills: applied once, nothing inferred a second time.
    w.ex.fillOrder(ref);
    w.ex.step(2_000);
    await runtimeCycle(w);
    w.ex.step(2_000);
    await runtimeCycle(w);
    expect(w.portfolio.position(PERP).quantity.toFixed()).toBe('1');
    expect(w.portfolio.findOrder(ref)?.filledQuantity.toFixed()).toBe('1');
    expectBooksEqual(w);
  });

  it('an open-order list that always shows less filled than its trades is reported after a bounded number of attempts, not retried forever', async () => {
    const w = await persistedWorld();
    const ref = await restingPerpBuy(w, 'q1');
    w.ex.fillOrder(ref, '0.6');
    w.ex.step(5_000);
    restart(w);
    // An exchange whose open-order list keeps reporting no fill for it (its own inconsistency, not a lag).
    showFilledAs(w, ref.exchangeOrderId, '0');
    const boots = await bootUntilRebuilt(w);
    expect(boots).toHaveLength(INCONSISTENT_ATTEMPTS);
    expect(boots.slice(0, -1).every((b) => b.plan.outcome === 'unreachable')).toBe(true);
    const last = boots.at(-1)!;
    expect(last.result.rebuilt).toBe(true);
    expect(accountingErrors(last.plan)).toEqual([['tradesExceedFilled', ref.exchangeOrderId, '0.6', '0']]);
    // The order keeps what its trades say instead of the exchange's smaller count; the books are the exchange's.
    expect(w.portfolio.findOrder(ref)?.filledQuantity.toFixed()).toBe('0.6');
    expectBooksEqual(w);
  });

  it('an open-order list showing less filled than trades applied before the restart is reported, with no trade fetched at boot', async () => {
    const w = await persistedWorld();
    const ref = await restingPerpBuy(w, 'r1');
    w.ex.fillOrder(ref, '0.6');
    w.ex.step(2_000);
    // Applied while running: the boot fetches no trade of it.
    await runtimeCycle(w);
    expect(w.portfolio.findOrder(ref)?.filledQuantity.toFixed()).toBe('0.6');
    w.ex.step(5_000);
    restart(w);
    showFilledAs(w, ref.exchangeOrderId, '0.2');
    const boots = await bootUntilRebuilt(w);
    // Our books already hold more than the exchange shows: the cycle itself reports it, on the first attempt, and the
    // order keeps its own count.
    expect(boots).toHaveLength(1);
    expect(boots[0]!.result.rebuilt).toBe(true);
    expect(accountingErrors(boots.at(-1)!.plan)).toEqual([['exchangeFilledLess', ref.exchangeOrderId, '0.6', '0.2']]);
    expect(w.portfolio.findOrder(ref)?.filledQuantity.toFixed()).toBe('0.6');
    expectBooksEqual(w);
  });

  it('a zombie whose open-order entry always shows less filled than its trades is not adopted with that count', async () => {
    const w = await persistedWorld({ zombiePolicy: { default: 'adopt' } });
    // Placed by hand while we are down, filled in part.
    const z = w.ex.placeManualOrder({ symbol: PERP, side: 'buy', type: 'limit', quantity: d('1'), price: d('29000') });
    w.ex.step(2_000);
    w.ex.fillOrder({ symbol: PERP, exchangeOrderId: z.exchangeOrderId! }, '0.6');
    w.ex.step(5_000);
    restart(w);
    showFilledAs(w, z.exchangeOrderId!, '0');
    const boots = await bootUntilRebuilt(w);
    expect(boots).toHaveLength(INCONSISTENT_ATTEMPTS);
    const last = boots.at(-1)!.plan;
    expect(actionsOf(last, 'adoptOrder')).toEqual([]);
    expect(actionsOf(last, 'ignoreOrder').map((a) => a.order.exchangeOrderId)).toEqual([z.exchangeOrderId]);
    expect(actionsOf(last, 'accountingError').map((e) => [e.cause, e.ref.exchangeOrderId])).toEqual([
      ['tradesExceedFilled', z.exchangeOrderId],
    ]);
    expect(w.portfolio.findOrder({ exchangeOrderId: z.exchangeOrderId! })).toBeUndefined();
    expectBooksEqual(w);
  });

  it('an order we do not track, whose trades were applied before the restart and whose open-order entry shows less filled, is reported', async () => {
    // No trade fetched at boot and no order of ours open: the boot's shortcut (every open order one of our matched
    // pairs) does not hold, so the order placed by hand is checked against the trades applied to it while running.
    const w = await persistedWorld();
    const z = w.ex.placeManualOrder({ symbol: PERP, side: 'buy', type: 'limit', quantity: d('1'), price: d('29000') });
    w.ex.step(2_000);
    w.ex.fillOrder({ symbol: PERP, exchangeOrderId: z.exchangeOrderId! }, '0.6');
    w.ex.step(2_000);
    await runtimeCycle(w);
    expect(w.portfolio.appliedQuantity(PERP, z.exchangeOrderId!).toFixed()).toBe('0.6');
    w.ex.step(5_000);
    restart(w);
    showFilledAs(w, z.exchangeOrderId!, '0.2');
    const boots = await bootUntilRebuilt(w);
    expect(boots).toHaveLength(INCONSISTENT_ATTEMPTS);
    expect(boots[0]!.plan.error?.message).toContain(
      `open order ${z.exchangeOrderId} shows 0.2 filled but its trades add up to 0.6`,
    );
    expect(boots.slice(0, -1).every((b) => b.plan.outcome === 'unreachable')).toBe(true);
    expect(accountingErrors(boots.at(-1)!.plan)).toEqual([['tradesExceedFilled', z.exchangeOrderId, '0.6', '0.2']]);
    expectBooksEqual(w);
  });

  /** An open limit buy of 1 at 1, nothing filled. */
  const restingBuy = (clientOrderId: string, exchangeOrderId: string, symbol: string): Order => ({
    clientOrderId,
    exchangeOrderId,
    symbol,
    side: 'buy',
    type: 'limit',
    quantity: d('1'),
    price: d('1'),
    filledQuantity: d('0'),
    status: 'open',
    createdAt: 0,
    updatedAt: 0,
  });

  it('snapshotDifference names the first position, balance or open order of the snapshot a second read disagrees on', () => {
    const order = restingBuy('c', '1', BTC);
    const a = {
      openOrders: [order],
      positions: [{ symbol: PERP, quantity: d('0'), entryPrice: d('0') }],
      balances: [{ asset: 'USDT', free: d('5'), total: d('10') }],
    };
    expect(snapshotDifference(a, { ...a, positions: [] })).toBeUndefined();
    expect(
      snapshotDifference(a, { ...a, balances: [{ asset: 'USDT', free: d('10'), total: d('10') }] }),
    ).toBeUndefined();
    expect(snapshotDifference(a, { ...a, balances: [{ asset: 'USDT', free: d('5'), total: d('11') }] })).toBe(
      'balance USDT: 10 then 11',
    );
    expect(snapshotDifference(a, { ...a, openOrders: [{ ...order, filledQuantity: d('0.5') }] })).toBe(
      `open order x:${orderIdKey(order.symbol, '1')}: open 0/1@1 then open 0.5/1@1`,
    );
    expect(snapshotDifference(a, { ...a, positions: [{ symbol: PERP, quantity: d('2'), entryPrice: d('3') }] })).toBe(
      `position ${PERP}: none then 2@3`,
    );
    // An order the snapshot shows open and the second read does not (a stale list); one placed in between is harmless.
    expect(snapshotDifference(a, { ...a, openOrders: [] })).toBe(
      `open order x:${orderIdKey(order.symbol, '1')}: open 0/1@1 then none`,
    );
    expect(snapshotDifference({ ...a, openOrders: [] }, a)).toBeUndefined();
  });

  it('snapshotDifference finds the same difference whether the second read lists the orders in the same order or not', () => {
    const orders = Array.from({ length: 5 }, (_, i) => restingBuy(`c${i}`, String(i + 1), i % 2 === 0 ? BTC : PERP));
    const a = { openOrders: orders, positions: [], balances: [] };
    // Copies written another way (1.0 for 1) agree, position by position and in another order.
    const copies = orders.map((o) => ({ ...o, quantity: d('1.0') }));
    expect(snapshotDifference(a, { ...a, openOrders: copies })).toBeUndefined();
    expect(snapshotDifference(a, { ...a, openOrders: [...copies].reverse() })).toBeUndefined();
    // One order changed: named the same way in both layouts.
    const changed = copies.map((o, i) => (i === 3 ? { ...o, filledQuantity: d('0.25') } : o));
    const text = `open order x:${orderIdKey(PERP, '4')}: open 0/1@1 then open 0.25/1@1`;
    expect(snapshotDifference(a, { ...a, openOrders: changed })).toBe(text);
    expect(snapshotDifference(a, { ...a, openOrders: [...changed].reverse() })).toBe(text);
    // Another order at a position (same length): found by key, not by position.
    const swapped = [copies[1]!, copies[0]!, ...copies.slice(2)];
    expect(snapshotDifference(a, { ...a, openOrders: swapped })).toBeUndefined();
  });

  it('snapshotDifferenceSteps compares every open order of both reads in steps, with the same answer', () => {
    const n = 3 * ITEMS_PER_STEP;
    const orders = Array.from({ length: n }, (_, i) => restingBuy(`c${i}`, String(i + 1), BTC));
    const a = { openOrders: orders, positions: [], balances: [] };
    const stepped = (b: typeof a): { answer: string | undefined; yields: number } => {
      const { value, yields } = drainSteps(snapshotDifferenceSteps(a, b));
      return { answer: value, yields };
    };
    const copies = orders.map((o) => ({ ...o, quantity: d('1.0') }));
    const same = stepped({ ...a, openOrders: copies });
    expect(same.answer).toBeUndefined();
    expect(same.yields).toBeGreaterThanOrEqual(2);
    // The last order changed, in another layout: found by key, in steps over both lists.
    const changed = copies.map((o, i) => (i === n - 1 ? { ...o, filledQuantity: d('0.5') } : o)).reverse();
    const found = stepped({ ...a, openOrders: changed });
    expect(found.answer).toBe(snapshotDifference(a, { ...a, openOrders: changed }));
    expect(found.answer).toBe(`open order x:${orderIdKey(BTC, String(n))}: open 0/1@1 then open 0.5/1@1`);
    expect(found.yields).toBeGreaterThanOrEqual(4);
  });
});

describe('the engine boots through stale startup reads', () => {
  it("retries a startup whose positions read is stale on both reads, and reaches running with the exchange's books", async () => {
    const m = makeMarket();
    const first = makeEngine(m);
    expect((await boot(m, first)).phase).toBe('running');
    const o = await first.engine.placeOrder({
      clientOrderId: 'e1',
      symbol: PERP,
      side: 'buy',
      type: 'limit',
      quantity: d('0.5'),
      price: d('29000'),
    });
    await cycles(m, 1);
    await stop(m, first);
    // Down: the order fills.
    await m.tl.advanceBy(5_000);
    m.ex.fillOrder({ symbol: PERP, exchangeOrderId: o.exchangeOrderId! });
    await m.tl.advanceBy(5_000);
    m.ex.injectFault({ method: 'fetchPositions', kind: 'stale', staleMs: 8_000, times: 2 });
    const second = makeEngine(m, { store: first.store });
    const status = await boot(m, second, 30_000);
    expect(status.phase).toBe('running');
    expectEngineBooksEqual(second.engine.portfolio, m.ex);
    // The stale view was refused (retried with backoff) before the one carried out.
    expect(
      second.statuses.some((s) =>
        s.lastError?.includes(
          `startup reads disagree with the trades: the old books plus the trades since give position ${PERP}`,
        ),
      ),
    ).toBe(true);
    expect(second.reports.filter((r) => r.handler === 'startup')).toHaveLength(1);
    await cycles(m, 2);
    expectEngineBooksEqual(second.engine.portfolio, m.ex);
    await stop(m, second);
  });
});
