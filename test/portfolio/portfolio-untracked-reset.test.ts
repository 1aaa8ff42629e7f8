/**
 * Fills of orders we do not track (manual orders, liquidations) survive a hard reset as the order's untracked fills:
 * a later adoption of that order from a stale open-order list must count them (found by the simulation, seed 84).
 */
import { describe, expect, it } from 'vitest';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC_SPOT, INSTRUMENTS, d, fill, order } from './fixtures.js';

const balances = [
  { asset: 'BTC', free: d('1'), total: d('1') },
  { asset: 'USDT', free: d('10000'), total: d('10000') },
];

function withManualFills(): Portfolio {
  const p = Portfolio.create({ instruments: INSTRUMENTS, balances });
  p.applyFill(
    fill({ tradeId: 't1', exchangeOrderId: 'manual-1', symbol: BTC_SPOT.symbol, side: 'buy', q: '0.25', px: '30000' }),
  );
  p.applyFill(
    fill({ tradeId: 't2', exchangeOrderId: 'manual-1', symbol: BTC_SPOT.symbol, side: 'buy', q: '0.5', px: '31000' }),
  );
  return p;
}

const snapshot = {
  instruments: INSTRUMENTS,
  positions: [],
  balances: [{ asset: 'BTC', free: d('1.75'), total: d('1.75') }],
};

describe('untracked fills across a hard reset', () => {
  it('fromExchangeState keeps the untracked fills of an order it does not track', () => {
    const p = withManualFills();
    const reset = Portfolio.fromExchangeState({ ...snapshot, orders: [] }, p.preservedMetrics());
    expect(reset.appliedQuantity(BTC_SPOT.symbol, 'manual-1').toFixed()).toBe('0.75');
    expect(reset.untrackedFills(BTC_SPOT.symbol, 'manual-1')?.notional.toFixed()).toBe('23000');
  });

  it('fromExchangeState drops them for an order it tracks (the exchange filled count covers them)', () => {
    const p = withManualFills();
    const adopted = order({
      clientOrderId: 'x-manual-1',
      exchangeOrderId: 'manual-1',
      symbol: BTC_SPOT.symbol,
      side: 'buy',
      q: '1',
      filledQuantity: d('0.75'),
    });
    const reset = Portfolio.fromExchangeState({ ...snapshot, orders: [adopted] }, p.preservedMetrics());
    expect(reset.untrackedFills(BTC_SPOT.symbol, 'manual-1')).toBeUndefined();
    expect(reset.appliedQuantity(BTC_SPOT.symbol, 'manual-1').toFixed()).toBe('0.75');
  });

  it('recordReflectedFills remembers trades as applied and as untracked fills, and leaves the books alone', () => {
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances });
    const before = JSON.stringify(p.balances());
    const t = fill({
      tradeId: 't9',
      exchangeOrderId: 'manual-2',
      symbol: BTC_SPOT.symbol,
      side: 'sell',
      q: '0.1',
      px: '30000',
    });
    p.recordReflectedFills([t, t]);
    expect(p.hasAppliedTrade({ symbol: BTC_SPOT.symbol, tradeId: 't9' })).toBe(true);
    expect(p.appliedQuantity(BTC_SPOT.symbol, 'manual-2').toFixed()).toBe('0.1');
    expect(JSON.stringify(p.balances())).toBe(before);
    expect(p.applyFill(t).outcome).toBe('duplicate');
  });

  it('recordReflectedFills skips trades of an order it tracks and trades already applied', () => {
    const tracked = order({ clientOrderId: 'c1', exchangeOrderId: 'o1', symbol: BTC_SPOT.symbol, side: 'buy', q: '1' });
    const p = Portfolio.create({ instruments: INSTRUMENTS, balances, orders: [tracked] });
    p.recordReflectedFills([
      fill({ tradeId: 't1', exchangeOrderId: 'o1', symbol: BTC_SPOT.symbol, side: 'buy', q: '0.4', px: '30000' }),
    ]);
    expect(p.hasAppliedTrade({ symbol: BTC_SPOT.symbol, tradeId: 't1' })).toBe(false);
    expect(p.appliedQuantity(BTC_SPOT.symbol, 'o1').toFixed()).toBe('0');
  });
});
