import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Decimal } from 'decimal.js';
import { Dec } from '../../src/domain/decimal.js';
import {
  inferredTradeId,
  type Balance,
  type Fill,
  type FundingPayment,
  type Instrument,
  type Order,
  type Side,
} from '../../src/domain/types.js';
import { Portfolio, type PreservedMetrics } from '../../src/portfolio/portfolio.js';
import { BTC_PERP, BTC_SPOT, ETH_PERP_USDC, ETH_SPOT, INSTRUMENTS, d, funding, order } from './fixtures.js';

const START_BALANCES: Balance[] = ['BTC', 'ETH', 'USDC', 'USDT'].map((asset) => ({
  asset,
  free: d('100000'),
  total: d('100000'),
}));
const arbSide = fc.constantFrom<Side>('buy', 'sell');
const arbQty = fc.integer({ min: 1, max: 2_000 }).map((n) => new Dec(n).div(1000));
const arbPrice = fc.integer({ min: 1, max: 1_000_000 }).map((n) => new Dec(n).div(100));
const arbFee = fc.integer({ min: -50, max: 500 }).map((n) => new Dec(n).div(10_000));

function mkFill(
  tradeId: string,
  exchangeOrderId: string,
  inst: Instrument,
  side: Side,
  quantity: Decimal,
  price: Decimal,
  fee: Decimal,
  feeAsset: string,
  inferred = false,
): Fill {
  return {
    tradeId,
    exchangeOrderId,
    symbol: inst.symbol,
    side,
    quantity,
    price,
    fee,
    feeAsset,
    timestamp: 1_700_000_000_000,
    inferred,
  };
}

const restart = (p: Portfolio, options = {}): Portfolio =>
  Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())), options);

// ---- scenario 1: several orders on spot and a USDC perp, fills permuted and duplicated ---------------------------

interface OrderSpec {
  readonly inst: Instrument;
  readonly side: Side;
  readonly tracked: boolean;
  readonly fills: readonly { q: Decimal; px: Decimal; fee: Decimal; feeInBase: boolean }[];
}
const arbOrderSpec: fc.Arbitrary<OrderSpec> = fc.record({
  inst: fc.constantFrom(BTC_SPOT, ETH_SPOT, ETH_PERP_USDC),
  side: arbSide,
  tracked: fc.boolean(),
  fills: fc.array(fc.record({ q: arbQty, px: arbPrice, fee: arbFee, feeInBase: fc.boolean() }), {
    minLength: 1,
    maxLength: 5,
  }),
});

function scenario(specs: readonly OrderSpec[]): { orders: Order[]; fills: Fill[] } {
  const orders: Order[] = [];
  const fills: Fill[] = [];
  specs.forEach((s, oi) => {
    let total = new Dec(0);
    s.fills.forEach((f, fi) => {
      total = total.plus(f.q);
      const feeAsset = s.inst.kind === 'spot' && f.feeInBase ? s.inst.base : s.inst.settle;
      fills.push(mkFill(`t${oi}-${fi}`, `o${oi}`, s.inst, s.side, f.q, f.px, f.fee, feeAsset));
    });
    // Tracked orders are exactly as large as their fills, so no permutation can overfill them.
    if (s.tracked)
      orders.push(
        order({
          clientOrderId: `c${oi}`,
          exchangeOrderId: `o${oi}`,
          symbol: s.inst.symbol,
          side: s.side,
          q: total.toFixed(),
        }),
      );
  });
  return { orders, fills };
}

const arbPermutedWithDuplicates = fc
  .array(arbOrderSpec, { minLength: 1, maxLength: 6 })
  .map(scenario)
  .chain(({ orders, fills }) =>
    fc.record({
      orders: fc.constant(orders),
      fills: fc.constant(fills),
      permuted: fc.shuffledSubarray(fills, { minLength: fills.length, maxLength: fills.length }),
      duplicates: fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 10 }),
    }),
  )
  .map(({ orders, fills, permuted, duplicates }) => {
    const withDups = [...permuted];
    for (const [src, at] of duplicates)
      withDups.splice(at % (withDups.length + 1), 0, permuted[src % permuted.length]!);
    return { orders, fills, withDups, duplicateCount: duplicates.length };
  });

