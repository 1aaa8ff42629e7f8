import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { ParseError, TesserError } from '../../src/domain/errors.js';
import { tradeKey } from '../../src/domain/ids.js';
import type { Balance, Fill, Instrument, Side, TerminalOrderStatus } from '../../src/domain/types.js';
import { PortfolioDeltaError, PortfolioPatcher } from '../../src/portfolio/portfolio-delta.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import type { PortfolioJSON } from '../../src/portfolio/portfolio-json.js';
import { canonicalJson } from '../../src/store/codec.js';
import {
  BTC_PERP,
  INSTRUMENTS,
  arbResetVariant,
  asVersion3,
  d,
  order,
  resetInput,
  type ResetVariant,
} from './fixtures.js';

const START: Balance[] = ['BTC', 'ETH', 'USDC', 'USDT'].map((asset) => ({ asset, free: d('1000'), total: d('1000') }));
// Small windows, so eviction of trade ids, of untracked orders, settling of inferred fills and of the perpetual
// late-trade window (fills stamped out of order are netted at their exchange position) all happen.
const OPTIONS = { tradeIdWindow: 6, inferredReplayWindow: 4, lateTradeWindow: 3 };
const T0 = 1_700_000_000_000;

type Op =
  | { type: 'place'; inst: number; side: Side; q: number; px: number; at: number; acked: boolean }
  | { type: 'ack'; order: number }
  | { type: 'fill'; order: number; q: number; px: number; inferred: boolean; at: number }
  | { type: 'untrackedFill'; id: number; inst: number; side: Side; q: number; px: number }
  | { type: 'funding'; id: number; amount: number }
  | { type: 'close'; order: number; status: TerminalOrderStatus; guess: boolean }
  | { type: 'reopen'; order: number }
  | { type: 'prune'; at: number }
  | { type: 'mark'; px: number }
  | { type: 'reflected'; id: number; q: number }
  | { type: 'clone'; keep: boolean }
  | { type: 'save'; full: boolean }
  | { type: 'reset'; v: ResetVariant }
  | { type: 'reload'; marked: boolean };

const arbSide = fc.constantFrom<Side>('buy', 'sell');
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    type: fc.constant('place' as const),
    inst: fc.nat(3),
    side: arbSide,
    q: fc.integer({ min: 1, max: 9 }),
    px: fc.integer({ min: 1, max: 50 }),
    at: fc.nat(20),
    acked: fc.boolean(),
  }),
  fc.record({ type: fc.constant('ack' as const), order: fc.nat(15) }),
  fc.record({
    type: fc.constant('fill' as const),
    order: fc.nat(15),
    q: fc.integer({ min: 1, max: 4 }),
    px: fc.integer({ min: 1, max: 50 }),
    inferred: fc.boolean(),
    at: fc.nat(20),
  }),
  fc.record({
    type: fc.constant('untrackedFill' as const),
    id: fc.nat(10),
    inst: fc.nat(3),
    side: arbSide,
    q: fc.integer({ min: 1, max: 4 }),
    px: fc.integer({ min: 1, max: 50 }),
  }),
  fc.record({ type: fc.constant('funding' as const), id: fc.nat(12), amount: fc.integer({ min: -20, max: 20 }) }),
  fc.record({
    type: fc.constant('close' as const),
    order: fc.nat(15),
    status: fc.constantFrom<TerminalOrderStatus>('cancelled', 'expired', 'rejected'),
    guess: fc.boolean(),
  }),
  fc.record({ type: fc.constant('reopen' as const), order: fc.nat(15) }),
  fc.record({ type: fc.constant('prune' as const), at: fc.nat(30) }),
  fc.record({ type: fc.constant('mark' as const), px: fc.integer({ min: 1, max: 100 }) }),
  fc.record({ type: fc.constant('reflected' as const), id: fc.nat(10), q: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ type: fc.constant('clone' as const), keep: fc.boolean() }),
  // Saves often, whole now and then: most saves are deltas over deltas.
  ...Array.from({ length: 4 }, () =>
    fc.record({ type: fc.constant('save' as const), full: fc.nat(5).map((n) => n === 0) }),
  ),
  fc.record({ type: fc.constant('reload' as const), marked: fc.boolean() }),
  fc.record({ type: fc.constant('reset' as const), v: arbResetVariant }),
);

const inst = (i: number): Instrument => INSTRUMENTS[i % INSTRUMENTS.length]!;
const json = (p: Portfolio): string => canonicalJson(p.toJSON());

