/**
 * Handler planning and execution with a small hand-written exchange, for the cases a real (consistent) exchange
 * never produces: trades beyond the reported filled quantity, a fill with no price to infer it at, final errors,
 * history paging limits; plus the read-only wrapper, the plan's JSON form, the memory's JSON form, and the
 * executor's per-action outcomes.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/domain/clock.js';
import { ExchangeError, ParseError } from '../../src/domain/errors.js';
import { inferredTradeId, type Fill, type Instrument, type Order } from '../../src/domain/types.js';
import { diff } from '../../src/differ/diff.js';
import type { ExchangeClient, HistoryQuery, OrderRef, Page } from '../../src/exchange/port.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { executePlan, PlanExecutionError } from '../../src/handlers/executor.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';
import { EMPTY_CURSORS, actionsOf, planToJSON, type Plan } from '../../src/handlers/plan.js';
import { CountingReader, type ExchangeReader } from '../../src/handlers/reader.js';
import { RuntimeHandler } from '../../src/handlers/runtime.js';
import { StartupHandler } from '../../src/handlers/startup.js';
import { d } from './world.js';

const T = 1_700_000_000_000;
const BTC: Instrument = { symbol: 'BTC/USDT', kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' };

/** An exchange made of arrays. Trades page `pageSize` at a time; `orders` answers fetchOrder (or throws). */
class FakeExchange implements ExchangeClient {
  readonly id = 'fake';
  readonly calls: string[] = [];
  trades: Fill[] = [];
  orders = new Map<string, Order | ExchangeError>();
  openOrders: Order[] = [];
  cancel: (ref: OrderRef) => Promise<Order> = () => Promise.reject(new Error('unexpected cancel'));
  constructor(readonly pageSize = 100) {}
  async fetchInstruments(): Promise<readonly Instrument[]> {
    this.calls.push('fetchInstruments');
    return [BTC];
  }
  async fetchOpenOrders(): Promise<readonly Order[]> {
    this.calls.push('fetchOpenOrders');
    return this.openOrders;
  }
  async fetchOrder(ref: OrderRef): Promise<Order> {
    this.calls.push(`fetchOrder:${ref.exchangeOrderId}`);
    const o = this.orders.get(ref.exchangeOrderId ?? '');
    if (o === undefined) throw new ExchangeError('notFound', 'no such order');
    if (o instanceof ExchangeError) throw o;
    return o;
  }
  async fetchOrdersSince(): Promise<Page<Order>> {
    return { items: [] };
  }
  async fetchTradesSince(symbol: string, q: HistoryQuery): Promise<Page<Fill>> {
    this.calls.push(`fetchTradesSince:${symbol}:${q.since}:${q.cursor ?? ''}`);
    const all = this.trades.filter((t) => t.symbol === symbol && t.timestamp >= q.since);
    const start = q.cursor === undefined ? 0 : Number.parseInt(q.cursor, 10);
    const items = all.slice(start, start + this.pageSize);
    return { items, ...(start + this.pageSize < all.length && { nextCursor: String(start + this.pageSize) }) };
  }
  async fetchOrderTrades(symbol: string, exchangeOrderId: string): Promise<readonly Fill[]> {
    this.calls.push(`fetchOrderTrades:${symbol}:${exchangeOrderId}`);
    return this.trades.filter((t) => t.symbol === symbol && t.exchangeOrderId === exchangeOrderId);
  }
  async fetchFundingSince(): Promise<Page<never>> {
    return { items: [] };
  }
  async fetchPositions(): Promise<readonly never[]> {
    return [];
  }
  async fetchBalances(): Promise<readonly never[]> {
    return [];
  }
  cancelOrder(ref: OrderRef): Promise<Order> {
    this.calls.push('cancelOrder');
    return this.cancel(ref);
  }
  placeOrder(): Promise<Order> {
    this.calls.push('placeOrder');
    return Promise.reject(new Error('unexpected place'));
  }
}

function order(over: Partial<Order> & { exchangeOrderId: string }): Order {
  return {
    clientOrderId: `c${over.exchangeOrderId}`,
    symbol: 'BTC/USDT',
    side: 'buy',
    type: 'limit',
    quantity: d('1'),
    price: d('100'),
    filledQuantity: d('0'),
    status: 'open',
    createdAt: T,
    updatedAt: T,
    ...over,
  };
}

function trade(id: string, xid: string, qty: string, ts: number): Fill {
  return {
    tradeId: id,
    exchangeOrderId: xid,
    clientOrderId: `c${xid}`,
    symbol: 'BTC/USDT',
    side: 'buy',
    quantity: d(qty),
    price: d('100'),
    fee: d('0'),
    feeAsset: 'USDT',
    timestamp: ts,
    inferred: false,
  };
}