function firstOccurrences(fills: readonly Fill[]): Fill[] {
  const seen = new Set<string>();
  return fills.filter((f) => (seen.has(f.tradeId) ? false : (seen.add(f.tradeId), true)));
}

describe('Portfolio properties: idempotence and order independence', () => {
  it('a permuted fill sequence with duplicates inserted equals its deduplicated sequence, and the original order where accounting is order-free', () => {
    fc.assert(
      fc.property(arbPermutedWithDuplicates, ({ orders, fills, withDups, duplicateCount }) => {
        const make = () => Portfolio.create({ instruments: INSTRUMENTS, balances: START_BALANCES, orders });
        const a = make();
        const outcomes = withDups.map((f) => a.applyFill(f).outcome);
        expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(duplicateCount);
        expect(outcomes.every((o) => o === 'applied' || o === 'duplicate')).toBe(true);

        // Same first occurrences, no duplicates: every persisted field is identical.
        const b = make();
        for (const f of firstOccurrences(withDups)) b.applyFill(f);
        expect(a.toJSON()).toEqual(b.toJSON());

        // Original order: spot balances, position sizes and order fill state are exactly the same; the perp's
        // cash + unrealized at any mark is too (its entry price is path dependent, so only up to 64-digit division).
        const c = make();
        for (const f of fills) c.applyFill(f);
        for (const asset of ['BTC', 'ETH', 'USDT'])
          expect(a.balance(asset).total.toFixed()).toBe(c.balance(asset).total.toFixed());
        expect(a.positions().map((p) => [p.symbol, p.quantity.toFixed()])).toEqual(
          c.positions().map((p) => [p.symbol, p.quantity.toFixed()]),
        );
        expect(a.orders()).toEqual(c.orders());
        const mark = new Dec('123.45');
        const value = (p: Portfolio) => {
          const pos = p.position(ETH_PERP_USDC.symbol);
          return p.balance('USDC').total.plus(mark.minus(pos.entryPrice).times(pos.quantity));
        };
        expect(value(a).minus(value(c)).abs().lt('1e-40')).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

// ---- scenario 2: inferred fills interleaved with the real trades they stand for ---------------------------------

type Token =
  | { kind: 'real' }
  | { kind: 'other' }
  | { kind: 'funding'; amount: Decimal }
  | { kind: 'infer'; target: number; px: Decimal; fee: Decimal }
  | { kind: 'restart' };
const arbToken: fc.Arbitrary<Token> = fc.oneof(
  fc.constant({ kind: 'real' as const }),
  fc.constant({ kind: 'other' as const }),
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('funding' as const), amount: arbFee }) },
  fc.record({ kind: fc.constant('infer' as const), target: fc.nat(), px: arbPrice, fee: arbFee }),
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
);

const arbInferredScenario = fc.record({
  inst: fc.constantFrom(BTC_PERP, BTC_SPOT),
  side: arbSide,
  trades: fc.array(fc.record({ q: arbQty, px: arbPrice, fee: arbFee }), { minLength: 1, maxLength: 6 }),
  // Trades of other orders, on the same instrument or on others that share its settle asset.
  others: fc.array(
    fc.record({ inst: fc.constantFrom(BTC_PERP, BTC_SPOT, ETH_SPOT), side: arbSide, q: arbQty, px: arbPrice }),
    { maxLength: 5 },
  ),
  slack: fc.constantFrom('0', '0.5'),
  tokens: fc.array(arbToken, { maxLength: 20 }),
});

describe('Portfolio properties: inferred fills', () => {
  it('any interleaving of inferred fills (at cumulative quantities) with real trades and funding ends digit for digit equal to the real events alone', () => {
    fc.assert(
      fc.property(arbInferredScenario, ({ inst, side, trades, others, slack, tokens }) => {
        const cumulative: Decimal[] = [];
        let sum = new Dec(0);
        for (const t of trades) cumulative.push((sum = sum.plus(t.q)));
        const tracked = order({
          clientOrderId: 'c1',
          exchangeOrderId: 'O',
          symbol: inst.symbol,
          side,
          q: sum.plus(slack).toFixed(),
        });
        const make = () => Portfolio.create({ instruments: INSTRUMENTS, balances: START_BALANCES, orders: [tracked] });
        const real = trades.map((t, i) => mkFill(`r${i}`, 'O', inst, side, t.q, t.px, t.fee, inst.settle));
        const other = others.map((t, i) =>
          mkFill(`x${i}`, `X${i}`, t.inst, t.side, t.q, t.px, new Dec(0), t.inst.settle),
        );

        let p = make();
        const realOrder: (Fill | FundingPayment)[] = [];
        let ri = 0;
        let oi = 0;
        const apply = (f: Fill) => {
          const r = p.applyFill(f);
          expect(r.outcome === 'applied' || r.outcome === 'replacedInferred').toBe(true);
          if (!f.inferred) realOrder.push(f);
        };
        for (const tok of tokens) {
          if (tok.kind === 'real' && ri < real.length) apply(real[ri++]!);
          else if (tok.kind === 'other' && oi < other.length) apply(other[oi++]!);
          else if (tok.kind === 'restart') p = restart(p);
          else if (tok.kind === 'funding') {
            const f = funding(`f${realOrder.length}`, tok.amount.toFixed());
            expect(p.applyFunding(f)).toEqual({ outcome: 'applied' });
            realOrder.push(f);
          } else if (tok.kind === 'infer') {
            // What a handler does: the exchange reports cumulative filled c_k; infer whatever is not applied yet.
            const target = cumulative[tok.target % cumulative.length]!;
            const missing = target.minus(p.appliedQuantity(inst.symbol, 'O'));
            if (missing.gt(0))
              apply(
                mkFill(
                  inferredTradeId(inst.symbol, 'O', target),
                  'O',
                  inst,
                  side,
                  missing,
                  tok.px,
                  tok.fee,
                  inst.settle,
                  true,
                ),
              );
          }
        }
        while (ri < real.length) apply(real[ri++]!);
        while (oi < other.length) apply(other[oi++]!);

        const only = make();
        for (const e of realOrder)
          if ('tradeId' in e) only.applyFill(e);
          else only.applyFunding(e);
        expect(p.standingInferredFills()).toEqual([]);
        expect(p.positions()).toEqual(only.positions());
        expect(p.balances()).toEqual(only.balances());
        expect(p.orders()).toEqual(only.orders());
        expect(p.realizedPnl.toFixed()).toBe(only.realizedPnl.toFixed());
        expect(p.toJSON().replayLog.filter((e) => 'fill' in e && e.fill.inferred)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});

// ---- scenario 3: persistence --------------------------------------------------------------------------------

type Op =
  | { kind: 'fill'; order: number; q: Decimal; px: Decimal; fee: Decimal; inferred: boolean }
  | { kind: 'funding'; id: number; amount: Decimal }
  | { kind: 'close'; order: number }
  | { kind: 'mark'; px: Decimal };
const POOL: readonly { inst: Instrument; side: Side; q: string; tracked: boolean }[] = [
  { inst: BTC_SPOT, side: 'buy', q: '3', tracked: true },
  { inst: ETH_SPOT, side: 'sell', q: '2', tracked: true },
  { inst: BTC_PERP, side: 'buy', q: '4', tracked: true },
  { inst: BTC_PERP, side: 'sell', q: '5', tracked: true },
  { inst: ETH_PERP_USDC, side: 'buy', q: '1', tracked: false },
];
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('fill' as const),
      order: fc.nat({ max: POOL.length - 1 }),
      q: arbQty,
      px: arbPrice,
      fee: arbFee,
      inferred: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('funding' as const), id: fc.nat({ max: 5 }), amount: arbFee }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), order: fc.nat({ max: POOL.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('mark' as const), px: arbPrice }) },
);

/** The tracked orders of POOL, by index: client id `c<i>`, exchange id `o<i>`. */
const poolOrders = (): Order[] =>
  POOL.flatMap((s, i) =>
    s.tracked
      ? [order({ clientOrderId: `c${i}`, exchangeOrderId: `o${i}`, symbol: s.inst.symbol, side: s.side, q: s.q })]
      : [],
  );

function runOps(p: Portfolio, ops: readonly Op[], offset: number): void {
  ops.forEach((op, i) => {
    const n = offset + i;
    if (op.kind === 'fill') {
      const spec = POOL[op.order]!;
      const id = op.inferred
        ? inferredTradeId(
            spec.inst.symbol,
            `o${op.order}`,
            p.appliedQuantity(spec.inst.symbol, `o${op.order}`).plus(op.q),
          )
        : `t${n}`;
      p.applyFill(mkFill(id, `o${op.order}`, spec.inst, spec.side, op.q, op.px, op.fee, spec.inst.settle, op.inferred));
    } else if (op.kind === 'funding') {
      p.applyFunding(funding(`f${op.id}`, op.amount.toFixed()));
    } else if (op.kind === 'close') {
      const o = p.findOrder({ exchangeOrderId: `o${op.order}` });
      if (o !== undefined) p.closeOrder({ exchangeOrderId: `o${op.order}` }, 'cancelled', o.updatedAt + 1);
    } else {
      p.markToMarket(
        new Map([
          [BTC_SPOT.symbol, op.px],
          [BTC_PERP.symbol, op.px],
          [ETH_SPOT.symbol, op.px],
        ]),
      );
    }
  });
}

describe('Portfolio properties: persistence', () => {
  it('fromJSON(JSON.parse(JSON.stringify(p.toJSON()))) equals p exactly, and behaves the same afterwards', () => {
    fc.assert(
      fc.property(
        fc.array(arbOp, { maxLength: 30 }),
        fc.array(arbOp, { maxLength: 15 }),
        fc.integer({ min: 2, max: 50 }),
        (ops, more, window) => {
          const orders = poolOrders();
          const options = { tradeIdWindow: window, inferredReplayWindow: 5 };
          const p = Portfolio.create({ instruments: INSTRUMENTS, balances: START_BALANCES, orders }, options);
          runOps(p, ops, 0);
          const q = restart(p, options);
          expect(q.toJSON()).toEqual(p.toJSON());
          expect(q.realizedPnl.toFixed()).toBe(p.realizedPnl.toFixed());
          runOps(p, more, ops.length);
          runOps(q, more, ops.length);
          expect(q.toJSON()).toEqual(p.toJSON());
          expect(q.realizedPnl.toFixed()).toBe(p.realizedPnl.toFixed());
          expect(p.preservedMetrics().appliedTrades.length).toBeLessThanOrEqual(window);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('clone() equals p exactly, behaves the same afterwards, and neither affects the other', () => {
    fc.assert(
      fc.property(
        fc.array(arbOp, { maxLength: 30 }),
        fc.array(arbOp, { maxLength: 15 }),
        fc.integer({ min: 2, max: 50 }),
        (ops, more, window) => {
          const orders = poolOrders();
          const options = { tradeIdWindow: window, inferredReplayWindow: 5 };
          const p = Portfolio.create({ instruments: INSTRUMENTS, balances: START_BALANCES, orders }, options);
          runOps(p, ops, 0);
          const before = JSON.stringify(p.toJSON());
          const c = p.clone();
          expect(c.toJSON()).toEqual(p.toJSON());
          // The clone moves on alone; then the original catches up with the same events and they agree again.
          runOps(c, more, ops.length);
          expect(JSON.stringify(p.toJSON())).toBe(before);
          runOps(p, more, ops.length);
          expect(c.toJSON()).toEqual(p.toJSON());
          expect(c.realizedPnl.toFixed()).toBe(p.realizedPnl.toFixed());
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a clone and its source stay independent whichever is written first, and a third copy sees neither', () => {
    // A clone shares the source's containers (order maps, log and its indexes, books, id windows, dirty sets, locked
    // sums) until either side writes: each side must then read exactly as books that never shared anything.
    const view = (x: Portfolio): string =>
      JSON.stringify({
        json: x.toJSON(),
        balances: x.balances(),
        positions: x.positions(),
        pnl: x.realizedPnl,
        standing: x.standingInferredFills(),
        open: x.openOrders(),
        delta: x.deltaSinceSaved(),
      });
    fc.assert(
      fc.property(
        fc.array(arbOp, { maxLength: 30 }),
        fc.array(arbOp, { minLength: 1, maxLength: 15 }),
        fc.array(arbOp, { minLength: 1, maxLength: 15 }),
        fc.integer({ min: 2, max: 50 }),
        fc.boolean(),
        (ops, first, second, window, sourceFirst) => {
          const options = { tradeIdWindow: window, inferredReplayWindow: 5 };
          const build = (): Portfolio => {
            const orders = poolOrders();
            const r = Portfolio.create({ instruments: INSTRUMENTS, balances: START_BALANCES, orders }, options);
            runOps(r, ops, 0);
            r.markSaved();
            // Builds the locked sums, so that a clone shares them too.
            r.balances();
            return r;
          };
          const expected = (more: readonly Op[]): string => {
            const r = build();
            runOps(r, more, ops.length);
            return view(r);
          };
          const p = build();
          const c = p.clone();
          const untouched = p.clone();
          const [a, b] = sourceFirst ? [p, c] : [c, p];
          // The same trade ids on both sides: an id one side applies must not read as applied on the other.
          runOps(a, first, ops.length);
          expect(view(b)).toBe(expected([]));
          runOps(b, second, ops.length);
          expect(view(a)).toBe(expected(first));
          expect(view(b)).toBe(expected(second));
          expect(view(untouched)).toBe(expected([]));
        },
      ),
      { numRuns: 150 },
    );
  });
});

// ---- scenario 4: hard reset ---------------------------------------------------------------------------------

describe('Portfolio properties: fromExchangeState', () => {
  it('keeps peak equity, realized PnL and applied ids, and a lower equity never lowers the peak', () => {
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 25 }), arbPrice, arbPrice, (ops, balance, px) => {
        const p = Portfolio.create({ instruments: INSTRUMENTS, balances: START_BALANCES });
        runOps(p, ops, 0);
        p.markToMarket(new Map([[BTC_SPOT.symbol, px]]));
        const preserved: PreservedMetrics = p.preservedMetrics();
        const reset = Portfolio.fromExchangeState(
          {
            instruments: INSTRUMENTS,
            balances: [{ asset: 'USDT', free: balance, total: balance }],
            positions: [],
            orders: [],
          },
          preserved,
        );
        expect(reset.peakEquity.toFixed()).toBe(p.peakEquity.toFixed());
        expect(reset.realizedPnl.toFixed()).toBe(p.realizedPnl.toFixed());
        expect(reset.preservedMetrics().appliedTrades).toEqual(preserved.appliedTrades);
        const eq = reset.markToMarket(new Map());
        expect(reset.peakEquity.toFixed()).toBe(Dec.max(eq, preserved.peakEquity).toFixed());
        expect(restart(reset).peakEquity.toFixed()).toBe(reset.peakEquity.toFixed());
      }),
      { numRuns: 200 },
    );
  });
});