/**
 * Runs `ops`; checks after every incremental save that saved JSON + deltas equals the live books' JSON, and that a
 * hard reset done on a copy of the books gives the books `fromExchangeState` builds, leaving the original as it was.
 */
function run(ops: readonly Op[]): { deltas: number; inPlace: number } {
  let p = Portfolio.create({ instruments: INSTRUMENTS, balances: START }, OPTIONS);
  // What is "on disk": the last whole save with the deltas since, and the token the next delta must build on.
  let savedJson: unknown = p.toJSON();
  let deltas: unknown[] = [];
  let token: number | undefined = p.markSaved();
  let placed = 0;
  let trade = 0;
  let count = 0;
  let inPlace = 0;
  const sideOf = new Map<number, Side>();
  const step = (op: Op): void => {
    switch (op.type) {
      case 'place': {
        const i = placed++;
        sideOf.set(i, op.side);
        p.trackOrder(
          order({
            clientOrderId: `c${i}`,
            symbol: inst(op.inst).symbol,
            side: op.side,
            q: String(op.q),
            px: String(op.px),
            status: op.acked ? 'open' : 'pending',
            ...(op.acked && { exchangeOrderId: String(i) }),
            createdAt: T0 + op.at,
            updatedAt: T0 + op.at,
          }),
        );
        return;
      }
      case 'ack': {
        const o = p.findOrder({ clientOrderId: `c${op.order}` });
        if (o !== undefined) p.trackOrder({ ...o, exchangeOrderId: String(op.order), status: 'open' });
        return;
      }
      case 'fill': {
        const o = p.findOrder({ clientOrderId: `c${op.order}` });
        if (o === undefined) return;
        const f: Fill = {
          tradeId: op.inferred ? `inferred:${o.symbol}:${op.order}:${trade++}` : `t${trade++}`,
          exchangeOrderId: o.exchangeOrderId ?? String(op.order),
          clientOrderId: o.clientOrderId,
          symbol: o.symbol,
          side: o.side,
          quantity: new Dec(op.q).div(4),
          price: new Dec(op.px),
          fee: d('0.01'),
          feeAsset: 'USDT',
          timestamp: T0 + op.at,
          inferred: op.inferred,
        };
        p.applyFill(f);
        return;
      }
      case 'untrackedFill': {
        const i = inst(op.inst);
        p.applyFill({
          tradeId: `t${trade++}`,
          exchangeOrderId: `u${op.id}`,
          symbol: i.symbol,
          side: op.side,
          quantity: new Dec(op.q).div(4),
          price: new Dec(op.px),
          fee: d('0'),
          feeAsset: 'USDT',
          timestamp: T0,
          inferred: false,
        });
        return;
      }
      case 'funding':
        p.applyFunding({
          id: `f${op.id}`,
          symbol: inst(2).symbol,
          asset: 'USDT',
          amount: new Dec(op.amount).div(10),
          timestamp: T0,
        });
        return;
      case 'close': {
        const o = p.findOrder({ clientOrderId: `c${op.order}` });
        // Only a rejection closes an order the exchange never acknowledged (anything else would not load again).
        if (o !== undefined)
          p.closeOrder(o, o.exchangeOrderId === undefined ? 'rejected' : op.status, T0 + 25, op.guess);
        return;
      }
      case 'reopen': {
        // The exchange's copy of an order closed on a guess: open again (only a guess is replaced, and only once the
        // exchange names the order: an order without an exchange id keeps its status).
        const o = p.findOrder({ clientOrderId: `c${op.order}` });
        if (o?.closedOnNotFound === true) p.trackOrder({ ...o, status: 'open', updatedAt: T0 + 30 });
        return;
      }
      case 'prune':
        p.pruneClosedOrders(T0 + op.at);
        return;
      case 'mark':
        p.markToMarket(new Map(INSTRUMENTS.map((i) => [i.symbol, new Dec(op.px)])));
        return;
      case 'reflected':
        p.recordReflectedFills([
          {
            tradeId: `r${trade++}`,
            exchangeOrderId: `u${op.id}`,
            symbol: inst(0).symbol,
            side: 'buy',
            quantity: new Dec(op.q),
            price: d('10'),
            fee: d('0'),
            feeAsset: 'USDT',
            timestamp: T0,
            inferred: false,
          },
        ]);
        return;
      case 'clone': {
        const c = p.clone();
        // A copy that is changed and dropped (a discarded plan) must not leak into what the original saves.
        if (op.keep) p = c;
        else c.pruneClosedOrders(T0 + 1_000);
        return;
      }
      case 'save': {
        const delta = p.deltaSinceSaved();
        if (op.full || delta === undefined || p.savedToken !== token) {
          savedJson = p.toJSON();
          deltas = [];
        } else {
          deltas.push(JSON.parse(JSON.stringify(delta)));
          count++;
          const patcher = new PortfolioPatcher(JSON.parse(JSON.stringify(savedJson)), 'portfolio');
          deltas.forEach((x, i) => patcher.apply(x, `delta[${i}]`));
          const patched = patcher.result();
          expect(canonicalJson(patched)).toBe(json(p));
          expect(json(Portfolio.fromJSON(patched, OPTIONS))).toBe(json(p));
          // The same deltas over the save as version 3 wrote it (its orders as objects): the same books.
          const v3 = new PortfolioPatcher(asVersion3(savedJson as PortfolioJSON), 'portfolio');
          deltas.forEach((x, i) => v3.apply(x, `delta[${i}]`));
          expect(json(Portfolio.fromJSON(v3.result(), OPTIONS))).toBe(json(p));
        }
        token = p.markSaved();
        return;
      }
      case 'reload': {
        // What a restart builds: the saved state, which knows no save to build deltas on (the next save is whole),
        // unless it is marked as the save it was read from (`markLoaded`, what the engine's boot does).
        const patcher = new PortfolioPatcher(JSON.parse(JSON.stringify(savedJson)), 'portfolio');
        deltas.forEach((x, i) => patcher.apply(x, `delta[${i}]`));
        // Anything changed since the last save is lost, as a restart loses it.
        p = Portfolio.fromJSON(JSON.parse(JSON.stringify(patcher.result())), OPTIONS);
        expect(p.deltaSinceSaved()).toBeUndefined();
        token = op.marked ? p.markLoaded() : undefined;
        return;
      }
      case 'reset': {
        const input = resetInput(p, op.v);
        const before = json(p);
        const expected = Portfolio.fromExchangeState(input, p.preservedMetrics(input), OPTIONS);
        const copy = p.clone();
        const reset = copy.resetFromExchangeState(input, OPTIONS);
        expect(json(reset)).toBe(json(expected));
        expect(json(p)).toBe(before);
        if (reset === copy) inPlace++;
        p = reset;
        return;
      }
    }
  };
  for (const op of ops) {
    if (op.type === 'save' || op.type === 'reload') {
      step(op);
      continue;
    }
    try {
      step(op);
    } catch (e) {
      // Refused changes (an overfill, a conflicting id) change nothing; anything else is a failure.
      if (!(e instanceof TesserError)) throw e;
    }
  }
  return { deltas: count, inPlace };
}