/** A portfolio tracking `orders`, 1000 USDT, and a snapshot at T+60 s where the exchange lists `open` as open. */
function setup(orders: Order[], open: Order[] = []) {
  const clock = new VirtualClock(T + 60_000);
  const portfolio = Portfolio.create({
    instruments: [BTC],
    balances: [{ asset: 'USDT', free: d('1000'), total: d('1000') }],
    orders,
  });
  const snapshot = {
    openOrders: open,
    positions: [],
    balances: [{ asset: 'USDT', free: d('1000'), total: d('1000') }],
    startedAt: T + 60_000,
    completedAt: T + 60_000,
  };
  const report = diff(portfolio.liveState(), snapshot);
  return { clock, portfolio, snapshot, report };
}

describe('CountingReader', () => {
  it('forwards reads only: a full client wrapped in it has no cancel or place, and every request is counted', async () => {
    const ex = new FakeExchange();
    const r = new CountingReader(ex);
    expect('cancelOrder' in r).toBe(false);
    expect('placeOrder' in r).toBe(false);
    await r.fetchInstruments();
    await r.fetchTradesSince('BTC/USDT', { since: 0 });
    await r.fetchTradesSince('BTC/USDT', { since: 0 });
    expect(r.requests).toBe(3);
    expect(r.requestsByMethod()).toEqual({ fetchInstruments: 1, fetchTradesSince: 2 });
  });

  it('holds no function of its own (one is made every cycle: a stored closure outlived it), and offers fetchClosedOrders only when the wrapped reader has it', async () => {
    const bare = new CountingReader(new FakeExchange());
    expect(bare.fetchClosedOrders).toBeUndefined();
    const listing = new CountingReader({
      id: 'listing',
      fetchClosedOrders: () => Promise.resolve({ items: [] }),
    } as unknown as ExchangeReader);
    for (const r of [bare, listing])
      expect(Object.keys(r).filter((k) => typeof (r as unknown as Record<string, unknown>)[k] === 'function')).toEqual(
        [],
      );
    const list = listing.fetchClosedOrders!;
    await list('BTC/USDT', { since: 0 });
    expect(listing.requestsByMethod()).toEqual({ fetchClosedOrders: 1 });
  });
});

describe('per-order accounting never overfills', () => {
  it('trades beyond the filled quantity of a final status are held back and reported, the rest applied, nothing guessed', async () => {
    const o = order({ exchangeOrderId: '1' });
    const { clock, portfolio, report } = setup([o]);
    const ex = new FakeExchange();
    ex.trades = [trade('t1', '1', '0.2', T + 1_000), trade('t2', '1', '0.2', T + 2_000)];
    ex.orders.set('1', { ...o, status: 'cancelled', filledQuantity: d('0.3'), updatedAt: T + 3_000 });
    const plan = await new RuntimeHandler().plan(report, { exchange: ex, portfolio, clock, cursors: EMPTY_CURSORS });
    // No inferred fill either: the exchange contradicts itself, so we book only what fits and say so.
    expect(actionsOf(plan, 'applyFill').map((a) => a.fill.tradeId)).toEqual(['t1']);
    expect(actionsOf(plan, 'accountingError').map((e) => [e.cause, e.heldBackTradeIds])).toEqual([
      ['tradesExceedFilled', ['t2']],
    ]);
    expect(actionsOf(plan, 'closeOrder').map((c) => c.status)).toEqual(['cancelled']);
    const res = await executePlan(plan, { exchange: ex, portfolio, cursors: EMPTY_CURSORS });
    expect(res.portfolio.appliedQuantity('BTC/USDT', '1').toFixed()).toBe('0.2');
    expect(res.portfolio.findOrder({ exchangeOrderId: '1' })?.status).toBe('cancelled');
    expect(res.accountingErrors).toHaveLength(1);
  });

  it('a fill with no price to infer it at is an error, and the ghost waits instead of being closed short', async () => {
    const o = order({ exchangeOrderId: '1', type: 'market', price: undefined });
    const { clock, portfolio, report } = setup([o]);
    const ex = new FakeExchange();
    ex.orders.set('1', { ...o, status: 'filled', filledQuantity: d('1'), updatedAt: T + 3_000 });
    const plan = await new RuntimeHandler().plan(report, { exchange: ex, portfolio, clock, cursors: EMPTY_CURSORS });
    expect(actionsOf(plan, 'accountingError').map((e) => e.cause)).toEqual(['cannotInferFill']);
    expect(actionsOf(plan, 'closeOrder')).toEqual([]);
    expect(plan.deferred.map((x) => x.why)).toEqual(['noPrice']);
  });

  it('an inferred fill takes the part of the average price its trades do not explain', async () => {
    const o = order({ exchangeOrderId: '1' });
    const { clock, portfolio, report } = setup([o]);
    const ex = new FakeExchange();
    ex.trades = [trade('t1', '1', '0.5', T + 1_000)]; // at 100
    ex.orders.set('1', {
      ...o,
      status: 'filled',
      filledQuantity: d('1'),
      averageFillPrice: d('99'),
      updatedAt: T + 3_000,
    });
    const plan = await new RuntimeHandler().plan(report, { exchange: ex, portfolio, clock, cursors: EMPTY_CURSORS });
    const inferred = actionsOf(plan, 'applyFill').find((a) => a.fill.inferred)!;
    expect([inferred.fill.tradeId, inferred.fill.quantity.toFixed(), inferred.fill.price.toFixed()]).toEqual([
      inferredTradeId('BTC/USDT', '1', d('1')),
      '0.5',
      '98',
    ]);
  });
});

