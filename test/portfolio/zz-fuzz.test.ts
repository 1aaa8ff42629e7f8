import fc from 'fast-check';
import { it, expect } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { inferredTradeId, type Balance, type Fill, type Side } from '../../src/domain/types.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC_PERP, BTC_SPOT, ETH_PERP_USDC, INSTRUMENTS, d, order, funding } from './fixtures.js';
const arbQty = fc.integer({ min: 1, max: 2_000 }).map((n) => new Dec(n).div(1000));
const arbPrice = fc.integer({ min: 1, max: 1_000_000 }).map((n) => new Dec(n).div(100));
type Op = { kind: 'fill'; order: number; q: Dec; px: Dec; inferred: boolean; fee: Dec } | { kind: 'restart' } | { kind: 'funding'; amt: Dec };
const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('fill' as const), order: fc.nat({ max: 5 }), q: arbQty, px: arbPrice, inferred: fc.boolean(), fee: fc.integer({ min: -50, max: 500 }).map((n) => new Dec(n).div(10_000)) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('funding' as const), amt: arbPrice }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'restart' as const }) },
);
const strip = (x: Portfolio) => x.toJSON();
const INST = [BTC_PERP, BTC_PERP, BTC_PERP, BTC_PERP, ETH_PERP_USDC, BTC_SPOT];
it('fuzz', () => {
  fc.assert(fc.property(fc.array(arbOp, { maxLength: 40 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 8 }), fc.constantFrom('1000', '100000', '0.001'), (ops, tw, rw, bal) => {
    const START: Balance[] = ['USDT', 'USDC', 'BTC'].map((asset) => ({ asset, free: d(bal), total: d(bal) }));
    const orders = [0, 1, 2, 3, 4, 5].map((i) => order({ clientOrderId: `c${i}`, exchangeOrderId: `o${i}`, symbol: INST[i]!.symbol, side: (i % 2 === 0 ? "buy" : "sell") as Side, q: '1000' }));
    const options = { tradeIdWindow: tw, inferredReplayWindow: rw };
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances: START, orders }, options);
    let q = Portfolio.create({ instruments: INSTRUMENTS, balances: START, orders }, options);
    let n = 0;
    for (const op of ops) {
      if (op.kind === 'restart') { q = Portfolio.fromJSON(JSON.parse(JSON.stringify(q.toJSON())), options); expect(strip(q)).toEqual(strip(p)); expect(q.realizedPnl.toFixed()).toBe(p.realizedPnl.toFixed()); continue; }
      for (const x of [p, q]) {
        if (op.kind === 'funding') x.applyFunding(funding(`f${n}`, op.amt.toFixed()));
        else {
          const side: Side = op.order % 2 === 0 ? 'buy' : 'sell';
          const id = op.inferred ? inferredTradeId(`o${op.order}`, x.appliedQuantity(`o${op.order}`).plus(op.q)) : `t${n}`;
          const f: Fill = { tradeId: id, exchangeOrderId: `o${op.order}`, symbol: INST[op.order]!.symbol, side, quantity: op.q, price: op.px, fee: op.fee, feeAsset: INST[op.order]!.settle, timestamp: 1, inferred: op.inferred };
          x.applyFill(f);
        }
      }
      n++;
      expect(strip(q)).toEqual(strip(p)); expect(q.realizedPnl.toFixed()).toBe(p.realizedPnl.toFixed());
    }
  }), { numRuns: 20000 });
});
