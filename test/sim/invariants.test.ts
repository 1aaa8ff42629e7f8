/**
 * The simulator's invariant checkers, one planted violation each: a checker that cannot fail would make a green
 * simulation meaningless. Each test also shows the checker passing the legitimate case next to it.
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { fillKey, orderIdKey, tradeKey } from '../../src/domain/ids.js';
import type { Fill, FundingPayment, Order } from '../../src/domain/types.js';
import type { ActionOutcome } from '../../src/handlers/executor.js';
import type { DriftStreak, PlanAction } from '../../src/handlers/plan.js';
import {
  AppliedLedger,
  checkAppliedOnce,
  checkClosedOrdersClosed,
  checkFinalAccounting,
  checkLiquidateOnlyExit,
  checkPeakEquity,
  checkReportOnlyCall,
  checkZombieCancels,
  classifyLiquidateOnlyEntry,
  compareBooks,
  inferredEntryRoom,
  reconciledPart,
  valuesDuring,
  type TruthHistory,
} from '../../src/sim/invariants.js';

const d = (x: string) => new Dec(x);

function fill(tradeId: string, over: Partial<Fill> = {}): Fill {
  return {
    tradeId,
    exchangeOrderId: '1',
    clientOrderId: 's1',
    symbol: 'BTC/USDT',
    side: 'buy',
    quantity: d('0.1'),
    price: d('30000'),
    fee: d('1.5'),
    feeAsset: 'USDT',
    timestamp: 1000,
    inferred: false,
    ...over,
  };
}

function order(over: Partial<Order> = {}): Order {
  return {
    clientOrderId: 's1',
    exchangeOrderId: '1',
    symbol: 'BTC/USDT',
    side: 'buy',
    type: 'limit',
    quantity: d('1'),
    price: d('30000'),
    filledQuantity: d('0'),
    status: 'open',
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}

const applied = (f: Fill): ActionOutcome => ({
  index: 0,
  action: { type: 'applyFill', cause: 'missedTrade', reason: 'test', fill: f },
  status: 'done',
});

describe('compareBooks', () => {
  const books = {
    balances: [{ asset: 'USDT', total: d('100.5') }],
    positions: [{ symbol: 'BTC/USDT:USDT', quantity: d('0.2'), entryPrice: d('30000') }],
  };

  it('passes equal books (absent and zero are the same) and reports a planted balance difference', () => {
    expect(
      compareBooks(books, {
        balances: [...books.balances, { asset: 'BTC', total: d('0') }],
        positions: books.positions,
      }),
    ).toEqual([]);
    const out = compareBooks(books, {
      balances: [{ asset: 'USDT', total: d('100.50000001') }],
      positions: books.positions,
    });
    expect(out).toEqual(['balance USDT: local 100.5 vs exchange 100.50000001 (Δ 0.00000001)']);
  });

  it('reports a planted position quantity or entry price difference', () => {
    expect(compareBooks(books, { balances: books.balances, positions: [] })).toEqual([
      'position BTC/USDT:USDT: local 0.2 vs exchange 0',
    ]);
    const moved = [{ symbol: 'BTC/USDT:USDT', quantity: d('0.2'), entryPrice: d('30000.01') }];
    expect(compareBooks(books, { balances: books.balances, positions: moved })[0]).toMatch(/entry price/);
  });

  it('lets an entry price differ by the room given for its symbol, and by no more (an inferred fill netted in one step)', () => {
    const unit = d('1e-44');
    const within = [{ symbol: 'BTC/USDT:USDT', quantity: d('0.2'), entryPrice: d('30000').plus(unit) }];
    const truth = { balances: books.balances, positions: within };
    // inferredEntryRoom(2): two averagings, half a unit of the 44th decimal each.
    expect(inferredEntryRoom(2)).toEqual(unit);
    expect(compareBooks(books, truth, () => inferredEntryRoom(2))).toEqual([]);
    expect(compareBooks(books, truth, () => inferredEntryRoom(1))[0]).toMatch(/entry price/);
    // No room for the other symbols, and none by default.
    expect(compareBooks(books, truth, (s) => (s === 'ETH/USDT:USDT' ? inferredEntryRoom(2) : d('0')))).toHaveLength(1);
    expect(compareBooks(books, truth)).toHaveLength(1);
    // The quantity stays exact whatever the room.
    const more = [{ symbol: 'BTC/USDT:USDT', quantity: d('0.2000001'), entryPrice: d('30000') }];
    expect(compareBooks(books, { balances: books.balances, positions: more }, () => d('1'))).toHaveLength(1);
  });
});

describe('checkAppliedOnce', () => {
  const truth = new Map([[fillKey(fill('t-1')), fill('t-1')]]);
  const funding = new Map<string, FundingPayment>();

  it('passes a trade applied once and catches the same trade applied again in a later cycle', () => {
    const ledger = new AppliedLedger();
    expect(checkAppliedOnce([applied(fill('t-1'))], 'cycle 1', ledger, truth, funding)).toEqual([]);
    const again = checkAppliedOnce([applied(fill('t-1'))], 'cycle 7', ledger, truth, funding);
    expect(again).toEqual([
      { invariant: 'fillOnce', message: 'cycle 7: trade t-1 of BTC/USDT applied again (first by cycle 1)' },
    ]);
  });

  it('catches a trade the exchange never made, and one applied with other content', () => {
    expect(checkAppliedOnce([applied(fill('t-9'))], 'c', new AppliedLedger(), truth, funding)[0]?.invariant).toBe(
      'fillMatchesTrade',
    );
    const wrong = checkAppliedOnce(
      [applied(fill('t-1', { quantity: d('0.2') }))],
      'c',
      new AppliedLedger(),
      truth,
      funding,
    );
    expect(wrong[0]?.message).toMatch(/applied as buy 0.2/);
  });

  it('ignores inferred fills and outcomes that changed nothing', () => {
    const inferred = applied(fill('inferred:1:0.1', { inferred: true }));
    const dup: ActionOutcome = { ...applied(fill('t-1')), status: 'duplicate' };
    const ledger = new AppliedLedger();
    expect(checkAppliedOnce([inferred, dup, dup], 'c', ledger, truth, funding)).toEqual([]);
    expect(ledger.trades.size).toBe(0);
  });
});

describe('checkClosedOrdersClosed', () => {
  const truthOrders = new Map([[orderIdKey('BTC/USDT', '1'), order({ status: 'cancelled', updatedAt: 5_000 })]]);
  const base = { localOpen: [order()], truthOrders, deferred: [], actions: [] as PlanAction[] };

  it('catches an order still open locally after a snapshot taken after the exchange closed it', () => {
    const out = checkClosedOrdersClosed({ ...base, report: { snapshotStartedAt: 6_000, inFlight: [] } });
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/closed it \(cancelled\) at 5000, before the snapshot of 6000/);
  });

  it('passes when the snapshot predates the close, or the report put the order in flight, or its query was deferred', () => {
    expect(checkClosedOrdersClosed({ ...base, report: { snapshotStartedAt: 5_000, inFlight: [] } })).toEqual([]);
    expect(
      checkClosedOrdersClosed({
        ...base,
        report: { snapshotStartedAt: 6_000, inFlight: [{ local: order(), reason: 'withinGrace' }] },
      }),
    ).toEqual([]);
    const deferred = [
      { ref: { symbol: 'BTC/USDT', exchangeOrderId: '1' }, why: 'budget' as const, waitingSince: 0, notFound: 0 },
    ];
    expect(checkClosedOrdersClosed({ ...base, deferred, report: { snapshotStartedAt: 6_000, inFlight: [] } })).toEqual(
      [],
    );
  });

  it('catches an open local order the exchange never heard of', () => {
    const out = checkClosedOrdersClosed({
      ...base,
      localOpen: [order({ exchangeOrderId: '99' })],
      report: { snapshotStartedAt: 6_000, inFlight: [] },
    });
    expect(out[0]).toMatch(/unknown to the exchange/);
  });
});

describe('checkPeakEquity', () => {
  it('catches a peak below an earlier one, or below the equity an executed cycle marked; an unmarked or report-only cycle may show more equity', () => {
    const report = (peak: string, equity: string | null, executed = true) => ({
      peakEquity: d(peak),
      equity: equity === null ? null : d(equity),
      executed,
    });
    expect(checkPeakEquity(undefined, report('100', '90'))).toBeUndefined();
    expect(checkPeakEquity(d('100'), report('100', null))).toBeUndefined();
    expect(checkPeakEquity(d('100'), report('99.99', '90'))).toMatch(/went down: 99\.99 after 100/);
    expect(checkPeakEquity(d('100'), report('100', '100.5'))).toMatch(/below the equity 100\.5/);
    expect(checkPeakEquity(d('100'), report('100', '100.5', false))).toBeUndefined();
  });
});

describe('checkZombieCancels', () => {
  const cancel = (xid: string): PlanAction => ({
    type: 'cancelOrder',
    cause: 'zombiePolicy',
    reason: 'test',
    order: order({ exchangeOrderId: xid }),
  });
  const owners: Record<string, 'engine' | 'manual'> = { '1': 'engine', '2': 'manual' };

  it('catches a zombie cancel of an order our engine placed, and lets a manual one through', () => {
    expect(checkZombieCancels([cancel('2')], (_symbol, x) => owners[x])).toEqual([]);
    expect(checkZombieCancels([cancel('1')], (_symbol, x) => owners[x])[0]).toMatch(/placed by engine/);
  });
});

describe('liquidate-only entry and exit', () => {
  // USDT 1000 at the start; a trade at t=100 pays 10 USDT; a deposit at t=200 adds 5.
  const h: TruthHistory = {
    initialBalances: [{ asset: 'USDT', total: d('1000') }],
    ledger: [
      { at: 100, asset: 'USDT', amount: d('-10') },
      { at: 200, asset: 'USDT', amount: d('5') },
    ],
    trades: [{ symbol: 'BTC/USDT:USDT', side: 'buy', quantity: d('0.5'), timestamp: 100 }],
  };
  const drift = (local: string, exchange: string): DriftStreak => ({
    kind: 'balance',
    key: 'USDT',
    local: d(local),
    exchange: d(exchange),
    delta: d(exchange).minus(d(local)),
    cycles: 1,
  });

  it('valuesDuring lists the value at the window start and after each change inside it', () => {
    expect(valuesDuring(h, 'balance', 'USDT', 50, 150).map(String)).toEqual(['1000', '990']);
    expect(valuesDuring(h, 'balance', 'USDT', 250, 300).map(String)).toEqual(['995']);
    expect(valuesDuring(h, 'position', 'BTC/USDT:USDT', 100, 100).map(String)).toEqual(['0', '0.5']);
  });

  it('a drift our books really have is real; one matching the exchange is not (a planted false entry)', () => {
    expect(classifyLiquidateOnlyEntry([drift('990', '995')], h, { from: 250, to: 250 }, false).kind).toBe('real');
    expect(classifyLiquidateOnlyEntry([drift('995', '990')], h, { from: 250, to: 250 }, false).kind).toBe('notReal');
    expect(classifyLiquidateOnlyEntry([], h, { from: 250, to: 250 }, false).kind).toBe('notReal');
  });

  it('a drift made by a stale read, or by a change inside the snapshot window, is told apart', () => {
    expect(classifyLiquidateOnlyEntry([drift('995', '990')], h, { from: 250, to: 250 }, true).kind).toBe('staleRead');
    // Both 1000 (before the trade) and 990 (after it) were the exchange's value during [50, 150].
    expect(classifyLiquidateOnlyEntry([drift('990', '1000')], h, { from: 50, to: 150 }, false).kind).toBe('windowRace');
  });

  it("a deposit landing inside the window is real drift, though both values were the exchange's (seed 1301)", () => {
    const withDeposit: TruthHistory = {
      ...h,
      ledger: h.ledger.map((e) => (e.at === 200 ? { ...e, cause: { type: 'deposit' } } : e)),
    };
    expect(classifyLiquidateOnlyEntry([drift('990', '995')], h, { from: 150, to: 250 }, false).kind).toBe('windowRace');
    expect(classifyLiquidateOnlyEntry([drift('990', '995')], withDeposit, { from: 150, to: 250 }, false).kind).toBe(
      'real',
    );
  });

  it('leaving needs a last report without drift beyond tolerance (a hard reset clears it)', () => {
    const tol = { absolute: d('0'), relative: d('0') };
    const dirty = {
      positionDrifts: [],
      balanceDrifts: [
        { asset: 'USDT', local: d('1'), exchange: d('2'), delta: d('1'), tolerance: tol, beyondTolerance: true },
      ],
    };
    expect(checkLiquidateOnlyExit(dirty)).toMatch(/balance USDT/);
    expect(checkLiquidateOnlyExit(dirty, true)).toBeUndefined();
    expect(checkLiquidateOnlyExit({ positionDrifts: [], balanceDrifts: [] })).toBeUndefined();
    expect(checkLiquidateOnlyExit(undefined)).toMatch(/before any report/);
  });
});

describe('report-only', () => {
  it('catches a mutating call the engine made itself, not one the strategy made through it', () => {
    expect(checkReportOnlyCall({ method: 'cancelOrder', origin: 'strategy', at: 1 })).toBeUndefined();
    expect(checkReportOnlyCall({ method: 'fetchOrder', origin: 'engine', at: 1 })).toBeUndefined();
    expect(checkReportOnlyCall({ method: 'cancelOrder', origin: 'engine', at: 1 })).toMatch(
      /mutating call: cancelOrder/,
    );
  });

  it('the reconciled part of the books changes with a balance, a position or an applied trade id', () => {
    const p = {
      balances: [{ asset: 'USDT', total: d('1') }],
      positions: [],
      appliedTrades: [tradeKey('BTC/USDT', 't-1')],
      appliedFundingIds: [],
    };
    expect(reconciledPart({ ...p })).toBe(reconciledPart(p));
    expect(
      reconciledPart({ ...p, appliedTrades: [tradeKey('BTC/USDT', 't-1'), tradeKey('BTC/USDT', 't-2')] }),
    ).not.toBe(reconciledPart(p));
    expect(reconciledPart({ ...p, balances: [{ asset: 'USDT', total: d('1.1') }] })).not.toBe(reconciledPart(p));
  });
});

describe('checkFinalAccounting', () => {
  const base = {
    truthTrades: [fill('t-1'), fill('t-2')],
    appliedTrades: [tradeKey('BTC/USDT', 't-1'), tradeKey('BTC/USDT', 't-2')],
    standingInferred: [] as Fill[],
    localOrders: [order({ status: 'filled', filledQuantity: d('1') })],
    truthOrders: new Map([[orderIdKey('BTC/USDT', '1'), order({ status: 'filled', filledQuantity: d('1') })]]),
  };

  it('passes a fully reconciled end state', () => {
    expect(checkFinalAccounting(base)).toEqual([]);
  });

  it('catches a missing trade, a duplicated id and a standing inferred fill', () => {
    expect(checkFinalAccounting({ ...base, appliedTrades: [tradeKey('BTC/USDT', 't-1')] })[0]?.message).toMatch(
      /never applied: t-2/,
    );
    expect(
      checkFinalAccounting({ ...base, appliedTrades: ['t-1', 't-2', 't-2'].map((id) => tradeKey('BTC/USDT', id)) })[0]
        ?.message,
    ).toMatch(/listed twice/);
    expect(
      checkFinalAccounting({ ...base, standingInferred: [fill('inferred:1:1', { inferred: true })] })[0]?.message,
    ).toMatch(/never replaced/);
  });

  it('accounts for a trade the books already hold only when the caller shows it is absorbed (applying it would only record it)', () => {
    const missing = { ...base, appliedTrades: [tradeKey('BTC/USDT', 't-1')] };
    expect(checkFinalAccounting({ ...missing, absorbed: (t) => t.tradeId === 't-2' })).toEqual([]);
    expect(checkFinalAccounting({ ...missing, absorbed: (t) => t.tradeId === 't-1' })[0]?.message).toMatch(
      /never applied: t-2/,
    );
  });

  it('catches an order still open locally, and one closed with another status or fill than the exchange', () => {
    expect(checkFinalAccounting({ ...base, localOrders: [order()] })[0]?.message).toMatch(/still open locally/);
    expect(
      checkFinalAccounting({ ...base, localOrders: [order({ status: 'cancelled', filledQuantity: d('1') })] })[0]
        ?.message,
    ).toMatch(/as cancelled, the exchange has it filled/);
    expect(
      checkFinalAccounting({ ...base, localOrders: [order({ status: 'filled', filledQuantity: d('0.5') })] })[0]
        ?.message,
    ).toMatch(/filled 0.5 locally/);
  });

  it('excuses a not-found guess between unfilled endings, never a guess of filled', () => {
    const truthOrders = new Map([[orderIdKey('BTC/USDT', '1'), order({ status: 'expired' })]]);
    const guessed = { ...base, truthOrders, closedByGuess: new Set([orderIdKey('BTC/USDT', '1')]) };
    expect(checkFinalAccounting({ ...guessed, localOrders: [order({ status: 'cancelled' })] })).toEqual([]);
    expect(checkFinalAccounting({ ...guessed, localOrders: [order({ status: 'filled' })] })).toHaveLength(1);
  });
});