describe('errors during planning', () => {
  it('a final exchange error other than not-found (auth) is thrown, not planned around', async () => {
    const o = order({ exchangeOrderId: '1' });
    const { clock, portfolio, report } = setup([o]);
    const ex = new FakeExchange();
    ex.orders.set('1', new ExchangeError('auth', 'bad key'));
    await expect(
      new RuntimeHandler().plan(report, { exchange: ex, portfolio, clock, cursors: EMPTY_CURSORS }),
    ).rejects.toMatchObject({ name: 'ExchangeError', kind: 'auth' });
  });

  it('a retryable error on the trade history leaves drift streaks as they were and plans nothing', async () => {
    const o = order({ exchangeOrderId: '1' });
    const { clock, portfolio, report } = setup([o]);
    const memory = ReconcileMemory.fromJSON({ ghosts: [], drift: [{ kind: 'balance', key: 'USDT', cycles: 2 }] });
    const ex = new FakeExchange();
    ex.fetchTradesSince = () => Promise.reject(new ExchangeError('rateLimit', 'slow down', { retryAfterMs: 500 }));
    const h = new RuntimeHandler({}, memory);
    const plan = await h.plan(report, { exchange: ex, portfolio, clock, cursors: EMPTY_CURSORS });
    expect(plan).toMatchObject({ outcome: 'unreachable', actions: [], requestsUsed: 1 });
    expect(memory.driftCycles('balance', 'USDT')).toBe(2);
  });

  it('the startup handler refuses a report computed from another snapshot', async () => {
    const { clock, portfolio, report, snapshot } = setup([]);
    const other = { ...snapshot, startedAt: snapshot.startedAt - 1 };
    await expect(
      new StartupHandler().plan(report, {
        exchange: new FakeExchange(),
        portfolio,
        clock,
        cursors: EMPTY_CURSORS,
        snapshot: other,
      }),
    ).rejects.toBeInstanceOf(ParseError);
  });
});

describe('trade history cursor', () => {
  it('pages up to the limit, resumes next cycle where it stopped, and never loses trades sharing a millisecond', async () => {
    const o = order({ exchangeOrderId: '1', quantity: d('10') });
    const { clock, portfolio, report } = setup([o]);
    const ex = new FakeExchange(2);
    ex.trades = [1, 2, 3, 4, 5].map((i) => trade(`t${i}`, '1', '1', T + (i <= 3 ? 1_000 : 2_000)));
    ex.orders.set('1', { ...o, status: 'cancelled', filledQuantity: d('5'), updatedAt: T + 3_000 });
    const h = new RuntimeHandler({ maxHistoryPagesPerCycle: 1, tradeLookbackMs: 3_600_000 });
    const p1 = await h.plan(report, { exchange: ex, portfolio, clock, cursors: EMPTY_CURSORS });
    expect(
      actionsOf(p1, 'applyFill')
        .filter((a) => !a.fill.inferred)
        .map((a) => a.fill.tradeId),
    ).toEqual(['t1', 't2']);
    const cursor = actionsOf(p1, 'advanceTradeCursor')[0]!.cursor;
    expect(cursor).toEqual({ since: T + 1_000, seenIds: ['t1', 't2'] });
    // Next cycle from that cursor: t3 (same millisecond as t1, t2) is not lost, t1/t2 are not fetched as new.
    const p2 = await new RuntimeHandler({ maxHistoryPagesPerCycle: 5 }).plan(report, {
      exchange: ex,
      portfolio,
      clock,
      cursors: { trades: { 'BTC/USDT': cursor } },
    });
    expect(
      actionsOf(p2, 'applyFill')
        .filter((a) => !a.fill.inferred)
        .map((a) => a.fill.tradeId),
    ).toEqual(['t3', 't4', 't5']);
  });
});

