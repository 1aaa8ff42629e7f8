/**
 * `Portfolio.resetFromExchangeState`: the boot's hard reset done on the loaded books. The equivalence with
 * `fromExchangeState` and its deltas are properties (portfolio-delta.property.test.ts); here, what it keeps and when
 * it builds new books instead.
 */
import { describe, expect, it } from 'vitest';
import type { Balance } from '../../src/domain/types.js';
import { PortfolioPatcher, replayEntryToJSON } from '../../src/portfolio/portfolio-delta.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { canonicalJson } from '../../src/store/codec.js';
import { BTC_PERP, INSTRUMENTS, d, fill, order, resetInput } from './fixtures.js';

const START: Balance[] = ['BTC', 'USDC', 'USDT'].map((asset) => ({ asset, free: d('1000'), total: d('1000') }));
const SAME = { orders: 1, instruments: 0, balance: 0, position: 0, at: 5, width: 1 };
const json = (p: Portfolio): string => canonicalJson(p.toJSON());

function books(n: number): Portfolio {
  const orders = Array.from({ length: n }, (_, i) =>
    order({ clientOrderId: `c${i}`, exchangeOrderId: String(i), symbol: 'BTC/USDT', side: 'buy', q: '1', px: '5' }),
  );
  return Portfolio.create({ instruments: INSTRUMENTS, balances: START, orders });
}

describe('Portfolio.resetFromExchangeState', () => {
  it('shown every order as it is tracked, takes the equal copies without a change: its delta over the last save carries no order', () => {
    const p = books(1_000);
    p.markSaved();
    const before = json(p);
    const copy = p.clone();
    const input = resetInput(copy, SAME);
    const reset = copy.resetFromExchangeState(input);
    expect(reset).toBe(copy);
    expect(json(reset)).toBe(json(Portfolio.fromExchangeState(input, p.preservedMetrics(input))));
    // The exchange's equal copies are tracked (one copy of each order held, not two), and that is no change.
    expect(input.orders.every((o) => reset.holds(o))).toBe(true);
    expect(p.orders().some((o) => reset.holds(o))).toBe(false);
    const delta = reset.deltaSinceSaved()!;
    expect(delta.orders).toBeUndefined();
    expect(delta.reflected).toEqual({ before: 1_700_000_000_005, through: 1_700_000_000_006 });
    expect(json(p)).toBe(before);
  });

  it('an order the exchange shows changed is replaced, and only it is in the delta', () => {
    const p = books(100);
    p.markSaved();
    const input = resetInput(p, SAME);
    const orders = input.orders.map((o) =>
      o.clientOrderId === 'c7'
        ? { ...o, filledQuantity: d('0.5'), averageFillPrice: d('5'), updatedAt: o.updatedAt + 1 }
        : o,
    );
    const reset = p.clone().resetFromExchangeState({ ...input, orders });
    expect(reset.findOrder({ clientOrderId: 'c7' })?.filledQuantity.toFixed()).toBe('0.5');
    expect(reset.deltaSinceSaved()?.orders?.map((o) => o.clientOrderId)).toEqual(['c7']);
  });

  it('builds new books (no save lineage: the next save is whole) when the reset changes their settings', () => {
    const p = books(10);
    p.markSaved();
    const copy = p.clone();
    const input = resetInput(copy, SAME);
    const reset = copy.resetFromExchangeState(input, { reportingAsset: 'USDC' });
    expect(reset).not.toBe(copy);
    expect(reset.deltaSinceSaved()).toBeUndefined();
    expect(json(reset)).toBe(
      json(Portfolio.fromExchangeState(input, p.preservedMetrics(input), { reportingAsset: 'USDC' })),
    );
  });

  it('locks for open spot orders what the rebuild locks, the instruments listed in another order or changed', () => {
    const orders = [
      order({ clientOrderId: 'b1', exchangeOrderId: '1', symbol: 'BTC/USDT', side: 'buy', q: '2', px: '5' }),
      order({ clientOrderId: 's1', exchangeOrderId: '2', symbol: 'BTC/USDT', side: 'sell', q: '3', px: '7' }),
      order({ clientOrderId: 'e1', exchangeOrderId: '3', symbol: 'ETH/USDT', side: 'buy', q: '1', px: '11' }),
    ];
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances: START, orders });
    // Summed before the reset, as a boot's loaded books have them (their balances were read at load).
    expect(
      p
        .balances()
        .find((b) => b.asset === 'USDT')
        ?.free.toFixed(),
    ).toBe('979');
    const base = resetInput(p, SAME);
    const reordered = [...INSTRUMENTS].reverse();
    // The same symbols, one quoted in another asset: its orders lock another asset.
    const changed = INSTRUMENTS.map((i) => (i.symbol === 'BTC/USDT' ? { ...i, quote: 'USDC' } : i));
    for (const instruments of [reordered, changed]) {
      const input = { ...base, instruments };
      const options = { reportingAsset: p.reportingAsset };
      const reset = p.clone().resetFromExchangeState(input, options);
      const rebuilt = Portfolio.fromExchangeState(input, p.preservedMetrics(input), options);
      expect(reset.balances()).toEqual(rebuilt.balances());
    }
    expect(
      p
        .clone()
        .resetFromExchangeState({ ...base, instruments: changed }, { reportingAsset: p.reportingAsset })
        .balances()
        .find((b) => b.asset === 'USDC')
        ?.free.toFixed(),
    ).toBe('990');
  });

  it('drops the untracked fills a file holds under a tracked order, as the rebuild does', () => {
    const saved = books(3).toJSON();
    const file = {
      ...saved,
      untrackedOrderFills: [{ symbol: 'BTC/USDT', exchangeOrderId: '1', quantity: '0.5', notional: '2.5' }],
    };
    const p = Portfolio.fromJSON(JSON.parse(JSON.stringify(file)));
    expect(p.toJSON().untrackedOrderFills).toHaveLength(1);
    const input = resetInput(p, SAME);
    const expected = json(Portfolio.fromExchangeState(input, p.preservedMetrics(input)));
    const reset = p.clone().resetFromExchangeState(input);
    expect(reset.toJSON().untrackedOrderFills).toEqual([]);
    expect(json(reset)).toBe(expected);
  });
});

describe('Portfolio.markLoaded', () => {
  it('marks books read from a file as that save, unless the file logs a settled fill first (written before the late-trade window)', () => {
    const saved = books(2).toJSON();
    expect(Portfolio.fromJSON(JSON.parse(JSON.stringify(saved))).markLoaded()).toBeTypeOf('number');
    const real = fill({ tradeId: 't1', exchangeOrderId: 'x9', symbol: BTC_PERP.symbol, side: 'buy', q: '1', px: '10' });
    const file = JSON.parse(JSON.stringify({ ...saved, replayLog: [replayEntryToJSON({ fill: real })] })) as unknown;
    const p = Portfolio.fromJSON(file);
    expect(p.markLoaded()).toBeUndefined();
    // Why: such books save that fill folded into the balances, so a delta over the file would say nothing of it.
    p.markSaved();
    const reset = p.clone().resetFromExchangeState(resetInput(p, SAME));
    const patcher = new PortfolioPatcher(JSON.parse(JSON.stringify(file)), 'portfolio');
    patcher.apply(JSON.parse(JSON.stringify(reset.deltaSinceSaved())), 'delta');
    expect(canonicalJson(patcher.result())).not.toBe(json(reset));
  });
});