describe('Portfolio deltas', () => {
  it('saved JSON patched with the deltas since equals the live books, over random changes, clones and reloads', () => {
    let total = 0;
    let inPlace = 0;
    fc.assert(
      fc.property(fc.array(arbOp, { minLength: 1, maxLength: 80, size: 'max' }), (ops) => {
        const r = run(ops);
        total += r.deltas;
        inPlace += r.inPlace;
      }),
      { numRuns: 300 },
    );
    // The property is about deltas: make sure the runs wrote plenty of them, and reset books in place often.
    expect(total).toBeGreaterThan(1000);
    expect(inPlace).toBeGreaterThan(300);
  });

  it('reports nothing changed as an empty delta, and a portfolio never saved as undefined', () => {
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances: START });
    expect(p.deltaSinceSaved()).toBeUndefined();
    p.markSaved();
    expect(p.deltaSinceSaved()).toEqual({});
    expect(p.clone().deltaSinceSaved()).toEqual({});
  });

  it('a delta over one changed order of many carries that order only', () => {
    const orders = Array.from({ length: 1000 }, (_, i) =>
      order({
        clientOrderId: `c${i}`,
        exchangeOrderId: String(i),
        symbol: INSTRUMENTS[0]!.symbol,
        side: 'buy',
        q: '1',
        px: '5',
      }),
    );
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances: START, orders });
    p.markSaved();
    p.closeOrder({ clientOrderId: 'c7' }, 'cancelled', T0 + 1);
    const delta = p.deltaSinceSaved()!;
    expect(delta.orders?.map((o) => o.clientOrderId)).toEqual(['c7']);
    expect(Object.keys(delta)).toEqual(['orders']);
  });

  it('refuses a delta that does not fit the saved books', () => {
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances: START });
    const patcher = new PortfolioPatcher(JSON.parse(JSON.stringify(p.toJSON())), 'portfolio');
    expect(() => patcher.apply({ replayLog: { keep: 3, appended: [] } }, 'd')).toThrow(PortfolioDeltaError);
    expect(() => patcher.apply({ appliedTrades: { added: [], size: 4 } }, 'd')).toThrow(PortfolioDeltaError);
    expect(() =>
      patcher.apply(
        { untracked: { removed: [], changed: [{ symbol: 'X', exchangeOrderId: '1' }], appended: [] } },
        'd',
      ),
    ).toThrow(PortfolioDeltaError);
    expect(() => new PortfolioPatcher({ version: 1 }, 'portfolio')).toThrow(PortfolioDeltaError);
    // An order field this release does not know (a newer one's) is refused, not dropped from the table.
    const withOrder = new PortfolioPatcher(JSON.parse(JSON.stringify(p.toJSON())), 'portfolio');
    const known = {
      clientOrderId: 'c1',
      symbol: INSTRUMENTS[0]!.symbol,
      side: 'buy',
      type: 'market',
      quantity: '1',
      filledQuantity: '0',
      status: 'pending',
      createdAt: 1,
      updatedAt: 1,
    };
    expect(() => withOrder.apply({ orders: [{ ...known, colour: 'red' }] }, 'd')).toThrow(
      expect.objectContaining({ name: 'ParseError', code: 'unknown_field', path: 'd.orders[0].colour' }),
    );
    withOrder.apply({ orders: [known] }, 'd');
    expect(Portfolio.fromJSON(withOrder.result()).findOrder({ clientOrderId: 'c1' })?.status).toBe('pending');
  });

  it("adds a delta's applied trades to a version-3 or 4 save as keys and to a version-2 save as pairs; a pair that is none is refused", () => {
    const saved = (version: 2 | 3 | 4, appliedTrades: unknown[]) => {
      const j = JSON.parse(JSON.stringify(Portfolio.create({ instruments: INSTRUMENTS, balances: START }).toJSON()));
      // Versions 2 and 3 saved the orders as a list of objects, version 4 as a table.
      return { ...j, version, appliedTrades, ...(version !== 4 && { orders: [] }) };
    };
    const delta = { appliedTrades: { added: [[BTC_PERP.symbol, '2']], size: 2 } };
    const v4 = new PortfolioPatcher(saved(4, [tradeKey(BTC_PERP.symbol, '1')]), 'portfolio');
    v4.apply(delta, 'd');
    expect(v4.result().appliedTrades).toEqual([tradeKey(BTC_PERP.symbol, '1'), tradeKey(BTC_PERP.symbol, '2')]);
    const v3 = new PortfolioPatcher(saved(3, [tradeKey(BTC_PERP.symbol, '1')]), 'portfolio');
    v3.apply(delta, 'd');
    expect(v3.result().appliedTrades).toEqual([tradeKey(BTC_PERP.symbol, '1'), tradeKey(BTC_PERP.symbol, '2')]);
    const v2 = new PortfolioPatcher(saved(2, [[BTC_PERP.symbol, '1']]), 'portfolio');
    v2.apply(delta, 'd');
    expect(v2.result().appliedTrades).toEqual([
      [BTC_PERP.symbol, '1'],
      [BTC_PERP.symbol, '2'],
    ]);
    // Both read as the same books' window.
    expect(Portfolio.fromJSON(v3.result()).preservedMetrics().appliedTrades).toEqual(
      Portfolio.fromJSON(v2.result()).preservedMetrics().appliedTrades,
    );
    expect(Portfolio.fromJSON(v4.result()).preservedMetrics().appliedTrades).toEqual(
      Portfolio.fromJSON(v3.result()).preservedMetrics().appliedTrades,
    );
    const bad = new PortfolioPatcher(saved(3, []), 'portfolio');
    expect(() => bad.apply({ appliedTrades: { added: [[BTC_PERP.symbol]], size: 1 } }, 'd')).toThrow(
      PortfolioDeltaError,
    );
    expect(() => bad.apply({ appliedTrades: { added: ['1:x:1'], size: 1 } }, 'd')).toThrow(ParseError);
  });
});