describe('plan and memory JSON', () => {
  it('amounts are decimal strings, never numbers; the memory round-trips and rejects garbage', async () => {
    const o = order({ exchangeOrderId: '1' });
    const { clock, portfolio, report } = setup([o]);
    const ex = new FakeExchange();
    ex.trades = [trade('t1', '1', '0.123456789012345678', T + 1_000)];
    const memory = new ReconcileMemory();
    const plan = await new RuntimeHandler({}, memory).plan(report, {
      exchange: ex,
      portfolio,
      clock,
      cursors: EMPTY_CURSORS,
    });
    const text = JSON.stringify(planToJSON(plan));
    expect(text).toContain('"quantity":"0.123456789012345678"');
    expect(JSON.parse(text)).toMatchObject({
      handler: 'runtime',
      outcome: 'ready',
      deferred: [{ why: 'confirmation', notFound: 1 }],
    });
    const back = ReconcileMemory.fromJSON(JSON.parse(JSON.stringify(memory.toJSON())));
    expect(back.toJSON()).toEqual(memory.toJSON());
    expect(() =>
      ReconcileMemory.fromJSON({
        ghosts: [{ key: 'x:1', symbol: 'BTC/USDT', firstSeenAt: -1, notFound: 0 }],
        drift: [],
      }),
    ).toThrow(ParseError);
  });
});

describe('executor', () => {
  async function zombiePlan(ex: FakeExchange): Promise<{ plan: Plan; portfolio: Portfolio }> {
    const z = order({ exchangeOrderId: '9' });
    const { clock, portfolio, report } = setup([], [z]);
    const plan = await new RuntimeHandler({ zombiePolicy: { default: 'cancel' } }).plan(report, {
      exchange: ex,
      portfolio,
      clock,
      cursors: EMPTY_CURSORS,
    });
    return { plan, portfolio };
  }

  it('a cancel failing with a retryable error is left for the next cycle; a vanished order is "gone"', async () => {
    const ex = new FakeExchange();
    const { plan, portfolio } = await zombiePlan(ex);
    ex.cancel = () => Promise.reject(new ExchangeError('timeout', 'slow'));
    const r1 = await executePlan(plan, { exchange: ex, portfolio, cursors: EMPTY_CURSORS });
    expect(r1.outcomes.map((o) => o.status)).toEqual(['retryLater']);
    expect(r1.retryLater.map((a) => a.type)).toEqual(['cancelOrder']);
    ex.cancel = () => Promise.reject(new ExchangeError('notFound', 'gone'));
    const r2 = await executePlan(plan, { exchange: ex, portfolio, cursors: EMPTY_CURSORS });
    expect(r2.outcomes.map((o) => o.status)).toEqual(['gone']);
  });

  it('report-only: not one exchange call and the very same portfolio back', async () => {
    const ex = new FakeExchange();
    const z = order({ exchangeOrderId: '9' });
    const { clock, portfolio, report } = setup([], [z]);
    const plan = await new RuntimeHandler({ reportOnly: true, zombiePolicy: { default: 'cancel' } }).plan(report, {
      exchange: ex,
      portfolio,
      clock,
      cursors: EMPTY_CURSORS,
    });
    expect(actionsOf(plan, 'cancelOrder')).toHaveLength(1);
    const calls = ex.calls.length;
    const r = await executePlan(plan, { exchange: ex, portfolio, cursors: EMPTY_CURSORS });
    expect(r.executed).toBe(false);
    expect(r.portfolio).toBe(portfolio);
    expect(ex.calls.length).toBe(calls);
  });

  it('the executor never mutates the portfolio it is given; a failed hard reset throws and changes nothing', async () => {
    const o = order({ exchangeOrderId: '1' });
    const { clock, portfolio, report, snapshot } = setup([o], [o]);
    const before = JSON.stringify(portfolio.toJSON());
    const ex = new FakeExchange();
    // The startup handler reads the snapshot a second time: the fake must answer what the snapshot holds.
    ex.openOrders = [o];
    ex.fetchBalances = async () => snapshot.balances as never[];
    const plan = await new StartupHandler().plan(report, {
      exchange: ex,
      portfolio,
      clock,
      cursors: EMPTY_CURSORS,
      snapshot,
    });
    const ok = await executePlan(plan, { exchange: ex, portfolio, cursors: EMPTY_CURSORS });
    expect(ok.rebuilt).toBe(true);
    expect(ok.portfolio).not.toBe(portfolio);
    expect(JSON.stringify(portfolio.toJSON())).toBe(before);
    // Two balances for one asset: the reset cannot be built.
    const broken: Plan = {
      ...plan,
      actions: plan.actions.map((a) =>
        a.type === 'rebuildPortfolio' ? { ...a, balances: [...a.balances, ...a.balances] } : a,
      ),
    };
    await expect(executePlan(broken, { exchange: ex, portfolio, cursors: EMPTY_CURSORS })).rejects.toBeInstanceOf(
      PlanExecutionError,
    );
    expect(JSON.stringify(portfolio.toJSON())).toBe(before);
  });
});
